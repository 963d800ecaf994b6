/*
 * poll.c — the portable poll(2) poller, for systems without epoll or kqueue
 * and as a baseline for the others.
 *
 * The watched set is a dense pollfd array handed to poll() as it is, plus an
 * fd -> position map so that adding, changing and removing an fd are O(1):
 * removal moves the last entry into the hole. Nothing here makes a syscall
 * except poll() itself.
 */
#include "poller.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct ready_ev {
    int fd;
    unsigned mask;
    bool invalid;          /* POLLNVAL */
} ready_ev;

typedef struct poll_state {
    struct pollfd *pfds;   /* [0, n) are watched */
    ready_ev *ready;       /* snapshot of one wait's results, same capacity */
    unsigned n, cap;
    int *pos;              /* fd -> index in pfds, -1 if not watched */
    unsigned pos_len;
} poll_state;

const char vex__poller_name[] = "poll";

int vex__poller_available(char *why, size_t why_len)
{
    (void)why; (void)why_len;
    return 1;   /* poll(2) is POSIX: always there */
}

/* Make pos[] cover fd. It starts at l->max_fds but the core grows its table
 * later if RLIMIT_NOFILE rises, and listener/wake fds are not in that table. */
static int pos_reserve(poll_state *st, int fd)
{
    if ((unsigned)fd < st->pos_len)
        return 0;
    int *p = vex__fd_table_grow(st->pos, &st->pos_len, sizeof *p, fd, 64, 0,
                                0xff);   /* every byte 0xff: -1 */
    if (!p)
        return -1;
    st->pos = p;
    return 0;
}

static int set_reserve(poll_state *st)
{
    if (st->n < st->cap)
        return 0;
    unsigned cap = st->cap ? st->cap * 2 : 64;
    struct pollfd *p = realloc(st->pfds, (size_t)cap * sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    st->pfds = p;
    ready_ev *r = realloc(st->ready, (size_t)cap * sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return -1;   /* pfds keeps its larger block; cap stays consistent */
    }
    st->ready = r;
    st->cap = cap;
    return 0;
}

int vex__poller_init(vex_loop *l, char *err, size_t err_len)
{
    (void)err; (void)err_len;
    poll_state *st = calloc(1, sizeof *st);
    if (!st || pos_reserve(st, (int)(l->max_fds ? l->max_fds - 1 : 0)) < 0) {
        free(st);
        errno = ENOMEM;
        return -1;
    }
    l->be = st;
    return 0;
}

void vex__poller_free(vex_loop *l)
{
    poll_state *st = l->be;
    if (st) {
        free(st->pfds);
        free(st->ready);
        free(st->pos);
        free(st);
        l->be = NULL;
    }
}

static void set_remove(poll_state *st, int fd)
{
    if (fd < 0 || (unsigned)fd >= st->pos_len || st->pos[fd] < 0)
        return;
    unsigned i = (unsigned)st->pos[fd];
    st->pos[fd] = -1;
    if (i != --st->n) {
        st->pfds[i] = st->pfds[st->n];
        st->pos[st->pfds[i].fd] = (int)i;
    }
}

/* Works from our own map rather than old_mask, so a stale old_mask (or an fd
 * dropped after POLLNVAL) cannot corrupt the set. */
int vex__poller_set(vex_loop *l, int fd, unsigned old_mask, unsigned new_mask)
{
    poll_state *st = l->be;
    (void)old_mask;
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    short events = (short)(((new_mask & POLLER_READ) ? POLLIN : 0) |
                           ((new_mask & POLLER_WRITE) ? POLLOUT : 0));
    if (!events) {   /* 0 or POLLER_CLOSING: just forget it */
        set_remove(st, fd);
        return 0;
    }
    if (pos_reserve(st, fd) < 0)
        return -1;
    if (st->pos[fd] < 0) {
        if (set_reserve(st) < 0)
            return -1;
        st->pfds[st->n].fd = fd;
        st->pfds[st->n].revents = 0;
        st->pos[fd] = (int)st->n++;
    }
    st->pfds[st->pos[fd]].events = events;
    return 0;
}

int vex__poller_wait(vex_loop *l, int timeout_ms)
{
    poll_state *st = l->be;
    int n = poll(st->pfds, (nfds_t)st->n, timeout_ms < 0 ? -1 : timeout_ms);
    vex__core_waited(l);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    /* Callbacks add and remove fds, which reorders pfds: take a snapshot of
     * the results first and dispatch from it. vex__readiness_event() checks each
     * fd's current interest, so entries made stale by a callback are safe. */
    unsigned k = 0;
    for (unsigned i = 0; i < st->n && (int)k < n; i++) {
        short re = st->pfds[i].revents;
        if (!re)
            continue;
        unsigned mask = 0;
        if (re & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
            mask |= POLLER_READ;
        if (re & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
            mask |= POLLER_WRITE;
        st->ready[k].fd = st->pfds[i].fd;
        st->ready[k].mask = mask;
        st->ready[k].invalid = (re & POLLNVAL) != 0;
        k++;
    }
    /* POLLNVAL: the fd was closed behind the loop's back. Report it once (the
     * owner's read then fails with EBADF) and stop watching it, or every
     * later poll() would return at once for it. */
    for (unsigned i = 0; i < k; i++)
        if (st->ready[i].invalid)
            set_remove(st, st->ready[i].fd);
    /* A callback that adds an fd may grow (move) st->ready: index it anew. */
    for (unsigned i = 0; i < k; i++)
        vex__readiness_event(l, st->ready[i].fd, st->ready[i].mask);
    return (int)k;
}
