/*
 * http1.c — an HTTP/1.1 connection's life: the pool, the state machine,
 * input, the request loop, and settling each callback (backpressure,
 * keep-alive, closing).
 *
 * Input: the transport's bytes are parsed in place; only an incomplete
 * request (or requests held back by backpressure) is copied into the
 * connection's own buffer, freed as soon as it empties, so an idle
 * keep-alive connection holds no buffer. When more than OUT_HIGH is queued
 * the loop stops parsing, pauses reading and resumes from on_drain: a client
 * that does not read cannot make us buffer more. The transport's contract
 * (vex_read_pause) bounds what arrives after a pause to one delivery, which
 * is what the input bound below allows for.
 */
#include "http1_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_slowdown.h"
#include "proxy_proto.h"
#include "realip.h"
#include "connlimit.h"

/* A v2 header's TLVs may be long; more than this is refused. */
#define PROXY_HEADER_CAP 4096u

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the state machine --------------------------------------------------- */

const char *const h1_state_name[H1_NSTATES] = {
    "closed", "accepting", "reading", "processing", "writing", "closing",
};

#define S(x) (1u << (x))
const unsigned h1_allowed_transitions[H1_NSTATES] = {
    [H1_CLOSED]     = S(H1_ACCEPTING),
    [H1_ACCEPTING]  = S(H1_READING) | S(H1_CLOSING) | S(H1_CLOSED),
    [H1_READING]    = S(H1_PROCESSING) | S(H1_CLOSING) | S(H1_CLOSED),
    [H1_PROCESSING] = S(H1_READING) | S(H1_WRITING) | S(H1_CLOSING) | S(H1_CLOSED),
    [H1_WRITING]    = S(H1_READING) | S(H1_CLOSING) | S(H1_CLOSED),
    [H1_CLOSING]    = S(H1_CLOSED),
};
#undef S

_Static_assert(H1_NSTATES == METRICS_CONN_STATES, "one gauge per state");

/* ---- pool and jobs ---------------------------------------------------------- */

static const tp_upcalls upcalls;

int h1_ctx_init(h1_ctx *ctx, vex_loop *loop, const server_config *cfg, wstats *st,
                uint32_t pool_cap, uint64_t id_base)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->env.loop = loop;
    ctx->env.up = &upcalls;
    ctx->env.st = st;
    ctx->cfg = cfg;
    ctx->st = st;
    ctx->lim = http_default_limits;
    ctx->lim.max_body = cfg->max_body;
    ctx->env.rx_chunk = cfg->buffer_size;   /* the loop's recv_buf_size (worker.c) */
    ctx->next_id = id_base;
    rid_generate(ctx->rid_next, id_base);
    ctx->scratch_cap = 64 * 1024;
    ctx->scratch = malloc(ctx->scratch_cap);
    /* The kernel commits the pool's pages only as the high-water mark
     * reaches them: a 10 000-slot pool costs nothing until used. */
    ctx->pool = calloc(pool_cap, sizeof *ctx->pool);
    ctx->pool_cap = pool_cap;
    if (!ctx->scratch || !ctx->pool || resp_table_init(&ctx->resp) < 0) {
        h1_ctx_free(ctx);
        return -1;
    }
    return 0;
}

/* A connection held by h1_defer: its timer, on the thread's list. */
struct h1_deferred {
    vex_timer t;
    h1_conn *c;
    struct h1_deferred *next;
};

static void defer_drop(h1_ctx *ctx, h1_conn *c)
{
    for (struct h1_deferred **pp = &ctx->deferred; *pp; pp = &(*pp)->next)
        if ((*pp)->c == c) {
            struct h1_deferred *d = *pp;
            *pp = d->next;
            vex_timer_stop(ctx->env.loop, &d->t);
            free(d);
            return;
        }
}

