/*
 * fuzz_http_parser.c — libFuzzer target for the request head parser and the
 * chunked decoder.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined together with every
 * .c file of src/http (the exact command is in the README), then run
 *   /tmp/fuzz_http -max_total_time=60 tests/fuzz/corpus
 *
 * Input: one control octet, one split-seed octet, then the bytes of a request
 * (head + chunked body). The control octet picks tight limits so the 413/414/
 * 431 paths are reachable with short inputs, or feeds the bytes straight to
 * the chunked decoder. Every check aborts, so libFuzzer reports it.
 *
 * Invariants: the result is a known status or 0 < head_len <= len; every
 * slice lies inside the head; parsing a prefix gives 0 until the head is
 * complete and the same result after, and a rejected input is rejected with
 * the same status whenever a prefix is already rejected; the chunked body
 * decodes to the same bytes, status and consumed count whether fed whole or
 * in pieces. Prefixes are parsed from exact-size copies so that ASan sees a
 * read past the prefix.
 *
 * With -DVEX_FUZZ_LLHTTP (add -I/usr/share/include/llhttp and the three
 * /usr/share/llhttp/ .c files, Debian package node-llhttp) it is also a
 * differential test: whatever we accept, llhttp must accept with the same
 * method, target, version, fields, keep-alive, message end and body bytes.
 * The converse is not checked: we are deliberately stricter than llhttp.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_parser.h"
#include "fuzz_check.h"

enum {
    CTL_TIGHT_LIMITS = 1,
    CTL_BODY_ONLY    = 2,
};

static http_limits limits_for(uint8_t ctl)
{
    http_limits lim = http_default_limits;
    if (ctl & CTL_TIGHT_LIMITS) {
        lim.max_target = 8 + (ctl >> 4);
        lim.max_head = 48 + 4u * (ctl >> 2);
        lim.max_headers = (ctl >> 3) & 7;
        lim.max_body = ctl >> 2;
    }
    return lim;
}

static bool is_known_status(int r)
{
    return r == -400 || r == -413 || r == -414 || r == -431 || r == -501 || r == -505;
}

static bool slice_inside(http_slice s, const char *base, size_t len)
{
    if (s.len == 0)
        return s.p == NULL || (s.p >= base && s.p <= base + len);
    return s.p >= base && s.p <= base + len && s.len <= (size_t)(base + len - s.p);
}

static void check_request(const http_request *req, const char *buf, int r,
                          const http_limits *lim)
{
    size_t head = (size_t)r;
    CHECK(req->head_len == head);
    CHECK(req->minor_version == 0 || req->minor_version == 1);
    CHECK(req->n_headers <= lim->max_headers && req->n_headers <= HTTP_MAX_HEADERS);
    CHECK(req->method_str.len > 0 && req->target.len > 0);
    CHECK(req->target.len <= lim->max_target);
    CHECK(head <= lim->max_head);
    CHECK(slice_inside(req->method_str, buf, head));
    CHECK(slice_inside(req->target, buf, head));
    /* The one slice not in buf: an absolute URI's empty path is "/". */
    CHECK(slice_inside(req->path, buf, head) || (req->path.len == 1 && req->path.p[0] == '/'));
    CHECK(slice_inside(req->query, buf, head));
    for (unsigned i = 0; i < req->n_headers; i++) {
        CHECK(req->headers[i].name.len > 0);
        CHECK(slice_inside(req->headers[i].name, buf, head));
        CHECK(slice_inside(req->headers[i].value, buf, head));
    }
    CHECK(req->minor_version == 0 || http_find_header(req, "host") != NULL);
    if (req->body == HTTP_BODY_LENGTH)
        CHECK(req->content_length <= lim->max_body);
    if (req->body == HTTP_BODY_CHUNKED)
        CHECK(req->minor_version == 1);
}

/* Parse buf[0..k) from an exact-size copy. */
static int parse_prefix(const char *buf, size_t k, const http_limits *lim,
                        http_request *req)
{
    char *copy = malloc(k ? k : 1);
    CHECK(copy != NULL);
    memcpy(copy, buf, k);
    int r = http_parse_request(copy, k, lim, req);
    if (r > 0)
        check_request(req, copy, r, lim);
    free(copy);
    return r;
}

