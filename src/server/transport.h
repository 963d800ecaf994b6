/*
 * transport.h — a connection's bytes in and out, below HTTP.
 *
 * The layer above (http1) sees only this: input delivered through two
 * upcalls, output written into an open window (so a response is copied
 * once, straight into the socket's queue), files handed over whole, and the
 * pending count, backpressure, shutdown and close. Plain TCP is
 * transport_tcp.c; TLS will be a second implementation of the same ops, with
 * its own window (plaintext it encrypts into records on flush) and a
 * sendfile that says ENOTSUP so the caller reads and writes the file.
 *
 * One output window per thread (tp_out): only one connection's callback
 * runs at a time, so the window belongs to whichever connection wrote last
 * and is flushed before anything else happens to it.
 */
#ifndef VEX_SERVER_TRANSPORT_H
#define VEX_SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "metrics.h"
#include "vex_net.h"

typedef struct tp tp;
typedef struct tp_out tp_out;
typedef struct tp_env tp_env;

/* What the layer above is told. data is valid only during the call; n == 0
 * EOF, n < 0 -errno (a read or write failure: nothing more can be sent). */
typedef struct tp_upcalls {
    void (*on_input)(tp *t, const char *data, ssize_t n);
    void (*on_drain)(tp *t);
} tp_upcalls;

typedef struct tp_ops {
    int    (*open)(tp *t);
    /* Room for at least min bytes in the window (more in *avail), or NULL
     * (errno) if the transport can take no more now. */
    char  *(*reserve)(tp *t, size_t min, size_t *avail);
    int    (*flush)(tp *t);                /* end the window: 0 or -1 */
    /* Send len bytes of file fd after what is queued; takes fd on success.
     * -1/ENOTSUP: this transport cannot, read and write it instead. */
    int    (*sendfile)(tp *t, int fd, uint64_t off, uint64_t len);
    size_t (*pending)(const tp *t);        /* bytes not yet sent */
    int    (*pause)(tp *t, bool on);
    int    (*want_drain)(tp *t);
    int    (*shutdown)(tp *t);             /* FIN after what is queued */
    /* Optional. The last bytes are queued and a close follows: end the
     * transport's own framing (TLS: close_notify). NULL: nothing to send,
     * close(2)'s FIN ends plain TCP. */
    int    (*finish)(tp *t);
    /* Optional. true: nothing received is left undelivered (and, where the
     * transport's reads are not what it delivers, as with TLS records, the
     * last read did not fill its buffer), so the kernel most likely holds
     * no more input: a close now sends FIN, not RST. http1 also treats a
     * delivery of rx_chunk bytes as "more may wait". NULL: unknown (false). */
    bool   (*input_quiet)(const tp *t);
    void   (*close)(tp *t);                /* now; queued bytes are lost */
} tp_ops;

/* The window: an open reservation in one connection's output queue. */
struct tp_out {
    tp *owner;               /* NULL: none open */
    char *p;
    size_t used, avail;
};

/* What every connection of a thread shares: kept once, not per socket. */
struct tp_env {
    vex_loop *loop;
    tp_out out;
    const tp_upcalls *up;
    wstats *st;              /* the thread's counters (TLS handshakes)     */
    void *open_arg;          /* what the next open takes (TLS: its SSL_CTX) */
    /* TLS: the plaintext window, one per thread. A window is open on one
     * connection at a time and its flush encrypts all of it, so sharing it
     * costs nothing, and no connection allocates (and, above the mmap
     * threshold, page-faults in) a 128 KiB window per 64 KiB response. */
    char *tls_pt;
    size_t tls_pt_cap;
    size_t rx_chunk;         /* the loop's read size (recv_buf_size): a read
                                of this many may have left more behind */
};

struct tp {
    const tp_ops *ops;
    tp_env *env;
    int fd;
    bool rx_full;            /* TLS: the last socket read filled rx_chunk
                                (fits the padding after fd) */
    void *x;                 /* the transport's own state (TLS), or NULL    */
};

/* What the thread's transports keep between connections (the TLS window). */
void tp_env_free(tp_env *e);

/* For a transport's flush: close t's window and say how many bytes it
 * holds. false: t has no window open (nothing to flush). */
static inline bool tp_out_take(tp *t, size_t *n)
{
    tp_out *o = &t->env->out;
    if (o->owner != t)
        return false;
    *n = o->used;
    o->owner = NULL;
    o->used = o->avail = 0;
    return true;
}

extern const tp_ops tp_tcp_ops;
extern const tp_ops tp_tls_ops;   /* transport_tls.c; open_arg: SSL_CTX */

bool tp_write_slow(tp *t, const void *p, size_t n);

/* Write n bytes (copied once, into the window). false: the connection can
 * take nothing more (it failed); the caller stops writing. */
static inline bool tp_write(tp *t, const void *p, size_t n)
{
    tp_out *o = &t->env->out;
    if (o->owner == t && o->avail - o->used >= n) {
        memcpy(o->p + o->used, p, n);
        o->used += n;
        return true;
    }
    return tp_write_slow(t, p, n);
}
/* Room to format into directly; commit what was used with tp_commit. */
static inline char *tp_reserve(tp *t, size_t min, size_t *avail)
{
    return t->ops->reserve(t, min, avail);
}
static inline void tp_commit(tp *t, size_t n) { t->env->out.used += n; }

static inline int tp_flush(tp *t) { return t->env->out.owner == t ? t->ops->flush(t) : 0; }
static inline int tp_sendfile(tp *t, int fd, uint64_t off, uint64_t len)
{
    return tp_flush(t) < 0 ? -1 : t->ops->sendfile(t, fd, off, len);
}
static inline size_t tp_pending(const tp *t)
{
    return t->ops->pending(t) + (t->env->out.owner == t ? t->env->out.used : 0);
}
static inline int tp_pause(tp *t, bool on) { return t->ops->pause(t, on); }
static inline int tp_want_drain(tp *t) { return t->ops->want_drain(t); }
static inline int tp_shutdown(tp *t) { return tp_flush(t) < 0 ? -1 : t->ops->shutdown(t); }
static inline int tp_finish(tp *t)
{
    if (tp_flush(t) < 0)
        return -1;
    return t->ops->finish ? t->ops->finish(t) : 0;
}
static inline bool tp_input_quiet(const tp *t)
{
    return t->ops->input_quiet && t->ops->input_quiet(t);
}
/* For a transport whose deliveries are not its reads (TLS): remember
 * whether this read filled the buffer. */
static inline void tp_note_read(tp *t, ssize_t n)
{
    t->rx_full = t->env->rx_chunk == 0 || (n > 0 && (size_t)n >= t->env->rx_chunk);
}
void tp_close(tp *t);

#endif