void h1_ctx_free(h1_ctx *ctx)
{
    while (ctx->deferred)
        defer_drop(ctx, ctx->deferred->c);
    free(ctx->pool);
    ctx->pool = NULL;
    while (ctx->job_free) {
        h1_job *j = ctx->job_free;
        ctx->job_free = j->next_free;
        free(j);
    }
    resp_table_free(&ctx->resp);
    comp_pool_free(&ctx->comp);
    free(ctx->scratch);
    ctx->scratch = NULL;
    tp_env_free(&ctx->env);
}

h1_job *h1_job_get(h1_ctx *ctx, h1_ex *x)
{
    h1_job *j = ctx->job_free;
    if (j)
        ctx->job_free = j->next_free;
    else if (!(j = malloc(sizeof *j)))
        return NULL;
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->x = *x;
    return j;
}

void h1_job_put(h1_ctx *ctx, h1_job *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    h1_comp_drop(&j->x);          /* a compressed body cut short */
    free(j->body);
    free(j->target);
    j->body = j->target = NULL;
    j->next_free = ctx->job_free;
    ctx->job_free = j;
}

static h1_conn *conn_alloc(h1_ctx *ctx)
{
    h1_conn *c;
    if (ctx->free_head) {
        c = &ctx->pool[ctx->free_head - 1];
        ctx->free_head = c->next_free;
    } else if (ctx->pool_hwm < ctx->pool_cap) {
        c = &ctx->pool[ctx->pool_hwm++];
    } else {
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->t.env = &ctx->env;
    ctx->n_conns++;
    h1_set_state(c, H1_ACCEPTING);
    return c;
}

static void in_free(h1_conn *c)
{
    free(c->in);
    c->in = NULL;
}

/* Give the slot back; the transport is already closed. */
static void conn_release(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    enum h1_kind kind = (enum h1_kind)c->kind;
    if (c->flags & CF_DEFER)
        defer_drop(ctx, c);
    if (c->flags & CF_COUNTED) {
        uint8_t key[16];
        cl_key(c->peer.addr, key);
        cl_release(ctx->conns, key);
    }
    in_free(c);
    h1_job_abandon(c);
    h1_set_state(c, H1_CLOSED);
    c->t.fd = -1;
    c->next_free = ctx->free_head;
    ctx->free_head = (uint32_t)(c - ctx->pool) + 1;
    ctx->n_conns--;
    ctx->on_gone(ctx->owner, kind);
}

void h1_peer_set(h1_peer *p, const struct sockaddr *sa, socklen_t len)
{
    memset(p, 0, sizeof *p);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        p->addr[10] = p->addr[11] = 0xff;
        memcpy(p->addr + 12, &in->sin_addr, 4);
        p->port = ntohs(in->sin_port);
        p->family = AF_INET;
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(p->addr, &in6->sin6_addr, 16);
        p->port = ntohs(in6->sin6_port);
        p->family = AF_INET6;
    }
}

/* ---- closing ------------------------------------------------------------------ */

/* Ask for a close; the strongest request wins, and settle() carries it out
 * when the callback ends. */
void h1_close(h1_conn *c, enum h1_close how)
{
    if (c->close_how == H1_CLOSE_ABORT)
        return;                  /* nothing is stronger than an abort */
    if (how > c->close_how || c->close_how == H1_KEEP)
        c->close_how = (uint8_t)how;
    if (how == H1_CLOSE_ABORT)
        c->close_how = H1_CLOSE_ABORT;
}

static void close_now(h1_conn *c)
{
    tp_close(&c->t);
    conn_release(c);
}

/* Lingering close: send what is queued, then FIN, and keep reading (and
 * discarding) until the peer's EOF or LINGER_MS. Closing at once with
 * unread input would make the kernel send RST, which can destroy the
 * response (a 400 or a "Connection: close" reply) before the peer reads it. */