static void check_prefix(const char *buf, size_t k, int full,
                         const http_limits *lim, const http_request *full_req)
{
    http_request req;
    int r = parse_prefix(buf, k, lim, &req);
    if (full > 0 && k < (size_t)full) {
        CHECK(r == 0);
    } else if (full > 0) {
        CHECK(r == full);
        CHECK(req.method == full_req->method && req.n_headers == full_req->n_headers);
        CHECK(req.body == full_req->body && req.keep_alive == full_req->keep_alive);
        CHECK(req.content_length == full_req->content_length);
    } else {
        CHECK(r == 0 || r == full);
    }
}

static void check_head(const char *buf, size_t len, const http_limits *lim,
                       uint8_t seed, http_request *req, int *out)
{
    int r = http_parse_request(buf, len, lim, req);
    *out = r;
    CHECK(r == 0 || is_known_status(r) || (r > 0 && (size_t)r <= len));
    if (r > 0)
        check_request(req, buf, r, lim);

    if (len <= 256) {
        for (size_t k = 0; k < len; k++)
            check_prefix(buf, k, r, lim, req);
    } else {
        size_t picks[] = { 0, len / 2, len - 1, r > 0 ? (size_t)r - 1 : 0,
                           r > 0 ? (size_t)r : 0, (size_t)seed * len / 256 };
        for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
            check_prefix(buf, picks[i], r, lim, req);
    }
}

typedef struct decode_result {
    int rc;
    size_t consumed;
    size_t out_len;
    char *out;
} decode_result;

/* Decode in pieces of `piece` octets (0: whole), as the server would:
 * every call sees the input it has not consumed yet plus the new piece. */
static decode_result decode_body(const char *in, size_t n, size_t piece, uint64_t max_body)
{
    decode_result res = { 0, 0, 0, malloc(n ? n : 1) };
    char *pending = malloc(n ? n : 1);
    CHECK(res.out != NULL && pending != NULL);
    http_chunked d;
    http_chunked_init(&d, max_body);
    size_t have = 0, fed = 0;
    if (piece == 0)
        piece = n ? n : 1;
    do {
        size_t add = n - fed < piece ? n - fed : piece;
        memcpy(pending + have, in + fed, add);
        have += add;
        fed += add;
        size_t len = have, used = 0;
        res.rc = http_chunked_decode(&d, pending, &len, &used);
        CHECK(res.rc == 0 || res.rc == 1 || res.rc == -400 || res.rc == -413);
        CHECK(used <= have && len <= used);
        CHECK(res.out_len + len <= n);
        memcpy(res.out + res.out_len, pending, len);
        res.out_len += len;
        res.consumed += used;
        CHECK(d.total == res.out_len && d.total <= max_body);
        memmove(pending, pending + used, have - used);
        have -= used;
        if (res.rc == 0)
            CHECK(have == 0);   /* "need more" means all input was taken */
    } while (res.rc == 0 && fed < n);
    free(pending);
    return res;
}

static void check_chunked(const char *in, size_t n, uint64_t max_body, uint8_t seed)
{
    decode_result whole = decode_body(in, n, 0, max_body);
    size_t pieces[] = { 1, 2 + seed % 13 };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        decode_result split = decode_body(in, n, pieces[i], max_body);
        CHECK(split.rc == whole.rc);
        CHECK(split.out_len == whole.out_len);
        CHECK(memcmp(split.out, whole.out, whole.out_len) == 0);
        if (whole.rc == 1)
            CHECK(split.consumed == whole.consumed);
        free(split.out);
    }
    free(whole.out);
}

#ifdef VEX_FUZZ_LLHTTP
/* llhttp's method enumerators share our names; rename theirs. */
#define HTTP_DELETE LL_HTTP_DELETE
#define HTTP_GET LL_HTTP_GET
#define HTTP_HEAD LL_HTTP_HEAD
#define HTTP_POST LL_HTTP_POST
#define HTTP_PUT LL_HTTP_PUT
#define HTTP_CONNECT LL_HTTP_CONNECT
#define HTTP_OPTIONS LL_HTTP_OPTIONS
#define HTTP_TRACE LL_HTTP_TRACE
#define HTTP_PATCH LL_HTTP_PATCH
#include "llhttp.h"
#undef HTTP_DELETE
#undef HTTP_GET
#undef HTTP_HEAD
#undef HTTP_POST
#undef HTTP_PUT
#undef HTTP_CONNECT
#undef HTTP_OPTIONS
#undef HTTP_TRACE
#undef HTTP_PATCH

