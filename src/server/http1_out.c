/*
 * http1_out.c — responses: the one place that writes a head, body framing
 * (Content-Length, chunked, or close-delimited for HTTP/1.0), bodies
 * streamed from files or a repeating pattern under backpressure, and the
 * end of every response (statistics, the hook, keep-alive or close).
 *
 * Bodies from files go to the transport whole (vex_sendfile: sendfile(2),
 * or ring reads on io_uring) after the head; a repeating pattern goes as
 * pieces of a file holding it, each handed over from the previous one's
 * on_drain. Where the transport cannot send files (TLS), the file is read
 * into the output window STREAM_CHUNK at a time while the queue is below
 * OUT_HIGH: never whole in memory.
 *
 * Compression is a filter here: h1_head decides (type, size, status and the
 * request's Accept-Encoding) and makes the stream; h1_body feeds it and
 * writes what it emits as chunks; streamed bodies are then copied, never
 * sent as files, STREAM_CHUNK of input at a time under the same OUT_HIGH
 * bound, so a connection holds the codec's window and one chunk, not the
 * response.
 */
#include "http1_internal.h"

#include "accept_encoding.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* EPIPE, ECONNRESET (or a bug): nothing more can be sent; nobody to answer. */
static bool out_failed(h1_conn *c)
{
    ctr_add(&h1_ctx_of(c)->st->errors, 1);
    h1_close(c, H1_CLOSE_ABORT);
    return false;
}

bool h1_out(h1_conn *c, const void *p, size_t n)
{
    if (c->close_how == H1_CLOSE_ABORT)
        return false;
    if (!tp_write(&c->t, p, n))
        return out_failed(c);
    ctr_add(&h1_ctx_of(c)->st->bytes_tx, n);
    return true;
}

char *h1_scratch(h1_ex *x, size_t *cap)
{
    *cap = x->ctx->scratch_cap;
    return x->ctx->scratch;
}

static bool in_job(const h1_ex *x)
{
    return x->c->job && &x->c->job->x == x;
}

/* The User-Agent and Referer headers in one pass (an access line wants
 * both; two lookups were a fifth of what logging cost). Both names are
 * letters and '-', and a header name is a token, so OR-ing 0x20 into
 * every byte folds its case; the names are compared 8, 4 or 2 bytes at a
 * time (loads within the name's length). */