static void linger(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    in_free(c);
    h1_job_abandon(c);
    c->flags &= (uint8_t)~CF_IN_HEAD;
    if (c->flags & CF_PAUSED) {
        tp_pause(&c->t, false);   /* we must see the peer's EOF */
        c->flags &= (uint8_t)~CF_PAUSED;
    }
    if (tp_shutdown(&c->t) < 0) {
        close_now(c);
        return;
    }
    h1_set_state(c, H1_CLOSING);
    uint64_t now = mono_ms(), delta = LINGER_MS;
    if (ctx->draining && now + delta > ctx->drain_deadline)   /* lingering ends by the drain's end */
        delta = ctx->drain_deadline > now ? ctx->drain_deadline - now : 0;
    h1_deadline_in(c, now, delta);
}

/* EOF seen: flush what is queued, then close. */
static void close_when_flushed(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    if (tp_flush(&c->t) < 0 || tp_pending(&c->t) == 0) {
        close_now(c);
        return;
    }
    c->close_how = H1_CLOSE_FLUSHED;
    h1_set_state(c, H1_CLOSING);
    h1_deadline_in(c, mono_ms(), ctx->cfg->idle_timeout_ms);
    tp_want_drain(&c->t);
}

/* May a connection whose request asked for the close be closed without
 * lingering? Only when nothing the peer sent is left unread, now or
 * likely soon: no body still to come (CF_BODY), no bytes after the
 * request (process() turns DONE into LINGER for those, and c->in holds
 * none), no partial head, reading not paused (the kernel may hold more),
 * and the transport's last read short with nothing of it undelivered.
 * Then close(2) sends a FIN after the response, never an RST, and the
 * shutdown, the wait and the read of the peer's EOF are saved (3 system
 * calls per connection, and a connection slot held for a round trip).
 * nginx closes at once under the same conditions (lingering_close on:
 * only when more input may come). A client that sends more after asking
 * for the close breaks RFC 9112 §9.6 and gets an RST, as from nginx; the
 * body is bounded (CLOSE_NOW_MAX) so that what such a reset could destroy
 * is at most a socket buffer's worth already on its way. */
static bool nothing_unread(const h1_conn *c)
{
    return !(c->flags & (CF_BODY | CF_PAUSED | CF_IN_HEAD | CF_DEFER | CF_PROXY)) &&
           h1_in_len(c) == 0 && !c->job && tp_input_quiet(&c->t);
}

/* The orderly end without lingering: the transport's own close (TLS
 * close_notify), then close once the queue is written; the kernel sends
 * the FIN after the last byte. */
static void close_at_once(h1_conn *c)
{
    if (tp_finish(&c->t) < 0) {
        close_now(c);
        return;
    }
    close_when_flushed(c);
}

/* ---- the end of every callback ---------------------------------------------- */

static void pause_reading(h1_conn *c, bool on)
{
    if (on == !!(c->flags & CF_PAUSED))
        return;
    tp_pause(&c->t, on);
    c->flags ^= CF_PAUSED;
}

/* Requests are held (complete, unparsed) while the output queue is high. */
static bool holding_requests(const h1_conn *c)
{
    return c->state == H1_READING && c->in && !(c->flags & CF_IN_HEAD) && !c->job;
}

/* The peer closed its side: answer what is complete, then close. */
static void eof_settle(h1_conn *c)
{
    if (c->state == H1_WRITING)
        return;                  /* finish the streamed response first */
    if (c->flags & CF_PROXY) {
        close_now(c);            /* gone before its PROXY header was whole */
        return;
    }
    if (c->job || (c->flags & CF_IN_HEAD)) {
        close_now(c);            /* an incomplete request: nothing to answer */
        return;
    }
    if (c->in)
        return;                  /* requests held back; on_drain goes on */
    close_when_flushed(c);
}

/* Carry out what the callback asked for, and decide what the connection
 * waits for next: the single place a connection is closed or paused. */
