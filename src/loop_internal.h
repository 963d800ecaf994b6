/*
 * loop_internal.h — what the loop core (src/loop.c) and the backends share.
 * Not installed; only src/ includes it.
 *
 * Two layers, so each backend stays one small file:
 *   vex__backend_*  the completion-level interface the core calls (below).
 *                   The io_uring backend implements it directly; readiness.c
 *                   implements it once for epoll, kqueue and poll on top of
 *                   poller.h.
 *   vex__core_*     what a backend calls back when something completed.
 *
 * Naming: the library's public names start with vex_ and every other name
 * it defines with external linkage starts with vex__ (as libuv's uv__), so
 * a program linking libvex_net.a meets no name of ours outside vex_*;
 * `make check-symbols` fails the build otherwise.
 */
#ifndef VEX_LOOP_INTERNAL_H
#define VEX_LOOP_INTERNAL_H

#include "vex_net.h"
#include <stdbool.h>
#include <stdint.h>

/* A growable byte queue; bytes [off, len) are pending. 32-bit offsets: one
 * is embedded in every socket (two on io_uring), and idle RSS per
 * connection is a target; a queue refuses to grow past 2 GiB (ENOMEM). */
typedef struct vex_buf {
    char *data;
    uint32_t off, len, cap;
} vex_buf;
#define VEX__BUF_MAX (1u << 31)

enum {
    VS_PAUSED      = 1u << 0,  /* user paused reading */
    VS_EOF         = 1u << 1,  /* EOF or read error delivered; no more reads */
    VS_WANT_DRAIN  = 1u << 2,  /* call on_drain once the queue is empty */
    VS_SHUT_WANTED = 1u << 3,  /* shutdown(SHUT_WR) once the queue is empty */
    VS_SHUT_DONE   = 1u << 4,
    VS_IN_FLUSH    = 1u << 5,  /* on the loop's flush list */
    VS_DETACHED    = 1u << 6,  /* removed/closed; backend still owns memory */
    VS_HELD_READY  = 1u << 7,  /* held data waits on the ready list */
    VS_FILE        = 1u << 8,  /* side->file is a vex_sendfile job in progress */
};

/* A file being sent after s->out (vex_sendfile), in s->side: VS_FILE is
 * set exactly while one is (vex__sock_file). The backend sends it and owns
 * the end of the job: it closes fd (once no read on it is in flight) and
 * ends the job with vex__core_file_done, on completion, failure or detach. */
typedef struct vex_file_job {
    int fd;
    uint64_t off, left;
} vex_file_job;

/* What few connections need at a time, allocated on first use and freed
 * once it holds nothing, so that a socket carries one pointer for both. */
typedef struct vex_sock_side {
    vex_buf held;              /* data completed while paused (io_uring) */
    vex_file_job file;         /* while VS_FILE */
} vex_sock_side;

/* What the core knows of a connection. A backend's own per-socket state
 * follows it in the same allocation: each backend defines a struct whose
 * first member is a vex_sock (readiness.c: the watched mask; io_uring.c:
 * its flags and the output in flight) and sets vex__backend_sock_size to
 * its size; the core allocates that many zeroed bytes. Reaching the
 * backend's part is a cast, no pointer to follow, and a readiness
 * connection no longer carries io_uring's 32-byte buffer. */
typedef struct vex_sock {
    /* Ordered to leave no padding, and every field as narrow as it can be:
     * one per connection, and idle RSS per connection is a target (README,
     * "Memory per idle connection"). 72 bytes on LP64. */
    int fd;
    uint16_t flags;            /* VS_* */
    uint16_t bflags;           /* the backend's own bits (readiness.c: the
                                  watched mask; io_uring.c: U_*) */
    const vex_sock_cbs *cbs;   /* the caller's: must outlive the socket */
    /* A released socket runs no callback and is reached from no table, so
     * the dead list's link takes udata's place. */
    union {
        void *udata;
        struct vex_sock *next_dead;
    };
    vex_buf out;               /* queued output */
    struct vex_sock *next_flush;
    uint32_t inflight;         /* bytes handed to the kernel, not yet confirmed
                                  (at most one vex_buf or a 64 KiB piece) */
    int16_t err;               /* sticky write error (EPIPE, ECONNRESET) */
    int16_t held_end;          /* after held: 0 none, 1 EOF, -errno error */
    vex_sock_side *side;       /* held input, file job (rare: lazy), or NULL */
} vex_sock;

