/*
 * http1.h — HTTP/1.1 connections over a transport: parsing, keep-alive,
 * pipelining in order, request bodies, the one place that writes a response
 * head, streamed and chunked bodies under backpressure, and a hook after
 * every response. Below: transport.h. Above: the handlers, which see a
 * request and the h1_* response calls, and never the connection's life.
 *
 * A connection's state changes only in h1_set_state (http1.c), through a
 * table of allowed transitions, and is counted per state for /metrics:
 *
 *   ACCEPTING -> READING (request head) -> PROCESSING (handler, request body)
 *        -> WRITING (a streamed body under backpressure) -> READING ...
 *   any open state -> CLOSING (flush, FIN, linger) -> CLOSED
 *
 * Nothing closes a connection in the middle of a callback: handlers and the
 * layer itself only ask (h1_conn.close_how), and the request loop stops;
 * the close happens once, at the end of the callback (settle), so no caller
 * ever has to check whether a callee closed the connection under it.
 */
#ifndef VEX_SERVER_HTTP1_H
#define VEX_SERVER_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "http/http_parser.h"
#include "metrics.h"
#include "request_id.h"
#include "response.h"
#include "transport.h"

typedef struct h1_ctx h1_ctx;
typedef struct h1_conn h1_conn;
typedef struct h1_job h1_job;
typedef struct h1_ex h1_ex;

enum h1_state {
    H1_CLOSED = 0, H1_ACCEPTING, H1_READING, H1_PROCESSING, H1_WRITING, H1_CLOSING,
    H1_NSTATES
};
extern const char *const h1_state_name[H1_NSTATES];

/* What a connection is for: each kind has its own route table. */
enum h1_kind { H1_CLIENT = 0, H1_ADMIN, H1_REJECT, H1_NKINDS };

/* The client's address, compact: IPv4 as v4-mapped IPv6. */
typedef struct h1_peer {
    uint8_t addr[16];
    uint16_t port;
    uint8_t family;           /* AF_INET, AF_INET6, or 0 if unknown */
} h1_peer;
void h1_peer_set(h1_peer *p, const struct sockaddr *sa, socklen_t len);

/* A handler: answers req through the h1_* calls below, at once or later. */
typedef void (*h1_handler)(h1_ex *x, const http_request *req);
typedef struct h1_router {
    void (*dispatch)(const struct h1_router *r, h1_ex *x, const http_request *req);
    const void *table;
    void *env;                /* the handlers' environment */
} h1_router;

/* After every response: what an access log or a policy needs. target (and
 * method_str) are NULL when the request bytes are no longer available: a
 * 408 of a timeout, a request body refused in a later delivery than its
 * head. */
typedef struct h1_log {
    const h1_peer *peer;
    http_method method;
    http_slice method_str, target;
    int status;
    uint64_t body_bytes;      /* response body octets sent */
    uint64_t duration_ns;     /* first byte of the request to response queued */
    uint64_t done_ns;         /* now_ns() when the response was queued */
    uint64_t request_id;
    http_slice user_agent, referer;   /* p NULL: the request had none */
    const char *rid;          /* X-Request-Id as echoed (not NUL-terminated) */
    size_t rid_len;
} h1_log;
typedef void (*h1_response_hook)(void *ctx, const h1_log *log);

/* How a connection ends; a stronger request wins (h1_close): ABORT always,
 * otherwise the larger value. DONE: the request itself asked for the close
 * and its exchange is over: close at once (as nginx does) when nothing is
 * left unread, else linger. LINGER: always the lingering close. */
enum h1_close { H1_KEEP = 0, H1_CLOSE_ABORT, H1_CLOSE_DONE, H1_CLOSE_LINGER,
                H1_CLOSE_FLUSHED };

/* Unprocessed input of a connection, in one allocation with its counts. */
typedef struct h1_in {
    uint32_t len, cap;
    char data[];
} h1_in;

/* One per connection, in the pool; ordered to leave no padding, 88 bytes
 * on LP64 (idle RSS per connection is a target). */
struct h1_conn {
    tp t;                     /* first: transport upcalls find the conn from it */
    uint8_t state, flags, kind, close_how;
    /* A free slot has no deadline (the scans test state first, and a slot
     * is zeroed when taken), so the pool's free list takes its place. */
    union {
        uint32_t deadline;    /* mono_ms() in 32 bits (h1_deadline_in); checked
                                 by the 1 s scan */
        uint32_t next_free;   /* pool free list (index + 1; 0 ends it) */
    };
    h1_peer peer;
    uint16_t redirect_https;  /* its listener's redirect-https port; 0: none
                                 (fits the padding after peer) */
    h1_job *job;
    h1_in *in;                /* unprocessed input; NULL when there is none */
    uint64_t t0_ns;           /* start of the request being received */
};