static void settle(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    if (ctx->batch_n) {
        stats_latency(ctx->st, now_ns() - ctx->batch_t0, ctx->batch_n);
        ctx->batch_n = 0;
    }
    switch (c->close_how) {
    case H1_CLOSE_ABORT:
        close_now(c);
        return;
    case H1_CLOSE_DONE:
    case H1_CLOSE_LINGER:
        if (c->state == H1_CLOSING)
            return;
        if (c->flags & CF_EOF)
            close_when_flushed(c);
        else if (c->close_how == H1_CLOSE_DONE && nothing_unread(c))
            close_at_once(c);
        else
            linger(c);
        return;
    case H1_CLOSE_FLUSHED:
        if (c->state != H1_CLOSING)
            close_when_flushed(c);
        return;
    default:
        break;
    }
    uint64_t now = ctx->batch_t0 / 1000000u;
    if (c->flags & CF_PROXY)
        return;                  /* the header timeout runs from the accept */
    if (c->flags & CF_DEFER) {
        pause_reading(c, true);  /* the timer resumes it, not the peer */
        return;
    }
    if (c->state == H1_WRITING || holding_requests(c) || h1_queued(c) > OUT_HIGH) {
        pause_reading(c, true);
        tp_want_drain(&c->t);
        h1_deadline_in(c, now, ctx->cfg->idle_timeout_ms);   /* write stall */
        return;
    }
    pause_reading(c, false);
    if (c->flags & CF_EOF) {
        eof_settle(c);
        return;
    }
    if (!(c->flags & CF_IN_HEAD))
        h1_deadline_in(c, now, ctx->cfg->idle_timeout_ms);   /* idle or body */
}

/* ---- input buffer -------------------------------------------------------------- */

static bool in_append(h1_conn *c, const char *p, size_t n)
{
    h1_ctx *ctx = h1_ctx_of(c);
    if (n == 0)
        return true;             /* c->in stays NULL when there is nothing */
    uint32_t len = h1_in_len(c), cap = c->in ? c->in->cap : 0;
    size_t need = (size_t)len + n;
    /* A partial head (capped by the parser: 431) plus one delivery: the
     * transport delivers nothing while paused. More means a broken
     * contract below us; refuse to grow. */
    if (need > ctx->lim.max_head + 4 * (size_t)ctx->cfg->buffer_size + 65536) {
        ctr_add(&ctx->st->errors, 1);
        h1_close(c, H1_CLOSE_ABORT);
        return false;
    }
    if (need > cap) {
        size_t ncap = cap ? (size_t)cap * 2 : ctx->cfg->buffer_size;
        while (ncap < need)
            ncap *= 2;
        h1_in *nb = realloc(c->in, sizeof *nb + ncap);
        if (!nb) {
            ctr_add(&ctx->st->errors, 1);
            h1_close(c, H1_CLOSE_ABORT);
            return false;
        }
        nb->len = len;
        nb->cap = (uint32_t)ncap;
        c->in = nb;
    }
    memcpy(c->in->data + len, p, n);
    c->in->len = (uint32_t)need;
    return true;
}

static void in_consume(h1_conn *c, size_t used)
{
    if (!c->in)
        return;
    if (used >= c->in->len) {    /* empty: give the memory back */
        in_free(c);
        return;
    }
    memmove(c->in->data, c->in->data + used, c->in->len - used);
    c->in->len -= (uint32_t)used;
}

/* ---- requests ------------------------------------------------------------------ */

