/*
 * fuzz_conn.c — libFuzzer target for a whole connection: a byte stream
 * chosen by the fuzzer fed through the real http1 layer (src/server/http1*.c)
 * and the real route table and handlers (routes.c, handlers.c), over the
 * in-memory transport of fake_tp.c. No socket, no loop, no file system
 * (no --root: /static/ answers 404; /bytes/N reads a memfd at most).
 *
 * Input (h2o's fuzz driver is the model):
 *   octet 0    flags (enum below): body limit, buffer size, sendfile or not,
 *              a pattern file or not, a reader that drains after every
 *              packet or only when the server waits for it, draining mode,
 *              how the connection ends;
 *   octet 1    n, the number of cuts (mod 64; bit 6: a response hook is
 *              installed and checked, bit 7: the admin route table), then n octets: packet k is
 *              octet k + 1 bytes long; the rest of the stream follows in
 *              packets of at most the receive buffer size (the loop's
 *              contract: one on_data carries at most recv_buf_size).
 *   the rest   the bytes the client sends.
 *
 * The invariants, each a trap:
 *   - every byte out is a sequence of well-framed responses: status line,
 *     header fields, and a body framed by Content-Length or chunked (parsed
 *     back with the decoder) — nothing else, and only the last one may be
 *     cut short, and only when the driver cut it (an incomplete request
 *     body, the output budget, a forced timeout or reset);
 *   - responses come in request order, one per request and no more: the
 *     requests are read independently from the same input with the parser
 *     (fuzzed on its own), and the i-th response answers the i-th request —
 *     its status when the request is malformed, its body for /, /json,
 *     /bytes/N and POST /echo (the request's own body back);
 *   - nothing is written after "Connection: close", or after shutdown or
 *     close (fake_tp traps), and a "Connection: close" response is the last;
 *   - a client that sends nothing more gets every complete request answered
 *     (no lost responses), and the connection never waits for nothing
 *     (paused with no drain owed);
 *   - memory per connection is bounded: input buffer, collected body, and
 *     the output queued by one callback;
 *   - no error counted (the fake never fails) and the byte counter equals
 *     the bytes written.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "fake_tp.h"
#include "http/http_parser.h"
#include "server/handlers.h"
#include "server/http1.h"
/* White-box: the job's collected body and the output marks, for the
 * memory bounds. */
#include "server/http1_internal.h"
#include "server/routes.h"

enum {
    FL_SMALL_BODY  = 1u << 0,  /* max_body 64 (else 1 MiB) */
    FL_SMALL_BUF   = 1u << 1,  /* buffer_size 512 (else 8192) */
    FL_NO_SENDFILE = 1u << 2,  /* the transport says ENOTSUP (as TLS will) */
    FL_BYTES_FILE  = 1u << 3,  /* /bytes/N from a pattern file (else memory) */
    FL_DRAIN_EACH  = 1u << 4,  /* the client reads after every packet */
    FL_DRAINING    = 1u << 5,  /* the server is shutting down: no keep-alive */
    FL_END_SHIFT   = 6,        /* 2 bits: enum end */
};
enum end { END_EOF, END_RESET, END_TIMEOUT, END_SHUTDOWN };

#define OUT_BUDGET   (5u << 19)  /* 2.5 MiB out per input: past it, stop reading */
#define MAX_REQS     512

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static char pattern[PATTERN_CHUNK];
static int pattern_fd = -1;

/* h1_defer (a rate limit's delay) arms a loop timer; there is no loop
 * here and no limit configured: refuse, so a deferral answers at once. */
int vex_timer_start(vex_loop *loop, vex_timer *t, uint64_t after_ms, uint64_t period_ms,
                    vex_timer_cb cb, void *data)
{
    (void)loop, (void)t, (void)after_ms, (void)period_ms, (void)cb, (void)data;
    return -1;
}