/* What llhttp saw. One llhttp_execute over a contiguous buffer reports each
 * span once, so a slice is the first callback's pointer and length. */
typedef struct ll_view {
    http_slice url;
    http_header headers[HTTP_MAX_HEADERS + 1];
    unsigned n_headers;
    char *body;
    size_t body_len;
    bool head_done;   /* later fields are trailers */
    bool complete;
} ll_view;

static int ll_on_url(llhttp_t *p, const char *at, size_t n)
{
    ll_view *v = p->data;
    v->url = (http_slice){ at, n };
    return 0;
}

static int ll_on_field(llhttp_t *p, const char *at, size_t n)
{
    ll_view *v = p->data;
    if (v->head_done)
        return 0;
    if (v->n_headers == HTTP_MAX_HEADERS + 1)
        return -1;
    v->headers[v->n_headers++] = (http_header){ { at, n }, { at + n, 0 } };
    return 0;
}

static int ll_on_value(llhttp_t *p, const char *at, size_t n)
{
    ll_view *v = p->data;
    if (v->head_done)
        return 0;
    CHECK(v->n_headers > 0);
    v->headers[v->n_headers - 1].value = (http_slice){ at, n };
    return 0;
}

static int ll_on_headers_complete(llhttp_t *p)
{
    ll_view *v = p->data;
    v->head_done = true;
    return 0;
}

static int ll_on_body(llhttp_t *p, const char *at, size_t n)
{
    ll_view *v = p->data;
    memcpy(v->body + v->body_len, at, n);
    v->body_len += n;
    return 0;
}

static int ll_on_complete(llhttp_t *p)
{
    ll_view *v = p->data;
    v->complete = true;
    return HPE_PAUSED;   /* stop at the end of the first message */
}

static bool slices_equal(http_slice a, http_slice b)
{
    return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static http_slice trim_ows(http_slice s)
{
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Where our view of the first message ends, given the head; 0 if the body is
 * incomplete or we reject it. The decoded body goes to *body. */
static size_t our_message_end(const char *buf, size_t len, const http_request *req,
                              const http_limits *lim, char *body, size_t *body_len)
{
    size_t head = req->head_len;
    *body_len = 0;
    if (req->body == HTTP_BODY_NONE)
        return head;
    if (req->body == HTTP_BODY_LENGTH) {
        if (req->content_length > len - head)
            return 0;
        memcpy(body, buf + head, (size_t)req->content_length);
        *body_len = (size_t)req->content_length;
        return head + (size_t)req->content_length;
    }
    http_chunked d;
    http_chunked_init(&d, lim->max_body);
    memcpy(body, buf + head, len - head);
    size_t n = len - head, used;
    if (http_chunked_decode(&d, body, &n, &used) != 1)
        return 0;
    *body_len = n;
    return head + used;
}

/* Does a Connection field of req name the "close" option? */
static bool names_close(const http_request *req)
{
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (h->name.len != 10 || strncasecmp(h->name.p, "connection", 10) != 0)
            continue;
        for (size_t j = 0; j + 5 <= h->value.len; j++)
            if (strncasecmp(h->value.p + j, "close", 5) == 0)
                return true;
    }
    return false;
}

/* RFC 9112 §9.3: "close" ends the connection whatever else a Connection
 * field says. llhttp 8.1's should_keep_alive for HTTP/1.0 looks only for
 * keep-alive, so "Connection: keep-alive" with "Connection: close" keeps it
 * open there and closes here. Tolerate exactly that. */
static bool llhttp_keeps_10_close(const http_request *req, const llhttp_t *p)
{
    return req->minor_version == 0 && !req->keep_alive && llhttp_should_keep_alive(p) &&
           names_close(req);
}

/* RFC 9110 §5.6.3: OWS is SP or HTAB, so "Connection: close \t" closes
 * here; llhttp 8.1 recognises the close token only when SP, ',' or the line
 * end follows it, and keeps the connection. Tolerate exactly that: ours
 * closes, llhttp keeps, and some Connection value has "close" followed by
 * spaces and then a tab. */
static bool llhttp_misses_close_before_tab(const http_request *req, const llhttp_t *p)
{
    if (req->keep_alive || !llhttp_should_keep_alive(p))
        return false;
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (h->name.len != 10 || strncasecmp(h->name.p, "connection", 10) != 0)
            continue;
        /* the trimmed value is followed in the buffer by its OWS and CR */
        const char *end = h->value.p + h->value.len;
        while (*end == ' ' || *end == '\t')
            end++;
        for (const char *c = h->value.p; c + 5 <= end; c++) {
            if (strncasecmp(c, "close", 5) != 0)
                continue;
            const char *q = c + 5;
            while (q < end && *q == ' ')
                q++;
            if (q < end && *q == '\t')
                return true;
        }
    }
    return false;
}