static uint64_t ld8(const char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t ld4(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t ld2(const char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void find_ua_referer(const http_request *req, const http_slice **ua,
                            const http_slice **ref)
{
    *ua = *ref = NULL;
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        const char *p = h->name.p;
        if (h->name.len == 10) {
            if (!*ua && (ld8(p) | 0x2020202020202020ULL) == ld8("user-age") &&
                (ld2(p + 8) | 0x2020) == ld2("nt"))
                *ua = &h->value;
        } else if (h->name.len == 7) {
            if (!*ref && (ld4(p) | 0x20202020u) == ld4("refe") &&
                (ld4(p + 3) | 0x20202020u) == ld4("erer"))
                *ref = &h->value;
        }
    }
}

/* The exchange's job: the one attached, or a new one that copies *x (the
 * caller goes on with &job->x). */
h1_job *h1_job_for(h1_ex *x)
{
    if (x->c->job)
        return x->c->job;
    h1_ctx *ctx = x->ctx;
    h1_job *j = h1_job_get(ctx, x);
    if (!j) {
        ctr_add(&ctx->st->errors, 1);
        return NULL;
    }
    const http_request *req = x->req ? x->req : &ctx->req;
    if (ctx->on_response && req->target.p) {   /* its bytes will be gone by the end */
        const http_slice *ua, *ref;
        find_ua_referer(req, &ua, &ref);
        size_t tl = req->target.len, ul = ua ? ua->len : 0, rl = ref ? ref->len : 0;
        size_t ml = req->method_str.len;
        if ((j->target = malloc(tl + ul + rl + ml + 1)) != NULL) {
            memcpy(j->target + tl + 1 + ul + rl, req->method_str.p, ml);
            j->method_str = (http_slice){ j->target + tl + 1 + ul + rl, ml };
            memcpy(j->target, req->target.p, tl);
            j->target[tl] = '\0';
            if (ua) {
                memcpy(j->target + tl + 1, ua->p, ul);
                j->ua = (http_slice){ j->target + tl + 1, ul };
            }
            if (ref) {
                memcpy(j->target + tl + 1 + ul, ref->p, rl);
                j->referer = (http_slice){ j->target + tl + 1 + ul, rl };
            }
        }
    }
    if (!x->c->t0_ns)
        x->c->t0_ns = ctx->batch_t0;
    x->c->job = j;
    return j;
}

/* ---- the end of a response ------------------------------------------------ */

static void run_hook(h1_ex *x, int status, uint64_t body_bytes, uint64_t t0)
{
    h1_ctx *ctx = x->ctx;
    uint64_t now = now_ns();
    h1_log log = {
        .peer = h1_peer_of(x), .method = x->method, .status = status,
        .body_bytes = body_bytes, .duration_ns = now - t0, .done_ns = now,
        .request_id = ctx->next_id,
    };
    log.rid_len = h1_rid(x);
    log.rid = x->rid;
    if (in_job(x)) {
        log.method_str = x->c->job->method_str;
        if (x->c->job->target)
            log.target = (http_slice){ x->c->job->target, strlen(x->c->job->target) };
        log.user_agent = x->c->job->ua;
        log.referer = x->c->job->referer;
    } else if (x->req) {
        log.method_str = x->req->method_str;
        log.target = x->req->target;
        const http_slice *ua, *ref;
        find_ua_referer(x->req, &ua, &ref);
        if (ua)
            log.user_agent = *ua;
        if (ref)
            log.referer = *ref;
    }
    ctx->on_response(ctx->hook_ctx, &log);
}

/* Everything but the common case: a response that began in an earlier
 * callback, a hook to run, a job to end, or a close after it. */
__attribute__((noinline))
static void response_done_slow(h1_ex *x, int status, uint64_t body_bytes)
{
    h1_conn *c = x->c;
    h1_ctx *ctx = x->ctx;
    uint64_t t0 = c->t0_ns ? c->t0_ns : ctx->batch_t0;
    if (c->t0_ns) {              /* began in an earlier callback */
        stats_latency(ctx->st, now_ns() - c->t0_ns, 1);
        c->t0_ns = 0;
    } else {
        ctx->batch_n++;          /* timed once for the whole callback */
    }
    if (ctx->on_response)
        run_hook(x, status, body_bytes, t0);
    ctx->next_id++;
    bool keep = x->keep_alive;
    if (in_job(x)) {
        h1_job_put(ctx, c->job);   /* x lives in it: not used below */
        c->job = NULL;
    }
    if (!keep)   /* at once only after a small, complete answer it asked for */
        h1_close(c, x->asked_close && body_bytes <= CLOSE_NOW_MAX ? H1_CLOSE_DONE
                                                                   : H1_CLOSE_LINGER);
    else if (h1_open(c))
        h1_set_state(c, H1_READING);
}

/* A response the connection ends before it is done (the peer left or
 * reset, a timeout, the drain's deadline) is logged as far as it went, as
 * nginx logs an aborted one: its head's status, or 499 (nginx's "client
 * closed request") when none was sent, and the body octets handed to the
 * transport. Without this, an interrupted download leaves no line. */
void h1_job_abandon(h1_conn *c)
{
    h1_ctx *ctx = h1_ctx_of(c);
    h1_job *j = c->job;
    if (j && ctx->on_response)
        run_hook(&j->x, j->x.head_sent ? j->x.status : 499, j->x.body_bytes,
                 c->t0_ns ? c->t0_ns : ctx->batch_t0);
    h1_job_put(ctx, j);
    c->job = NULL;
}

/* The common case with a hook (the access log): a response of this
 * callback, the connection kept, no job; what response_done_slow does then,
 * without its other cases. */
__attribute__((noinline))
static void response_done_hooked(h1_ex *x, int status, uint64_t body_bytes)
{
    h1_ctx *ctx = x->ctx;
    run_hook(x, status, body_bytes, ctx->batch_t0);
    ctx->batch_n++;              /* timed once for the whole callback */
    ctx->next_id++;
    h1_set_state(x->c, H1_READING);
}

void h1_response_done(h1_ex *x, int status, uint64_t body_bytes)
{
    h1_conn *c = x->c;
    h1_ctx *ctx = x->ctx;
    stats_response(ctx->st, status);
    if (c->t0_ns || c->job || !x->keep_alive || !h1_open(c)) {
        response_done_slow(x, status, body_bytes);
        return;
    }
    if (ctx->on_response) {
        response_done_hooked(x, status, body_bytes);
        return;
    }
    ctx->batch_n++;              /* timed once for the whole callback */
    ctx->next_id++;
    h1_set_state(c, H1_READING);
}

/* The ready bytes with the X-Request-Id line spliced in before the blank
 * line: one reservation in the output window, no formatting. */
void h1_send_fixed(h1_ex *x, enum resp_id id)
{
    const resp_fixed *f = &x->ctx->resp.r[id][x->rc];
    size_t n = x->head_only ? f->head_len : f->len;
    size_t rl = h1_rid(x);
    size_t cut = f->head_len - 2, total = n + rl + 16;
    h1_conn *c = x->c;
    if (c->close_how == H1_CLOSE_ABORT)
        return;
    size_t avail;
    char *w = tp_reserve(&c->t, total, &avail);
    if (!w) {
        out_failed(c);
        return;
    }
    memcpy(w, f->buf, cut);
    memcpy(w + cut, "X-Request-Id: ", 14);
    memcpy(w + cut + 14, x->rid, rl);
    memcpy(w + cut + 14 + rl, "\r\n", 2);
    memcpy(w + cut + 16 + rl, f->buf + cut, n - cut);
    tp_commit(&c->t, total);
    ctr_add(&h1_ctx_of(c)->st->bytes_tx, total);
    h1_response_done(x, f->status, n - f->head_len);
}

/* ---- compression --------------------------------------------------------------- */

void h1_comp_drop(h1_ex *x)
{
    comp_give(&x->ctx->comp, x->z);
    x->z = NULL;
}

/* Does this response's representation depend on Accept-Encoding, and with
 * which coding: *enc ENC_IDENTITY when not compressed. */
static bool comp_decide(const h1_ex *x, int status, const char *ctype, int64_t clen,
                        const char *extra, enum comp_enc *enc)
{
    const comp_settings *cs = &x->ctx->cfg->comp;
    *enc = ENC_IDENTITY;
    /* 206 and 304 never reach here as 200; a Content-Encoding already
     * chosen (a precompressed file) is not compressed twice */
    if (!cs->on || status != 200 || !x->req || !ctype || !comp_type_ok(cs->types, ctype)
        || (clen >= 0 && (uint64_t)clen < cs->min_size)
        || (extra && strstr(extra, "Content-Encoding:")))
        return false;
    const http_request *req = x->req;
    uint8_t order[ENC_N], ranked[ENC_N];
    int no = comp_order_parse(cs->order, order);
    size_t k = ae_rank(req, order, no > 0 ? (size_t)no : 0, ranked);
    if (k)
        *enc = (enum comp_enc)ranked[0];
    return true;
}

struct emit_arg { h1_ex *x; };

/* One chunk (or, for HTTP/1.0, the bytes until the close) per emit. */
/* Body bytes as the head framed them: one chunk, or as they are (a length
 * or, for HTTP/1.0, the close ends the body). */
static bool out_framed(h1_ex *x, const void *p, size_t n)
{
    x->body_bytes += n;
    if (!x->chunked)
        return h1_out(x->c, p, n);
    char size[24];
    int k = snprintf(size, sizeof size, "%zx\r\n", n);
    return h1_out(x->c, size, (size_t)k) && h1_out(x->c, p, n) && h1_out(x->c, "\r\n", 2);
}

static bool emit_chunk(void *arg, const void *p, size_t n)
{
    h1_ex *x = ((struct emit_arg *)arg)->x;
    ctr_add(&x->ctx->st->comp_out, n);
    return out_framed(x, p, n);
}

static bool comp_body(h1_ex *x, const void *p, size_t n, bool fin)
{
    struct emit_arg a = { x };
    ctr_add(&x->ctx->st->comp_in, n);
    if (comp_write(x->z, p, n, fin, emit_chunk, &a))
        return true;
    h1_comp_drop(x);
    if (h1_open(x->c))           /* the codec failed: the body cannot be ended well */
        h1_close(x->c, H1_CLOSE_ABORT);
    return false;
}

/* ---- heads and bodies --------------------------------------------------------- */

/* Room for a head: most fit the first size, any fits the second. */
#define HEAD_ROOM 512
#define HEAD_MAX 4096

bool h1_head(h1_ex *x, int status, const char *ctype, int64_t clen, const char *extra)
{
    enum comp_enc enc;
    bool vary = comp_decide(x, status, ctype, clen, extra, &enc);
    /* out of memory for a codec: the body goes as it is (still Vary) */
    if (enc != ENC_IDENTITY && !x->head_only &&
        (x->z = comp_take(&x->ctx->comp, enc, &x->ctx->cfg->comp)) == NULL)
        enc = ENC_IDENTITY;
    if (enc != ENC_IDENTITY)
        clen = -1;               /* the same for HEAD, so its head is GET's */
    if (clen < 0) {
        if (x->minor == 0) {     /* HTTP/1.0 has no chunked coding: end by close */
            x->keep_alive = false;
            x->rc = RC_CLOSE;
        } else {
            x->chunked = true;
        }
    }
    if (!h1_open(x->c)) {
        h1_comp_drop(x);
        return false;
    }
    char lines[1024];   /* extra and X-Request-Id */
    hb e = { lines, 0, sizeof lines - 1, 0 };
    hb_str(&e, "X-Request-Id: ");
    hb_mem(&e, x->rid, h1_rid(x));
    hb_str(&e, "\r\n");
    if (x->chunked)
        hb_str(&e, "Transfer-Encoding: chunked\r\n");
    if (enc != ENC_IDENTITY) {
        hb_str(&e, "Content-Encoding: ");
        hb_str(&e, comp_enc_name(enc));
        hb_str(&e, "\r\n");
    }
    if (vary)
        hb_str(&e, "Vary: Accept-Encoding\r\n");
    if (extra)
        hb_str(&e, extra);
    lines[e.len] = '\0';
    const char *more = e.len ? lines : NULL;
    size_t avail;
    char *p = tp_reserve(&x->c->t, HEAD_ROOM, &avail);
    hb b = { p, 0, avail, 0 };
    if (p)
        hb_head(&b, &x->ctx->resp, status, ctype, clen, (enum resp_conn)x->rc, more);
    if (p && b.overflow) {        /* a long one: all the room a head may take */
        p = tp_reserve(&x->c->t, HEAD_MAX, &avail);
        b = (hb){ p, 0, avail < HEAD_MAX ? avail : HEAD_MAX, 0 };
        if (p)
            hb_head(&b, &x->ctx->resp, status, ctype, clen, (enum resp_conn)x->rc, more);
    }
    if (!p || b.overflow || e.overflow) {
        h1_comp_drop(x);
        return out_failed(x->c);
    }
    if (x->z)
        ctr_add(&x->ctx->st->comp_resp[enc - ENC_GZIP], 1);
    tp_commit(&x->c->t, b.len);
    ctr_add(&x->ctx->st->bytes_tx, b.len);
    x->head_sent = true;
    x->status = (uint16_t)status;
    return true;
}

bool h1_body(h1_ex *x, const void *p, size_t n)
{
    if (x->head_only || n == 0)
        return h1_open(x->c);
    if (x->z)
        return comp_body(x, p, n, false);
    return out_framed(x, p, n);
}

void h1_finish(h1_ex *x, int status)
{
    if (x->z) {
        bool ok = comp_body(x, NULL, 0, true);
        h1_comp_drop(x);
        if (!ok)
            return;
    }
    if (x->chunked && !x->head_only && !h1_out(x->c, "0\r\n\r\n", 5))
        return;
    h1_response_done(x, status, x->body_bytes);
}

/* ---- streamed bodies ------------------------------------------------------------ */

void h1_body_file(h1_ex *x, int fd, uint64_t off, uint64_t len)
{
    if (x->head_only || len == 0 || !h1_open(x->c)) {
        close(fd);
        h1_finish(x, 200);
        return;
    }
    h1_job *j = h1_job_for(x);
    if (!j) {
        close(fd);
        h1_comp_drop(x);
        h1_close(x->c, H1_CLOSE_ABORT);   /* the head is out: no 500 possible */
        return;
    }
    j->streaming = true;
    j->mem_only = j->x.z != NULL;         /* compressed: read, never sendfile */
    j->fd = fd;
    j->off = off;
    j->left = len;
    h1_stream_pump(x->c);
}

void h1_body_repeat(h1_ex *x, int fd, const char *mem, size_t period, uint64_t len)
{
    if (x->head_only || len == 0 || !h1_open(x->c)) {
        h1_finish(x, 200);
        return;
    }
    h1_job *j = h1_job_for(x);
    if (!j) {
        h1_comp_drop(x);
        h1_close(x->c, H1_CLOSE_ABORT);
        return;
    }
    j->streaming = true;
    j->repeat = true;
    j->mem_only = j->x.z != NULL;
    j->mem = mem;
    j->period = period;
    j->left = len;
    /* Pieces are handed to the transport as their own descriptors (it closes
     * what it is given), so keep a private one to duplicate from. */
    j->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    h1_stream_pump(x->c);
}

/* Hand the transport the next file piece. false: it cannot take files (the
 * caller reads them instead) or the connection failed (close_how says). */
static bool hand_file(h1_conn *c, h1_job *j)
{
    h1_ctx *ctx = h1_ctx_of(c);
    uint64_t len = j->left;
    int fd = j->fd;
    if (j->repeat) {
        if (len > FILE_PIECE)
            len = FILE_PIECE;
        fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
    }
    /* If the file shrinks or fails under the transport, the connection
     * fails and ends: the promised length cannot be kept. */
    if (fd >= 0 && tp_sendfile(&c->t, fd, j->repeat ? 0 : j->off, len) == 0) {
        if (!j->repeat)
            j->fd = -1;          /* the transport's now */
        j->off += len;
        j->left -= len;
        j->x.body_bytes += len;
        ctr_add(&ctx->st->bytes_tx, len);
        return true;
    }
    int e = errno;
    if (j->repeat && fd >= 0)
        close(fd);
    if (fd >= 0 && e == ENOTSUP && h1_open(c))
        return false;            /* read and write it instead */
    /* No descriptor left for the piece's dup (EMFILE): a repeating pattern is
     * in memory too, so copy it from there rather than drop the response. */
    if (fd < 0 && j->repeat && (e == EMFILE || e == ENFILE) && h1_open(c))
        return false;
    return out_failed(c);
}

/* Up to k bytes from memory or read from the file, into the window: the
 * number produced, or 0 once the connection failed. */
static size_t copy_piece(h1_conn *c, h1_job *j, size_t k)
{
    if (j->x.z) {                 /* through the compressor, from memory or scratch */
        const char *src = j->mem;
        if (!j->repeat) {
            h1_ctx *ctx = h1_ctx_of(c);
            if (k > ctx->scratch_cap)
                k = ctx->scratch_cap;
            ssize_t n = pread(j->fd, ctx->scratch, k, (off_t)j->off);
            if (n <= 0)
                return out_failed(c);
            src = ctx->scratch;
            k = (size_t)n;
        }
        return comp_body(&j->x, src, k, false) ? k : 0;   /* counts what it emits */
    }
    if (j->repeat)                /* mem holds STREAM_CHUNK bytes, period-aligned */
        return h1_out(c, j->mem, k) ? k : 0;
    size_t avail;
    char *dst = tp_reserve(&c->t, k, &avail);
    ssize_t n = dst ? pread(j->fd, dst, k, (off_t)j->off) : -1;
    if (n <= 0)                   /* 0: the file is shorter than promised */
        return out_failed(c);
    tp_commit(&c->t, (size_t)n);
    ctr_add(&h1_ctx_of(c)->st->bytes_tx, (uint64_t)n);
    return (size_t)n;
}

void h1_stream_pump(h1_conn *c)
{
    h1_job *j = c->job;
    if (tp_flush(&c->t) < 0) {
        out_failed(c);
        return;
    }
    bool by_file = j->fd >= 0 && !j->mem_only;
    if (by_file) {
        /* on_drain brings us back once the piece is out; nothing else may
         * be written while a file is in flight */
        if (j->left > 0 && !hand_file(c, j)) {
            if (!h1_open(c))
                return;
            j->mem_only = true;  /* the transport cannot: copy from now on */
        } else if (tp_pending(&c->t) > 0) {
            h1_set_state(c, H1_WRITING);
            return;
        }
    }
    while (j->left > 0 && tp_pending(&c->t) < OUT_HIGH) {
        size_t k = copy_piece(c, j, j->left < STREAM_CHUNK ? (size_t)j->left : STREAM_CHUNK);
        if (k == 0)
            return;
        j->off += k;
        j->left -= k;
        if (!j->x.z)
            j->x.body_bytes += k;
    }
    if (j->left > 0) {
        h1_set_state(c, H1_WRITING);   /* settle pauses reading, waits for drain */
        return;
    }
    h1_finish(&j->x, 200);
}
