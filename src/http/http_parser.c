/*
 * http_parser.c — request head parser (RFC 9112), see http_parser.h.
 *
 * One left-to-right pass over buf[0..min(len, max_head)). Each step either
 * advances the cursor, reports that it ran out of bytes, or rejects. Since
 * the result depends only on the bytes before the cursor, a prefix of a valid
 * head always yields 0 and a prefix that is rejected is rejected identically
 * once more bytes arrive; the fuzzer checks exactly that.
 *
 * Framing headers (Content-Length, Transfer-Encoding, Host) are checked as
 * they are seen; their combinations once the head is complete.
 *
 * Beyond the header: lim == NULL means http_default_limits, and for an
 * absolute-form target ("http://host/p?q") path and query are those of the
 * URI, so routing does not depend on the form the client chose.
 */
#include "http_parser.h"
#include "http_chars.h"

#include <limits.h>
#include <string.h>

const http_limits http_default_limits = {
    .max_target = 8192,
    .max_head = 16384,
    .max_headers = HTTP_MAX_HEADERS,
    .max_body = 8u << 20,
};

/* Step results; errors are -status like the public API. */
enum { STEP_OK = 0, STEP_MORE = 1 };

#define HTTP_VERSION_LEN 10   /* "HTTP/1.1\r\n" */
#define HOST_PORT_MAX_DIGITS 5
#define METHOD_MAX 32         /* registered methods are at most 17 octets */

/* What the header fields said, judged once the head is complete. */
typedef struct head_facts {
    const char *cl_value;      /* first Content-Length, to compare duplicates */
    size_t cl_len;
    uint64_t content_length;
    unsigned hosts;
    unsigned te_chunked;       /* how many times "chunked" was listed */
    bool has_cl;
    bool has_te;
    bool te_last_chunked;
    bool te_unknown;
    bool conn_close;
    bool conn_keep_alive;
    bool expect_continue;
} head_facts;

typedef struct head_parser {
    const char *p;             /* cursor */
    const char *end;           /* buf + min(len, max_head) */
    const http_limits *lim;
    http_request *req;
    head_facts f;
} head_parser;

/* ------------------------------------------------------------ request line */

static http_method method_from_token(const char *s, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(s, "GET", 3) == 0) return HTTP_GET;
        if (memcmp(s, "PUT", 3) == 0) return HTTP_PUT;
        break;
    case 4:
        if (memcmp(s, "HEAD", 4) == 0) return HTTP_HEAD;
        if (memcmp(s, "POST", 4) == 0) return HTTP_POST;
        break;
    case 5:
        if (memcmp(s, "PATCH", 5) == 0) return HTTP_PATCH;
        if (memcmp(s, "TRACE", 5) == 0) return HTTP_TRACE;
        break;
    case 6:
        if (memcmp(s, "DELETE", 6) == 0) return HTTP_DELETE;
        break;
    case 7:
        if (memcmp(s, "OPTIONS", 7) == 0) return HTTP_OPTIONS;
        if (memcmp(s, "CONNECT", 7) == 0) return HTTP_CONNECT;
        break;
    }
    return HTTP_OTHER;   /* methods are case-sensitive: "get" is not GET */
}

/* RFC 9112 §2.2: a server SHOULD ignore CRLFs before the request line
 * (clients sometimes send one after a POST body). */
static int skip_empty_lines(head_parser *hp)
{
    while (hp->p < hp->end && *hp->p == '\r') {
        if (hp->end - hp->p < 2)
            return STEP_MORE;
        if (hp->p[1] != '\n')
            return -400;
        hp->p += 2;
    }
    return STEP_OK;
}

static int parse_method(head_parser *hp)
{
    const char *s = hp->p, *p = s;
    /* Bounded so that a request line never outgrows max_target + a few
     * octets: an endless token is refused now, not at max_head. */
    const char *stop = hp->end - s > METHOD_MAX ? s + METHOD_MAX + 1 : hp->end;
    while (p < stop && http_is_tchar(*p))
        p++;
    if ((size_t)(p - s) > METHOD_MAX)
        return -400;
    if (p == hp->end)
        return STEP_MORE;
    if (*p != ' ' || p == s)
        return -400;
    hp->req->method_str = (http_slice){ s, (size_t)(p - s) };
    hp->req->method = method_from_token(s, (size_t)(p - s));
    hp->p = p + 1;
    return STEP_OK;
}

