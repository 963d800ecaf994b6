/*
 * test_http_parser.c — cmocka tests for src/http/http_parser.{h,c} and the
 * chunked decoder: every rejection rule of shared/notes/http.md with the
 * exact status, valid requests, and split-equivalence (a head parsed from any
 * prefix says "need more" until complete; a chunked body decoded in any
 * pieces gives the same bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_parser.h"

#define H11 " HTTP/1.1\r\nHost: example.com\r\n"

static int parse_n(const char *s, size_t n, const http_limits *lim, http_request *req)
{
    return http_parse_request(s, n, lim ? lim : &http_default_limits, req);
}

static int parse(const char *s, http_request *req)
{
    return parse_n(s, strlen(s), NULL, req);
}

static int status_of(const char *s)
{
    http_request req;
    return parse(s, &req);
}

static void assert_slice(http_slice s, const char *expect)
{
    assert_int_equal(s.len, strlen(expect));
    assert_memory_equal(s.p, expect, s.len);
}

/* Every strict prefix of a request either needs more (0) or, once it holds
 * the whole head, gives the full result; an invalid request may be refused
 * early but only with the same status. */
static void assert_prefixes_consistent(const char *s, size_t n)
{
    http_request req;
    int full = parse_n(s, n, NULL, &req);
    for (size_t k = 0; k < n; k++) {
        int r = parse_n(s, k, NULL, &req);
        if (full > 0 && k < (size_t)full)
            assert_int_equal(r, 0);
        else if (full > 0)
            assert_int_equal(r, full);
        else if (r != 0)
            assert_int_equal(r, full);
    }
}

/* ------------------------------------------------------------ valid input */

static void test_minimal_get(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.head_len, strlen(s));
    assert_int_equal(req.method, HTTP_GET);
    assert_slice(req.method_str, "GET");
    assert_slice(req.target, "/");
    assert_slice(req.path, "/");
    assert_int_equal(req.query.len, 0);
    assert_int_equal(req.minor_version, 1);
    assert_true(req.keep_alive);
    assert_false(req.expect_continue);
    assert_int_equal(req.body, HTTP_BODY_NONE);
    assert_int_equal(req.n_headers, 1);
    assert_slice(req.headers[0].name, "Host");
    assert_slice(req.headers[0].value, "example.com");
}

static void test_wrk_style_get_with_query(void **state)
{
    (void)state;
    const char *s = "GET /search/x?q=1&r=%20 HTTP/1.1\r\nHost: localhost:8080\r\n"
                    "User-Agent: wrk\r\nAccept: */*\r\n\r\n";
    http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_slice(req.target, "/search/x?q=1&r=%20");
    assert_slice(req.path, "/search/x");
    assert_slice(req.query, "q=1&r=%20");
    assert_int_equal(req.n_headers, 3);
    assert_slice(req.headers[2].value, "*/*");
}

static void test_value_ows_trimmed_inner_kept(void **state)
{
    (void)state;
    const char *s = "GET /" H11 "X-A: \t a \t b \t \r\nX-Empty:\r\nX-E2: \t \r\n\r\n";
    http_request req;
    assert_true(parse(s, &req) > 0);
    assert_slice(req.headers[1].value, "a \t b");
    assert_slice(req.headers[2].value, "");
    assert_slice(req.headers[3].value, "");
}

static void test_obs_text_in_value_accepted(void **state)
{
    (void)state;
    assert_true(status_of("GET /" H11 "X-Name: caf\xc3\xa9\r\n\r\n") > 0);
}

static void test_long_value_word_scan(void **state)
{
    (void)state;
    /* Long enough that the word-at-a-time scan runs; HTAB and a NUL at
     * every offset within a word must be judged exactly. */
    char buf[256];
    for (int off = 0; off < 16; off++) {
        int n = snprintf(buf, sizeof buf, "GET /" H11 "X-A: x%.*s\tabcdefghijklmnopqrstuvwxyz\r\n\r\n",
                         off, "0123456789abcdef");
        http_request req;
        assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), n);
        assert_int_equal(req.headers[1].value.len, (size_t)off + 28);
        char *tab = strchr(buf + 40, '\t');
        *tab = '\0';
        assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), -400);
        *tab = 0x7f;
        assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), -400);
        *tab = '\x01';
        assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), -400);
    }
}