void vex_timer_stop(vex_loop *loop, vex_timer *t)
{
    (void)loop, (void)t;
}

/* The route table reads this through h1_ex: vex_loop_syscalls of no loop. */
uint64_t vex_loop_syscalls(const vex_loop *loop)
{
    (void)loop;
    return 0;
}

static size_t fake_metrics(void *src, char *buf, size_t cap)
{
    (void)src;
    return (size_t)snprintf(buf, cap, "# fuzz\nvex_up 1\n");
}

static void on_gone(void *owner, enum h1_kind kind) { (void)owner; (void)kind; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = alphabet[i % 64];
    pattern_fd = memfd_create("vex-fuzz-pattern", MFD_CLOEXEC);
    CHECK(pattern_fd >= 0);
    for (unsigned i = 0; i < PATTERN_FILE / PATTERN_CHUNK; i++)
        CHECK(write(pattern_fd, pattern, sizeof pattern) == (ssize_t)sizeof pattern);
    return 0;
}

/* ---- what the client asked: the requests, read independently ------------- */

typedef struct req_model {
    bool head_only, expect, keep_alive, complete;
    int minor;
    int error;                /* the status a malformed request must get, or 0 */
    bool body_error;          /* ... found in its body, which is not always read */
    enum { P_OTHER, P_PLAIN, P_JSON, P_BYTES, P_ECHO } path;
    uint64_t bytes_n;         /* P_BYTES: N, when well-formed */
    bool bytes_ok;
    const char *body;         /* decoded request body (in arena) */
    size_t body_len;
    http_slice target;        /* in the input */
} req_model;

typedef struct model {
    req_model r[MAX_REQS];
    size_t n;
    char *arena;              /* request bodies */
    size_t arena_len;
} model;

static bool parse_bytes_n(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 13)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return v <= ((uint64_t)1 << 40);
}

static bool path_is(const http_request *q, const char *s)
{
    return q->path.len == strlen(s) && memcmp(q->path.p, s, q->path.len) == 0;
}

static void model_requests(model *m, const char *in, size_t len, const http_limits *lim,
                           bool draining, bool admin)
{
    size_t pos = 0;
    m->n = 0;
    m->arena_len = 0;
    while (pos < len && m->n < MAX_REQS) {
        http_request q;
        int r = http_parse_request(in + pos, len - pos, lim, &q);
        if (r == 0)
            return;
        req_model *rm = &m->r[m->n++];
        memset(rm, 0, sizeof *rm);
        if (r < 0) {
            rm->error = -r;
            rm->complete = true;
            return;
        }
        pos += (size_t)r;
        rm->target = q.target;
        rm->head_only = q.method == HTTP_HEAD;
        rm->expect = q.expect_continue;
        rm->keep_alive = q.keep_alive && !draining;
        rm->minor = q.minor_version;
        if (path_is(&q, "/") && (q.method == HTTP_GET || q.method == HTTP_HEAD))
            rm->path = P_PLAIN;
        else if (path_is(&q, "/json") && (q.method == HTTP_GET || q.method == HTTP_HEAD))
            rm->path = P_JSON;
        else if (path_is(&q, "/echo") && q.method == HTTP_POST)
            rm->path = P_ECHO;
        else if (q.path.len >= 7 && memcmp(q.path.p, "/bytes/", 7) == 0
                 && (q.method == HTTP_GET || q.method == HTTP_HEAD)) {
            rm->path = P_BYTES;
            rm->bytes_ok = parse_bytes_n(q.path.p + 7, q.path.len - 7, &rm->bytes_n)
                        && q.body == HTTP_BODY_NONE;
        }
        if (admin)
            rm->path = P_OTHER;  /* health and metrics only */
        rm->body = m->arena + m->arena_len;
        if (q.body == HTTP_BODY_LENGTH) {
            if (q.content_length > len - pos)
                return;          /* the body never completes */
            memcpy(m->arena + m->arena_len, in + pos, (size_t)q.content_length);
            rm->body_len = (size_t)q.content_length;
            pos += (size_t)q.content_length;
        } else if (q.body == HTTP_BODY_CHUNKED) {
            http_chunked d;
            http_chunked_init(&d, lim->max_body);
            char *buf = m->arena + m->arena_len;
            memcpy(buf, in + pos, len - pos);
            size_t out = len - pos, used = 0;
            int rc = http_chunked_decode(&d, buf, &out, &used);
            if (rc == 0)
                return;
            if (rc < 0) {
                rm->error = -rc;
                rm->body_error = true;
                rm->complete = true;
                return;
            }
            rm->body_len = out;
            pos += used;
        }
        m->arena_len += rm->body_len;
        rm->complete = true;
        if (!rm->keep_alive)
            return;
    }
}