/* RFC 9110 §6.5.1: trailer fields are not for connection control, so a
 * "Connection: close" in a chunked body's trailer section changes nothing
 * here; llhttp 8.1 reads trailers as header fields and closes. Tolerate a
 * close from llhttp when the body is chunked and a Connection field was
 * sent past the head (ours saw none naming close in the head). */
static bool llhttp_closes_on_trailer(const char *buf, size_t len, const http_request *req,
                                     const llhttp_t *p)
{
    if (req->body != HTTP_BODY_CHUNKED || !req->keep_alive || llhttp_should_keep_alive(p))
        return false;
    for (size_t j = 0; j + 10 <= len; j++)
        if (strncasecmp(buf + j, "connection", 10) == 0)
            return true;
    return false;
}

/* RFC 9110 §5.5: a field value's trailing whitespace is not part of it, so
 * "Transfer-Encoding: chunked \t" is chunked and "Content-Length: 5 \t" is 5
 * here; llhttp 8.1 refuses some such values. Tolerate an llhttp error when
 * either framing field's value was followed by whitespace. */
static bool llhttp_refuses_te_ows(const http_request *req, llhttp_errno_t err)
{
    if (err == HPE_PAUSED)
        return false;
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        bool framing = (h->name.len == 17 && strncasecmp(h->name.p, "transfer-encoding", 17) == 0) ||
                       (h->name.len == 14 && strncasecmp(h->name.p, "content-length", 14) == 0);
        if (framing && (h->value.p[h->value.len] == ' ' || h->value.p[h->value.len] == '\t'))
            return true;
    }
    return false;
}

/* RFC 9112 §7.1.1 allows BWS around ';' and '=' and quoted-pairs in chunk
 * extensions, and we accept them; llhttp 8.1 refuses both. Tolerate exactly
 * that: an llhttp chunk-line error whose line has whitespace or a backslash. */
static bool llhttp_refuses_bws(const char *buf, size_t len, const http_request *req,
                               const llhttp_t *p, llhttp_errno_t err)
{
    if (req->body != HTTP_BODY_CHUNKED || (err != HPE_STRICT && err != HPE_INVALID_CHUNK_SIZE))
        return false;
    const char *pos = llhttp_get_error_pos(p), *line = pos;
    const char *body = buf + req->head_len;
    if (pos < body || pos >= buf + len)
        return false;
    while (line > body && line[-1] != '\n')
        line--;
    /* ... and an extension it stops in: llhttp 8.1 also refuses some valid
     * ext-name/ext-val sequences (a name without a value after a valued
     * one, "0;a=1;b"); fuzz_chunked checks our extension parsing alone. */
    for (const char *c = line; c <= pos; c++)
        if (*c == ' ' || *c == '\t' || *c == '\\' || *c == ';')
            return true;
    return false;
}

static unsigned count_fields(const http_request *req, const char *lower)
{
    unsigned n = 0;
    size_t len = strlen(lower);
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_slice *name = &req->headers[i].name;
        if (name->len != len)
            continue;
        size_t j = 0;
        while (j < len && (name->p[j] | 0x20) == lower[j])
            j++;
        n += j == len;
    }
    return n;
}