/* Deadlines are 32 bits of milliseconds compared with wrap-around, which
 * holds while every deadline lies within 2^31 ms (24 days) of now. The
 * timeouts are at most a day (config_keys.c), the linger 2 s; the one
 * delta that is not bounded by the configuration, a defer's, is capped at
 * H1_DEADLINE_MAX_MS where it is set (h1_defer). */
#define H1_DEADLINE_MAX_MS (1ull << 30)
static inline void h1_deadline_in(h1_conn *c, uint64_t now_ms, uint64_t delta_ms)
{
    c->deadline = (uint32_t)(now_ms + delta_ms);
}
/* The deadline as a mono_ms() value (now_ms: a recent mono_ms()). */
static inline uint64_t h1_deadline(const h1_conn *c, uint64_t now_ms)
{
    return now_ms + (uint64_t)(int64_t)(int32_t)(c->deadline - (uint32_t)now_ms);
}
static inline uint32_t h1_in_len(const h1_conn *c) { return c->in ? c->in->len : 0; }

/* The exchange a handler works on: one request and its response. */
struct h1_ex {
    h1_conn *c;
    h1_ctx *ctx;
    http_method method;
    uint8_t rc;               /* enum resp_conn of the response */
    uint8_t minor;            /* HTTP/1.minor of the request */
    bool keep_alive, head_only;
    bool head_sent, chunked;  /* h1_head ran; its body is chunked */
    bool resumed;             /* dispatched again after h1_defer */
    bool asked_close;         /* the request ended the connection (HTTP/1.0
                                 without keep-alive, Connection: close, or
                                 the drain), not an error of ours */
    uint16_t status;          /* h1_head's, for a response cut short */
    uint64_t body_bytes;      /* body octets written by h1_body */
    comp_stream *z;           /* the body's compressor (h1_head made it), or NULL */
    const http_request *req;  /* while dispatching; NULL for 400s and 503s */
    h1_peer client;           /* behind trusted proxies (realip.h); family 0:
                                 the connection's peer */
    uint8_t rid_len;          /* 0: none yet (h1_rid makes one) */
    /* Last: a request's exchange is zeroed up to here (h1_ex_init), the
     * 128 bytes of the id only written as far as the id goes. */
    char rid[RID_MAX];        /* X-Request-Id, echoed and logged */
};
/* Every field zero but the id's buffer (see rid). */
#define h1_ex_init(x) memset((x), 0, offsetof(h1_ex, rid))

/* Per thread. */
struct h1_ctx {
    tp_env env;               /* loop, output window, upcalls */
    const server_config *cfg;
    http_limits lim;
    http_request req;
    resp_table resp;
    wstats *st;
    const h1_router *routers[H1_NKINDS];
    h1_response_hook on_response;
    void *hook_ctx;
    void (*on_gone)(void *owner, enum h1_kind kind);   /* a conn was released */
    void *owner;
    bool open_proxy;          /* the next h1_conn_open expects a PROXY header */
    uint16_t open_redirect;   /* ... and its listener redirects to HTTPS there */
    struct cl_table *conns;   /* limit-conn's shared counts (the server's) */

    h1_conn *pool;            /* virtual memory for the whole limit */
    uint32_t pool_cap, pool_hwm, free_head, n_conns;
    h1_job *job_free;
    comp_pool comp;           /* idle codec states, reused response after response */
    struct h1_deferred *deferred;   /* connections held by h1_defer */
    char *scratch;            /* file reads, chunk decoding, /metrics */
    size_t scratch_cap;
    uint64_t batch_t0;        /* now_ns() when this callback started */
    size_t cb_queued;         /* the connection's queue when it started ... */
    uint64_t cb_tx;           /* ... and bytes_tx then: nothing drains during
                                 a callback, so the queue is their sum
                                 plus what was written since */
    uint64_t batch_n;         /* responses timed together */
    uint64_t next_id;         /* request ids */
    char rid_next[RID_GEN_LEN];   /* the next generated X-Request-Id */
    uint64_t state_violations;
    uint64_t drain_deadline;  /* lingering closes end by then */
    bool draining;
};

uint64_t now_ns(void);
/* Deadlines use our own clock reading, not vex_now_ms(): inside I/O
 * callbacks the loop's cached time is from before its wait. */
static inline uint64_t mono_ms(void) { return now_ns() / 1000000u; }

/* ---- for the server (worker, admit) ------------------------------------- */

