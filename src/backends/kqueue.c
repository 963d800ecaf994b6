/*
 * kqueue.c — the FreeBSD/macOS (and other BSD) readiness poller.
 *
 * kqueue watches (fd, filter) pairs, so READ and WRITE interest are two
 * separate kevents, EVFILT_READ and EVFILT_WRITE, each level-triggered (no
 * EV_CLEAR), which is what readiness.c expects.
 *
 * Changes are batched: vex__poller_set() only records the wanted mask and queues
 * the fd; vex__poller_wait() turns every queued fd into at most one change per
 * filter and hands them all to the same kevent() call that waits. Toggling
 * write interest around a short write, or pausing and resuming reads, thus
 * costs no syscall of its own, and a toggle undone within one turn costs
 * nothing at all. Interest that goes away is EV_DISABLE'd, not deleted, so
 * turning it back on is a cheap EV_ENABLE.
 *
 * What must not be batched is a removal: once vex__poller_set(fd, .., 0) returns,
 * the caller owns fd again and may close it, and a queued EV_DELETE for a
 * closed fd fails with EBADF (or, if the number was reused meanwhile, hits
 * the wrong file). So a removal drops whatever was queued for fd and
 * deletes the filters the kernel really has at once; POLLER_CLOSING needs
 * no syscall at all, since close(2) removes an fd's kevents.
 *
 * libkqueue (a kqueue on top of epoll, used by `make test-libkqueue` to run
 * this file on Linux; its header defines LIBKQUEUE) cannot see close(2): the
 * knote would outlive the socket and a reused fd number would inherit it.
 * On that build only, POLLER_CLOSING deletes the filters like a removal.
 */
#include "poller.h"
#include <sys/types.h>   /* before <sys/event.h>: FreeBSD < 12 needs it */
#include <sys/event.h>
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EVENTS 256
/* FreeBSD caps kevent() timeouts at 24 hours; waking early only costs an
 * empty turn, so never ask for more anywhere. */
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)

/* Per-fd state, one byte: bits 0-1 the wanted mask (POLLER_READ/WRITE),
 * 2-3 the filters registered in the kernel, 4-5 those of them enabled,
 * 6 "on the queued list". Registered/enabled describe the kernel as it will
 * be once every change already handed to kevent() has been applied. */
#define ST_WANT(s)  ((unsigned)(s) & 3u)
#define ST_REG(f)   ((unsigned)(f) << 2)
#define ST_EN(f)    ((unsigned)(f) << 4)
#define ST_QUEUED   0x40u

typedef struct kq_state {
    int kq;
    uint8_t *st;              /* per fd, see above */
    unsigned st_len;
    int *queued;              /* fds whose wanted mask may differ from the kernel's */
    unsigned nqueued, queued_cap;
    struct kevent *changes;   /* 2 * queued_cap: at most one per filter */
    struct kevent *events;    /* max(MAX_EVENTS, 2 * queued_cap), so an error
                               * for every change always fits (see wait) */
    unsigned events_cap;
} kq_state;

const char vex__poller_name[] = "kqueue";

static short filter_of(unsigned f)
{
    return f == POLLER_READ ? EVFILT_READ : EVFILT_WRITE;
}

static unsigned mask_of(short filter)
{
    return filter == EVFILT_READ ? POLLER_READ
         : filter == EVFILT_WRITE ? POLLER_WRITE : 0u;
}

int vex__poller_available(char *why, size_t why_len)
{
    int kq = kqueue();
    if (kq < 0) {
        if (why && why_len)
            snprintf(why, why_len, "kqueue: %s", strerror(errno));
        return 0;
    }
    close(kq);
    return 1;
}

/* Make st[] cover fd: the core's table grows if RLIMIT_NOFILE rises, and
 * listener and wake fds are not in that table at all. */
static int st_reserve(kq_state *k, int fd)
{
    if ((unsigned)fd < k->st_len)
        return 0;
    uint8_t *p = vex__fd_table_grow(k->st, &k->st_len, 1, fd, 64, 0, 0);
    if (!p)
        return -1;
    k->st = p;
    return 0;
}

/* Room for one more queued fd, so that vex__poller_wait() never has to allocate
 * (it has no way to report a failure for one fd). */
static int queue_reserve(kq_state *k)
{
    if (k->nqueued < k->queued_cap)
        return 0;
    unsigned cap = k->queued_cap ? k->queued_cap * 2 : 64;
    unsigned ev_cap = 2 * cap > MAX_EVENTS ? 2 * cap : MAX_EVENTS;
    int *q = realloc(k->queued, cap * sizeof *q);
    if (!q)
        goto nomem;
    k->queued = q;
    struct kevent *c = realloc(k->changes, 2 * cap * sizeof *c);
    if (!c)
        goto nomem;
    k->changes = c;
    struct kevent *e = realloc(k->events, ev_cap * sizeof *e);
    if (!e)
        goto nomem;
    k->events = e;
    k->events_cap = ev_cap;
    k->queued_cap = cap;   /* only now: every array is at least this big */
    return 0;
nomem:
    errno = ENOMEM;
    return -1;
}

