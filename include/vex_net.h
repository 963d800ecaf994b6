/*
 * vex_net.h — the one public header of vex_net, a small event loop for
 * TCP servers with interchangeable backends (epoll, io_uring, kqueue, poll).
 *
 * The backend is chosen when the library is built; this API is the same for
 * all of them. It is shaped so that a completion backend (io_uring) runs
 * natively — multishot accept, multishot recv into a shared provided-buffer
 * ring, many sends per io_uring_enter — while readiness backends (epoll,
 * kqueue, poll) perform the same operations with non-blocking syscalls when
 * the kernel says the socket is ready:
 *
 *   - The loop reads for you and hands you the bytes (vex_data_cb). The data
 *     lives in a loop-owned buffer that is valid only during the callback, so
 *     an idle connection holds no receive buffer at all.
 *   - vex_write() copies into the socket's output queue; the loop flushes all
 *     queued output once per turn (one send per socket, all of them in one
 *     io_uring_enter on io_uring).
 *   - Sockets are named by their fd, as in Redis's ae: every call that takes
 *     an fd checks it, so misuse (an fd that is not registered, a double close,
 *     an fd out of range) returns -1 with errno EBADF instead of crashing.
 *
 * Conventions: functions returning int or ssize_t return -1 and set errno on
 * failure (never print). A loop is used from one thread only; the single
 * exception is vex_loop_wake(), which any thread or signal handler may call.
 */
#ifndef VEX_NET_H
#define VEX_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>   /* struct sockaddr, socklen_t (vex_accept_cb) */

