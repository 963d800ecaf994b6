/*
 * kqshim.c — TEST-ONLY kqueue()/kevent() emulation on Linux poll(2), so that
 * src/backends/kqueue.c can be built and run through the conformance suite
 * in Linux CI. Built only with `make BACKEND=kqueue KQSHIM=1`, against our
 * stand-in tests/kqshim/sys/event.h.
 *
 * It implements our reading of the kevent(2) manual page (FreeBSD, macOS),
 * not a BSD kernel, so it checks kqueue.c's bookkeeping, not real kernel
 * behaviour. What it emulates:
 *   - knotes keyed by (kqueue, ident, filter), EVFILT_READ and EVFILT_WRITE
 *     on file descriptors only, level-triggered (no EV_CLEAR/EV_ONESHOT);
 *   - EV_ADD: create, or update udata if present; enabled unless EV_DISABLE;
 *     EV_DELETE/EV_ENABLE/EV_DISABLE on a missing knote: ENOENT;
 *     a change naming a closed descriptor: EBADF; another filter: EINVAL;
 *   - a failed change (or any change with EV_RECEIPT) comes back as an
 *     EV_ERROR entry with the errno in data (0: success) while the eventlist
 *     has room; with no room a failure returns -1/errno and a receipt stops
 *     the changelist; if any such entry was returned, kevent() returns at
 *     once without collecting events (FreeBSD and macOS both do so);
 *   - nevents == 0 returns right after the changes, even with a timeout;
 *     EINTR from the wait returns -1 with every change already applied;
 *   - close(2) removes the descriptor's knotes (close is interposed below)
 *     and closing a kqueue drops its knotes; a kqueue is not inherited by a
 *     fork()ed child (the child's copy is closed);
 *   - EV_EOF: READ on peer shutdown/hang-up (POLLRDHUP, POLLHUP), WRITE on
 *     POLLHUP or POLLERR. With EV_EOF, fflags is non-zero if an error is
 *     pending (POLLERR) — but Linux cannot report WHICH error without
 *     consuming it (SO_ERROR clears it), and the owner's recv/send must
 *     still see it, so fflags then holds EIO as a stand-in, not the real
 *     errno. data is 0 in returned events (no byte counts).
 *   - ready events are returned round-robin across calls, as the kernel's
 *     queue does, so a full eventlist cannot starve high descriptors.
 * Not emulated: other filters and flags (the stand-in header leaves them out
 * so using one fails to compile), descriptors closed by anything but close()
 * (dup2 onto a watched fd, close_range, fclose: their knotes linger until
 * poll reports POLLNVAL), the exact order of returned events, EVFILT_WRITE's
 * EV_EOF after our own shutdown(SHUT_WR) (Linux poll cannot see it).
 *
 * Thread-safe (one mutex, not held while waiting). The interposed close()
 * takes that mutex, so it must not be called from a signal handler.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/event.h>
#include "kqshim.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Per ident and kqueue: a READ and a WRITE knote, each registered/enabled. */
#define K_REG(w)  (1u << (2 * (w)))       /* w: 0 read, 1 write */
#define K_EN(w)   (2u << (2 * (w)))
#define K_ANY_EN  (K_EN(0) | K_EN(1))

typedef struct shim_kq {
    int fd;               /* the descriptor kqueue() returned (/dev/null) */
    unsigned char *kn;    /* per ident: K_REG/K_EN bits */
    void **udata;         /* per ident: [2 * ident + w] */
    size_t len;           /* kn[] and udata[] cover idents [0, len) */
    size_t cursor;        /* first ident to look at next time (round robin) */
} shim_kq;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static shim_kq **kqs;
static size_t nkqs, kqs_cap;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

unsigned long kqshim_kevent_calls, kqshim_changes;

static int which(short filter)
{
    return filter == EVFILT_READ ? 0 : filter == EVFILT_WRITE ? 1 : -1;
}

static shim_kq *find_kq(int fd)
{
    for (size_t i = 0; i < nkqs; i++)
        if (kqs[i]->fd == fd)
            return kqs[i];
    return NULL;
}

static void free_kq_at(size_t i)
{
    shim_kq *q = kqs[i];
    free(q->kn);
    free(q->udata);
    free(q);
    memmove(&kqs[i], &kqs[i + 1], (--nkqs - i) * sizeof *kqs);   /* keep order */
}

/* fd is being closed: drop its knotes everywhere, and the kqueue it is. */
static void forget_fd_locked(int fd)
{
    if (fd < 0)
        return;
    for (size_t i = 0; i < nkqs;) {
        if (kqs[i]->fd == fd) {
            free_kq_at(i);
            continue;
        }
        if ((size_t)fd < kqs[i]->len)
            kqs[i]->kn[fd] = 0;
        i++;
    }
}

