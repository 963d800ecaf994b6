/*
 * kqshim.h — test-only introspection of the kqueue emulation (kqshim.c),
 * so a unit test can compare kqueue.c's idea of the kernel with the
 * emulated "kernel" itself. Not part of any real kqueue API.
 */
#ifndef VEX_KQSHIM_H
#define VEX_KQSHIM_H

extern unsigned long kqshim_kevent_calls;   /* kevent() calls so far */
extern unsigned long kqshim_changes;        /* changelist entries seen */

/* The knote (kq, fd, filter): -1 absent, 0 disabled, 1 enabled. */
int kqshim_knote(int kq, int fd, short filter);
/* The most recently created kqueue still open, or -1. */
int kqshim_newest(void);

#endif