#ifdef __cplusplus
extern "C" {
#endif

#define VEX_NET_VERSION "0.1.0"

typedef struct vex_loop vex_loop;

/* ---- callbacks ---------------------------------------------------------- */

/* Bytes arrived on fd: n > 0 bytes at data (valid only during the call);
 * n == 0 the peer closed its side (EOF); n < 0 an error, -n is the errno
 * (ECONNRESET, ETIMEDOUT, ...). After EOF or an error no more data arrives;
 * the socket stays registered until vex_close(). */
typedef void (*vex_data_cb)(vex_loop *loop, int fd, const char *data,
                            ssize_t n, void *udata);

/* The socket's output queue has been fully written to the kernel. Called
 * once after a vex_write() returned -1/EAGAIN, or once after
 * vex_want_drain() (at once if the queue is already empty). */
typedef void (*vex_drain_cb)(vex_loop *loop, int fd, void *udata);

/* A connection was accepted on listen_fd: client_fd >= 0 is a new
 * non-blocking, close-on-exec socket the callback now owns, and peer
 * (peer_len bytes, valid only during the call: copy what you keep) is the
 * client's address as accept(2) reports it: a struct sockaddr_in for an
 * IPv4 listener, a struct sockaddr_in6 for an IPv6 one. A dual-stack
 * listener ([::] without VEX_LISTEN_V6ONLY) shows an IPv4 client as
 * AF_INET6 with an IPv4-mapped address, ::ffff:a.b.c.d
 * (IN6_IS_ADDR_V4MAPPED). Readiness backends get it from the accept itself;
 * io_uring's multishot accept cannot return an address per connection, so
 * there the loop asks getpeername(2), one syscall per connection; a client
 * already reset by then is closed and not delivered, as accept(2) itself
 * drops one that aborted (ECONNABORTED).
 * client_fd < 0 reports an accept error, -client_fd is the errno, and peer
 * is NULL, peer_len 0; on EMFILE/ENFILE/ENOBUFS/ENOMEM the loop backs off by
 * itself for VEX_ACCEPT_BACKOFF_MS rather than spinning. */
typedef void (*vex_accept_cb)(vex_loop *loop, int listen_fd, int client_fd,
                              const struct sockaddr *peer, socklen_t peer_len,
                              void *udata);

typedef struct vex_timer vex_timer;
typedef void (*vex_timer_cb)(vex_loop *loop, vex_timer *timer);

/* Called in the loop's thread after vex_loop_wake() from anywhere. Several
 * wake-ups before the loop runs may be folded into one call. */
typedef void (*vex_wake_cb)(vex_loop *loop, void *udata);

#define VEX_ACCEPT_BACKOFF_MS 100

/* ---- loop --------------------------------------------------------------- */

typedef struct vex_loop_config {
    unsigned max_fds;        /* fds >= this are refused (EBADF); 0: no cap,
                                the table starts at RLIMIT_NOFILE and grows */
    unsigned recv_buf_size;  /* bytes per receive buffer; 0: 16384          */
    unsigned recv_buf_count; /* io_uring provided buffers (power of 2); 0: 1024 */
    size_t   write_high_water; /* vex_write() says EAGAIN above this; 0: 1 MiB */
    unsigned ring_entries;   /* io_uring SQ size; 0: 4096                   */
    vex_wake_cb on_wake;
    void *wake_udata;
} vex_loop_config;

/* Name of the backend this library was built with: "epoll", "io_uring",
 * "kqueue" or "poll". */
const char *vex_backend_name(void);

/* Can this backend run here? Returns 1, or 0 with a one-line reason in why
 * (for example "io_uring is disabled by /proc/sys/kernel/io_uring_disabled=2"
 * or "io_uring_setup: Operation not permitted (seccomp?)"). */
int vex_backend_available(char *why, size_t why_len);

/* Create a loop. Create, run and free it in the same thread (io_uring rings
 * are set up single-issuer). cfg may be NULL for defaults. On failure returns NULL, sets
 * errno (EPERM/ENOSYS/EOPNOTSUPP when the kernel or a sandbox refuses the
 * backend) and writes a one-line message into err if err is not NULL. */
vex_loop *vex_loop_new(const vex_loop_config *cfg, char *err, size_t err_len);

/* Run until vex_loop_stop(). Returns 0, or -1 with errno on a fatal error. */
int vex_loop_run(vex_loop *loop);

/* Run one turn: flush output, wait up to timeout_ms (-1: until an event or
 * the next timer, 0: do not block), dispatch. Returns the number of
 * callbacks run, or -1 with errno. */
int vex_loop_run_once(vex_loop *loop, int timeout_ms);

/* Make vex_loop_run() return after the current turn (loop thread only). */
void vex_loop_stop(vex_loop *loop);

/* Wake the loop from any thread or from a signal handler (async-signal-safe:
 * one write(2) to an eventfd or pipe). Returns 0 or -1 with errno. */
int vex_loop_wake(vex_loop *loop);

/* Close every registered socket and free the loop. Timers are dropped. */
void vex_loop_free(vex_loop *loop);

/* Milliseconds of CLOCK_MONOTONIC, cached once per loop turn. */
uint64_t vex_now_ms(const vex_loop *loop);

/* Syscalls the loop itself has made (waits, reads, writes, accepts, closes,
 * io_uring_enter). With a request count this gives syscalls per request. */
uint64_t vex_loop_syscalls(const vex_loop *loop);

/* ---- listening sockets -------------------------------------------------- */

/* Accept connections on listen_fd (already bound and listening, e.g. by
 * vex_tcp_listen). io_uring keeps one multishot accept armed; readiness
 * backends accept up to VEX_ACCEPT_BATCH sockets per readiness event. */
#define VEX_ACCEPT_BATCH 32
int vex_listen_start(vex_loop *loop, int listen_fd, vex_accept_cb cb,
                     void *udata);
/* Stop or resume accepting (for a connection limit). Readiness backends
 * accept one connection at a time, so after vex_listen_pause returns (also
 * from inside on_accept) none is delivered and the rest wait in the kernel's
 * backlog. io_uring's multishot accept keeps delivering what it accepted
 * before its cancel landed (at most the backlog): those are connected
 * clients, so an owner at its limit must keep them (queue them) or answer
 * them, never close them unanswered. */
int vex_listen_pause(vex_loop *loop, int listen_fd);
int vex_listen_resume(vex_loop *loop, int listen_fd);
/* Stop accepting and forget listen_fd; the caller still owns and closes it. */
int vex_listen_stop(vex_loop *loop, int listen_fd);

/* ---- connected sockets -------------------------------------------------- */

typedef struct vex_sock_cbs {
    vex_data_cb  on_data;   /* required */
    vex_drain_cb on_drain;  /* optional */
} vex_sock_cbs;

/* Register a connected socket; it is made non-blocking and reading starts.
 * Errors: EBADF (not an open fd, or out of the table's range), EEXIST
 * (already registered), EINVAL (cbs or on_data missing).
 * The socket an accept callback is being given (client_fd, added from
 * inside that callback) is already open and non-blocking, so it is not
 * checked: one fcntl(2) fewer per connection. Closing it and then adding
 * its number from the same callback is misuse the add itself may then not
 * see (epoll and kqueue still say EBADF; poll and io_uring report the bad
 * fd through on_data as an error). */
int vex_sock_add(vex_loop *loop, int fd, const vex_sock_cbs *cbs, void *udata);

/* Stop delivering data (backpressure) and start again. The contract, the
 * same on every backend:
 *   - From the moment vex_read_pause returns (also when called inside
 *     on_data) until vex_read_resume, on_data is not called with data, EOF
 *     or a read error.
 *   - Data the kernel had already completed when the pause took effect is
 *     kept, not dropped (io_uring: receives of the multishot recv that
 *     completed before its cancel; readiness backends: none, the socket is
 *     simply not read). It is bounded by what the kernel had received.
 *   - After resume, held data comes first, in order, then new data, then
 *     EOF or the error. Every on_data call, held data included, carries at
 *     most recv_buf_size bytes, and a pause from inside one of those calls
 *     stops delivery at once, the rest staying held: an owner that pauses
 *     when its input bound is reached never sees more than one call's worth
 *     beyond it.
 *   - A write failure (vex_write's EPIPE/ECONNRESET, a vex_sendfile file
 *     error) is reported through on_data at once even while paused, since
 *     no on_drain will come; input held by the pause is then dropped.
 *   - vex_read_resume does not fail for want of memory: if the loop cannot
 *     grow its list of sockets with held data to deliver, the next turn finds
 *     them by a scan of every registered socket instead. */
int vex_read_pause(vex_loop *loop, int fd);
int vex_read_resume(vex_loop *loop, int fd);

/* Queue len bytes for sending; the loop writes them at the end of this turn.
 * Returns len, or -1 with errno: EAGAIN when the queue is already above
 * write_high_water (nothing queued: wait for on_drain), EPIPE after
 * vex_shutdown_write() or when the peer is gone, ECONNRESET after a reset,
 * EBADF for an fd that is not registered, ENOMEM when memory runs out or the
 * queue would pass 2 GiB (its offsets are 32 bits). */
ssize_t vex_write(vex_loop *loop, int fd, const void *data, size_t len);

/* Write in place, so a response is copied once: vex_write_reserve returns
 * room for at least min bytes at the end of fd's queue (the room is in
 * *avail, >= min), and vex_write_commit(n) queues the first n bytes written
 * there, like vex_write of those bytes. Refusals are vex_write's (EAGAIN at
 * write_high_water, which asks for on_drain; EPIPE; ECONNRESET; EBADF), with
 * NULL; ENOMEM if the queue cannot grow. The room is valid until the
 * commit, a vex_write/vex_sendfile/vex_close of fd, or the end of the
 * callback that reserved it, whichever comes first; a commit of 0, or none,
 * queues nothing. A commit of more than was reserved, or without a
 * reservation, fails with EINVAL and queues nothing. */
void *vex_write_reserve(vex_loop *loop, int fd, size_t min, size_t *avail);
int vex_write_commit(vex_loop *loop, int fd, size_t n);

/* Send len bytes of the file file_fd from offset, after everything already
 * queued on fd: the way to serve files. epoll, kqueue and poll use
 * sendfile(2) (page cache to socket, no copy through user space; a read of a
 * file not in the page cache does block the loop, as in nginx without aio
 * threads). io_uring sends what the page cache holds with sendfile(2) too
 * (asked with cachestat(2), Linux 6.5+), and reads any other piece, and the
 * rest of that file, with ring reads of 64 KiB and sends each, so a cold file
 * never blocks the loop.
 * On success (0) the loop owns file_fd: it closes it when the file has been
 * sent, when the socket fails, or when fd is closed or removed. On -1 the
 * caller still owns it. While the file is being sent, vex_write and
 * vex_sendfile on fd return EAGAIN and on_drain follows when it is done:
 * queue what comes after the file from on_drain.
 * If the file cannot be read, or ends before len bytes, the stream can no
 * longer be framed: the socket fails as after a write error, on_data
 * reporting -EIO (a short file) or the read's -errno.
 * Errors: as vex_write (EAGAIN, EPIPE, ECONNRESET, EBADF); EINVAL for a
 * negative file_fd. len 0 sends nothing and closes file_fd. */
int vex_sendfile(vex_loop *loop, int fd, int file_fd, uint64_t offset, uint64_t len);

/* Bytes queued on fd and not yet written to the kernel, a file job's
 * remaining bytes included (0 for bad fds). */
size_t vex_write_pending(const vex_loop *loop, int fd);

/* Ask for one on_drain call when fd's queue is (or becomes) empty. */
int vex_want_drain(vex_loop *loop, int fd);

/* Half-close: once the queue is flushed, shutdown(fd, SHUT_WR). Reading goes
 * on, so a lingering close can wait for the peer's EOF. */
int vex_shutdown_write(vex_loop *loop, int fd);

/* Unregister fd without closing it: no more callbacks, queued output is
 * discarded, operations in flight are cancelled. The caller owns fd again.
 * One exception (io_uring): if a vex_sendfile piece is being read from a
 * disk at that moment, that piece (at most 64 KiB) is still sent. */
int vex_sock_remove(vex_loop *loop, int fd);

/* Unregister and close fd. Queued output is discarded (use on_drain or
 * vex_shutdown_write first for an orderly close). In-flight operations are
 * cancelled; a later socket that reuses the fd number never sees their
 * completions. A second close of the same fd returns -1/EBADF. */
int vex_close(vex_loop *loop, int fd);

/* Is fd registered with the loop as a connection? */
int vex_sock_registered(const vex_loop *loop, int fd);

/* ---- timers ------------------------------------------------------------- */

/* Caller-owned storage; fields are private. Zero-initialise before first use
 * (or use VEX_TIMER_INIT). */
struct vex_timer {
    uint64_t due_ms, period_ms, seq;
    size_t heap_index;          /* 0: not armed */
    vex_timer_cb cb;
    void *data;                 /* yours */
};
#define VEX_TIMER_INIT {0, 0, 0, 0, NULL, NULL}

/* Fire cb after_ms after the loop's cached time (vex_now_ms: set when the
 * loop is created and at each turn), then every period_ms if period_ms > 0.
 * Starting an armed timer re-arms it. Timers due at the same time fire in
 * start order. */
int vex_timer_start(vex_loop *loop, vex_timer *t, uint64_t after_ms,
                    uint64_t period_ms, vex_timer_cb cb, void *data);
/* Disarm; safe on a timer that is not armed, and from inside its callback. */
void vex_timer_stop(vex_loop *loop, vex_timer *t);
int vex_timer_active(const vex_timer *t);

/* ---- socket helpers (no loop needed) ------------------------------------ */

#define VEX_LISTEN_REUSEPORT 1u   /* SO_REUSEPORT: one listener per loop */
#define VEX_LISTEN_V6ONLY    2u

/* socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen, non-blocking and
 * close-on-exec. host is a numeric IPv4/IPv6 address or NULL for 0.0.0.0;
 * port 0 picks a free port (see vex_local_port). Returns the fd or -1. */
int vex_tcp_listen(const char *host, int port, int backlog, unsigned flags);

/* Accept up to max sockets (non-blocking, close-on-exec) into fds. Returns
 * the number accepted (0 when none are waiting), or -1 with errno when the
 * first accept fails for another reason than EAGAIN. */
int vex_accept_batch(int listen_fd, int *fds, int max);
/* The same with each client's address: peers[i] (peer_lens[i] bytes) for
 * fds[i], as vex_accept_cb reports it. peers and peer_lens are both NULL
 * (then it is vex_accept_batch) or both arrays of max; one alone: EINVAL.
 * For accepting by hand, e.g. draining a listener's backlog at shutdown. */
int vex_accept_batch_addr(int listen_fd, int *fds, struct sockaddr_storage *peers,
                          socklen_t *peer_lens, int max);

int vex_set_nonblock(int fd, int on);
int vex_set_nodelay(int fd, int on);
/* SO_KEEPALIVE plus idle/interval seconds and probe count where supported. */
int vex_set_keepalive(int fd, int on, int idle_s, int interval_s, int count);
int vex_set_recvbuf(int fd, int bytes);
int vex_set_sendbuf(int fd, int bytes);
/* Port a socket is bound to, or -1. */
int vex_local_port(int fd);

#ifdef __cplusplus
}
#endif
#endif /* VEX_NET_H */
