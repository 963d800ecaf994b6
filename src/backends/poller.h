/*
 * poller.h — the readiness primitive behind epoll.c, kqueue.c and poll.c.
 * readiness.c builds the whole backend interface on these four calls, so a
 * readiness backend is only "watch this fd for these events" and "wait".
 */
#ifndef VEX_POLLER_H
#define VEX_POLLER_H

#include "../loop_internal.h"

#define POLLER_READ  1u
#define POLLER_WRITE 2u
/* In new_mask (with no other bit): the fd is about to be closed. The kernel
 * drops epoll/kqueue registrations on close by itself, so a poller need only
 * forget its own bookkeeping (and any queued change for fd) — no syscall. */
#define POLLER_CLOSING 4u

extern const char vex__poller_name[];
int  vex__poller_available(char *why, size_t why_len);
int  vex__poller_init(vex_loop *l, char *err, size_t err_len);
void vex__poller_free(vex_loop *l);
/* Change what fd is watched for from old_mask to new_mask (0 = not watched). */
int  vex__poller_set(vex_loop *l, int fd, unsigned old_mask, unsigned new_mask);
/* Wait up to timeout_ms (-1: forever); call vex__core_waited() right after the
 * waiting syscall, then vex__readiness_event() for each ready fd. Returns the number of events, or -1 with errno (EINTR counts as 0). */
int  vex__poller_wait(vex_loop *l, int timeout_ms);

/* Implemented by readiness.c. mask may include POLLER_READ and POLLER_WRITE;
 * errors and hang-ups are reported as readable so the read sees them. */
void vex__readiness_event(vex_loop *l, int fd, unsigned mask);

/* sendfile.c: send up to count bytes of file_fd from *off to sock and
 * advance *off. Returns the bytes sent, 0 when the file has no more bytes at
 * *off, or -1 with errno (EAGAIN: the socket is full). */
ssize_t vex__sys_sendfile(int sock, int file_fd, uint64_t *off, size_t count);

#endif