int close(int fd)
{
    pthread_mutex_lock(&mu);
    forget_fd_locked(fd);
    pthread_mutex_unlock(&mu);
    return (int)syscall(SYS_close, fd);
}

static void atfork_prepare(void) { pthread_mutex_lock(&mu); }
static void atfork_parent(void)  { pthread_mutex_unlock(&mu); }
/* kevent(2): a kqueue is not inherited by a child created with fork(). */
static void atfork_child(void)
{
    while (nkqs > 0) {
        syscall(SYS_close, kqs[nkqs - 1]->fd);
        free_kq_at(nkqs - 1);
    }
    pthread_mutex_unlock(&mu);
}
static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

int kqueue(void)
{
    pthread_once(&atfork_once, install_atfork);
    shim_kq *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return -1;
    }
    /* A real descriptor, so the number is unique and close() works on it. */
    q->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (q->fd < 0) {
        free(q);
        return -1;
    }
    pthread_mutex_lock(&mu);
    if (nkqs == kqs_cap) {
        size_t cap = kqs_cap ? 2 * kqs_cap : 8;
        shim_kq **p = realloc(kqs, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&mu);
            syscall(SYS_close, q->fd);
            free(q);
            errno = ENOMEM;
            return -1;
        }
        kqs = p;
        kqs_cap = cap;
    }
    kqs[nkqs++] = q;
    pthread_mutex_unlock(&mu);
    return q->fd;
}

static int reserve(shim_kq *q, size_t ident)
{
    if (ident < q->len)
        return 0;
    size_t len = q->len ? q->len : 64;
    while (len <= ident)
        len *= 2;
    unsigned char *kn = realloc(q->kn, len);
    if (!kn)
        return ENOMEM;
    q->kn = kn;
    void **ud = realloc(q->udata, 2 * len * sizeof *ud);
    if (!ud)
        return ENOMEM;
    q->udata = ud;
    memset(q->kn + q->len, 0, len - q->len);
    memset(q->udata + 2 * q->len, 0, 2 * (len - q->len) * sizeof *ud);
    q->len = len;
    return 0;
}

/* Apply one change; returns 0 or an errno value. */
static int apply(shim_kq *q, const struct kevent *c)
{
    int w = which(c->filter);
    if (w < 0)
        return EINVAL;
    if (c->ident > (uintptr_t)INT_MAX || fcntl((int)c->ident, F_GETFD) < 0)
        return EBADF;
    size_t id = c->ident;
    unsigned st = id < q->len ? q->kn[id] : 0;
    if (c->flags & EV_ADD) {
        int e = reserve(q, id);
        if (e)
            return e;
        st |= K_REG(w);
        q->udata[2 * id + (size_t)w] = c->udata;
        /* "Adding an event automatically enables it, unless overridden by
         * the EV_DISABLE flag." */
        st = (c->flags & EV_DISABLE) ? st & ~K_EN(w) : st | K_EN(w);
        q->kn[id] = (unsigned char)st;
        return 0;
    }
    if (!(st & K_REG(w)))
        return ENOENT;
    if (c->flags & EV_DELETE)
        st &= ~(K_REG(w) | K_EN(w));
    else if (c->flags & EV_DISABLE)
        st &= ~K_EN(w);
    else if (c->flags & EV_ENABLE)
        st |= K_EN(w);
    q->kn[id] = (unsigned char)st;
    return 0;
}

static int timeout_ms(const struct timespec *ts, int *ms)
{
    if (!ts) {
        *ms = -1;
        return 0;
    }
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
        return EINVAL;
    long long v = (long long)(ts->tv_nsec + 999999L) / 1000000L;   /* round up */
    if (ts->tv_sec > (time_t)(INT_MAX / 1000))
        v = INT_MAX;
    else
        v += (long long)ts->tv_sec * 1000;
    *ms = v > INT_MAX ? INT_MAX : (int)v;
    return 0;
}

