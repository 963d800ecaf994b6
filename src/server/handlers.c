/*
 * handlers.c — the server's fixed and generated resources. GET / and
 * GET /json end in one copy of a pre-formatted response into the
 * connection's output queue.
 */
#include "handlers.h"

void h_plaintext(h1_ex *x, const http_request *req) { h1_fixed(x, req, R_PLAIN); }
void h_json(h1_ex *x, const http_request *req) { h1_fixed(x, req, R_JSON); }
void h_healthz(h1_ex *x, const http_request *req) { h1_fixed(x, req, R_HEALTHZ); }

void h_readyz(h1_ex *x, const http_request *req)
{
    h1_fixed(x, req, h1_draining(x) ? R_NOT_READY : R_READY);
}

void h_metrics(h1_ex *x, const http_request *req)
{
    if (req->body != HTTP_BODY_NONE) {
        h1_fixed(x, req, R_405_GET);
        return;
    }
    const app_env *env = app_of(x);
    /* This thread's syscall count and state gauges are published by its
     * tick: refresh them (other threads' are at most a second old). */
    ctr_set(&x->ctx->st->syscalls, vex_loop_syscalls(x->ctx->env.loop));
    h1_count_states(x->ctx);
    size_t cap;
    char *buf = h1_scratch(x, &cap);
    size_t n = env->render_metrics(env->metrics_src, buf, cap);
    if (h1_head(x, 200, "text/plain; version=0.0.4; charset=utf-8", (int64_t)n, NULL)
        && h1_body(x, buf, n))
        h1_finish(x, 200);
}

/* ---- POST /echo ------------------------------------------------------------ */

static const char octets[] = "application/octet-stream";

/* A Content-Length body goes back as it arrives: the head (its length
 * known) before the first byte. */
static void echo_chunk(h1_ex *x, const char *p, size_t n)
{
    if (!x->head_sent && !h1_head(x, 200, octets, (int64_t)h1_body_length(x), NULL))
        return;
    h1_body(x, p, n);
}

static void echo_end(h1_ex *x)
{
    if (x->head_sent || h1_head(x, 200, octets, (int64_t)h1_body_length(x), NULL))
        h1_finish(x, 200);
}

/* A chunked body is collected first: an invalid chunk must still be
 * answerable with 400. */
static void echo_all(h1_ex *x, const char *body, size_t len)
{
    if (h1_head(x, 200, octets, (int64_t)len, NULL) && h1_body(x, body, len))
        h1_finish(x, 200);
}

void h_echo(h1_ex *x, const http_request *req)
{
    if (req->body == HTTP_BODY_NONE) {
        if (h1_head(x, 200, octets, 0, NULL))
            h1_finish(x, 200);
    } else if (req->body == HTTP_BODY_CHUNKED) {
        h1_collect_body(x, req, echo_all);
    } else {
        h1_read_body(x, req, echo_chunk, echo_end);
    }
}

/* ---- GET /bytes/N ----------------------------------------------------------- */

/* N in decimal digits only, at most 2^40. */
static int parse_count(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 13)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > ((uint64_t)1 << 40))
        return -1;
    *out = v;
    return 0;
}

/* Sent by the transport as pieces of one shared pattern file (sendfile(2)
 * from its pages: nothing copied or held per connection), or copied from
 * the pattern in memory where there is no such file; compressed (so
 * copied) when the type qualifies and the client asks. */
static void pattern_body(h1_ex *x, const http_request *req, size_t pre, const char *ctype)
{
    uint64_t n;
    if (parse_count(req->path.p + pre, req->path.len - pre, &n) < 0
        || req->body != HTTP_BODY_NONE) {
        h1_fixed(x, req, R_E400);
        return;
    }
    const app_env *env = app_of(x);
    if (h1_head(x, 200, ctype, (int64_t)n, NULL))
        h1_body_repeat(x, env->bytes_fd, env->pattern, 64, n);
}

void h_bytes(h1_ex *x, const http_request *req)
{
    pattern_body(x, req, sizeof "/bytes/" - 1, octets);
}

/* The /bytes/N pattern as text/plain: a compressible dynamic stream. */
void h_text(h1_ex *x, const http_request *req)
{
    pattern_body(x, req, sizeof "/text/" - 1, "text/plain; charset=utf-8");
}