int  h1_ctx_init(h1_ctx *ctx, vex_loop *loop, const server_config *cfg, wstats *st,
                 uint32_t pool_cap, uint64_t id_base);
void h1_ctx_free(h1_ctx *ctx);
/* Take fd as a new connection of this kind over transport ops: true, or
 * false (no slot; the caller still owns fd). The connection is closed when
 * the transport cannot be set up (on_gone is called then too). */
bool h1_conn_open(h1_ctx *ctx, const tp_ops *ops, int fd, const h1_peer *peer,
                  enum h1_kind kind);
/* Answer a fixed response at once and close (503 to a client over a
 * limit); the connection lingers so the peer reads it. false: no slot. */
bool h1_conn_reject(h1_ctx *ctx, const tp_ops *ops, int fd, enum resp_id id);
void h1_scan_timeouts(h1_ctx *ctx);      /* every second */
void h1_drain_start(h1_ctx *ctx, uint64_t deadline_ms);   /* lingers end by then */
void h1_drain_idle(h1_ctx *ctx);         /* shutdown: close idle conns */
void h1_close_all(h1_ctx *ctx);          /* shutdown timeout reached */
void h1_tick(h1_ctx *ctx);               /* once a second: Date, state gauges */
/* Publish how many connections are in each state (wstats.conn_state):
 * from the tick, and from /metrics for its own thread. */
void h1_count_states(h1_ctx *ctx);

/* ---- for handlers --------------------------------------------------------- */

/* A pre-formatted response (HEAD: its head). A request body, if any, is
 * read and dropped first, so the connection stays usable. */
void h1_fixed(h1_ex *x, const http_request *req, enum resp_id id);
/* A response head; clen < 0: the length is not known, the body is sent
 * chunked (HTTP/1.1) or delimited by the close (HTTP/1.0). extra: further
 * header lines, CRLF-terminated, or NULL. A 200 of a compressible type and
 * size is compressed here when the client accepts it (then chunked; HEAD
 * gets the same head); extra naming a Content-Encoding opts out. */
bool h1_head(h1_ex *x, int status, const char *ctype, int64_t clen, const char *extra);
/* Body bytes after h1_head, framed as the head said. */
bool h1_body(h1_ex *x, const void *p, size_t n);
/* The response is complete (for chunked bodies: the last chunk). */
void h1_finish(h1_ex *x, int status);
/* The body is len bytes of file fd from off (http1 takes fd, on every
 * path): sent by the transport, or read and written where it cannot. */
void h1_body_file(h1_ex *x, int fd, uint64_t off, uint64_t len);
/* The body is len bytes repeating a period-byte pattern: pieces of file fd
 * (fd >= 0, holding at least one period per piece) or of memory mem. */
void h1_body_repeat(h1_ex *x, int fd, const char *mem, size_t period, uint64_t len);
/* Request bodies: streamed to on_chunk as they arrive, then on_end; or
 * collected whole (up to the body limit) and given to on_all. A body that
 * is malformed or over the limit is answered by http1 (400, 413). */
void h1_read_body(h1_ex *x, const http_request *req,
                  void (*on_chunk)(h1_ex *x, const char *p, size_t n),
                  void (*on_end)(h1_ex *x));
void h1_collect_body(h1_ex *x, const http_request *req,
                     void (*on_all)(h1_ex *x, const char *body, size_t len));
/* The request body's Content-Length, while it is being read (0 if chunked). */
uint64_t h1_body_length(const h1_ex *x);
/* Answer this request later: its bytes stay in the connection's input,
 * reading pauses, and after ms a loop timer dispatches it again with
 * x->resumed set (a rate limit's delay). Nothing but the connection is
 * held; requests pipelined behind it wait their turn. Returns before any
 * response was sent; false (out of memory): the caller answers now. */
bool h1_defer(h1_ex *x, uint64_t ms);
/* Scratch memory of the thread, valid until the handler returns. */
char *h1_scratch(h1_ex *x, size_t *cap);
static inline bool h1_draining(const h1_ex *x) { return x->ctx->draining; }
/* The client: X-Forwarded-For/Forwarded from a trusted proxy, else the
 * connection's peer (itself from a PROXY header on such a listener). */
static inline const h1_peer *h1_peer_of(const h1_ex *x)
{
    return x->client.family ? &x->client : &x->c->peer;
}
/* The exchange's X-Request-Id: the client's if well formed, else made. */
static inline size_t h1_rid(h1_ex *x)
{
    if (!x->rid_len) {
        memcpy(x->rid, x->ctx->rid_next, RID_GEN_LEN);
        rid_step(x->ctx->rid_next);
        x->rid_len = RID_GEN_LEN;
    }
    return x->rid_len;
}

#endif