int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout)
{
    int tmo;
    if (nchanges < 0 || nevents < 0 || timeout_ms(timeout, &tmo)) {
        errno = EINVAL;
        return -1;
    }
    if ((nchanges && !changelist) || (nevents && !eventlist)) {
        errno = EFAULT;
        return -1;
    }
    pthread_mutex_lock(&mu);
    kqshim_kevent_calls++;
    shim_kq *q = find_kq(kq);
    if (!q) {
        pthread_mutex_unlock(&mu);
        errno = EBADF;
        return -1;
    }

    /* 1. The changes, in order. */
    int out = 0;
    for (int i = 0; i < nchanges; i++) {
        const struct kevent *c = &changelist[i];
        kqshim_changes++;
        int e = apply(q, c);
#ifdef EV_RECEIPT
        bool receipt = (c->flags & EV_RECEIPT) != 0;
#else
        bool receipt = false;
#endif
        if (!e && !receipt)
            continue;
        if (out < nevents) {
            /* The change itself, flagged (macOS keeps the other flags,
             * FreeBSD replaces them: callers may only test the bit). */
            eventlist[out] = *c;
            eventlist[out].flags = (unsigned short)(c->flags | EV_ERROR);
            eventlist[out].data = e;
            out++;
        } else if (e) {
            pthread_mutex_unlock(&mu);
            errno = e;
            return -1;
        } else {
            break;   /* receipt with no room: later changes are not applied */
        }
    }
    if (out > 0 || nevents == 0) {
        pthread_mutex_unlock(&mu);
        return out;
    }

    /* 2. Snapshot the enabled knotes as a poll set, starting at the cursor. */
    size_t n = 0;
    for (size_t id = 0; id < q->len; id++)
        n += (q->kn[id] & K_ANY_EN) != 0;
    struct pollfd *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&mu);
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t j = 0; j < q->len && k < n; j++) {
        size_t id = (q->cursor + j) % q->len;
        unsigned st = q->kn[id];
        if (!(st & K_ANY_EN))
            continue;
        p[k].fd = (int)id;
        p[k].events = (short)(((st & K_EN(0)) ? POLLIN | POLLRDHUP : 0) |
                              ((st & K_EN(1)) ? POLLOUT : 0));
        p[k].revents = 0;
        k++;
    }
    pthread_mutex_unlock(&mu);

    /* 3. Wait, unlocked: other threads may close descriptors meanwhile. */
    int r = poll(p, (nfds_t)k, tmo);
    if (r < 0) {
        int e = errno;
        free(p);
        errno = e;   /* EINTR: every change above has been applied */
        return -1;
    }

    /* 4. Report what is ready and still enabled now. */
    pthread_mutex_lock(&mu);
    q = find_kq(kq);   /* closed by another thread while we waited? */
    if (!q) {
        pthread_mutex_unlock(&mu);
        free(p);
        errno = EBADF;
        return -1;
    }
    for (size_t i = 0; i < k && r > 0; i++) {
        short re = p[i].revents;
        if (!re)
            continue;
        size_t id = (size_t)p[i].fd;
        if (id >= q->len)
            continue;
        if (re & POLLNVAL) {           /* closed behind our back */
            q->kn[id] = 0;
            continue;
        }
        if (out + ((q->kn[id] & K_EN(0)) != 0) + ((q->kn[id] & K_EN(1)) != 0)
                > nevents) {
            q->cursor = id;            /* full: this one goes first next time */
            break;
        }
        q->cursor = id + 1;
        for (int w = 0; w < 2; w++) {
            if (!(q->kn[id] & K_EN(w)))
                continue;
            bool ready, eof;
            if (w == 0) {
                ready = re & (POLLIN | POLLRDHUP | POLLHUP | POLLERR);
                eof = re & (POLLRDHUP | POLLHUP);
            } else {
                ready = re & (POLLOUT | POLLHUP | POLLERR);
                eof = re & (POLLHUP | POLLERR);
            }
            if (!ready)
                continue;
            struct kevent *o = &eventlist[out++];
            EV_SET(o, (uintptr_t)id, w == 0 ? EVFILT_READ : EVFILT_WRITE,
                   eof ? EV_EOF : 0, (eof && (re & POLLERR)) ? EIO : 0, 0,
                   q->udata[2 * id + (size_t)w]);
        }
    }
    pthread_mutex_unlock(&mu);
    free(p);
    return out;
}

int kqshim_knote(int kq, int fd, short filter)
{
    int w = which(filter), res = -1;
    pthread_mutex_lock(&mu);
    shim_kq *q = find_kq(kq);
    if (q && w >= 0 && fd >= 0 && (size_t)fd < q->len &&
        (q->kn[fd] & K_REG(w)))
        res = (q->kn[fd] & K_EN(w)) ? 1 : 0;
    pthread_mutex_unlock(&mu);
    return res;
}

int kqshim_newest(void)
{
    pthread_mutex_lock(&mu);
    int fd = -1;
    if (nkqs > 0)
        fd = kqs[nkqs - 1]->fd;
    pthread_mutex_unlock(&mu);
    return fd;
}