static void dispatch(h1_conn *c, const http_request *req)
{
    h1_ctx *ctx = h1_ctx_of(c);
    bool ka = req->keep_alive && !ctx->draining;
    h1_ex x;
    h1_ex_init(&x);
    x.c = c;
    x.ctx = ctx;
    x.method = req->method;
    x.rc = (uint8_t)(!ka ? RC_CLOSE : req->minor_version == 0 ? RC_KA10 : RC_KA11);
    x.minor = (uint8_t)req->minor_version;
    x.keep_alive = ka;
    x.head_only = req->method == HTTP_HEAD;
    x.asked_close = !ka;
    x.req = req;
    /* Cleared when the body has been read to its end (http1_body.c); a
     * request whose body is not read always ends the connection. */
    if (req->body != HTTP_BODY_NONE)
        c->flags |= CF_BODY;
    x.resumed = (c->flags & CF_RESUMED) != 0;
    c->flags &= (uint8_t)~CF_RESUMED;
    if (ctx->cfg->n_trusted && c->kind == H1_CLIENT &&
        realip_resolve(ctx->cfg->trusted_m, ctx->cfg->n_trusted, c->peer.addr, req, x.client.addr))
        x.client.family = cidr_is_v4(x.client.addr) ? AF_INET : AF_INET6;   /* port: unknown */
    const http_slice *rid = http_find_header(req, "x-request-id");
    if (rid && rid_valid(rid->p, rid->len)) {
        memcpy(x.rid, rid->p, rid->len);
        x.rid_len = (uint8_t)rid->len;
    }
    if (c->kind == H1_CLIENT && ctx->cfg->limit_conn && !(c->flags & CF_COUNTED) &&
        ctx->conns) {
        /* nginx limit_conn counts a connection once a request has come
         * (so after its PROXY header), and so do we */
        uint8_t key[16];
        cl_key(c->peer.addr, key);
        if (!cl_acquire(ctx->conns, key, ctx->cfg->limit_conn)) {
            ctr_add(&ctx->st->conn_limited, 1);
            x.rc = RC_CLOSE;
            x.keep_alive = false;
            h1_send_fixed(&x, R_E503);
            h1_close(c, H1_CLOSE_LINGER);
            return;
        }
        c->flags |= CF_COUNTED;
    }
    bench_slowdown();   /* nothing unless built with BENCH_SLOWDOWN=N */
    const h1_router *r = ctx->routers[c->kind];
    r->dispatch(r, &x, req);
}

/* Parse and answer what buf holds. Returns the octets used; the rest (an
 * incomplete request, or requests held back by backpressure) is the
 * caller's to keep. */
static size_t process_requests(h1_conn *c, const char *buf, size_t len)
{
    h1_ctx *ctx = h1_ctx_of(c);
    size_t off = 0;
    while (off < len && h1_open(c) && !(c->flags & CF_DEFER)) {
        if (h1_queued(c) > OUT_HIGH)
            break;
        if (c->job && c->job->reading) {
            off += h1_feed_body(c, buf + off, len - off);
            if (c->job && c->job->reading)
                break;           /* the body needs more bytes */
            continue;
        }
        if (c->state != H1_READING)
            break;               /* streaming a response */
        int r = http_parse_request(buf + off, len - off, &ctx->lim, &ctx->req);
        if (r == 0) {
            if (!(c->flags & CF_IN_HEAD)) {
                /* The header timeout runs from a request's first byte and is
                 * not extended by later ones: a slowloris client that sends
                 * a byte now and then is still cut off. */
                c->flags |= CF_IN_HEAD;
                c->t0_ns = ctx->batch_t0;
                h1_deadline_in(c, ctx->batch_t0 / 1000000u, ctx->cfg->header_timeout_ms);
            }
            break;
        }
        c->flags &= (uint8_t)~CF_IN_HEAD;
        if (r < 0) {
            /* Malformed or smuggling-prone: answer and close; nothing after
             * it on this connection can be trusted to be framed right. */
            h1_ex x = { .c = c, .ctx = ctx, .rc = RC_CLOSE };
            h1_send_fixed(&x, resp_error_id(-r));
            h1_close(c, H1_CLOSE_LINGER);
            return len;
        }
        h1_set_state(c, H1_PROCESSING);
        dispatch(c, &ctx->req);
        if (c->flags & CF_DEFER) {
            h1_set_state(c, H1_READING);   /* held unparsed until the timer */
            break;
        }
        off += (size_t)r;
    }
    return off;
}

/* ctx->req's slices point into buf, which the transport (or in_consume)
 * takes back when the callback ends: forget them here, so that a response
 * sent later without a request of its own (the 408 of a timeout, a body
 * refused in a later delivery, on any connection of the thread) gives the
 * hook no target rather than freed bytes (found by tests/fuzz/fuzz_conn.c). */
