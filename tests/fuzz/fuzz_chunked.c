/*
 * fuzz_chunked.c — libFuzzer target for the chunked body decoder
 * (src/http/http_chunked.c), through its real API, http_chunked_decode, the
 * way http1_body.c drives it: in place, each call seeing what the last one
 * left plus the next delivery.
 *
 * Input: a control octet, a cut count n (mod 32), n cut octets, then the
 * body. The control octet picks the body limit and the mode:
 *
 *   raw     the rest is a chunked body as a client sent it. Decoded in one
 *           piece, in the fuzzer's pieces (cut octet k is the k-th piece's
 *           length; the remainder is one last piece) and an octet at a time;
 *           all must agree on the status, the decoded bytes, the octets
 *           consumed and the decoder's total. A complete body is complete at
 *           exactly one octet: its exact prefix decodes to the same result
 *           and the prefix one octet shorter needs more.
 *   encode  the rest is a payload, which we encode with the cut octets as
 *           chunk sizes and extensions (and a trailer if asked), followed by
 *           the start of a next request. The decoder must give back the
 *           payload, end exactly at the encoding's end and leave the next
 *           request alone (or say 413 when the payload is over the limit).
 *
 * Every call decodes from an exact-size allocation so ASan sees any read
 * past the input. Every check aborts, so libFuzzer reports it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "fuzz_check.h"

enum {
    CTL_LIMIT_MASK = 3,       /* 0: 8 MiB, 1: ctl >> 2 & 15, 2: 4096, 3: UINT64_MAX */
    CTL_TRAILER    = 1u << 6, /* encode: add a trailer field */
    CTL_ENCODE     = 1u << 7,
};

typedef struct cuts {
    const uint8_t *len;       /* piece lengths, in order */
    size_t n;
} cuts;

typedef struct result {
    int rc;
    size_t consumed;
    uint64_t total;
    char *out;
    size_t out_len;
} result;

static uint64_t limit_for(uint8_t ctl)
{
    switch (ctl & CTL_LIMIT_MASK) {
    case 0: return 8u << 20;
    case 1: return (ctl >> 2) & 15;
    case 2: return 4096;
    default: return UINT64_MAX;
    }
}

/* One call of the decoder over an exact-size copy of in[0..n). */
static int decode_once(http_chunked *d, const char *in, size_t n, char *out,
                       size_t *out_len, size_t *used)
{
    char *copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    memcpy(copy, in, n);
    size_t len = n;
    *used = 0;
    int rc = http_chunked_decode(d, copy, &len, used);
    CHECK(rc == 0 || rc == 1 || rc == -400 || rc == -413);
    CHECK(*used <= n && len <= *used);
    memcpy(out, copy, len);
    *out_len = len;
    free(copy);
    return rc;
}

/* Decode in pieces: piece k is c.len[k] octets (when c.n == 0 and step is
 * 0, the whole input at once; step > 0: step octets each). Unconsumed input
 * is kept and offered again with the next piece, as http1 keeps it. */
static result decode(const char *in, size_t n, uint64_t max_body, cuts c, size_t step)
{
    result r = { 0, 0, 0, malloc(n ? n : 1), 0 };
    char *pending = malloc(n ? n : 1);
    CHECK(r.out != NULL && pending != NULL);
    http_chunked d;
    http_chunked_init(&d, max_body);
    size_t have = 0, fed = 0, k = 0;
    for (;;) {
        size_t add = n - fed;
        if (step)
            add = add < step ? add : step;
        else if (k < c.n)
            add = add < c.len[k] ? add : c.len[k];
        k++;
        memcpy(pending + have, in + fed, add);
        have += add;
        fed += add;
        size_t out_len, used;
        r.rc = decode_once(&d, pending, have, r.out + r.out_len, &out_len, &used);
        r.out_len += out_len;
        r.consumed += used;
        CHECK(r.out_len <= n);
        CHECK(d.total == r.out_len && d.total <= max_body);
        memmove(pending, pending + used, have - used);
        have -= used;
        if (r.rc != 0)
            break;
        CHECK(have == 0);        /* "need more" means all input was taken */
        if (fed == n)
            break;
    }
    r.total = d.total;
    free(pending);
    return r;
}

