/* Minimal reference server on raw epoll: the floor for production_server's
 * epoll backend in `make bench PEERS=ref` (README "Reference servers").
 *
 * One thread (as the harness runs production_server --threads 1). Level-
 * triggered: one read per readable event, then one write of every response
 * owed (one per "\r\n\r\n"), from REF_BATCH canned copies. A short write
 * waits for EPOLLOUT. No parsing, no timers, no counters, nothing else. */
#include "ref_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    uint32_t owed;      /* responses not yet fully written */
    uint32_t off;       /* bytes of the first owed response already written */
    uint8_t match;      /* partial terminator carried between reads */
    uint8_t want_out;   /* registered for EPOLLOUT */
} conn;

typedef struct {
    int ep;
    conn *conns;        /* indexed by fd */
    size_t nconns;
    ref_response resp;
} server;

static void close_conn(server *s, int fd)
{
    s->conns[fd] = (conn){0};
    close(fd);          /* also leaves the epoll set */
}

static void set_out(server *s, int fd, conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = fd};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
    c->want_out = (uint8_t)on;
}

/* Write what is owed; 0, or -1 if the connection is gone. */
static int flush(server *s, int fd, conn *c)
{
    size_t len = s->resp.len;
    while (c->owed) {
        uint32_t n = c->owed < REF_BATCH ? c->owed : REF_BATCH;
        size_t want = n * len - c->off;
        ssize_t w = write(fd, s->resp.buf + c->off, want);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        size_t done = c->off + (size_t)w;
        c->owed -= (uint32_t)(done / len);
        c->off = (uint32_t)(done % len);
        if ((size_t)w < want)
            break;
    }
    set_out(s, fd, c, c->owed != 0);
    return 0;
}

static void accept_all(server *s, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;     /* EAGAIN, or a transient error: the next event retries */
        if ((size_t)fd >= s->nconns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            close(fd);
    }
}

static void on_readable(server *s, int fd, char *buf, size_t cap)
{
    conn *c = &s->conns[fd];
    ssize_t r = read(fd, buf, cap);
    if (r > 0) {
        c->owed += ref_count_requests(buf, (size_t)r, &c->match);
        if (flush(s, fd, c) < 0)
            close_conn(s, fd);
    } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(s, fd);
    }
}

int main(int argc, char **argv)
{
    ref_args a;
    int rc = ref_parse_args(argc, argv, "ref_epoll", &a);
    if (rc)
        return rc;
    server s = {0};
    s.nconns = ref_fd_limit();
    s.conns = calloc(s.nconns, sizeof *s.conns);
    if (!s.conns || ref_response_init(&s.resp) < 0 || ref_signals() < 0) {
        perror("ref_epoll: init");
        return 1;
    }
    int lfd = ref_listen(&a);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || s.ep < 0)
        return 1;
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("ref_epoll: epoll_ctl");
        return 1;
    }
    static char buf[16384];
    struct epoll_event evs[512];
    volatile sig_atomic_t *stop = ref_stop_flag();
    while (!*stop) {
        int n = epoll_wait(s.ep, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("ref_epoll: epoll_wait");
            return 1;
        }
        ref_response_tick(&s.resp);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                accept_all(&s, lfd);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(&s, fd, buf, sizeof buf);
            else if ((evs[i].events & EPOLLOUT) && flush(&s, fd, &s.conns[fd]) < 0)
                close_conn(&s, fd);
        }
    }
    close(s.ep);
    close(lfd);
    free(s.conns);
    ref_response_free(&s.resp);
    return 0;
}