static size_t process(h1_conn *c, const char *buf, size_t len)
{
    size_t used = process_requests(c, buf, len);
    h1_ctx *ctx = h1_ctx_of(c);
    if (c->close_how == H1_CLOSE_DONE && used < len)
        c->close_how = H1_CLOSE_LINGER;   /* bytes after it: the peer pipelines */
    ctx->req.method_str = ctx->req.target = (http_slice){ NULL, 0 };
    return used;
}

static void on_eof(h1_conn *c, ssize_t n)
{
    h1_ctx *ctx = h1_ctx_of(c);
    if (n < 0) {                 /* ECONNRESET & co.: nobody to answer */
        if (c->state != H1_CLOSING)
            ctr_add(&ctx->st->errors, 1);
        close_now(c);
        return;
    }
    c->flags |= CF_EOF;
    if (c->state == H1_CLOSING) {
        close_when_flushed(c);   /* the lingering close is over */
        return;
    }
    if (!(c->flags & CF_PAUSED))
        eof_settle(c);
}

/* The PROXY header in c->in: the client's address replaces the socket's
 * peer for everything after (limits, lists, the access log); the HTTP
 * bytes behind it are processed at once. Malformed: counted and closed
 * with no answer, as the spec requires (the peer is not speaking HTTP). */
static void proxy_header(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    proxy_addr pa;
    long r = proxy_parse(c->in->data, c->in->len, &pa);
    if (r == 0 && c->in->len < PROXY_HEADER_CAP)
        return;
    if (r <= 0) {
        ctr_add(&ctx->st->proxy_bad, 1);
        h1_close(c, H1_CLOSE_ABORT);
        return;
    }
    if (!pa.local) {
        memcpy(c->peer.addr, pa.addr, 16);
        c->peer.port = pa.port;
        c->peer.family = pa.family;
    }
    c->flags &= (uint8_t)~CF_PROXY;
    in_consume(c, (size_t)r);
    if (c->in)
        in_consume(c, process(c, c->in->data, c->in->len));
}

static void on_input(tp *t, const char *data, ssize_t n)
{
    h1_conn *c = (h1_conn *)(void *)t;
    h1_ctx *ctx = h1_ctx_of(c);
    if (n <= 0) {
        on_eof(c, n);
        return;
    }
    ctr_add(&ctx->st->bytes_rx, (uint64_t)n);
    if (c->state == H1_CLOSING)
        return;                  /* lingering close: discard */
    ctx->batch_t0 = now_ns();
    h1_cb_begin(c);
    if (c->flags & CF_PROXY) {
        if (in_append(c, data, (size_t)n))
            proxy_header(c);
        settle(c);
        return;
    }
    if (!c->in) {
        size_t used = process(c, data, (size_t)n);
        if (used < (size_t)n && h1_open(c))
            in_append(c, data + used, (size_t)n - used);
    } else if (in_append(c, data, (size_t)n)) {
        in_consume(c, process(c, c->in->data, c->in->len));
    }
    if (c->close_how == H1_CLOSE_DONE && (size_t)n >= ctx->env.rx_chunk)
        c->close_how = H1_CLOSE_LINGER;   /* a full read: the kernel may hold more */
    settle(c);
}

static void on_drain(tp *t)
{
    h1_conn *c = (h1_conn *)(void *)t;
    h1_ctx *ctx = h1_ctx_of(c);
    if (c->state == H1_CLOSED)
        return;
    if (c->state == H1_CLOSING) {
        if (c->close_how == H1_CLOSE_FLUSHED)
            close_now(c);
        return;
    }
    ctx->batch_t0 = now_ns();
    h1_cb_begin(c);
    if (c->state == H1_WRITING && c->job)
        h1_stream_pump(c);
    if (h1_open(c) && c->state == H1_READING && c->in && !(c->flags & CF_DEFER))
        in_consume(c, process(c, c->in->data, c->in->len));
    settle(c);
}