static void test_target_scan_every_offset(void **state)
{
    (void)state;
    /* Targets of every length around the 8/16-octet scan steps: the length
     * is exact, and a bad octet at any offset is found. */
    static const char bad[] = { '\x01', '\t', '\x7f', '\x80', '\xff', '\r', '\n' };
    for (int n = 1; n < 48; n++) {
        char s[128];
        memcpy(s, "GET /", 5);
        memset(s + 5, 'a', (size_t)n - 1);
        int len = 4 + n + sprintf(s + 4 + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
        http_request req;
        assert_int_equal(parse_n(s, (size_t)len, NULL, &req), len);
        assert_int_equal(req.target.len, (size_t)n);
        for (int at = 5; at < 4 + n; at++)
            for (size_t b = 0; b < sizeof bad; b++) {
                char save = s[at];
                s[at] = bad[b];
                assert_int_equal(parse_n(s, (size_t)len, NULL, &req), -400);
                s[at] = save;
            }
    }
}

static void test_post_content_length(void **state)
{
    (void)state;
    const char *head = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    char s[128];
    snprintf(s, sizeof s, "%shello", head);
    http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(head));
    assert_int_equal(req.method, HTTP_POST);
    assert_int_equal(req.body, HTTP_BODY_LENGTH);
    assert_int_equal(req.content_length, 5);
}

static void test_content_length_zero_and_leading_zeros(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("POST /" H11 "Content-Length: 0\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, HTTP_BODY_LENGTH);
    assert_int_equal(req.content_length, 0);
    assert_true(parse("POST /" H11 "Content-Length: 007\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 7);
}

static void test_identical_duplicate_content_length_accepted(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("POST /" H11 "Content-Length: 12\r\nContent-Length: 12\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 12);
}

static void test_chunked_head(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, HTTP_BODY_CHUNKED);
    assert_true(parse("POST /" H11 "transfer-encoding: , CHUNKED ,\r\n\r\n", &req) > 0);
    assert_int_equal(req.body, HTTP_BODY_CHUNKED);
}

static void test_pipelined_requests(void **state)
{
    (void)state;
    const char *r1 = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *r2 = "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    const char *r3 = "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s%sabc%s", r1, r2, r3);
    http_request req;
    size_t off = 0;

    assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), (int)strlen(r1));
    assert_slice(req.path, "/one");
    off += req.head_len;
    assert_int_equal(parse_n(buf + off, (size_t)n - off, NULL, &req), (int)strlen(r2));
    assert_slice(req.path, "/two");
    off += req.head_len + req.content_length;
    assert_int_equal(parse_n(buf + off, (size_t)n - off, NULL, &req), (int)strlen(r3));
    assert_slice(req.path, "/three");
    assert_false(req.keep_alive);
    assert_int_equal(off + req.head_len, (size_t)n);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.minor_version, 0);
    assert_false(req.keep_alive);
    /* ab's spelling */
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET /" H11 "\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: Upgrade ,\tCLOSE\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: closed, xclose\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: close x\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    /* OWS is SP or HTAB (RFC 9110 §5.6.3); llhttp 8.1 misses this close */
    assert_true(parse("GET /" H11 "Connection: close \t\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: close\t, TE\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive HTTP/1.1\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: ,, TE ,\tkeep-alive\t,\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET /" H11 "Connection: keep-alive\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
}

static void test_expect_continue(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("PUT /" H11 "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n", &req) > 0);
    assert_true(req.expect_continue);
    assert_true(parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &req) > 0);
    assert_false(req.expect_continue);
    assert_true(parse("PUT /" H11 "Expect: 100-continuex\r\n\r\n", &req) > 0);
    assert_false(req.expect_continue);
}