static llhttp_errno_t run_llhttp(const char *buf, size_t len, ll_view *v, llhttp_t *p)
{
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_url = ll_on_url;
    settings.on_header_field = ll_on_field;
    settings.on_header_value = ll_on_value;
    settings.on_headers_complete = ll_on_headers_complete;
    settings.on_body = ll_on_body;
    settings.on_message_complete = ll_on_complete;
    llhttp_init(p, HTTP_REQUEST, &settings);
    p->data = v;
    return llhttp_execute(p, buf, len);
}

static void compare_accepted(const char *buf, size_t len, const http_request *req,
                             const http_limits *lim, const ll_view *v,
                             const llhttp_t *p, llhttp_errno_t err)
{
    char *ours = malloc(len + 1);
    CHECK(ours != NULL);
    size_t our_len;
    size_t our_end = our_message_end(buf, len, req, lim, ours, &our_len);

    if (our_end == 0 || llhttp_refuses_bws(buf, len, req, p, err) ||
        llhttp_refuses_te_ows(req, err)) {
        /* We need more body, or rejected it: llhttp may be more lenient. */
    } else {
        CHECK(err == HPE_PAUSED && v->complete);
        CHECK((size_t)(llhttp_get_error_pos(p) - buf) == our_end);
        CHECK(v->body_len == our_len && memcmp(v->body, ours, our_len) == 0);
        CHECK((llhttp_should_keep_alive(p) != 0) == req->keep_alive ||
              llhttp_keeps_10_close(req, p) || llhttp_closes_on_trailer(buf, len, req, p) ||
              llhttp_misses_close_before_tab(req, p));
        CHECK(p->http_major == 1 && p->http_minor == req->minor_version);
        const char *method = llhttp_method_name(p->method);
        CHECK(req->method_str.len == strlen(method));
        CHECK(memcmp(req->method_str.p, method, req->method_str.len) == 0);
        CHECK(slices_equal(v->url, req->target));
        CHECK(v->n_headers == req->n_headers);
        for (unsigned i = 0; i < req->n_headers; i++) {
            CHECK(slices_equal(v->headers[i].name, req->headers[i].name));
            CHECK(slices_equal(trim_ows(v->headers[i].value), req->headers[i].value));
        }
    }
    free(ours);
}

/* r is our verdict on buf: accepted heads must agree with llhttp in every
 * detail; "need more" must not be said of a head llhttp found complete. */
static void check_against_llhttp(const char *buf, size_t len, int r,
                                 const http_request *req, const http_limits *lim)
{
    /* llhttp knows a fixed method list, and CONNECT/Upgrade hand the
     * connection over, which is not an HTTP message end to compare. */
    if (r > 0 && (req->method == HTTP_OTHER || req->method == HTTP_CONNECT ||
                  http_find_header(req, "upgrade")))
        return;
    /* We accept identical duplicate Content-Lengths as one (RFC 9112 §6.3
     * allows it); llhttp refuses any duplicate. */
    if (r > 0 && count_fields(req, "content-length") > 1)
        return;
    /* We answer HTTP/1.2-1.9 as 1.1 (RFC 9110 §2.5: the highest minor
     * version we support); llhttp refuses them. "HTTP/1.x" follows the
     * target and one space. */
    if (r > 0 && req->target.p[req->target.len + 1 + 7] > '1')
        return;

    ll_view v = { .body = malloc(len + 1) };
    CHECK(v.body != NULL);
    llhttp_t p;
    llhttp_errno_t err = run_llhttp(buf, len, &v, &p);
    if (r > 0)
        compare_accepted(buf, len, req, lim, &v, &p, err);
    else if (r == 0)
        CHECK(!v.head_done);
    free(v.body);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t ctl = data[0], seed = data[1];
    const char *buf = (const char *)data + 2;
    size_t len = size - 2;
    http_limits lim = limits_for(ctl);

    if (ctl & CTL_BODY_ONLY) {
        check_chunked(buf, len, lim.max_body, seed);
        return 0;
    }
    http_request req;
    int r;
    check_head(buf, len, &lim, seed, &req, &r);
    if (r > 0 && req.body == HTTP_BODY_CHUNKED)
        check_chunked(buf + r, len - (size_t)r, lim.max_body, seed);
#ifdef VEX_FUZZ_LLHTTP
    if (r >= 0)
        check_against_llhttp(buf, len, r, &req, &lim);
#endif
    return 0;
}