int vex__poller_init(vex_loop *l, char *err, size_t err_len)
{
    kq_state *k = calloc(1, sizeof *k);
    if (!k) {
        errno = ENOMEM;
        return -1;
    }
    k->kq = kqueue();
    if (k->kq < 0) {
        if (err && err_len)
            snprintf(err, err_len, "kqueue: %s", strerror(errno));
        free(k);
        return -1;
    }
    /* Children do not inherit a kqueue across fork(), but an exec without
     * fork would keep the descriptor open. */
    fcntl(k->kq, F_SETFD, FD_CLOEXEC);
    if (st_reserve(k, (int)(l->max_fds ? l->max_fds - 1 : 0)) < 0 ||
        queue_reserve(k) < 0) {
        if (err && err_len)
            snprintf(err, err_len, "kqueue: %s", strerror(ENOMEM));
        close(k->kq);
        free(k->st);
        free(k->queued);
        free(k->changes);
        free(k->events);
        free(k);
        errno = ENOMEM;
        return -1;
    }
    l->be = k;
    return 0;
}

void vex__poller_free(vex_loop *l)
{
    kq_state *k = l->be;
    if (k) {
        close(k->kq);
        free(k->st);
        free(k->queued);
        free(k->changes);
        free(k->events);
        free(k);
        l->be = NULL;
    }
}

/* The registration is gone already: ENOENT (never registered, or removed),
 * EBADF (fd closed, and close(2) removed its kevents). */
static bool delete_harmless(intptr_t e)
{
    return e == 0 || e == ENOENT || e == EBADF;
}

/* Delete fd's registered filters now, not in the next batch (see top). */
static int delete_now(vex_loop *l, kq_state *k, int fd, unsigned filters)
{
    struct kevent ch[2];
    int n = 0;
    for (unsigned f = POLLER_READ; f <= POLLER_WRITE; f <<= 1)
        if (filters & f) {
#ifdef EV_RECEIPT
            EV_SET(&ch[n], (uintptr_t)fd, filter_of(f), EV_DELETE | EV_RECEIPT, 0, 0, 0);
#else
            EV_SET(&ch[n], (uintptr_t)fd, filter_of(f), EV_DELETE, 0, 0, 0);
#endif
            n++;
        }
#ifdef EV_RECEIPT
    /* EV_RECEIPT: one result per change in the eventlist, so both deletes
     * are applied and checked in one call, and the full eventlist leaves no
     * room for (and the zero timeout no wait for) real events. */
    struct kevent res[2];
    const struct timespec zero = {0, 0};
    int r = kevent(k->kq, ch, n, res, n, &zero);
    vex__core_syscall(l);
    if (r < 0)
        return errno == EINTR ? 0 : -1;   /* EINTR: changes were applied */
    for (int i = 0; i < r; i++)
        if ((res[i].flags & EV_ERROR) && !delete_harmless((intptr_t)res[i].data)) {
            errno = (int)res[i].data;
            return -1;
        }
#else
    /* No EV_RECEIPT (older NetBSD/OpenBSD): with no eventlist an error comes
     * back as -1/errno and stops the changelist, so one call per filter. */
    for (int i = 0; i < n; i++) {
        int r = kevent(k->kq, &ch[i], 1, NULL, 0, NULL);
        vex__core_syscall(l);
        if (r < 0 && errno != EINTR && !delete_harmless(errno))
            return -1;
    }
#endif
    return 0;
}

int vex__poller_set(vex_loop *l, int fd, unsigned old_mask, unsigned new_mask)
{
    kq_state *k = l->be;
    (void)old_mask;   /* our own per-fd state is authoritative */
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (st_reserve(k, fd) < 0)
        return -1;
    unsigned s = k->st[fd];
    if (new_mask & POLLER_CLOSING) {
#ifndef LIBKQUEUE
        /* close(2) drops the kernel's kevents; forgetting ours also drops
         * any queued change (an fd left on the queued list with nothing
         * wanted and nothing registered produces no change). */
        k->st[fd] = (uint8_t)(s & ST_QUEUED);
        return 0;
#else
        new_mask = 0;   /* delete below, while fd is still open (see top) */
#endif
    }
    new_mask &= POLLER_READ | POLLER_WRITE;
    if (!new_mask) {
        unsigned reg = (s >> 2) & 3u;
        k->st[fd] = (uint8_t)(s & ST_QUEUED);
        return reg ? delete_now(l, k, fd, reg) : 0;
    }
    if (!(s & ST_QUEUED)) {
        if (queue_reserve(k) < 0)
            return -1;
        k->queued[k->nqueued++] = fd;
        s |= ST_QUEUED;
    }
    k->st[fd] = (uint8_t)((s & ~3u) | new_mask);
    return 0;
}