static void test_leading_empty_lines_skipped(void **state)
{
    (void)state;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.method, HTTP_GET);
    assert_int_equal(status_of("\r\n"), 0);
    assert_int_equal(status_of("\r"), 0);
    assert_int_equal(status_of("\rX"), -400);
    assert_int_equal(status_of("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void test_methods(void **state)
{
    (void)state;
    static const struct { const char *tok; http_method m; } cases[] = {
        { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
        { "PUT", HTTP_PUT }, { "DELETE", HTTP_DELETE }, { "OPTIONS", HTTP_OPTIONS },
        { "PATCH", HTTP_PATCH }, { "TRACE", HTTP_TRACE }, { "get", HTTP_OTHER },
        { "PROPFIND", HTTP_OTHER }, { "GETX", HTTP_OTHER }, { "X-M!#$%&'*+.^_`|~", HTTP_OTHER },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "%s /x" H11 "\r\n", cases[i].tok);
        http_request req;
        assert_true(parse(s, &req) > 0);
        assert_int_equal(req.method, cases[i].m);
        assert_slice(req.method_str, cases[i].tok);
    }
    http_request req;
    assert_true(parse("CONNECT example.com:443" H11 "\r\n", &req) > 0);
    assert_int_equal(req.method, HTTP_CONNECT);
    assert_slice(req.target, "example.com:443");
}

static void test_target_forms(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("GET http://example.com/a/b?c=d" H11 "\r\n", &req) > 0);
    assert_slice(req.path, "/a/b");
    assert_slice(req.query, "c=d");
    assert_true(parse("GET HTTPS://example.com" H11 "\r\n", &req) > 0);
    assert_slice(req.path, "/");          /* RFC 9112 §3.2.2: an empty path is "/" */
    assert_true(parse("GET http://example.com?x=1" H11 "\r\n", &req) > 0);
    assert_slice(req.path, "/");
    assert_slice(req.query, "x=1");
    assert_true(parse("OPTIONS *" H11 "\r\n", &req) > 0);
    assert_slice(req.path, "*");
    assert_int_equal(status_of("GET foo" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET ftp://x/" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET http://examp|e.com/" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET http://user@example.com/" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET http:///a" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET /a\x01" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET /caf\xc3\xa9" H11 "\r\n"), -400);
    assert_int_equal(status_of("GET /a\x7f" H11 "\r\n"), -400);
}

static void test_host_forms(void **state)
{
    (void)state;
    assert_true(status_of("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n") > 0);
    assert_true(status_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n") > 0);
    assert_true(status_of("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") > 0);
    assert_true(status_of("GET / HTTP/1.1\r\nHost: a:\r\n\r\n") > 0);
    /* RFC 9110 §7.2: empty Host when the target has no authority. */
    assert_true(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n") > 0);
    assert_true(status_of("GET / HTTP/1.0\r\nHost: a\r\n\r\n") > 0);
}

static void test_find_header(void **state)
{
    (void)state;
    http_request req;
    assert_true(parse("GET /" H11 "X-Thing: 1\r\nx-thing: 2\r\n\r\n", &req) > 0);
    const http_slice *v = http_find_header(&req, "X-THING");
    assert_non_null(v);
    assert_slice(*v, "1");
    assert_non_null(http_find_header(&req, "host"));
    assert_null(http_find_header(&req, "X-Thin"));
    assert_null(http_find_header(&req, "Content-Length"));
}

static void test_reason(void **state)
{
    (void)state;
    assert_string_equal(http_reason(200), "OK");
    assert_string_equal(http_reason(400), "Bad Request");
    assert_string_equal(http_reason(413), "Content Too Large");
    assert_string_equal(http_reason(414), "URI Too Long");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason(501), "Not Implemented");
    assert_string_equal(http_reason(505), "HTTP Version Not Supported");
    assert_string_equal(http_reason(799), "");
}

static void test_default_limits(void **state)
{
    (void)state;
    assert_int_equal(http_default_limits.max_target, 8192);
    assert_int_equal(http_default_limits.max_head, 16384);
    assert_int_equal(http_default_limits.max_headers, 64);
    assert_int_equal(http_default_limits.max_body, 8u << 20);
}

/* ------------------------------------------------------ smuggling defences */

static void test_cl_and_te_rejected(void **state)
{
    (void)state;
    assert_int_equal(status_of("POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"), -400);
}

static void test_duplicate_content_length(void **state)
{
    (void)state;
    assert_int_equal(status_of("POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Content-Length: 5\r\nContent-Length: 05\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Content-Length: 5\r\ncontent-length: 50\r\n\r\n"), -400);
}

static void test_content_length_syntax(void **state)
{
    (void)state;
    static const char *bad[] = {
        "+5", "-1", "0x5", "5 5", "5,5", "5, 5", "", "5a", "\xd9\xa5",
        "18446744073709551616", "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char s[160];
        snprintf(s, sizeof s, "POST /" H11 "Content-Length: %s\r\n\r\n", bad[i]);
        assert_int_equal(status_of(s), -400);
    }
    /* Surrounding OWS is not part of the value. */
    assert_true(status_of("POST /" H11 "Content-Length: \t5 \r\n\r\n") > 0);
    /* In range of uint64 but over max_body: 413, not 400. */
    assert_int_equal(status_of("POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n"), -413);
}

static void test_content_length_over_max_body(void **state)
{
    (void)state;
    http_limits lim = http_default_limits;
    lim.max_body = 100;
    const char *ok = "POST /" H11 "Content-Length: 100\r\n\r\n";
    const char *big = "POST /" H11 "Content-Length: 101\r\n\r\n";
    http_request req;
    assert_true(parse_n(ok, strlen(ok), &lim, &req) > 0);
    assert_int_equal(parse_n(big, strlen(big), &lim, &req), -413);
}

static void test_transfer_encoding_rules(void **state)
{
    (void)state;
    static const struct { const char *te; int status; } cases[] = {
        { "gzip", -400 },                 /* last coding not chunked */
        { "chunked, gzip", -400 },
        { "chunked, chunked", -400 },
        { "chunked;ext=1", -400 },
        { "chunked x", -400 },
        { "\"chunked\"", -400 },
        { "", -400 },
        { ",", -400 },
        { "identity", -400 },
        { "gzip, chunked", -501 },        /* unknown (unimplemented) coding */
        { "x-custom ,chunked", -501 },
        { "Chunked", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[160];
        snprintf(s, sizeof s, "POST /" H11 "Transfer-Encoding: %s\r\n\r\n", cases[i].te);
        int r = status_of(s);
        if (cases[i].status == 0)
            assert_true(r > 0);
        else
            assert_int_equal(r, cases[i].status);
    }
    /* Several fields form one list; the last coding is the last field's. */
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), -501);
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

static void test_transfer_encoding_in_http10(void **state)
{
    (void)state;
    assert_int_equal(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

static void test_space_before_colon(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Content-Length\t: 5\r\n\r\n"), -400);
    assert_int_equal(status_of("POST /" H11 "Transfer-Encoding : chunked\r\n\r\n"), -400);
}

static void test_invalid_name_chars(void **state)
{
    (void)state;
    static const char *names[] = {
        "X(A)", "X A", "X\"A", "X/A", "X@A", "X[A]", "X{A}", "X=A", "X\\A", "X\x7f",
        "X\xc3\xa9", "X\x01",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "GET /" H11 "%s: 1\r\n\r\n", names[i]);
        assert_int_equal(status_of(s), -400);
    }
    assert_int_equal(status_of("GET /" H11 ": empty-name\r\n\r\n"), -400);
    assert_int_equal(status_of("GET /" H11 "NoColon\r\n\r\n"), -400);
}

static void test_obs_fold(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET /" H11 "X-A: 1\r\n 2\r\n\r\n"), -400);
    assert_int_equal(status_of("GET /" H11 "X-A: 1\r\n\t2\r\n\r\n"), -400);
    /* whitespace between the request line and the first field */
    assert_int_equal(status_of("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400);
}

static void test_ctl_in_value(void **state)
{
    (void)state;
    static const char head[] = "GET /" H11 "X-A: a";
    static const char tail[] = "b\r\n\r\n";
    static const char ctls[] = { '\0', '\r', '\n', '\x01', '\x1f', '\x7f', '\x0b' };
    for (size_t i = 0; i < sizeof ctls; i++) {
        char s[128];
        size_t n = 0;
        memcpy(s, head, sizeof head - 1);
        n += sizeof head - 1;
        s[n++] = ctls[i];
        memcpy(s + n, tail, sizeof tail - 1);
        n += sizeof tail - 1;
        http_request req;
        assert_int_equal(parse_n(s, n, NULL, &req), -400);
    }
}

static void test_bare_cr(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\rHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\n\rX"), -400);
    assert_int_equal(status_of("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("G\rET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX\r: 1\r\nHost: a\r\n\r\n"), -400);
}

static void test_bare_lf(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\nHost: a\n\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.0\n\n"), -400);
}

static void test_host_required_once_and_valid(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), -400);
    assert_int_equal(status_of("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
    static const char *bad[] = {
        "a b", "a/b", "a@b", "a:port", "a:123456", "[::1", "[]", "[::1]x", "a:1:2",
        "a\"b", "[zz::1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        assert_int_equal(status_of(s), -400);
    }
}

/* ----------------------------------------------------------------- limits */

static void test_target_limit_414(void **state)
{
    (void)state;
    http_limits lim = http_default_limits;
    size_t max = lim.max_target;
    char *s = malloc(max + 128);
    assert_non_null(s);
    http_request req;

    /* exactly max_target octets: accepted */
    s[0] = 'G'; s[1] = 'E'; s[2] = 'T'; s[3] = ' ';
    s[4] = '/';
    memset(s + 5, 'a', max - 1);
    int n = 4 + (int)max;
    n += sprintf(s + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_n(s, (size_t)n, &lim, &req), n);
    assert_int_equal(req.target.len, max);

    /* one more: 414, complete or not yet */
    memset(s + 5, 'a', max);
    n = 5 + (int)max;
    assert_int_equal(parse_n(s, (size_t)n, &lim, &req), -414);
    n += sprintf(s + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_n(s, (size_t)n, &lim, &req), -414);
    /* a long but still allowed incomplete target needs more */
    assert_int_equal(parse_n(s, max, &lim, &req), 0);
    free(s);
}

static void test_head_limit_431(void **state)
{
    (void)state;
    http_limits lim = http_default_limits;
    lim.max_head = 64;
    const char *fits = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789012345678901234567\r\n\r\n";
    assert_int_equal(strlen(fits), 64);
    http_request req;
    assert_int_equal(parse_n(fits, strlen(fits), &lim, &req), 64);
    const char *over = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 01234567890123456789012345678\r\n\r\n";
    assert_int_equal(parse_n(over, strlen(over), &lim, &req), -431);
    /* incomplete but already longer than max_head */
    assert_int_equal(parse_n(over, 65, &lim, &req), -431);
    assert_int_equal(parse_n(over, 64, &lim, &req), 0);
    /* pipelined bytes after a head that fits do not count */
    char two[160];
    snprintf(two, sizeof two, "%s%s", fits, fits);
    assert_int_equal(parse_n(two, strlen(two), &lim, &req), 64);
}

static void test_default_head_limit_431(void **state)
{
    (void)state;
    size_t n = 20000;
    char *s = malloc(n);
    assert_non_null(s);
    int k = sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(s + k, 'v', n - (size_t)k);
    http_request req;
    assert_int_equal(parse_n(s, n, NULL, &req), -431);
    assert_int_equal(parse_n(s, 16384, NULL, &req), 0);
    free(s);
}

static void test_too_many_fields_431(void **state)
{
    (void)state;
    http_limits lim = http_default_limits;
    lim.max_headers = 4;
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    const char *over = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    http_request req;
    assert_true(parse_n(ok, strlen(ok), &lim, &req) > 0);
    assert_int_equal(req.n_headers, 4);
    assert_int_equal(parse_n(over, strlen(over), &lim, &req), -431);

    /* HTTP_MAX_HEADERS with the default limits */
    char buf[4096];
    int n = sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < HTTP_MAX_HEADERS; i++)
        n += sprintf(buf + n, "X-%d: %d\r\n", i, i);
    n += sprintf(buf + n, "\r\n");
    assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), n);
    assert_int_equal(req.n_headers, HTTP_MAX_HEADERS);
    n -= 2;
    n += sprintf(buf + n, "X-Last: 1\r\n\r\n");
    assert_int_equal(parse_n(buf, (size_t)n, NULL, &req), -431);
}

/* HTTP/1.2 to 1.9 are answered as the highest 1.x we speak (RFC 9110 §2.5). */
static void test_later_minor_versions_are_1_1(void **state)
{
    (void)state;
    http_request req;
    for (char m = '2'; m <= '9'; m++) {
        char s[64];
        snprintf(s, sizeof s, "GET / HTTP/1.%c\r\nHost: a\r\n\r\n", m);
        assert_true(parse(s, &req) > 0);
        assert_int_equal(req.minor_version, 1);
        assert_true(req.keep_alive);
    }
}

static void test_versions(void **state)
{
    (void)state;
    static const struct { const char *v; int status; } cases[] = {
        { "HTTP/2.0", -505 }, { "HTTP/0.9", -505 }, { "HTTP/3.1", -505 },
        { "HTTP/1.1x", -400 }, { "HTTP/11", -400 }, { "http/1.1", -400 }, { "HTTP/1.1 ", -400 },
        { "HTTP/1", -400 }, { "HTTP/1.", -400 }, { "HTTP/a.1", -400 }, { "HTTP/1.10", -400 },
        { "HTTP/2", -400 }, { "HTTPS/1.1", -400 }, { "", -400 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "GET / %s\r\nHost: a\r\n\r\n", cases[i].v);
        assert_int_equal(status_of(s), cases[i].status);
    }
    assert_int_equal(status_of("GET /\r\nHost: a\r\n\r\n"), -400);
}

static void test_request_line_syntax(void **state)
{
    (void)state;
    assert_int_equal(status_of(" / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(status_of("G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    /* methods: up to 32 octets, and an endless one is refused early */
    assert_true(status_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 /" H11 "\r\n") > 0);
    assert_int_equal(status_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 /" H11 "\r\n"), -400);
    assert_int_equal(status_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"), -400);
    assert_int_equal(status_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"), 0);
    static const char nul[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
    http_request req;
    assert_int_equal(parse_n(nul, sizeof nul - 1, NULL, &req), -400);
}

static void test_incomplete_needs_more(void **state)
{
    (void)state;
    assert_int_equal(status_of(""), 0);
    assert_int_equal(status_of("GET"), 0);
    assert_int_equal(status_of("GET /index.html HTTP/1."), 0);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0);
    /* 505 waits for the whole version line: "HTTP/2.0x" would be 400. */
    assert_int_equal(status_of("GET / HTTP/2.0"), 0);
    assert_int_equal(status_of("GET / HTTP/2.0\r"), 0);
    assert_int_equal(status_of("GET / HTTP/2.0\r\n"), -505);
    assert_int_equal(status_of("GET / HTTP/2.0x"), -400);
    /* errors already visible in a prefix are reported early */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nBad Name"), -400);
}

/* --------------------------------------------------------- split parsing */

static void test_every_prefix_consistent(void **state)
{
    (void)state;
    static const char *reqs[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\n\r\nGET /x?y HTTP/1.1\r\nHost: example.com:80\r\nAccept: */*\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v \t\r\n\r\nGET /next HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
        assert_prefixes_consistent(reqs[i], strlen(reqs[i]));
}

/* ------------------------------------------------------------ chunked body */

typedef struct decoded {
    int rc;
    size_t consumed;
    size_t len;
    char data[512];
} decoded;

/* Feed `in` to a fresh decoder in pieces of `piece` octets (0: all at
 * once), the way the server would: each call gets the unconsumed input. */
static decoded decode_in_pieces(const char *in, size_t n, size_t piece, uint64_t max_body)
{
    decoded out = { 0 };
    http_chunked d;
    http_chunked_init(&d, max_body);
    char pending[1024];
    size_t have = 0, fed = 0;
    if (piece == 0)
        piece = n;
    assert_true(n <= sizeof pending);
    for (;;) {
        size_t add = n - fed < piece ? n - fed : piece;
        memcpy(pending + have, in + fed, add);
        have += add;
        fed += add;
        size_t len = have, used = 0;
        out.rc = http_chunked_decode(&d, pending, &len, &used);
        assert_true(used <= have);
        assert_true(len <= used);
        assert_true(out.len + len <= sizeof out.data);
        memcpy(out.data + out.len, pending, len);
        out.len += len;
        out.consumed += used;
        memmove(pending, pending + used, have - used);
        have -= used;
        if (out.rc != 0 || fed == n)
            return out;
    }
}

static void assert_decodes(const char *in, int rc, const char *body, size_t consumed)
{
    size_t n = strlen(in);
    decoded whole = decode_in_pieces(in, n, 0, 1u << 20);
    assert_int_equal(whole.rc, rc);
    if (body) {
        assert_int_equal(whole.len, strlen(body));
        assert_memory_equal(whole.data, body, whole.len);
    }
    if (rc == 1)
        assert_int_equal(whole.consumed, consumed);
    for (size_t piece = 1; piece <= n; piece++) {
        decoded split = decode_in_pieces(in, n, piece, 1u << 20);
        assert_int_equal(split.rc, whole.rc);
        assert_int_equal(split.len, whole.len);
        assert_memory_equal(split.data, whole.data, whole.len);
        if (rc == 1)
            assert_int_equal(split.consumed, whole.consumed);
    }
}

static void test_chunked_valid(void **state)
{
    (void)state;
    const char *in = "5;name=value;quoted=\"a b\"\r\nhello\r\n"
                     "6 ; x\r\n world\r\n"
                     "000A\r\n0123456789\r\n"
                     "0\r\nX-Trailer: t1\r\nChecksum:\r\n\r\n"
                     "GET /next";
    assert_decodes(in, 1, "hello world0123456789", strlen(in) - strlen("GET /next"));
    assert_decodes("0\r\n\r\n", 1, "", 5);
    /* names that merely start like a framing field are ordinary trailers */
    assert_decodes("0\r\nHostx: 1\r\nContent-Lengt: 1\r\nH: 2\r\nTransfer-Encoding-X: 3\r\n\r\n",
                   1, "", 63);
    assert_decodes("a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n", 1,
                   "01234567890123456789abcde", 40);
    /* incomplete at every stage: need more, data so far delivered */
    assert_decodes("5\r\nhel", 0, "hel", 0);
    assert_decodes("5\r\nhello\r\n0\r\nX: y\r\n", 0, "hello", 0);
}

static void test_chunked_extension_grammar(void **state)
{
    (void)state;
    static const char *good[] = {
        "5;a\r\nhello\r\n0\r\n\r\n",
        "5;a=b;c=\"d\\\"e f\"\r\nhello\r\n0\r\n\r\n",
        "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\"\r\nhello\r\n0;last\r\n\r\n",
    };
    static const char *bad[] = {
        "5;\r\n", "5;a=\r\n", "5;a=\"x\r\n", "5;a b\r\n", "5;a:\r\n",
        "5;a=\"x\"y\r\n", "5;a \r\n", "5;a=b \r\n", "5;=b\r\n", "5;a=b=c\r\n",
        "5;a=\"\x01\"\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_decodes(good[i], 1, "hello", strlen(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_decodes(bad[i], -400, "", 0);
}

static void test_chunked_byte_by_byte_equals_whole(void **state)
{
    (void)state;
    const char *in = "3;e\r\nabc\r\n1\r\nd\r\n0;last\r\nT: v\r\n\r\n";
    decoded whole = decode_in_pieces(in, strlen(in), 0, 100);
    decoded bytes = decode_in_pieces(in, strlen(in), 1, 100);
    assert_int_equal(whole.rc, 1);
    assert_int_equal(bytes.rc, 1);
    assert_int_equal(whole.consumed, strlen(in));
    assert_int_equal(bytes.consumed, strlen(in));
    assert_int_equal(bytes.len, 4);
    assert_memory_equal(bytes.data, "abcd", 4);
    assert_memory_equal(whole.data, "abcd", 4);
}

static void test_chunked_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\r\n",                        /* empty size */
        "g\r\n",                       /* not hex */
        "0x5\r\nhello\r\n0\r\n\r\n",
        "-5\r\n",
        "+5\r\n",
        "5 \r\nhello\r\n",             /* BWS only before ';' */
        "5\nhello\r\n0\r\n\r\n",       /* bare LF after size */
        "5\rhello",                    /* bare CR */
        "5;a\nb\r\nhello\r\n",         /* LF inside an extension */
        "5;a\0b\r\n",
        "5\r\nhelloX\r\n",             /* no CRLF after data */
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhello\r\r\n",
        "10000000000000000\r\n",       /* 2^64: overflow */
        "0\r\nBad Name: x\r\n\r\n",    /* trailer name */
        "0\r\n: x\r\n\r\n",
        "0\r\nX: a\nb\r\n\r\n",        /* bare LF in a trailer */
        "0\r\nX: a\r\n b\r\n\r\n",     /* obs-fold in trailers */
        "0\r\n\rX",                    /* bare CR as final line */
        "0\r\nTransfer-Encoding: chunked\r\n\r\n",   /* framing fields in trailers */
        "0\r\nX: 1\r\ncontent-LENGTH: 5\r\n\r\n",
        "0\r\nHost: evil\r\n\r\n",
        "0\r\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        if (i == 9)
            n = 7;   /* the one with an embedded NUL */
        assert_true(n > 0);
        decoded whole = decode_in_pieces(bad[i], n, 0, 1u << 20);
        decoded bytes = decode_in_pieces(bad[i], n, 1, 1u << 20);
        assert_int_equal(whole.rc, -400);
        assert_int_equal(bytes.rc, -400);
    }
}

static void test_chunked_max_body(void **state)
{
    (void)state;
    const char *in = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert_int_equal(decode_in_pieces(in, strlen(in), 0, 10).rc, 1);
    assert_int_equal(decode_in_pieces(in, strlen(in), 0, 9).rc, -413);
    assert_int_equal(decode_in_pieces(in, strlen(in), 1, 9).rc, -413);
    /* 413 on the announced size, before the data arrives */
    assert_int_equal(decode_in_pieces("ffffffffffffffff\r\n", 18, 0, 1u << 20).rc, -413);
    assert_int_equal(decode_in_pieces("6\r\n", 3, 0, 5).rc, -413);
}

static void test_chunked_extension_and_trailer_caps(void **state)
{
    (void)state;
    size_t n = 20000;
    char *in = malloc(n + 16);
    assert_non_null(in);
    http_chunked d;

    /* a 5000-octet extension */
    memcpy(in, "1;", 2);
    memset(in + 2, 'x', 5000);
    size_t len = 5002, used;
    http_chunked_init(&d, 1u << 20);
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), -400);

    /* a modest extension is fine */
    memset(in + 2, 'x', 1000);
    memcpy(in + 1002, "\r\nZ\r\n0\r\n\r\n", 10);
    len = 1012;
    http_chunked_init(&d, 1u << 20);
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), 1);
    assert_int_equal(len, 1);
    assert_int_equal(in[0], 'Z');

    /* 10000 octets of trailers */
    size_t k = 0;
    memcpy(in, "0\r\n", 3);
    k = 3;
    while (k < 10000)
        k += (size_t)sprintf(in + k, "X-T: %s\r\n", "0123456789abcdef0123456789abcdef");
    memcpy(in + k, "\r\n", 2);
    len = k + 2;
    http_chunked_init(&d, 1u << 20);
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), -400);
    free(in);
}

static void test_chunked_state_sticks(void **state)
{
    (void)state;
    http_chunked d;
    char in[32];
    size_t len, used;

    http_chunked_init(&d, 100);
    memcpy(in, "0\r\n\r\nREST", 9);
    len = 9;
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), 1);
    assert_int_equal(used, 5);
    assert_int_equal(len, 0);
    len = 4;   /* once done, further input is not ours */
    assert_int_equal(http_chunked_decode(&d, in + 5, &len, &used), 1);
    assert_int_equal(used, 0);

    http_chunked_init(&d, 100);
    memcpy(in, "z\r\n", 3);
    len = 3;
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), -400);
    memcpy(in, "0\r\n\r\n", 5);
    len = 5;
    assert_int_equal(http_chunked_decode(&d, in, &len, &used), -400);
    assert_int_equal(used, 0);
}

static void test_chunked_in_place_pipelined(void **state)
{
    (void)state;
    /* Head + chunked body + next request in one buffer, decoded in place. */
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s",
                     "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
                     "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    http_request req;
    int head = parse_n(buf, (size_t)n, NULL, &req);
    assert_true(head > 0);
    assert_int_equal(req.body, HTTP_BODY_CHUNKED);
    http_chunked d;
    http_chunked_init(&d, http_default_limits.max_body);
    size_t len = (size_t)n - (size_t)head, used;
    char *body = buf + head;
    assert_int_equal(http_chunked_decode(&d, body, &len, &used), 1);
    assert_int_equal(len, 9);
    assert_memory_equal(body, "Wikipedia", 9);
    const char *next = body + used;
    assert_int_equal(parse_n(next, (size_t)(buf + n - next), NULL, &req), (int)(buf + n - next));
    assert_slice(req.path, "/after");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_get),
        cmocka_unit_test(test_wrk_style_get_with_query),
        cmocka_unit_test(test_value_ows_trimmed_inner_kept),
        cmocka_unit_test(test_obs_text_in_value_accepted),
        cmocka_unit_test(test_long_value_word_scan),
        cmocka_unit_test(test_target_scan_every_offset),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_content_length_zero_and_leading_zeros),
        cmocka_unit_test(test_identical_duplicate_content_length_accepted),
        cmocka_unit_test(test_chunked_head),
        cmocka_unit_test(test_pipelined_requests),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_leading_empty_lines_skipped),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_host_forms),
        cmocka_unit_test(test_find_header),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_cl_and_te_rejected),
        cmocka_unit_test(test_duplicate_content_length),
        cmocka_unit_test(test_content_length_syntax),
        cmocka_unit_test(test_content_length_over_max_body),
        cmocka_unit_test(test_transfer_encoding_rules),
        cmocka_unit_test(test_transfer_encoding_in_http10),
        cmocka_unit_test(test_space_before_colon),
        cmocka_unit_test(test_invalid_name_chars),
        cmocka_unit_test(test_obs_fold),
        cmocka_unit_test(test_ctl_in_value),
        cmocka_unit_test(test_bare_cr),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_host_required_once_and_valid),
        cmocka_unit_test(test_target_limit_414),
        cmocka_unit_test(test_head_limit_431),
        cmocka_unit_test(test_default_head_limit_431),
        cmocka_unit_test(test_too_many_fields_431),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_later_minor_versions_are_1_1),
        cmocka_unit_test(test_request_line_syntax),
        cmocka_unit_test(test_incomplete_needs_more),
        cmocka_unit_test(test_every_prefix_consistent),
        cmocka_unit_test(test_chunked_valid),
        cmocka_unit_test(test_chunked_extension_grammar),
        cmocka_unit_test(test_chunked_byte_by_byte_equals_whole),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_chunked_max_body),
        cmocka_unit_test(test_chunked_extension_and_trailer_caps),
        cmocka_unit_test(test_chunked_state_sticks),
        cmocka_unit_test(test_chunked_in_place_pipelined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