static void defer_fire(vex_loop *loop, vex_timer *t)
{
    (void)loop;
    struct h1_deferred *d = (struct h1_deferred *)(void *)t;
    h1_conn *c = d->c;
    h1_ctx *ctx = h1_ctx_of(c);
    defer_drop(ctx, c);
    c->flags = (uint8_t)((c->flags & ~CF_DEFER) | CF_RESUMED);
    ctx->batch_t0 = now_ns();
    h1_cb_begin(c);
    if (h1_open(c) && c->state == H1_READING && c->in)
        in_consume(c, process(c, c->in->data, c->in->len));
    c->flags &= (uint8_t)~CF_RESUMED;
    settle(c);
    if (c->state != H1_CLOSED)
        tp_flush(&c->t);         /* no other callback may come to end the window */
}

bool h1_defer(h1_ex *x, uint64_t ms)
{
    h1_conn *c = x->c;
    h1_ctx *ctx = x->ctx;
    if (x->head_sent || (c->flags & CF_DEFER) || c->job)
        return false;
    struct h1_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return false;
    d->c = c;
    if (vex_timer_start(ctx->env.loop, &d->t, ms, 0, defer_fire, d) < 0) {
        free(d);
        return false;
    }
    d->next = ctx->deferred;
    ctx->deferred = d;
    c->flags |= CF_DEFER;
    /* its duration (access log, latency) counts from now, as nginx's
     * $request_time counts limit_req's delay: the client waited it */
    if (!c->t0_ns)
        c->t0_ns = ctx->batch_t0;
    /* the scan must not take a held request for an idle connection */
    uint64_t delta = ms + ctx->cfg->idle_timeout_ms;
    h1_deadline_in(c, mono_ms(), delta < H1_DEADLINE_MAX_MS ? delta : H1_DEADLINE_MAX_MS);
    return true;
}

static const tp_upcalls upcalls = { on_input, on_drain };

/* ---- from the server ---------------------------------------------------------- */

/* A new connection, or NULL: *taken says whether fd is ours now (false:
 * no slot, the caller still owns it). */
static h1_conn *conn_start(h1_ctx *ctx, const tp_ops *ops, int fd, const h1_peer *peer,
                           enum h1_kind kind, bool *taken)
{
    h1_conn *c = conn_alloc(ctx);
    *taken = c != NULL;
    if (!c)
        return NULL;
    c->t.ops = ops;
    c->t.fd = fd;
    c->kind = (uint8_t)kind;
    if (peer)
        c->peer = *peer;
    if (ctx->open_proxy && kind == H1_CLIENT)
        c->flags |= CF_PROXY;
    if (kind == H1_CLIENT)
        c->redirect_https = ctx->open_redirect;
    if (c->t.ops->open(&c->t) < 0) {
        ctr_add(&ctx->st->errors, 1);
        close(fd);
        conn_release(c);
        return NULL;
    }
    h1_set_state(c, H1_READING);
    h1_deadline_in(c, mono_ms(), ctx->cfg->header_timeout_ms);
    return c;
}

bool h1_conn_open(h1_ctx *ctx, const tp_ops *ops, int fd, const h1_peer *peer,
                  enum h1_kind kind)
{
    bool taken;
    conn_start(ctx, ops, fd, peer, kind, &taken);
    return taken;
}

bool h1_conn_reject(h1_ctx *ctx, const tp_ops *ops, int fd, enum resp_id id)
{
    bool taken;
    h1_conn *c = conn_start(ctx, ops, fd, NULL, H1_REJECT, &taken);
    if (c) {
        ctx->batch_t0 = now_ns();
        h1_cb_begin(c);
        h1_ex x = { .c = c, .ctx = ctx, .rc = RC_CLOSE };
        h1_send_fixed(&x, id);
        h1_close(c, H1_CLOSE_LINGER);
        settle(c);
        tp_flush(&c->t);
    }
    return taken;
}

void h1_tick(h1_ctx *ctx)
{
    resp_table_tick(&ctx->resp);
    h1_count_states(ctx);
}