/* ---- what the server said: the responses, parsed back ----------------------- */

typedef struct resp_view {
    int status;
    bool close;               /* Connection: close */
    bool complete;
    const char *body;         /* decoded body (in arena) */
    size_t body_len;
    bool has_body_framing;
} resp_view;

/* Where the line at p[0..n) ends (after CRLF), or 0 if it does not. */
static size_t line_end(const char *p, size_t n)
{
    const char *lf = memchr(p, '\n', n);
    if (!lf)
        return 0;
    CHECK(lf > p && lf[-1] == '\r');      /* CRLF, never a bare LF */
    return (size_t)(lf - p) + 1;
}

static bool name_is(const char *p, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parse one response at out[0..n). Returns the octets it takes, or 0 when
 * it is cut short (v->complete false). head_only: a HEAD's response. */
static size_t parse_response(const char *out, size_t n, bool head_only, char *arena,
                             resp_view *v)
{
    memset(v, 0, sizeof *v);
    size_t k = line_end(out, n);
    if (!k)
        return 0;
    /* "HTTP/1.1 " 3DIGIT " " reason CRLF, the reason ours for that status */
    CHECK(k >= 15 && memcmp(out, "HTTP/1.1 ", 9) == 0 && out[12] == ' ');
    for (int i = 9; i < 12; i++)
        CHECK(out[i] >= '0' && out[i] <= '9');
    v->status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
    const char *reason = http_reason(v->status);
    CHECK(reason[0] != '\0');
    CHECK(k - 15 == strlen(reason) && memcmp(out + 13, reason, k - 15) == 0);
    size_t pos = k;
    bool have_cl = false, chunked = false, have_date = false;
    uint64_t cl = 0;
    for (;;) {
        k = line_end(out + pos, n - pos);
        if (!k)
            return 0;
        const char *l = out + pos;
        pos += k;
        if (k == 2)
            break;
        const char *colon = memchr(l, ':', k);
        CHECK(colon != NULL && colon > l);
        for (const char *c = l; c < colon; c++)
            CHECK(is_tchar(*c));
        size_t nl = (size_t)(colon - l);
        CHECK(colon[1] == ' ');
        const char *val = colon + 2;
        size_t vl = (size_t)(l + k - 2 - val);
        for (size_t i = 0; i < vl; i++)
            CHECK(val[i] != '\r' && val[i] != '\n' && val[i] != '\0');
        if (name_is(l, nl, "content-length")) {
            CHECK(!have_cl && vl > 0 && vl <= 19);
            for (size_t i = 0; i < vl; i++) {
                CHECK(val[i] >= '0' && val[i] <= '9');
                cl = cl * 10 + (uint64_t)(val[i] - '0');
            }
            have_cl = true;
        } else if (name_is(l, nl, "transfer-encoding")) {
            CHECK(!chunked && vl == 7 && memcmp(val, "chunked", 7) == 0);
            chunked = true;
        } else if (name_is(l, nl, "connection")) {
            CHECK((vl == 5 && memcmp(val, "close", 5) == 0)
                  || (vl == 10 && memcmp(val, "keep-alive", 10) == 0));
            v->close = vl == 5;
        } else if (name_is(l, nl, "date")) {
            have_date = true;
        }
    }
    if (v->status < 200) {       /* 100 Continue: a head alone */
        CHECK(v->status == 100 && !have_cl && !chunked && !v->close);
        v->complete = true;
        return pos;
    }
    CHECK(have_date);
    CHECK(!(have_cl && chunked));
    v->body = arena;
    v->has_body_framing = have_cl || chunked;
    if (head_only) {
        v->complete = true;
        return pos;
    }
    if (have_cl) {
        if (cl > n - pos)
            return 0;
        memcpy(arena, out + pos, (size_t)cl);
        v->body_len = (size_t)cl;
        v->complete = true;
        return pos + (size_t)cl;
    }
    if (chunked) {
        http_chunked d;
        http_chunked_init(&d, UINT64_MAX);
        memcpy(arena, out + pos, n - pos);
        size_t len = n - pos, used = 0;
        int rc = http_chunked_decode(&d, arena, &len, &used);
        CHECK(rc >= 0);
        if (rc == 0)
            return 0;
        v->body_len = len;
        v->complete = true;
        return pos + used;
    }
    /* Neither: the body runs to the close (HTTP/1.0); nothing we serve. */
    CHECK(false);
    return 0;
}

static const char *fixed_body(const req_model *q)
{
    switch (q->path) {
    case P_PLAIN: return "Hello, World!";
    case P_JSON: return "{\"message\":\"Hello, World!\"}";
    default: return NULL;
    }
}

/* The i-th response answers the i-th request. */
static void check_answer(const req_model *q, const resp_view *v)
{
    if (q->error) {
        /* A body we refuse to invite (Expect) is answered unread. */
        CHECK(v->status == q->error || (q->body_error && q->expect));
        CHECK(v->close);
        return;
    }
    if (!q->keep_alive)
        CHECK(v->close);
    if (q->head_only || !v->complete)
        return;
    const char *fb = fixed_body(q);
    if (fb && v->status == 200)
        CHECK(v->body_len == strlen(fb) && memcmp(v->body, fb, v->body_len) == 0);
    if (q->path == P_BYTES && q->bytes_ok) {
        CHECK(v->status == 200 && v->body_len == q->bytes_n);
        for (size_t i = 0; i < v->body_len; i++)
            CHECK(v->body[i] == alphabet[i % 64]);
    }
    if (q->path == P_ECHO && v->status == 200)
        CHECK(v->body_len == q->body_len && memcmp(v->body, q->body, q->body_len) == 0);
}

/* What the response hook (an access log) was told, in order. */
typedef struct hook_rec {
    int status;
    uint64_t body_bytes;
    bool has_target;
    size_t target_len;
    char target[64];
} hook_rec;

typedef struct hooks {
    bool on;
    size_t n;
    hook_rec r[MAX_REQS + 2];
} hooks;
static hooks H;

static void on_response(void *hctx, const h1_log *log)
{
    (void)hctx;
    CHECK(H.n < MAX_REQS + 2);
    hook_rec *h = &H.r[H.n++];
    h->status = log->status;
    h->body_bytes = log->body_bytes;
    h->has_target = log->target.p != NULL;
    h->target_len = log->target.len;
    /* Read all of it: a target that outlived its bytes is ASan's to see. */
    char sum = 0;
    for (size_t i = 0; i < log->target.len; i++)
        sum = (char)(sum ^ log->target.p[i]);
    (void)sum;
    if (log->target.p)
        memcpy(h->target, log->target.p, log->target.len < 64 ? log->target.len : 64);
}

/* The i-th final response is the i-th the hook heard of, with its status,
 * body size and the target of its request (when it still had one). */
static void check_hook(size_t i, const resp_view *v, const req_model *q, bool head_only)
{
    if (!H.on)
        return;
    CHECK(i < H.n);
    const hook_rec *h = &H.r[i];
    CHECK(h->status == v->status);
    CHECK(h->body_bytes == (head_only ? 0 : v->body_len));
    if (q && !q->error && h->has_target) {
        CHECK(h->target_len == q->target.len);
        size_t k = q->target.len < 64 ? q->target.len : 64;
        CHECK(memcmp(h->target, q->target.p, k) == 0);
    }
}

typedef struct run {
    bool cut;                 /* the driver cut the exchange short */
    bool timeout;             /* ... by a timeout */
    bool budget;              /* the output budget was reached */
    bool ended_quiet;         /* the client sent nothing more and read all */
} run;

static void check_output(const fake_tp *f, const model *m, const run *how)
{
    char *arena = malloc(f->out_len + 1);
    CHECK(arena != NULL);
    size_t pos = 0, i = 0;
    bool closed = false, got_continue = false, short_last = false;
    while (pos < f->out_len) {
        CHECK(!closed);                      /* nothing after Connection: close */
        resp_view v;
        if (i == m->n) {
            /* No more responses than requests, but for the 408 that a
             * timeout gives a request still arriving. */
            CHECK(how->timeout);
            CHECK(parse_response(f->out + pos, f->out_len - pos, false, arena, &v) > 0);
            CHECK(v.status == 408 && v.close);
            check_hook(i, &v, NULL, false);
            i++;
            closed = true;
            pos = f->out_len;
            break;
        }
        const req_model *q = &m->r[i];
        /* An error answer carries its body, even to HEAD. */
        bool head_only = q->head_only && !(q->error && q->body_error && !q->expect);
        size_t used = parse_response(f->out + pos, f->out_len - pos, head_only, arena, &v);
        if (!v.complete) {
            /* Cut short: allowed only for the last, and only when the
             * request itself never finished or the driver cut it. */
            CHECK(!q->complete || how->cut || how->budget);
            short_last = true;
            break;
        }
        pos += used;
        if (v.status == 100) {
            CHECK(q->expect && !got_continue);
            got_continue = true;
            continue;
        }
        got_continue = false;
        if (!q->complete) {
            /* Answered before the request ended: a request body we do
             * not read (or a 408); the connection must close after it. */
            CHECK(v.close || how->cut);
            check_hook(i, &v, NULL, head_only);
        } else {
            check_answer(q, &v);
            check_hook(i, &v, q, head_only);
        }
        closed = v.close;
        i++;
    }
    if (how->ended_quiet && !how->cut && !how->budget && !closed && !short_last) {
        /* Every complete request was answered. */
        size_t complete = 0;
        while (complete < m->n && m->r[complete].complete)
            complete++;
        CHECK(i == complete);
    }
    if (f->shut)
        CHECK(f->shut_at == f->out_len);
    /* The hook heard of every response that ended, and of nothing else
     * but the one the connection's end cut short: a response cut short in
     * the output, or one that never began (499). */
    if (H.on)
        CHECK(H.n == i || (H.n == i + 1 && (short_last || H.r[i].status == 499)));
#ifdef VEX_FUZZ_VERBOSE
    fprintf(stderr, "requests %zu, responses %zu, out %zu octets%s%s%s%s\n", m->n, i,
            f->out_len, closed ? ", close" : "", short_last ? ", cut short" : "",
            how->budget ? ", budget" : "", how->cut ? ", cut" : "");
#endif
    free(arena);
}

/* ---- the driver ----------------------------------------------------------------- */

typedef struct driver {
    h1_ctx ctx;
    server_config cfg;
    wstats *st;
    h1_router router, admin_router;
    app_env env;
    fake_tp f;
    run how;
    uint64_t errors_allowed;
    size_t out_piece;         /* the largest single write there can be */
} driver;

static driver D;

static h1_conn *conn(void) { return (h1_conn *)(void *)D.f.t; }

static void end_callback(void)
{
    if (D.ctx.env.out.owner)
        D.ctx.env.out.owner->ops->flush(D.ctx.env.out.owner);
    if (D.f.closed)
        return;
    const h1_conn *c = conn();
    /* Memory per connection: a partial head plus one delivery of input... */
    size_t in_bound = D.ctx.lim.max_head + 4 * (size_t)D.cfg.buffer_size + 65536;
    CHECK(h1_in_len(c) <= in_bound && (!c->in || c->in->cap <= 2 * in_bound));
    /* ...a body no larger than the limit... */
    if (c->job)
        CHECK(c->job->body_len <= D.cfg.max_body
              && c->job->body_cap <= 2 * (size_t)D.cfg.max_body + 4096);
    /* ...and what the client has not read: up to the high mark, then at
     * most one more piece (a file piece, or a body or /metrics from memory). */
    CHECK(D.f.pending <= OUT_HIGH + D.out_piece);
    CHECK(atomic_load(&D.st->errors) <= D.errors_allowed);
    CHECK(D.ctx.state_violations == 0);
}

/* "The kernel" takes the queue; on_drain if it was asked for. */
static bool drain(void)
{
    if (D.f.closed)
        return false;
    if (D.f.out_len >= OUT_BUDGET) {
        D.how.budget = true;
        return false;
    }
    D.f.pending = 0;
    D.f.file_inflight = false;
    if (!D.f.want_drain)
        return false;
    D.f.want_drain = false;
    D.ctx.env.up->on_drain(D.f.t);
    end_callback();
    return true;
}

/* Drain until the server reads again (or closes, or the budget ends). */
static bool wait_unpaused(void)
{
    while (!D.f.closed && D.f.paused) {
        if (!drain()) {
            /* Paused with nothing owed would be a connection stuck forever. */
            CHECK(D.f.closed || D.how.budget);
            return false;
        }
    }
    return !D.f.closed;
}

static void deliver(const char *p, size_t n)
{
    if (!wait_unpaused())
        return;
    /* The transport's bytes live only during the call (transport.h): an
     * exact-size copy freed after it lets ASan see any later use. */
    char *copy = malloc(n);
    CHECK(copy != NULL);
    memcpy(copy, p, n);
    D.ctx.env.up->on_input(D.f.t, copy, (ssize_t)n);
    free(copy);
    end_callback();
}

static void settle_out(void)
{
    /* Read everything the server still has to say; a drain that brings
     * nothing new, again and again, is a connection spinning. */
    unsigned idle = 0;
    while (!D.f.closed && (D.f.want_drain || D.f.pending)) {
        size_t before = D.f.out_len;
        if (!drain() && !D.f.want_drain)
            break;
        if (D.how.budget)
            break;
        idle = D.f.out_len == before ? idle + 1 : 0;
        CHECK(idle < 64);
    }
}

static int setup(uint8_t flags, bool hook, bool admin)
{
    D.cfg = (server_config){
        .max_clients = 1, .buffer_size = (flags & FL_SMALL_BUF) ? 512 : 8192,
        .header_timeout_ms = 30000, .idle_timeout_ms = 60000,
        .max_body = (flags & FL_SMALL_BODY) ? 64 : (1u << 20), .root_fd = -1,
    };
    if (!D.st)
        D.st = stats_new();
    CHECK(D.st != NULL);
    memset(D.st, 0, sizeof *D.st);
    D.env = (app_env){ .bytes_fd = (flags & FL_BYTES_FILE) ? pattern_fd : -1,
                       .pattern = pattern, .render_metrics = fake_metrics };
    D.router = (h1_router){ routes_dispatch, &routes_main, &D.env };
    D.admin_router = (h1_router){ routes_dispatch, &routes_admin, &D.env };
    CHECK(h1_ctx_init(&D.ctx, NULL, &D.cfg, D.st, 1, 1) == 0);
    for (int k = 0; k < H1_NKINDS; k++)
        D.ctx.routers[k] = &D.router;
    D.ctx.routers[H1_ADMIN] = &D.admin_router;
    D.ctx.on_gone = on_gone;
    H.on = hook;
    H.n = 0;
    if (hook)
        D.ctx.on_response = on_response;
    fake_tp_reset(&D.f);
    D.f.no_sendfile = flags & FL_NO_SENDFILE;
    fake_tp_current = &D.f;
    memset(&D.how, 0, sizeof D.how);
    D.errors_allowed = 0;
    D.out_piece = D.cfg.max_body > 65536 ? D.cfg.max_body : 65536;
    if ((flags & FL_BYTES_FILE) && !(flags & FL_NO_SENDFILE))
        D.out_piece += FILE_PIECE;
    if (flags & FL_DRAINING)
        h1_drain_start(&D.ctx, UINT64_MAX);
    CHECK(h1_conn_open(&D.ctx, &fake_tp_ops, 1000, NULL, admin ? H1_ADMIN : H1_CLIENT));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    size_t ncuts = data[1] % 64u;
    bool hook = data[1] & 0x40, admin = data[1] & 0x80;
    if (size < 2 + ncuts)
        return 0;
    const uint8_t *cuts = data + 2;
    const char *in = (const char *)data + 2 + ncuts;
    size_t len = size - 2 - ncuts;
    enum end end = (enum end)(flags >> FL_END_SHIFT);

    setup(flags, hook, admin);
    size_t off = 0;
    for (size_t k = 0; off < len && !D.f.closed && !D.how.budget; k++) {
        size_t n = k < ncuts ? (size_t)cuts[k] + 1 : D.cfg.buffer_size;
        if (n > len - off)
            n = len - off;
        deliver(in + off, n);
        off += n;
        if (flags & FL_DRAIN_EACH)
            settle_out();
    }
    bool all_sent = off == len;
    if (!D.f.closed && !D.how.budget) {
        switch (end) {
        case END_EOF:
            if (wait_unpaused()) {
                D.ctx.env.up->on_input(D.f.t, NULL, 0);
                end_callback();
            }
            break;
        case END_RESET:
            D.how.cut = true;
            D.ctx.env.up->on_input(D.f.t, NULL, -ECONNRESET);
            D.errors_allowed = 1;
            end_callback();
            break;
        case END_TIMEOUT:
            D.how.cut = D.how.timeout = true;
            h1_deadline_in(conn(), mono_ms(), 0);
            h1_scan_timeouts(&D.ctx);
            end_callback();
            break;
        case END_SHUTDOWN:      /* graceful: idle connections close */
            settle_out();
            h1_drain_start(&D.ctx, UINT64_MAX);
            h1_drain_idle(&D.ctx);
            end_callback();
            break;
        }
    }
    settle_out();
    D.how.ended_quiet = all_sent && !D.how.budget;
    if (!D.f.closed && !D.how.budget && !D.how.cut) {
        /* Nothing left to do: waiting for more input, or the peer's EOF
         * after a lingering close. Never paused with nothing owed. */
        CHECK(!D.f.paused || D.f.want_drain);
    }
    if (!D.f.closed)
        h1_close_all(&D.ctx);
    if (!D.how.cut && !D.how.budget)
        CHECK(atomic_load(&D.st->bytes_tx) == D.f.out_len);

    http_limits lim = D.ctx.lim;
    h1_ctx_free(&D.ctx);

    model *m = malloc(sizeof *m);
    CHECK(m != NULL);
    m->arena = malloc(len + 1);
    CHECK(m->arena != NULL);
    /* Only what was delivered counts as asked. */
    model_requests(m, in, off, &lim, flags & FL_DRAINING, admin);
    check_output(&D.f, m, &D.how);
    free(m->arena);
    free(m);
    return 0;
}