static void same(const result *a, const result *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->out_len == b->out_len && a->total == b->total);
    CHECK(memcmp(a->out, b->out, a->out_len) == 0);
    if (a->rc >= 0)
        CHECK(a->consumed == b->consumed);
}

static void check_raw(const char *in, size_t n, uint64_t max_body, cuts c)
{
    cuts none = { NULL, 0 };
    result whole = decode(in, n, max_body, none, 0);
    if (whole.rc == 0)
        CHECK(whole.consumed == n);

    result split = decode(in, n, max_body, c, 0);
    same(&whole, &split);
    free(split.out);
    if (n <= 4096) {
        result bytes = decode(in, n, max_body, none, 1);
        same(&whole, &bytes);
        free(bytes.out);
    }
    if (whole.rc == 1) {
        /* What follows the body is not looked at... */
        result exact = decode(in, whole.consumed, max_body, none, 0);
        same(&whole, &exact);
        free(exact.out);
        /* ...and the body is not complete one octet earlier. */
        result shorter = decode(in, whole.consumed - 1, max_body, none, 0);
        CHECK(shorter.rc == 0);
        free(shorter.out);
    }
    free(whole.out);
}

/* Chunk extensions and size spellings the encoder picks from. */
static const char *const exts[] = { "", ";a=b", ";n=\"q\\\"x\"", " ; x ; y = \"\"" };

static void check_encode(uint8_t ctl, const char *payload, size_t n, uint64_t max_body,
                         cuts c)
{
    /* Worst case per chunk: 16 hex digits, the longest extension, CRLF,
     * data, CRLF; a chunk per payload octet at most. */
    size_t cap = n * (16 + 16 + 4 + 1) + 64 + 64;
    char *enc = malloc(cap);
    CHECK(enc != NULL);
    size_t e = 0, off = 0, k = 0;
    while (off < n) {
        uint8_t b = k < c.n ? c.len[k] : 0xff;
        size_t len = (size_t)(b & 0x3f) + 1;
        if (k >= c.n)
            len = n - off;       /* the rest in one chunk */
        if (len > n - off)
            len = n - off;
        k++;
        e += (size_t)snprintf(enc + e, cap - e, (b & 1) ? "%zX%s\r\n" : "%04zx%s\r\n",
                              len, exts[b >> 6]);
        memcpy(enc + e, payload + off, len);
        e += len;
        memcpy(enc + e, "\r\n", 2);
        e += 2;
        off += len;
    }
    e += (size_t)snprintf(enc + e, cap - e, "0\r\n%s\r\n",
                          (ctl & CTL_TRAILER) ? "X-Trailer: 1\r\n" : "");
    size_t body_end = e;
    e += (size_t)snprintf(enc + e, cap - e, "GET / HTTP/1.1\r\n");
    CHECK(e < cap);

    cuts none = { NULL, 0 };
    result whole = decode(enc, e, max_body, none, 0);
    if (n > max_body) {
        CHECK(whole.rc == -413);
    } else {
        CHECK(whole.rc == 1);
        CHECK(whole.consumed == body_end);
        CHECK(whole.out_len == n && memcmp(whole.out, payload, n) == 0);
    }
    result split = decode(enc, e, max_body, c, 0);
    same(&whole, &split);
    free(split.out);
    free(whole.out);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t ctl = data[0];
    cuts c = { data + 2, data[1] % 32u };
    if (size < 2 + c.n)
        return 0;
    const char *body = (const char *)data + 2 + c.n;
    size_t n = size - 2 - c.n;
    uint64_t max_body = limit_for(ctl);
    if (ctl & CTL_ENCODE)
        check_encode(ctl, body, n, max_body, c);
    else
        check_raw(body, n, max_body, c);
    return 0;
}
