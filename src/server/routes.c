/*
 * routes.c — which response a request gets.
 *
 * Matching is a length switch plus memcmp: no allocation, no regex. GET /
 * and GET /json end in one memcpy of a pre-formatted response.
 */
#include "server.h"

#include <string.h>

#define IS(lit) (n == sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0)
#define HAS_PREFIX(lit) (n >= sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0)

/* A fixed response to a GET/HEAD resource; other methods get 405. A body,
 * if any, is read and dropped first so the connection stays usable. */
static void fixed(conn *c, const http_request *req, enum resp_id id,
                  enum resp_conn rc, bool ka)
{
    bool head = req->method == HTTP_HEAD;
    if (req->method != HTTP_GET && !head)
        id = R_405_GET;
    if (req->body != HTTP_BODY_NONE) {
        stream_start_body(c, req, SINK_DISCARD, id, rc);
        return;
    }
    http_send_fixed(c, id, rc, head);
    http_request_done(c, ka);
}

/* Any method, fixed reply (404, 400 for a bad /bytes/N, 405 for /echo). */
static void reply(conn *c, const http_request *req, enum resp_id id,
                  enum resp_conn rc, bool ka)
{
    if (req->body != HTTP_BODY_NONE) {
        stream_start_body(c, req, SINK_DISCARD, id, rc);
        return;
    }
    http_send_fixed(c, id, rc, req->method == HTTP_HEAD);
    http_request_done(c, ka);
}

static void metrics(conn *c, const http_request *req, enum resp_conn rc, bool ka)
{
    worker *w = c->w;
    ctr_set(&w->st->syscalls, vex_loop_syscalls(w->loop));   /* ours is fresh */
    size_t blen = prometheus_render(w->srv, w->scratch, w->scratch_cap);
    char head[512];
    hb b = {head, 0, sizeof head, 0};
    hb_head(&b, &w->resp, 200, "text/plain; version=0.0.4; charset=utf-8",
            (int64_t)blen, rc, NULL);
    if (!out_put(c, head, b.len))
        return;
    if (req->method != HTTP_HEAD && !out_put(c, w->scratch, blen))
        return;
    http_note_response(c, 200);
    http_request_done(c, ka);
}

/* "/bytes/N": N in decimal digits only, at most 2^40. */
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

void route_request(conn *c, const http_request *req, enum resp_conn rc, bool ka)
{
    const char *p = req->path.p;
    size_t n = req->path.len;

    /* absolute-form (RFC 9112 §3.2.2): drop "scheme://authority" */
    if (n && p[0] != '/') {
        const char *s = memchr(p, ':', n);
        if (s && (size_t)(p + n - s) >= 3 && s[1] == '/' && s[2] == '/') {
            const char *slash = memchr(s + 3, '/', (size_t)(p + n - (s + 3)));
            if (slash) {
                n -= (size_t)(slash - p);
                p = slash;
            } else {
                p = "/";
                n = 1;
            }
        }
    }

    if ((c->flags & CF_ADMIN) && !IS("/healthz") && !IS("/readyz") && !IS("/metrics")) {
        reply(c, req, R_404, rc, ka);   /* the admin listener serves nothing else */
    } else if (IS("/")) {
        fixed(c, req, R_PLAIN, rc, ka);
    } else if (IS("/json")) {
        fixed(c, req, R_JSON, rc, ka);
    } else if (IS("/healthz")) {
        fixed(c, req, R_HEALTHZ, rc, ka);
    } else if (IS("/readyz")) {
        fixed(c, req, c->w->draining ? R_NOT_READY : R_READY, rc, ka);
    } else if (IS("/metrics")) {
        if ((req->method != HTTP_GET && req->method != HTTP_HEAD)
            || req->body != HTTP_BODY_NONE)
            fixed(c, req, R_405_GET, rc, ka);
        else
            metrics(c, req, rc, ka);
    } else if (IS("/echo")) {
        if (req->method != HTTP_POST) {
            reply(c, req, R_405_POST, rc, ka);
        } else if (req->body == HTTP_BODY_NONE) {
            stream_start_bytes(c, 0, rc, false);   /* an empty echo */
        } else {
            stream_start_body(c, req, req->body == HTTP_BODY_CHUNKED
                              ? SINK_ECHO_BUFFER : SINK_ECHO_STREAM, R_E500, rc);
        }
    } else if (HAS_PREFIX("/bytes/")) {
        uint64_t count;
        if (req->method != HTTP_GET && req->method != HTTP_HEAD)
            reply(c, req, R_405_GET, rc, ka);
        else if (parse_count(p + 7, n - 7, &count) < 0)
            reply(c, req, R_400_ROUTE, rc, ka);
        else if (req->body != HTTP_BODY_NONE)
            reply(c, req, R_400_ROUTE, rc, ka);
        else
            stream_start_bytes(c, count, rc, req->method == HTTP_HEAD);
    } else if (HAS_PREFIX("/static/")) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD)
            reply(c, req, R_405_GET, rc, ka);
        else if (req->body != HTTP_BODY_NONE)
            reply(c, req, R_400_ROUTE, rc, ka);
        else
            static_serve(c, p, n, rc, req->method == HTTP_HEAD);
    } else {
        reply(c, req, R_404, rc, ka);
    }
}
