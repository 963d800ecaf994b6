/*
 * http1_body.c — request bodies: by Content-Length or chunked, streamed to
 * the handler, collected whole, or read and dropped before a reply (which
 * keeps the connection usable). Expect: 100-continue is answered when the
 * body is wanted, and refused (answer now, then close) when it is not
 * (RFC 9110 §10.1.1). A malformed or oversized body is answered here.
 */
#include "http1_internal.h"

#include <stdlib.h>
#include <string.h>

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

enum body_mode { BODY_STREAM, BODY_COLLECT, BODY_DISCARD };

static void body_done(h1_conn *c)
{
    h1_job *j = c->job;
    j->reading = false;
    c->flags &= (uint8_t)~CF_BODY;   /* read to its end: nothing of it unread */
    h1_ex *x = &j->x;
    /* Each of these ends the exchange and releases j: nothing after. */
    if (j->on_all)
        j->on_all(x, j->body, j->body_len);
    else if (j->on_end)
        j->on_end(x);
    else
        h1_send_fixed(x, j->reply);
}

static void body_failed(h1_conn *c, int status)
{
    h1_ctx *ctx = h1_ctx_of(c);
    bool head_out = c->job->x.head_sent;
    if (head_out) {              /* logged as far as it went; no error reply follows */
        h1_job_abandon(c);
    } else {
        h1_job_put(ctx, c->job);
        c->job = NULL;
    }
    if (head_out) {              /* a 200 is on its way: only an abort is honest */
        h1_close(c, H1_CLOSE_ABORT);
        return;
    }
    h1_ex x = { .c = c, .ctx = ctx, .rc = RC_CLOSE };
    h1_send_fixed(&x, resp_error_id(status));
    h1_close(c, H1_CLOSE_LINGER);
}

static void start(h1_ex *x, const http_request *req, enum body_mode mode,
                  enum resp_id reply)
{
    h1_conn *c = x->c;
    if (req->expect_continue && mode == BODY_DISCARD && !c->job) {
        x->rc = RC_CLOSE;        /* do not invite a body we would drop */
        x->keep_alive = false;
        h1_send_fixed(x, reply);
        return;
    }
    h1_job *j = h1_job_for(x);
    if (!j) {
        h1_ex e = { .c = c, .ctx = x->ctx, .rc = RC_CLOSE };
        h1_send_fixed(&e, R_E500);
        h1_close(c, H1_CLOSE_LINGER);
        return;
    }
    x = &j->x;
    j->reading = true;
    j->reply = reply;
    j->collect = mode == BODY_COLLECT;
    j->chunked_in = req->body == HTTP_BODY_CHUNKED;
    if (j->chunked_in)
        http_chunked_init(&j->dec, x->ctx->lim.max_body);
    else
        j->body_total = j->body_left = req->content_length;
    if (req->expect_continue && !h1_out(c, continue_100, sizeof continue_100 - 1))
        return;
    if (!j->chunked_in && j->body_left == 0)
        body_done(c);
}

void h1_fixed(h1_ex *x, const http_request *req, enum resp_id id)
{
    if (req->body != HTTP_BODY_NONE)
        start(x, req, BODY_DISCARD, id);
    else
        h1_send_fixed(x, id);
}

void h1_read_body(h1_ex *x, const http_request *req,
                  void (*on_chunk)(h1_ex *x, const char *p, size_t n),
                  void (*on_end)(h1_ex *x))
{
    h1_job *j = h1_job_for(x);
    if (j) {
        j->on_chunk = on_chunk;
        j->on_end = on_end;
    }
    start(x, req, BODY_STREAM, R_E500);
}

void h1_collect_body(h1_ex *x, const http_request *req,
                     void (*on_all)(h1_ex *x, const char *body, size_t len))
{
    h1_job *j = h1_job_for(x);
    if (j)
        j->on_all = on_all;
    start(x, req, BODY_COLLECT, R_E500);
}

uint64_t h1_body_length(const h1_ex *x)
{
    const h1_job *j = x->c->job;
    return j && !j->chunked_in ? j->body_total : 0;
}

static bool collect(h1_conn *c, h1_job *j, const char *p, size_t n)
{
    if (j->body_len + n > j->body_cap) {
        size_t cap = j->body_cap ? j->body_cap * 2 : 4096;
        while (cap < j->body_len + n)
            cap *= 2;
        char *nb = realloc(j->body, cap);
        if (!nb) {
            ctr_add(&h1_ctx_of(c)->st->errors, 1);
            body_failed(c, 500);
            return false;
        }
        j->body = nb;
        j->body_cap = cap;
    }
    memcpy(j->body + j->body_len, p, n);
    j->body_len += n;
    return true;
}

size_t h1_feed_body(h1_conn *c, const char *data, size_t len)
{
    h1_ctx *ctx = h1_ctx_of(c);
    h1_job *j = c->job;
    if (!j->chunked_in) {
        size_t k = len < j->body_left ? len : (size_t)j->body_left;
        j->body_left -= k;
        if (j->on_chunk && k)
            j->on_chunk(&j->x, data, k);
        if (j->body_left == 0 && h1_open(c))
            body_done(c);
        return k;
    }
    /* The decoder works in place, and the transport's bytes are read-only:
     * decode a copy, piece by piece. */
    size_t used_total = 0;
    while (used_total < len) {
        size_t piece = len - used_total;
        if (piece > ctx->scratch_cap)
            piece = ctx->scratch_cap;
        memcpy(ctx->scratch, data + used_total, piece);
        size_t out = piece, used = 0;
        int r = http_chunked_decode(&j->dec, ctx->scratch, &out, &used);
        if (r < 0) {
            body_failed(c, -r);
            return len;
        }
        if (out && j->collect && !collect(c, j, ctx->scratch, out))
            return len;
        if (out && j->on_chunk)
            j->on_chunk(&j->x, ctx->scratch, out);
        used_total += used;
        if (r == 1) {
            body_done(c);
            return used_total;
        }
        if (used == 0)
            break;               /* keep the rest for the next delivery */
    }
    return used_total;
}