/* What a backend's socket struct (vex_sock first) may take on LP64: 72
 * bytes (readiness.c: vex_sock alone) or 80 (io_uring.c: plus a pointer to
 * the output in flight). Sockets come from sock_pool.c's chunks, so that
 * is all a connection's socket costs. Each backend asserts its own. */
#define VEX__SOCK_BUDGET_LP64 72
#define VEX__SOCK_BUDGET_URING_LP64 80

/* A backend keeps its per-listener state in its own array indexed by the
 * slot, ls - l->listeners (io_uring: accepts in flight), which survives the
 * slot's reuse, as that state must. */
typedef struct vex_listener {
    int fd;
    bool active;               /* user wants accepts (not paused/stopped) */
    bool armed;                /* backend is accepting now */
    vex_accept_cb cb;
    void *udata;
    vex_timer backoff;         /* EMFILE & co.: re-arm later instead of spinning */
} vex_listener;

#define VEX_MAX_LISTENERS 16

struct vex_loop {
    vex_loop_config cfg;
    unsigned max_fds;
    vex_sock **socks;          /* indexed by fd */
    vex_listener listeners[VEX_MAX_LISTENERS];
    unsigned n_listeners;

    vex_timer **heap;          /* 1-based binary min-heap of armed timers */
    size_t heap_len, heap_cap;
    uint64_t timer_seq;

    vex_sock *flush_head;      /* sockets with output to write this turn */
    vex_sock **ready;          /* sockets with held data to deliver: an array,
                                  so a socket carries no link for this rare
                                  case (vex_read_resume grows it) */
    unsigned n_ready, ready_cap;
    bool ready_overflow;       /* the array could not grow: run_ready scans
                                  socks[] for VS_HELD_READY instead */
    vex_sock *dead_head;       /* detached sockets freed at the next turn */
    vex_sock *reserved;        /* whose vex_write_reserve room is open: one at
                                  a time, ended by anything that may move or
                                  consume that queue */
    uint64_t now_ms;
    uint64_t syscalls;
    int wake_rfd, wake_wfd;    /* eventfd (same fd twice) or pipe */
    int callbacks;             /* run in the current turn */
    int accepting_fd;          /* the socket an accept callback is being
                                  given now (else -1): open and non-blocking
                                  (accept4/io_uring SOCK_NONBLOCK), so its
                                  vex_sock_add needs no fcntl to prove it */
    bool stop;
    char *read_buf;            /* readiness backends read into this */
    vex_buf spare_bufs[64];    /* emptied output queues, for reuse */
    unsigned n_spare;
    void *be;                  /* backend state */
    /* Where sockets live (sock_pool.c). */
    struct pool_chunk *pool_chunks;
    void *pool_free;           /* freed blocks, linked through their first word */
    char *pool_next, *pool_end;   /* the newest chunk's unused blocks */
};

/* ---- implemented by each backend (io_uring.c, or readiness.c) ---------- */
extern const char *const vex__backend_name;
extern const size_t vex__backend_sock_size;   /* its struct with vex_sock first */
int  vex__backend_available(char *why, size_t why_len);
int  vex__backend_init(vex_loop *l, char *err, size_t err_len);
void vex__backend_free(vex_loop *l);
/* Start or stop accepting on a listener (ls->armed tracks the state). */
int  vex__backend_listen(vex_loop *l, vex_listener *ls, bool on);
int  vex__backend_sock_add(vex_loop *l, vex_sock *s);
int  vex__backend_sock_read(vex_loop *l, vex_sock *s, bool on);
/* Write what s->out holds, then the file job if any (called once per
 * turn for each dirty socket). */
void vex__backend_sock_flush(vex_loop *l, vex_sock *s);
/* Stop all I/O on s, cancel what is in flight, end a file job, close the
 * fd if close_fd.
 * Returns true if s may be freed now; false if the backend will call
 * vex__core_sock_release() when the last completion for s has arrived. */
bool vex__backend_sock_detach(vex_loop *l, vex_sock *s, bool close_fd);
/* Wait up to timeout_ms (-1: forever) and dispatch through vex__core_*. */
int  vex__backend_wait(vex_loop *l, int timeout_ms);

