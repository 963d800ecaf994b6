/*
 * tests/kqshim/sys/event.h — TEST STAND-IN for the BSD <sys/event.h>.
 *
 * Written by us from the kevent(2) manual page (FreeBSD and macOS), not
 * copied from any system header, so that src/backends/kqueue.c compiles on
 * Linux against tests/kqshim/kqshim.c. It declares only the API kqueue.c
 * uses and deliberately does NOT match any real ABI: the numeric values of
 * the filters and flags are our own (a real kernel would reject them), and
 * the struct has no padding or ext[] fields. Never install it, never build
 * production code against it.
 *
 * Flags the shim does not emulate (EV_CLEAR, EV_ONESHOT, EV_DISPATCH, ...)
 * and the other filters are left out on purpose: if kqueue.c starts to use
 * one, the CI build breaks here instead of the shim silently ignoring it.
 *
 * -DKQSHIM_NO_RECEIPT leaves EV_RECEIPT undefined, as on older NetBSD and
 * OpenBSD, so that kqueue.c's fallback path can be built and tested too.
 */
#ifndef VEX_KQSHIM_SYS_EVENT_H
#define VEX_KQSHIM_SYS_EVENT_H

#include <stdint.h>
#include <time.h>        /* struct timespec */

/* One event: the (ident, filter) pair names a kernel "knote". */
struct kevent {
    uintptr_t      ident;   /* identifier; a file descriptor for READ/WRITE */
    short          filter;  /* EVFILT_* */
    unsigned short flags;   /* EV_* actions on input, EV_EOF/EV_ERROR on output */
    unsigned int   fflags;  /* filter flags; with EV_EOF the socket error */
    intptr_t       data;    /* filter data; with EV_ERROR the errno value */
    void          *udata;   /* opaque, passed through unchanged */
};

/* Filters (negative and non-zero, as the manual's users may assume; any
 * other coincidence with a real header is accidental). */
#define EVFILT_READ   (-21)  /* readable, or a listening socket can accept */
#define EVFILT_WRITE  (-22)  /* writable */

/* Actions (input). */
#define EV_ADD        0x0010u  /* add, or modify if present; enables it too */
#define EV_DELETE     0x0020u  /* remove the knote */
#define EV_ENABLE     0x0040u  /* let the knote report events again */
#define EV_DISABLE    0x0080u  /* keep the knote but report nothing */
#ifndef KQSHIM_NO_RECEIPT
#define EV_RECEIPT    0x0100u  /* always return an EV_ERROR entry (data 0 on success) */
#endif
/* Returned (output). */
#define EV_EOF        0x1000u  /* the filter's direction has shut down */
#define EV_ERROR      0x2000u  /* a change failed (or EV_RECEIPT); errno in data */

/* Fill in *kevp; kevp is evaluated once. */
#define EV_SET(kevp, a, b, c, d, e, f) do {                                 \
        struct kevent *kqshim_kev_ = (kevp);                                \
        kqshim_kev_->ident = (a);                                           \
        kqshim_kev_->filter = (b);                                          \
        kqshim_kev_->flags = (c);                                           \
        kqshim_kev_->fflags = (d);                                          \
        kqshim_kev_->data = (e);                                            \
        kqshim_kev_->udata = (f);                                           \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif
