/*
 * readiness.c — the backend interface for readiness pollers (epoll, kqueue,
 * poll). When the poller says a socket is ready, perform the operation the
 * completion API promises: recv into the loop's buffer and deliver it, send
 * the queued output, accept a batch. Each poller only watches and waits.
 */
#include "poller.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__linux__) && !defined(VEX_PORTABLE)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#endif

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0   /* macOS: SO_NOSIGPIPE is set on each socket instead */
#endif

const char *const vex__backend_name = vex__poller_name;

/* A connection as readiness.c sees it: what the poller watches its fd for. */
/* A connection as readiness.c sees it is the core's vex_sock alone: what
 * the poller watches its fd for (POLLER_READ | POLLER_WRITE) lives in its
 * backend bits, bflags, so a connection costs no more than the core's part. */
const size_t vex__backend_sock_size = sizeof(vex_sock);
_Static_assert(sizeof(void *) != 8 || sizeof(vex_sock) <= VEX__SOCK_BUDGET_LP64,
               "idle connection memory is a target");
_Static_assert((POLLER_READ | POLLER_WRITE) <= 0xffffu, "the mask fits bflags");

int vex__backend_available(char *why, size_t why_len)
{
    return vex__poller_available(why, why_len);
}

int vex__backend_init(vex_loop *l, char *err, size_t err_len)
{
    if (vex__poller_init(l, err, err_len) < 0)
        return -1;
    if (vex__poller_set(l, l->wake_rfd, 0, POLLER_READ) < 0) {
        vex__poller_free(l);
        return -1;
    }
    return 0;
}

void vex__backend_free(vex_loop *l)
{
    vex__poller_free(l);
}

int vex__backend_wait(vex_loop *l, int timeout_ms)
{
    return vex__poller_wait(l, timeout_ms) < 0 ? -1 : 0;
}

static int watch(vex_loop *l, vex_sock *s, unsigned mask)
{
    if (mask == s->bflags)
        return 0;
    if (vex__poller_set(l, s->fd, s->bflags, mask) < 0)
        return -1;
    s->bflags = (uint16_t)mask;
    return 0;
}

int vex__backend_sock_add(vex_loop *l, vex_sock *s)
{
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return watch(l, s, POLLER_READ);
}

int vex__backend_sock_read(vex_loop *l, vex_sock *s, bool on)
{
    unsigned mask = on ? (s->bflags | POLLER_READ) : (s->bflags & ~POLLER_READ);
    return watch(l, s, mask);
}

/* The loop owns the file of a vex_sendfile job: close it once, here. */
static void file_end(vex_loop *l, vex_sock *s)
{
    if (vex__sock_file(s)) {
        close(vex__sock_file(s)->fd);
        vex__core_syscall(l);
        vex__core_file_done(s);
    }
}

bool vex__backend_sock_detach(vex_loop *l, vex_sock *s, bool close_fd)
{
    file_end(l, s);
    if (close_fd) {
        if (s->bflags)
            vex__poller_set(l, s->fd, s->bflags, POLLER_CLOSING);
        close(s->fd);
        vex__core_syscall(l);
    } else {
        watch(l, s, 0);
    }
    s->bflags = 0;
    return true;
}

/* Bytes sent from a file per flush before yielding to other sockets: a
 * client with a fast link must not starve the rest of the loop. */
#define FILE_BURST (1u << 20)

static void sock_failed(vex_loop *l, vex_sock *s, int err)
{
    file_end(l, s);
    watch(l, s, s->bflags & ~POLLER_WRITE);
    vex__core_wrote(l, s, -err);
}

/* After a send or sendfile that returned n: true to go on (progress, or
 * EINTR); false when the socket is full (then watched for writability) or
 * failed (then reported; n == 0 means zero_err). */
static bool may_go_on(vex_loop *l, vex_sock *s, ssize_t n, int zero_err)
{
    if (n > 0 || (n < 0 && errno == EINTR))
        return true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        watch(l, s, s->bflags | POLLER_WRITE);
    else
        sock_failed(l, s, n < 0 ? errno : zero_err);
    return false;
}

static bool send_queue(vex_loop *l, vex_sock *s, size_t *sent)
{
    int flags = SEND_FLAGS;
#ifdef MSG_MORE
    /* A file follows: let TCP fill whole segments with it, as TCP_CORK does
     * (sendfile itself sends all but its last piece that way). */
    if (vex__sock_file(s))
        flags |= MSG_MORE;
#endif
    while (vex__buf_pending(&s->out) > 0) {
        ssize_t n = send(s->fd, s->out.data + s->out.off, vex__buf_pending(&s->out), flags);
        vex__core_syscall(l);
        if (!may_go_on(l, s, n, EPIPE))
            return false;
        if (n > 0) {
            vex__buf_consume(&s->out, (size_t)n);
            *sent += (size_t)n;
        }
    }
    return true;
}

static bool send_file(vex_loop *l, vex_sock *s, size_t *sent)
{
    size_t burst = 0;
    vex_file_job *f = vex__sock_file(s);   /* valid until may_go_on says stop */
    while (f->left > 0) {
        if (burst >= FILE_BURST) {   /* level-triggered: comes back next turn */
            watch(l, s, s->bflags | POLLER_WRITE);
            return false;
        }
        size_t want = f->left < FILE_BURST ? (size_t)f->left : FILE_BURST;
        ssize_t n = vex__sys_sendfile(s->fd, f->fd, &f->off, want);
        vex__core_syscall(l);
        /* 0: the file is shorter than promised */
        if (!may_go_on(l, s, n, EIO))
            return false;
        if (n > 0) {
            f->left -= (uint64_t)n;
            *sent += (size_t)n;
            burst += (size_t)n;
        }
    }
    file_end(l, s);
    return true;
}

void vex__backend_sock_flush(vex_loop *l, vex_sock *s)
{
    size_t sent = 0;
    if (!send_queue(l, s, &sent))
        return;
    if (vex__sock_file(s) && !send_file(l, s, &sent))
        return;
    watch(l, s, s->bflags & ~POLLER_WRITE);
    vex__core_wrote(l, s, (ssize_t)sent);
}

int vex__backend_listen(vex_loop *l, vex_listener *ls, bool on)
{
    if (ls->armed == on)
        return 0;
    if (vex__poller_set(l, ls->fd, on ? 0 : POLLER_READ, on ? POLLER_READ : 0) < 0)
        return -1;
    ls->armed = on;
    return 0;
}

/* How many connections wait in a TCP listener's accept queue, or -1 when
 * it cannot say (not TCP, not Linux). A listening socket's tcp_info holds
 * the queue's length in tcpi_unacked (Linux since 2.6). One getsockopt
 * costs about a tenth of the accept(2) that finds the queue empty: that
 * one allocates a socket and a file before it says EAGAIN (about 5 us
 * here, Linux 6.18; 0.5 us for the getsockopt). */
static int accept_queue_len(int fd)
{
#if defined(__linux__) && !defined(VEX_PORTABLE) && defined(TCP_INFO)
    struct tcp_info ti;
    socklen_t len = offsetof(struct tcp_info, tcpi_unacked) + sizeof ti.tcpi_unacked;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        len >= offsetof(struct tcp_info, tcpi_unacked) + sizeof ti.tcpi_unacked &&
        ti.tcpi_state == TCP_LISTEN)
        return ti.tcpi_unacked > INT32_MAX ? INT32_MAX : (int)ti.tcpi_unacked;
#else
    (void)fd;
#endif
    return -1;
}

/* Up to VEX_ACCEPT_BATCH per readiness event, one at a time: an owner that
 * pauses (a connection limit) or stops the listener from inside on_accept
 * gets no further connection, and the rest stay in the kernel's backlog.
 * A TCP listener on Linux is asked how many wait, and that many are taken
 * (at least one: the poller said readable), so the accept that would find
 * the queue empty is not made; what arrives meanwhile is reported by the
 * next wait (level-triggered). Elsewhere: accept until EAGAIN. */
static void accept_ready(vex_loop *l, vex_listener *ls)
{
    int fd = ls->fd;
    int want = -1;
    for (int i = 0; i < VEX_ACCEPT_BATCH && ls->armed && ls->fd == fd; i++) {
        if (i == 1 && want < 0) {  /* more than the one readiness promised? */
            want = accept_queue_len(fd);
            vex__core_syscall(l);
            if (want >= 0)
                want++;            /* counted from the second accept on */
        }
        if (want >= 0 && i >= want)
            return;
        struct sockaddr_storage peer;   /* from the accept itself: no syscall more */
        socklen_t len = sizeof peer;
        int got = vex__accept(fd, (struct sockaddr *)&peer, &len);
        vex__core_syscall(l);
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                vex__core_accepted(l, ls, -errno, NULL, 0);
            return;
        }
        vex__core_accepted(l, ls, got, (struct sockaddr *)&peer, len);
    }
}

static void read_ready(vex_loop *l, vex_sock *s)
{
    ssize_t n;
    do {
        n = recv(s->fd, l->read_buf, l->cfg.recv_buf_size, 0);
        vex__core_syscall(l);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) /* EOF or error: stop watching, or level-triggering spins */
        watch(l, s, s->bflags & ~POLLER_READ);
    vex__core_deliver(l, s, l->read_buf, n < 0 ? -errno : n);
}

static void drain_wake_fd(vex_loop *l)
{
    char drain[64];
    ssize_t r;
    /* An eventfd needs one read; a pipe may hold several bytes. */
    do {
        r = read(l->wake_rfd, drain, sizeof drain);
        vex__core_syscall(l);
    } while (r == (ssize_t)sizeof drain);
}

void vex__readiness_event(vex_loop *l, int fd, unsigned mask)
{
    if (fd == l->wake_rfd) {
        drain_wake_fd(l);
        vex__core_woken(l);
        return;
    }
    vex_sock *s = vex__core_sock(l, fd);
    if (s) {
        if ((mask & POLLER_WRITE) && (s->bflags & POLLER_WRITE))
            vex__backend_sock_flush(l, s);
        /* The flush may have failed the socket and run the owner's callback,
         * which may have closed it: check before reading. */
        if ((mask & POLLER_READ) && (s->bflags & POLLER_READ) &&
            !(s->flags & VS_DETACHED))
            read_ready(l, s);
        return;
    }
    vex_listener *ls = vex__core_listener(l, fd);
    if (ls && ls->armed)
        accept_ready(l, ls);
}
