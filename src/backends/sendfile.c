/*
 * sendfile.c — one call over the three sendfile(2) dialects, for the
 * readiness backends. Linux advances the offset itself; FreeBSD and macOS
 * take it by value and report partial progress alongside EAGAIN, which must
 * count as progress or those bytes would be sent twice. Elsewhere, and in
 * VEX_PORTABLE builds on Linux: pread and send through a small buffer.
 */
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE   /* sendfile(2) and struct sf_hdtr */
#endif
#include "poller.h"
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__) && !defined(VEX_PORTABLE)
#define LINUX_SENDFILE 1
#include <sys/sendfile.h>
#endif

/* pread + send through a small buffer: where there is no sendfile(2), or
 * the file's filesystem does not support it. */
static ssize_t copy_some(int sock, int file_fd, uint64_t *off, size_t count)
{
    char buf[16384];
    ssize_t n = pread(file_fd, buf, count < sizeof buf ? count : sizeof buf, (off_t)*off);
    if (n <= 0)
        return n;
#ifdef MSG_NOSIGNAL
    ssize_t w = send(sock, buf, (size_t)n, MSG_NOSIGNAL);
#else
    ssize_t w = send(sock, buf, (size_t)n, 0);
#endif
    if (w > 0)   /* a short send re-reads the rest next time */
        *off += (uint64_t)w;
    return w;
}

#if defined(LINUX_SENDFILE)

#if defined(VEX_LIBKQUEUE)
#include <signal.h>
#include <time.h>
/* Linux sendfile(2) has no MSG_NOSIGNAL: it raises SIGPIPE on a socket
 * whose error was already collected. With epoll that cannot happen here (the
 * first failing call returns the pending ECONNRESET and fails the socket),
 * but libkqueue reads SO_ERROR itself to fill in EV_EOF's fflags, which
 * clears it. On that build (make test-libkqueue) the call runs with SIGPIPE
 * blocked, and a SIGPIPE it raised is taken back, as send(MSG_NOSIGNAL)
 * would never have raised it. Two extra syscalls per call: not for real
 * builds, whose kernels keep the error. */
static ssize_t linux_sendfile(int sock, int file_fd, off_t *o, size_t count)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
        return sendfile(sock, file_fd, o, count);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = sendfile(sock, file_fd, o, count);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}
#else
#define linux_sendfile sendfile
#endif

ssize_t vex__sys_sendfile(int sock, int file_fd, uint64_t *off, size_t count)
{
    off_t o = (off_t)*off;
    ssize_t n = linux_sendfile(sock, file_fd, &o, count);
    if (n > 0)
        *off = (uint64_t)o;
    else if (n < 0 && (errno == EINVAL || errno == ENOSYS))
        return copy_some(sock, file_fd, off, count);   /* e.g. a /proc or FUSE file */
    return n;
}

#elif defined(__FreeBSD__) || defined(__APPLE__)

ssize_t vex__sys_sendfile(int sock, int file_fd, uint64_t *off, size_t count)
{
#if defined(__FreeBSD__)
    off_t sent = 0;
    /* nbytes 0 would mean "to the end of the file": count is never 0 here. */
    int r = sendfile(file_fd, sock, (off_t)*off, count, NULL, &sent, 0);
#else
    off_t sent = (off_t)count;
    int r = sendfile(file_fd, sock, (off_t)*off, &sent, NULL, 0);
#endif
    if (sent > 0) {   /* progress, even when r < 0 with EAGAIN or EINTR */
        *off += (uint64_t)sent;
        return (ssize_t)sent;
    }
    if (r < 0 && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP))
        return copy_some(sock, file_fd, off, count);   /* not a regular file */
    return r < 0 ? -1 : 0;
}

#else

ssize_t vex__sys_sendfile(int sock, int file_fd, uint64_t *off, size_t count)
{
    return copy_some(sock, file_fd, off, count);
}

#endif