/* Host = uri-host [ ":" port ]; an empty value is legal (RFC 9110 §7.2). */
static bool host_is_valid(const http_slice *v)
{
    const char *p = v->p, *end = p + v->len;
    if (p == end)
        return true;
    const char *s;
    if (*p == '[') {   /* IP-literal; IPvFuture is not accepted */
        s = ++p;
        while (p < end && (http_char_is(*p, HC_HEX) || *p == ':' || *p == '.'))
            p++;
        if (p == end || *p != ']' || p == s)
            return false;
        p++;
    } else {
        s = p;
        while (p < end && http_char_is(*p, HC_HOST))
            p++;
        if (p == s)
            return false;
    }
    if (p == end)
        return true;
    if (*p++ != ':')
        return false;
    if (end - p > HOST_PORT_MAX_DIGITS)
        return false;
    for (; p < end; p++)
        if (!http_is_digit(*p))
            return false;
    return true;
}

/* Length of a leading "http://" or "https://" (case-insensitive), else 0. */
static size_t http_scheme_len(const char *t, size_t n)
{
    if (n >= 7 && http_ieq(t, "http://", 7))
        return 7;
    if (n >= 8 && http_ieq(t, "https://", 8))
        return 8;
    return 0;
}

/* Fill path/query. In absolute-form the path starts after the authority so
 * that routing sees the same path whichever form the client used. */
static int split_target(http_request *req)
{
    const char *t = req->target.p, *end = t + req->target.len;
    const char *path = t;

    if (*t != '/') {
        size_t scheme = http_scheme_len(t, req->target.len);
        if (scheme) {
            const char *authority = t + scheme;
            path = authority;
            while (path < end && *path != '/' && *path != '?')
                path++;
            /* Non-empty host, no userinfo (RFC 9110 §4.2.1, §4.2.4). */
            http_slice host = { authority, (size_t)(path - authority) };
            if (host.len == 0 || !host_is_valid(&host))
                return -400;
        } else if (!(req->method == HTTP_CONNECT ||
                     (req->target.len == 1 && *t == '*'))) {
            return -400;   /* not origin-, absolute-, authority- or asterisk-form */
        }
    }
    const char *q = memchr(path, '?', (size_t)(end - path));
    if (q) {
        req->path = (http_slice){ path, (size_t)(q - path) };
        req->query = (http_slice){ q + 1, (size_t)(end - q - 1) };
    } else {
        req->path = (http_slice){ path, (size_t)(end - path) };
        req->query = (http_slice){ end, 0 };
    }
    /* "http://host" and "http://host?q": an absolute URI with an empty path
     * names "/" (RFC 9112 §3.2.2, RFC 9110 §4.2.3). */
    if (req->path.len == 0 && *t != '/' && path != t)
        req->path = (http_slice){ "/", 1 };
    return STEP_OK;
}

static int parse_target(head_parser *hp)
{
    const char *s = hp->p;
    size_t max = hp->lim->max_target;
    /* Scan at most max+1 octets so an endless target is 414 right away. */
    const char *stop = (size_t)(hp->end - s) > max ? s + max + 1 : hp->end;
    const char *p = http_skip_target_chars(s, stop);

    if (p == stop)
        return (size_t)(p - s) > max ? -414 : STEP_MORE;
    if (*p != ' ' || p == s)
        return -400;
    hp->req->target = (http_slice){ s, (size_t)(p - s) };
    hp->p = p + 1;
    return split_target(hp->req);
}

static bool version_octet_ok(size_t i, char c)
{
    switch (i) {
    case 5: case 7: return http_is_digit(c);
    case 6:         return c == '.';
    case 8:         return c == '\r';
    case 9:         return c == '\n';
    default:        return c == "HTTP/"[i];
    }
}

/* "HTTP/" DIGIT "." DIGIT CRLF. Judged octet by octet so that a bad prefix
 * is rejected early, but 505 only once the whole line is known (else
 * "HTTP/2.0x" would be 505 as a prefix and 400 in full). */
static int parse_version(head_parser *hp)
{
    const char *p = hp->p;
    size_t avail = (size_t)(hp->end - p);

    if (avail >= HTTP_VERSION_LEN && memcmp(p, "HTTP/1.1\r\n", HTTP_VERSION_LEN) == 0) {
        hp->req->minor_version = 1;
        hp->p = p + HTTP_VERSION_LEN;
        return STEP_OK;
    }
    size_t n = avail < HTTP_VERSION_LEN ? avail : HTTP_VERSION_LEN;
    for (size_t i = 0; i < n; i++)
        if (!version_octet_ok(i, p[i]))
            return -400;
    if (n < HTTP_VERSION_LEN)
        return STEP_MORE;
    /* HTTP/1.2 to 1.9 are answered as 1.1: a server SHOULD send the
     * highest minor version it supports of the request's major version
     * (RFC 9110 §2.5). Other majors are 505. */
    if (p[5] != '1')
        return -505;
    hp->req->minor_version = p[7] == '0' ? 0 : 1;
    hp->p = p + HTTP_VERSION_LEN;
    return STEP_OK;
}

