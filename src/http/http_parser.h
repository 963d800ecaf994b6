/*
 * http_parser.h — HTTP/1.1 request parsing for the server (RFC 9112).
 *
 * Zero-copy: every slice points into the caller's buffer, but one: the path
 * of an absolute-form target without one ("http://host") is a static "/". Stateless for the
 * head: the caller re-parses the head from the start when more bytes arrive
 * (heads are small and a partial head is rare), so there is no state to keep
 * between calls. The chunked decoder is incremental and resumable at any byte.
 *
 * Errors are the HTTP status the server must answer, negated: the server
 * sends that status with "Connection: close" and closes. The rules enforced
 * are RFC 9112's, request smuggling defences (§6.1, §6.3, §11.2) first;
 * tests/unit/test_http_parser.c checks each one.
 */
#ifndef VEX_HTTP_PARSER_H
#define VEX_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64

typedef struct http_slice {
    const char *p;
    size_t len;
} http_slice;

typedef struct http_header {
    http_slice name, value;   /* value without surrounding OWS */
} http_header;

typedef enum http_method {
    HTTP_OTHER = 0, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE,
    HTTP_OPTIONS, HTTP_PATCH, HTTP_CONNECT, HTTP_TRACE
} http_method;

typedef enum http_body_kind {
    HTTP_BODY_NONE = 0, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED
} http_body_kind;

typedef struct http_limits {
    size_t max_target;        /* request-target octets; over: 414 (>= 8000)  */
    size_t max_head;          /* whole head incl. request line; over: 431     */
    unsigned max_headers;     /* header fields (<= HTTP_MAX_HEADERS); over: 431 */
    uint64_t max_body;        /* Content-Length or decoded chunked; over: 413 */
} http_limits;

/* 8192-octet target, 16 KiB head, 64 fields, 8 MiB body. */
extern const http_limits http_default_limits;

typedef struct http_request {
    http_method method;
    http_slice method_str;
    http_slice target;        /* as sent */
    http_slice path;          /* target up to '?' */
    http_slice query;         /* after '?', empty if none */
    int minor_version;        /* 0 or 1 (HTTP/1.x only; others are 505) */
    bool keep_alive;          /* after Connection and version defaults */
    bool expect_continue;     /* Expect: 100-continue */
    http_body_kind body;
    uint64_t content_length;  /* when body == HTTP_BODY_LENGTH */
    size_t head_len;          /* octets of request line + headers + CRLF CRLF */
    unsigned n_headers;
    http_header headers[HTTP_MAX_HEADERS];
} http_request;

/* Parse the request head at buf[0..len).
 * Returns head_len (> 0) when the head is complete and valid;
 *         0 when more bytes are needed (and no limit is exceeded yet);
 *         -status on a bad request: -400, -413, -414, -431, -501, -505.
 * Empty lines before the request line (RFC 9112 §2.2) are skipped and
 * counted in head_len. */
int http_parse_request(const char *buf, size_t len, const http_limits *lim,
                       http_request *req);

/* Case-insensitive lookup of a header's value; NULL if absent. */
const http_slice *http_find_header(const http_request *req, const char *name);

/* Incremental chunked body decoder. */
typedef struct http_chunked {
    int state;
    uint64_t chunk_left;      /* data octets left in the current chunk */
    uint64_t total;           /* decoded body octets so far */
    uint64_t max_body;
    size_t aux;               /* octets in the current size line / trailers */
} http_chunked;

void http_chunked_init(http_chunked *d, uint64_t max_body);

/* Decode chunked body bytes in place. On entry *len is the number of bytes
 * at buf; they are consumed from the front and the decoded body data is
 * moved to the front of buf. On return *len is the number of decoded data
 * octets now at buf[0..*len), *consumed the number of input octets used.
 * Returns 1 when the body (incl. trailers and the final CRLF) is complete —
 * input after *consumed belongs to the next request —, 0 when more input is
 * needed, or -status (-400 malformed/overflow, -413 over max_body). */
int http_chunked_decode(http_chunked *d, char *buf, size_t *len,
                        size_t *consumed);

/* Reason phrase for a status code ("OK", "Not Found", ...); "" if unknown. */
const char *http_reason(int status);

#endif