void h1_count_states(h1_ctx *ctx)
{
    uint64_t n[H1_NSTATES] = {0};
    for (uint32_t i = 0; i < ctx->pool_hwm; i++)
        n[ctx->pool[i].state]++;
    for (int s = H1_ACCEPTING; s < H1_NSTATES; s++)
        ctr_set(&ctx->st->conn_state[s], n[s]);
}

static bool conn_is_idle(const h1_conn *c)
{
    return c->state == H1_READING && !(c->flags & CF_IN_HEAD) && !c->in
        && !c->job && tp_pending(&c->t) == 0;
}

static void conn_timeout(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    ctx->batch_t0 = now_ns();
    h1_cb_begin(c);
    switch (c->state) {
    case H1_CLOSING:            /* linger over, or a flush that never ends */
        close_now(c);
        return;
    case H1_READING:
    case H1_PROCESSING:
        ctr_add(&ctx->st->timeouts, 1);
        if (c->job && c->job->x.head_sent) {
            h1_close(c, H1_CLOSE_ABORT);   /* a 200 head is out: only an abort is honest */
        } else if ((c->flags & CF_IN_HEAD) || c->job) {
            /* slow head (slowloris) or a stalled body: say so, then close */
            h1_job_put(ctx, c->job);
            c->job = NULL;
            h1_ex x = { .c = c, .ctx = ctx, .rc = RC_CLOSE };
            h1_send_fixed(&x, R_E408);
            h1_close(c, H1_CLOSE_LINGER);
        } else {
            h1_close(c, H1_CLOSE_LINGER);   /* idle keep-alive */
        }
        settle(c);
        return;
    default:                    /* writing to a peer that stopped reading */
        ctr_add(&ctx->st->timeouts, 1);
        close_now(c);
        return;
    }
}

void h1_scan_timeouts(h1_ctx *ctx)
{
    uint64_t now = mono_ms();
    for (uint32_t i = 0; i < ctx->pool_hwm; i++) {
        h1_conn *c = &ctx->pool[i];
        if (c->state == H1_WRITING && c->job) {
            /* A write stall is no progress for the idle timeout, not a
             * response that takes longer (a large file has one on_drain). */
            uint64_t pending = tp_pending(&c->t);
            if (pending < c->job->seen_pending)
                h1_deadline_in(c, now, ctx->cfg->idle_timeout_ms);
            c->job->seen_pending = pending;
        }
        if (c->state >= H1_READING && now >= h1_deadline(c, now))
            conn_timeout(c);
    }
    if (ctx->env.out.owner)
        ctx->env.out.owner->ops->flush(ctx->env.out.owner);
}

void h1_drain_start(h1_ctx *ctx, uint64_t deadline_ms)
{
    ctx->draining = true;
    ctx->drain_deadline = deadline_ms;
    uint64_t now = mono_ms();
    for (uint32_t i = 0; i < ctx->pool_hwm; i++)
        if (ctx->pool[i].state == H1_CLOSING && h1_deadline(&ctx->pool[i], now) > deadline_ms)
            h1_deadline_in(&ctx->pool[i], now, deadline_ms > now ? deadline_ms - now : 0);
}

void h1_drain_idle(h1_ctx *ctx)
{
    for (uint32_t i = 0; i < ctx->pool_hwm; i++) {
        h1_conn *c = &ctx->pool[i];
        if (conn_is_idle(c)) {
            h1_cb_begin(c);
            h1_close(c, H1_CLOSE_LINGER);
            settle(c);
        }
    }
}

void h1_close_all(h1_ctx *ctx)
{
    for (uint32_t i = 0; i < ctx->pool_hwm; i++) {
        h1_conn *c = &ctx->pool[i];
        if (c->state == H1_CLOSED)
            continue;
        if (c->state != H1_CLOSING && !conn_is_idle(c))
            ctr_add(&ctx->st->timeouts, 1);   /* cut off by the shutdown timeout */
        close_now(c);
    }
}