static int parse_request_line(head_parser *hp)
{
    int rc = skip_empty_lines(hp);
    if (rc == STEP_OK) rc = parse_method(hp);
    if (rc == STEP_OK) rc = parse_target(hp);
    if (rc == STEP_OK) rc = parse_version(hp);
    return rc;
}

/* ------------------------------------------------------- framing headers */

static int note_content_length(head_facts *f, const http_slice *v)
{
    uint64_t n = 0;
    if (v->len == 0)
        return -400;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->p[i];
        if (!http_is_digit(c))
            return -400;   /* no sign, hex, list or inner space */
        unsigned d = (unsigned)(c - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -400;
        n = n * 10 + d;
    }
    if (f->has_cl) {
        /* Identical duplicates are harmless; any difference is a smuggling
         * vector, even "5" vs "05". */
        if (v->len != f->cl_len || memcmp(v->p, f->cl_value, v->len) != 0)
            return -400;
        return STEP_OK;
    }
    f->has_cl = true;
    f->cl_value = v->p;
    f->cl_len = v->len;
    f->content_length = n;
    return STEP_OK;
}

/* Transfer-Encoding = #transfer-coding. Only "chunked" is implemented; the
 * verdict (400 vs 501) waits for the complete head since several fields
 * combine into one list. Parameters are refused outright. */
static int note_transfer_encoding(head_facts *f, const http_slice *v)
{
    const char *p = v->p, *end = p + v->len;
    bool any = false;

    f->has_te = true;
    while (p < end) {
        if (*p == ',' || http_is_ows(*p)) {   /* empty list elements are legal */
            p++;
            continue;
        }
        const char *tok = p;
        while (p < end && http_is_tchar(*p))
            p++;
        if (p == tok)
            return -400;
        size_t n = (size_t)(p - tok);
        while (p < end && http_is_ows(*p))
            p++;
        if (p < end && *p != ',')
            return -400;
        if (n == 7 && http_ieq(tok, "chunked", 7)) {
            f->te_chunked++;
            f->te_last_chunked = true;
        } else {
            f->te_unknown = true;
            f->te_last_chunked = false;
        }
        any = true;
    }
    return any ? STEP_OK : -400;
}

/* Connection = #connection-option; only "close" and "keep-alive" matter. An
 * element is everything between commas, so "keep-alive x" is not keep-alive. */
static void note_connection(head_facts *f, const http_slice *v)
{
    const char *p = v->p, *end = p + v->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *next = comma ? comma : end;
        const char *e = next;
        while (p < e && http_is_ows(*p))
            p++;
        while (e > p && http_is_ows(e[-1]))
            e--;
        size_t n = (size_t)(e - p);
        if (n == 5 && http_ieq(p, "close", 5))
            f->conn_close = true;
        else if (n == 10 && http_ieq(p, "keep-alive", 10))
            f->conn_keep_alive = true;
        p = comma ? comma + 1 : end;
    }
}

static int note_host(head_facts *f, const http_slice *v)
{
    if (++f->hosts > 1)
        return -400;   /* two Hosts: which one did the proxy route on? */
    return host_is_valid(v) ? STEP_OK : -400;
}

static bool name_is(const http_slice *name, const char *lower, size_t n)
{
    return name->len == n && http_ieq(name->p, lower, n);
}

/* Dispatch on length first: most fields are none of these and fail on one
 * compare. */
static int note_header(head_facts *f, const http_header *h)
{
    switch (h->name.len) {
    case 4:
        if (name_is(&h->name, "host", 4))
            return note_host(f, &h->value);
        break;
    case 6:
        if (name_is(&h->name, "expect", 6) && h->value.len == 12 &&
            http_ieq(h->value.p, "100-continue", 12))
            f->expect_continue = true;
        break;
    case 10:
        if (name_is(&h->name, "connection", 10))
            note_connection(f, &h->value);
        break;
    case 14:
        if (name_is(&h->name, "content-length", 14))
            return note_content_length(f, &h->value);
        break;
    case 17:
        if (name_is(&h->name, "transfer-encoding", 17))
            return note_transfer_encoding(f, &h->value);
        break;
    }
    return STEP_OK;
}

/* ----------------------------------------------------------- field lines */

/* field-line = field-name ":" OWS field-value OWS CRLF. Every way a line can
 * deviate (space before the colon, obs-fold, bare CR/LF, NUL, CTL, non-token
 * name) stops a scan at an octet that is then refused: 400. */
