/*
 * http1_internal.h — what http1.c, http1_out.c and http1_body.c share; no
 * other file includes it.
 */
#ifndef VEX_SERVER_HTTP1_INTERNAL_H
#define VEX_SERVER_HTTP1_INTERNAL_H

#include <stddef.h>

#include "http1.h"

/* Tunables (why: see where they are used). */
#define OUT_HIGH        (256u * 1024)  /* stop parsing above this much queued  */
#define STREAM_CHUNK    (64u * 1024)   /* one piece of a body from memory      */
#define FILE_PIECE      (1u << 20)     /* one transport sendfile of a repeat   */
#define LINGER_MS       2000u          /* lingering close: wait for peer EOF   */
#define CLOSE_NOW_MAX   (64u * 1024)   /* largest body closed at once (DONE)   */

enum h1_flag {
    CF_EOF     = 1u << 0,  /* the peer closed its side (or failed)        */
    CF_PAUSED  = 1u << 1,  /* we paused reading                           */
    CF_IN_HEAD = 1u << 2,  /* part of a request head has arrived          */
    CF_DEFER   = 1u << 3,  /* a request is held by h1_defer               */
    CF_RESUMED = 1u << 4,  /* ... and its timer fired: dispatch it again   */
    CF_PROXY   = 1u << 5,  /* a PROXY protocol header comes first          */
    CF_COUNTED = 1u << 6,  /* counted in ctx->conns (limit-conn)           */
    CF_BODY    = 1u << 7,  /* the request's body is not read to its end   */
};

/* Streamed work of one exchange, attached only while it is in progress and
 * recycled through a per-thread free list: idle connections carry none. */
struct h1_job {
    h1_job *next_free;
    h1_ex x;                  /* the exchange it continues */
    uint64_t seen_pending;    /* queued octets at the last timeout scan */
    char *target;             /* copy of the request target, for the hook */
    http_slice ua, referer;   /* copies, in target's allocation (p NULL: none) */
    http_slice method_str;

    /* Request body. */
    bool reading;
    bool chunked_in;
    bool collect;
    enum resp_id reply;       /* discarding the body, then this reply */
    uint64_t body_total;      /* Content-Length */
    uint64_t body_left;       /* of which still to come */
    http_chunked dec;
    void (*on_chunk)(h1_ex *x, const char *p, size_t n);
    void (*on_end)(h1_ex *x);
    void (*on_all)(h1_ex *x, const char *body, size_t len);
    char *body;               /* collected body */
    size_t body_len, body_cap;

    /* Response body from a file or a repeating pattern. */
    bool streaming;
    int fd;                   /* owned by the job until handed over */
    uint64_t off, left;
    const char *mem;          /* repeat from memory when fd < 0 */
    size_t period;
    bool repeat;
    bool mem_only;            /* the transport cannot send files: copy them */
};

h1_job *h1_job_get(h1_ctx *ctx, h1_ex *x);   /* NULL: out of memory */
void h1_job_put(h1_ctx *ctx, h1_job *j);
void h1_close(h1_conn *c, enum h1_close how);
static inline bool h1_open(const h1_conn *c) { return c->close_how == H1_KEEP; }
static inline h1_ctx *h1_ctx_of(const h1_conn *c)
{
    return (h1_ctx *)(void *)((char *)c->t.env - offsetof(h1_ctx, env));
}

/* The one place a connection changes state (inline: twice per request). A
 * transition the table does not allow is a bug: counted (tests assert
 * none) and carried out anyway, since stopping the server would be worse.
 * The per-state gauges are counted from the pool (h1_count_states), not
 * here, so a request pays for no counter. */
extern const unsigned h1_allowed_transitions[H1_NSTATES];
static inline void h1_set_state(h1_conn *c, enum h1_state s)
{
    if (!(h1_allowed_transitions[c->state] & (1u << s)) && c->state != s)
        h1_ctx_of(c)->state_violations++;
    c->state = (uint8_t)s;
}

/* What c has queued and not sent, from the callback's start and what it
 * has written since (every write and file counts in bytes_tx). */
static inline void h1_cb_begin(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    ctx->cb_queued = tp_pending(&c->t);
    ctx->cb_tx = atomic_load_explicit(&ctx->st->bytes_tx, memory_order_relaxed);
}
static inline size_t h1_queued(const h1_conn *c)
{
    const h1_ctx *ctx = h1_ctx_of(c);
    return ctx->cb_queued
         + (size_t)(atomic_load_explicit(&ctx->st->bytes_tx, memory_order_relaxed) - ctx->cb_tx);
}

/* The compression filter (http1_out.c): decide in h1_head, free on every end. */
void h1_comp_drop(h1_ex *x);
/* Output: false once the connection can take nothing more. */
bool h1_out(h1_conn *c, const void *p, size_t n);
/* A fixed response (no body handling). */
void h1_send_fixed(h1_ex *x, enum resp_id id);
/* Count the response, run the hook; then keep-alive or close. */
void h1_response_done(h1_ex *x, int status, uint64_t body_bytes);
void h1_job_abandon(h1_conn *c);   /* log the unfinished response, put the job */
/* Move a streamed body on (from on_drain and when it starts). */
void h1_stream_pump(h1_conn *c);
/* Feed request body bytes; returns the octets used. */
size_t h1_feed_body(h1_conn *c, const char *data, size_t len);
/* The handler's job, or a new one; NULL on out of memory (answered 500). */
h1_job *h1_job_for(h1_ex *x);

#endif
