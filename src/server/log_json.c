/*
 * log_json.c — see log_json.h. Request fields are attacker-controlled: a
 * quote or newline in a User-Agent must not be able to forge a log line.
 */
#include "log_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

size_t json_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        if (c == 0xED) hi = 0x9F;          /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;          /* overlong */
        if (c == 0xF4) hi = 0x8F;          /* above U+10FFFF */
    } else {
        return 0;                          /* C0, C1, F5-FF, continuation */
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

static const char hexd[] = "0123456789abcdef";

/* Bytes copied as they are: 0x20..0x7e but '"' and '\\', as a 128-bit set
 * (one shift and a mask per byte instead of four comparisons). */
static const uint64_t plain_set[2] = { 0xFFFFFFFB00000000ULL, 0x7FFFFFFFEFFFFFFFULL };
static inline bool plain(unsigned char c)
{
    return c < 128 && (plain_set[c >> 6] >> (c & 63)) & 1;
}

/* Nonzero when one of the 8 bytes in v is not plain: below 0x20, '"',
 * '\\', 0x7f or above (the bit tricks of "Bit Twiddling Hacks": hasless,
 * haszero of v ^ c, hasmore; each is exact about whether some byte hits,
 * which is all that is asked). */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t special8(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
    return (((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b) |
            (v + ONES) | v) & HIGHS;
}

/* plain() as a table, for the short strings of the fast path ('1': plain). */
static const char plain_tab[257] =
    "0000000000000000000000000000000011011111111111111111111111111111"
    "1111111111111111111111111111011111111111111111111111111111111110"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000";

static size_t escape_from(char *out, size_t cap, const char *in, size_t n, size_t *used, size_t i);

#if defined(__SSE2__)
/* Nonzero when one of the 16 bytes is not plain (SSE2 is part of x86-64):
 * below 0x20 or at 0x80 and above (one signed compare: those are
 * negative), '"', '\\' or 0x7f. */
static inline int special16(__m128i v)
{
    __m128i bad = _mm_or_si128(
        _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
    return _mm_movemask_epi8(bad);
}
#endif

/* The common case is a field that fits and needs no escaping (a method, a
 * path, a User-Agent): checked 16 bytes at a time with SSE2 (8 to 15 as two
 * overlapping halves of one register), elsewhere 8 at a time (the last word
 * overlapping the one before); under 8 bytes by table; copied as checked.
 * Anything else goes on in escape_from where the check stopped. */
size_t json_escape(char *out, size_t cap, const char *in, size_t n, size_t *used)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    if (n > cap)
        return escape_from(out, cap, in, n, used, 0);
#if defined(__SSE2__)
    if (n >= 16) {
        __m128i v;
        for (; i + 16 <= n; i += 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            if (special16(v))
                return escape_from(out, cap, in, n, used, i);
            _mm_storeu_si128((__m128i *)(void *)(out + i), v);
        }
        if (i < n) {            /* the last 16, overlapping what was checked */
            v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
            if (special16(v))
                return escape_from(out, cap, in, n, used, i);
            _mm_storeu_si128((__m128i *)(void *)(out + n - 16), v);
        }
    } else if (n >= 8) {
        /* the first 8 and the last 8 (overlapping) in one register */
        __m128i lo = _mm_loadl_epi64((const __m128i *)(const void *)s);
        __m128i hi = _mm_loadl_epi64((const __m128i *)(const void *)(s + n - 8));
        __m128i v = _mm_unpacklo_epi64(lo, hi);
        if (special16(v))
            return escape_from(out, cap, in, n, used, 0);
        _mm_storel_epi64((__m128i *)(void *)out, lo);
        _mm_storel_epi64((__m128i *)(void *)(out + n - 8), hi);
    } else
#else
    if (n >= 8) {
        uint64_t v;
        for (; i + 8 <= n; i += 8) {
            memcpy(&v, s + i, 8);
            if (special8(v))
                return escape_from(out, cap, in, n, used, i);
            memcpy(out + i, &v, 8);
        }
        memcpy(&v, s + n - 8, 8);
        if (special8(v))
            return escape_from(out, cap, in, n, used, i);
        memcpy(out + n - 8, &v, 8);
    } else
#endif
    {
        for (; i < n; i++) {
            if (plain_tab[s[i]] != '1')
                return escape_from(out, cap, in, n, used, i);
            out[i] = (char)s[i];
        }
    }
    if (used)
        *used = n;
    return n;
}

/* The first i bytes of in are plain and already in out. */
__attribute__((noinline))
static size_t escape_from(char *out, size_t cap, const char *in, size_t n, size_t *used, size_t i)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = i;
    while (i < n) {
        unsigned char c = s[i];
        char tmp[6];
        const char *unit = tmp;
        size_t ulen, take = 1;
        if (plain(c)) {
            /* the common case: a run of plain bytes */
            size_t j = i + 1;
            while (j < n && plain(s[j]))
                j++;
            size_t k = j - i;
            if (k > cap - o)
                k = cap - o;
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
            if (i < j)
                break;                       /* out of room */
            continue;
        }
        if (c == '"' || c == '\\') {
            tmp[0] = '\\'; tmp[1] = (char)c; ulen = 2;
        } else if (c == '\n') {
            tmp[0] = '\\'; tmp[1] = 'n'; ulen = 2;
        } else if (c == '\r') {
            tmp[0] = '\\'; tmp[1] = 'r'; ulen = 2;
        } else if (c == '\t') {
            tmp[0] = '\\'; tmp[1] = 't'; ulen = 2;
        } else if (c >= 0x80 && (take = json_utf8_len(s + i, n - i)) > 0) {
            unit = in + i;
            ulen = take;
        } else {
            take = 1;
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hexd[c >> 4];
            tmp[5] = hexd[c & 15];
            ulen = 6;
        }
        if (ulen > cap - o)
            break;
        memcpy(out + o, unit, ulen);
        o += ulen;
        i += take;
    }
    if (used)
        *used = i;
    return o;
}