/* Turn the queued fds into kevent changes and mark them as applied. */
static int build_changes(kq_state *k)
{
    int n = 0;
    for (unsigned i = 0; i < k->nqueued; i++) {
        int fd = k->queued[i];
        unsigned s = k->st[fd] & ~ST_QUEUED;
        for (unsigned f = POLLER_READ; f <= POLLER_WRITE; f <<= 1) {
            bool want = s & f, reg = s & ST_REG(f), en = s & ST_EN(f);
            unsigned short flags;
            if (want && !reg) {
                flags = EV_ADD;   /* implies EV_ENABLE */
                s |= ST_REG(f) | ST_EN(f);
            } else if (want && !en) {
                flags = EV_ENABLE;
                s |= ST_EN(f);
            } else if (!want && en) {
                flags = EV_DISABLE;
                s &= ~ST_EN(f);
            } else {
                continue;
            }
            EV_SET(&k->changes[n], (uintptr_t)fd, filter_of(f), flags, 0, 0, 0);
            n++;
        }
        k->st[fd] = (uint8_t)s;
    }
    k->nqueued = 0;
    return n;
}

/* A change failed (reported as an EV_ERROR event): fix our idea of the
 * kernel's state before any callback runs. Returns true if the owner
 * should be told the fd is ready, so its own syscall meets the error. */
static bool change_failed(kq_state *k, const struct kevent *ev)
{
    int fd = (int)ev->ident;
    unsigned f = mask_of(ev->filter);
    if (ev->data == 0 || fd < 0 || (unsigned)fd >= k->st_len || !f)
        return false;   /* EV_RECEIPT success, or not ours */
    unsigned s = k->st[fd] & ~(ST_REG(f) | ST_EN(f));
    k->st[fd] = (uint8_t)s;
    if (!(s & f))
        return false;   /* nobody wants this filter any more */
    /* ENOENT on EV_ENABLE/EV_DISABLE: the kevent vanished under us (fd closed
     * and reopened behind the loop's back); queue a fresh EV_ADD. */
    if (ev->data == ENOENT && ((s & ST_QUEUED) || queue_reserve(k) == 0)) {
        if (!(s & ST_QUEUED)) {
            k->queued[k->nqueued++] = fd;
            k->st[fd] = (uint8_t)(s | ST_QUEUED);
        }
        return false;
    }
    return true;
}

int vex__poller_wait(vex_loop *l, int timeout_ms)
{
    kq_state *k = l->be;
    int nch = build_changes(k);
    struct timespec ts, *tsp = NULL;
    if (timeout_ms >= 0) {
        long ms = timeout_ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : timeout_ms;
        ts.tv_sec = (time_t)(ms / 1000);
        ts.tv_nsec = (ms % 1000) * 1000000L;
        tsp = &ts;
    }
    /* events_cap >= nch: an error for each change fits in the eventlist, so
     * kevent() reports it there (EV_ERROR, errno in data) and goes on with
     * the next change instead of failing the whole call. */
    int n = kevent(k->kq, k->changes, nch, k->events, (int)k->events_cap, tsp);
    vex__core_waited(l);
    if (n < 0)
        return errno == EINTR ? 0 : -1;   /* EINTR: all changes were applied */

    /* Errors first, so the state is right before any callback can call
     * vex__poller_set(); the kernel returns only errors when there are any. */
    for (int i = 0; i < n; i++)
        if ((k->events[i].flags & EV_ERROR) && !change_failed(k, &k->events[i]))
            k->events[i].filter = 0;   /* marks "nothing to report" */
    /* Callbacks may queue fds and so grow (move) k->events: index it anew
     * on every iteration and keep no pointer across vex__readiness_event(). */
    for (int i = 0; i < n; i++) {
        const struct kevent *ev = &k->events[i];
        unsigned mask;
        if (ev->flags & EV_ERROR) {
            if (!ev->filter)
                continue;
            mask = POLLER_READ | POLLER_WRITE;
        } else {
            mask = mask_of(ev->filter);
            /* EV_EOF on the write side means the peer is gone, and a socket
             * error (fflags) can only be read by a syscall: report both ways,
             * as epoll reports EPOLLHUP/EPOLLERR. A read-side EOF alone is
             * the peer's FIN, which the read itself will see. */
            if (ev->flags & EV_EOF) {
                if (ev->filter == EVFILT_WRITE || ev->fflags != 0)
                    mask |= POLLER_READ | POLLER_WRITE;
            }
        }
        if (mask)
            vex__readiness_event(l, (int)ev->ident, mask);
    }
    return n;
}