/* ---- implemented by the core (loop.c) for the backends ------------------ */
vex_sock *vex__core_sock(const vex_loop *l, int fd);          /* NULL if none */
vex_listener *vex__core_listener(vex_loop *l, int fd);        /* NULL if none */
void vex__core_deliver(vex_loop *l, vex_sock *s, const char *data, ssize_t n);
/* A connection (fd >= 0, from peer) or an accept error (-errno, peer NULL). */
void vex__core_accepted(vex_loop *l, vex_listener *ls, int fd_or_neg_errno,
                        const struct sockaddr *peer, socklen_t peer_len);
/* The backend consumed n bytes of output (n < 0: -errno, the socket
 * failed). The core then checks whether s->out and s->inflight are empty. */
void vex__core_wrote(vex_loop *l, vex_sock *s, ssize_t n);
void vex__core_sock_release(vex_loop *l, vex_sock *s);
/* Call vex__backend_sock_flush(s) from the next flush of the loop, once
 * every completion of this wait has been dispatched (io_uring: the file's
 * sendfile(2) path, see U_SOCKERR there). */
void vex__core_flush_later(vex_loop *l, vex_sock *s);
/* The wake fd fired (the backend has drained it): run on_wake. */
void vex__core_woken(vex_loop *l);
static inline void vex__core_syscall(vex_loop *l) { l->syscalls++; }
uint64_t vex__core_clock_ms(void);   /* CLOCK_MONOTONIC now, uncached */
/* The wait syscall returned: count it and refresh the cached time before
 * dispatching, so deadlines set in callbacks count from now. */
static inline void vex__core_waited(vex_loop *l)
{
    l->syscalls++;
    l->now_ms = vex__core_clock_ms();
}

/* An empty queue gives its memory to the loop's spare list (idle
 * connections then hold none); a queue about to grow from nothing takes it. */
void vex__core_buf_release(vex_loop *l, vex_buf *b);
void vex__core_buf_ready(vex_loop *l, vex_buf *b);

/* ---- socket memory (sock_pool.c) ---------------------------------------- */
/* vex__backend_sock_size zeroed bytes, 8-byte aligned; NULL if out of memory. */
vex_sock *vex__sock_alloc(vex_loop *l);
void vex__sock_free(vex_loop *l, vex_sock *s);
void vex__sock_pool_free(vex_loop *l);   /* every chunk, at vex_loop_free */

/* ---- per-fd arrays (fd_table.c) ------------------------------------------ */
/* Grow table (*len entries of elem bytes) to cover fd, doubling from *len
 * (or first), to at most cap entries when cap > 0; new entries get the byte
 * fill (0, or 0xff for int -1). Returns the table, moved perhaps (*len
 * updated), or NULL with errno (EBADF: fd < 0, >= cap or beyond 2^31;
 * ENOMEM) leaving table and *len as they were. Callers test
 * fd < *len first, inline: this is the slow path. */
void *vex__fd_table_grow(void *table, unsigned *len, size_t elem, int fd,
                         unsigned first, unsigned cap, int fill);

/* ---- socket helpers (sockopt.c) ----------------------------------------- */
/* Accept one connection and its peer's address (peer_len in: its size; out:
 * the address's; both may be NULL), retrying EINTR and ECONNABORTED. Returns the fd
 * (non-blocking, close-on-exec) or -1 with errno (EAGAIN: none waiting). */
int vex__accept(int listen_fd, struct sockaddr *peer, socklen_t *peer_len);

/* ---- byte queue helpers (buf.c) ----------------------------------------- */
int  vex__buf_append(vex_buf *b, const void *p, size_t n);
/* Make room for n bytes at the end of b (for reading into it directly). */
int  vex__buf_reserve(vex_buf *b, size_t n);
void vex__buf_consume(vex_buf *b, size_t n);
void vex__buf_free(vex_buf *b);
static inline size_t vex__buf_pending(const vex_buf *b) { return b->len - b->off; }

/* The vex_sendfile job in progress, or NULL. */
static inline vex_file_job *vex__sock_file(const vex_sock *s)
{
    return (s->flags & VS_FILE) ? &s->side->file : NULL;
}
/* The backend ended s's file job (it closed the file or never will). */
void vex__core_file_done(vex_sock *s);

/* Nothing left to send: no queued bytes, none in flight, no file job. */
static inline bool vex__sock_idle_output(const vex_sock *s)
{
    return vex__buf_pending(&s->out) == 0 && s->inflight == 0 && !(s->flags & VS_FILE);
}

#endif