static int parse_field_line(head_parser *hp, http_header *h)
{
    const char *p = hp->p, *end = hp->end;
    const char *name = p;

    while (p < end && http_is_tchar(*p))
        p++;
    if (p == end)
        return STEP_MORE;
    if (*p != ':' || p == name)
        return -400;
    h->name = (http_slice){ name, (size_t)(p - name) };
    p++;
    while (p < end && http_is_ows(*p))
        p++;
    const char *value = p;
    p = http_skip_field_chars(p, end);
    if (p == end)
        return STEP_MORE;
    if (*p != '\r')
        return -400;
    if (end - p < 2)
        return STEP_MORE;
    if (p[1] != '\n')
        return -400;
    const char *vend = p;
    while (vend > value && http_is_ows(vend[-1]))
        vend--;
    h->value = (http_slice){ value, (size_t)(vend - value) };
    hp->p = p + 2;
    return STEP_OK;
}

/* Returns STEP_OK with the cursor past the empty line that ends the head. */
static int parse_fields(head_parser *hp)
{
    http_request *req = hp->req;
    unsigned max = hp->lim->max_headers < HTTP_MAX_HEADERS
                 ? hp->lim->max_headers : HTTP_MAX_HEADERS;
    for (;;) {
        if (hp->p == hp->end)
            return STEP_MORE;
        if (*hp->p == '\r') {
            if (hp->end - hp->p < 2)
                return STEP_MORE;
            if (hp->p[1] != '\n')
                return -400;
            hp->p += 2;
            return STEP_OK;
        }
        if (req->n_headers == max)
            return -431;
        http_header *h = &req->headers[req->n_headers];
        int rc = parse_field_line(hp, h);
        if (rc != STEP_OK)
            return rc;
        req->n_headers++;
        rc = note_header(&hp->f, h);
        if (rc != STEP_OK)
            return rc;
    }
}

/* ------------------------------------------------------- whole-head rules */

static int judge_framing(const head_parser *hp)
{
    const head_facts *f = &hp->f;
    http_request *req = hp->req;

    if (f->has_te) {
        if (req->minor_version == 0 || f->has_cl)
            return -400;
        if (!f->te_last_chunked || f->te_chunked != 1)
            return -400;   /* body length cannot be determined */
        if (f->te_unknown)
            return -501;
        req->body = HTTP_BODY_CHUNKED;
    } else if (f->has_cl) {
        if (f->content_length > hp->lim->max_body)
            return -413;
        req->body = HTTP_BODY_LENGTH;
        req->content_length = f->content_length;
    }
    return STEP_OK;
}

static int judge_head(const head_parser *hp)
{
    const head_facts *f = &hp->f;
    http_request *req = hp->req;

    if (req->minor_version == 1 && f->hosts != 1)
        return -400;
    int rc = judge_framing(hp);
    if (rc != STEP_OK)
        return rc;
    if (req->minor_version == 1) {
        req->keep_alive = !f->conn_close;
        req->expect_continue = f->expect_continue;   /* ignored in 1.0 (RFC 9110 §10.1.1) */
    } else {
        req->keep_alive = f->conn_keep_alive && !f->conn_close;
    }
    return STEP_OK;
}

static void reset_request(http_request *req)
{
    /* Not memset: headers[] is 2 KiB and only n_headers entries are read. */
    req->method = HTTP_OTHER;
    req->method_str = req->target = req->path = req->query = (http_slice){ NULL, 0 };
    req->minor_version = 0;
    req->keep_alive = false;
    req->expect_continue = false;
    req->body = HTTP_BODY_NONE;
    req->content_length = 0;
    req->head_len = 0;
    req->n_headers = 0;
}

int http_parse_request(const char *buf, size_t len, const http_limits *lim,
                       http_request *req)
{
    if (!lim)
        lim = &http_default_limits;
    size_t max_head = lim->max_head < (size_t)INT_MAX ? lim->max_head : (size_t)INT_MAX;
    head_parser hp = {
        .p = buf,
        .end = buf + (len < max_head ? len : max_head),
        .lim = lim,
        .req = req,
    };
    reset_request(req);

    int rc = parse_request_line(&hp);
    if (rc == STEP_OK)
        rc = parse_fields(&hp);
    if (rc == STEP_MORE)
        return len > max_head ? -431 : 0;
    if (rc != STEP_OK)
        return rc;
    req->head_len = (size_t)(hp.p - buf);
    rc = judge_head(&hp);
    return rc == STEP_OK ? (int)req->head_len : rc;
}

/* ----------------------------------------------------------------- helpers */

const http_slice *http_find_header(const http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (h->name.len != n)
            continue;
        size_t j = 0;
        while (j < n && http_ascii_lower(h->name.p[j]) == http_ascii_lower(name[j]))
            j++;
        if (j == n)
            return &h->value;
    }
    return NULL;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:  return "";
    }
}
