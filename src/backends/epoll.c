/* epoll.c — the Linux readiness poller (level-triggered). */
#include "poller.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256

typedef struct epoll_state {
    int epfd;
    struct epoll_event events[MAX_EVENTS];
} epoll_state;

const char vex__poller_name[] = "epoll";

int vex__poller_available(char *why, size_t why_len)
{
    (void)why; (void)why_len;
    return 1;
}

int vex__poller_init(vex_loop *l, char *err, size_t err_len)
{
    epoll_state *st = calloc(1, sizeof *st);
    if (!st) {
        errno = ENOMEM;
        return -1;
    }
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        if (err && err_len)
            snprintf(err, err_len, "epoll_create1: %s", strerror(errno));
        free(st);
        return -1;
    }
    l->be = st;
    return 0;
}

void vex__poller_free(vex_loop *l)
{
    epoll_state *st = l->be;
    if (st) {
        close(st->epfd);
        free(st);
        l->be = NULL;
    }
}

int vex__poller_set(vex_loop *l, int fd, unsigned old_mask, unsigned new_mask)
{
    epoll_state *st = l->be;
    if (new_mask & POLLER_CLOSING)
        return 0;   /* close(2) removes fd from the epoll set */
    struct epoll_event ev = {0};
    ev.events = ((new_mask & POLLER_READ) ? EPOLLIN : 0u) |
                ((new_mask & POLLER_WRITE) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    int op = !old_mask ? EPOLL_CTL_ADD : !new_mask ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    vex__core_syscall(l);
    return epoll_ctl(st->epfd, op, fd, &ev);
}

int vex__poller_wait(vex_loop *l, int timeout_ms)
{
    epoll_state *st = l->be;
    int n = epoll_wait(st->epfd, st->events, MAX_EVENTS, timeout_ms);
    vex__core_waited(l);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = st->events[i].events;
        unsigned mask = 0;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            mask |= POLLER_READ;
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            mask |= POLLER_WRITE;
        vex__readiness_event(l, st->events[i].data.fd, mask);
    }
    return n;
}
