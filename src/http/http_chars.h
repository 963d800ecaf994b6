/*
 * http_chars.h — private octet classes shared by the request and chunked
 * parsers. One 256-entry table lookup per octet keeps the per-byte branch
 * count at one, which is what keeps the scanning loops predictable.
 */
#ifndef VEX_HTTP_CHARS_H
#define VEX_HTTP_CHARS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    HC_TCHAR  = 1,  /* RFC 9110 token character                              */
    HC_FIELD  = 2,  /* field-value octet: VCHAR, obs-text, SP, HTAB          */
    HC_TARGET = 4,  /* request-target octet: VCHAR (0x21-0x7E)               */
    HC_HOST   = 8,  /* reg-name octet: unreserved, sub-delims, '%'           */
    HC_HEX    = 16  /* HEXDIG                                                */
};

/* Generated from the RFC 9110/3986 ABNF; rows are 16 octets each. */
static const uint8_t http_char_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     2, 15,  6,  7, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15,  6,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31,  6, 14,  6, 14,  6,  6,
     6, 31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  6,  6,  7, 15,
     7, 31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  7,  6, 15,  0,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
};

static inline bool http_char_is(char c, unsigned cls)
{
    return (http_char_class[(unsigned char)c] & cls) != 0;
}

static inline bool http_is_tchar(char c) { return http_char_is(c, HC_TCHAR); }
static inline bool http_is_field_char(char c) { return http_char_is(c, HC_FIELD); }
static inline bool http_is_ows(char c) { return c == ' ' || c == '\t'; }
static inline bool http_is_digit(char c) { return c >= '0' && c <= '9'; }

static inline unsigned http_hex_value(char c)
{
    unsigned u = (unsigned char)c;
    return u <= '9' ? u - '0' : (u | 0x20) - 'a' + 10;
}

static inline char http_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive compare of s[0..n) with a lowercase literal of length n
 * made of letters, digits, '-', ':' and '/'. Only for validated slices (no
 * CTL but HTAB): there OR-ing 0x20 folds case and maps nothing else onto a
 * literal octet (HTAB becomes ')'). Most calls fail on the first octet. */
static inline bool http_ieq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((char)(s[i] | 0x20) != lower[i])
            return false;
    return true;
}

/* ---- word-at-a-time scanning (8 octets per step, any alignment) ---- */

#define HTTP_ONES  0x0101010101010101ULL
#define HTTP_HIGHS 0x8080808080808080ULL

static inline uint64_t http_load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);   /* compiles to one unaligned load */
    return v;
}

/* Non-zero iff some octet of x is < n (n <= 128). Exact as a yes/no test;
 * which bit is set is not, so callers re-scan the word byte by byte. */
static inline uint64_t http_word_has_below(uint64_t x, unsigned n)
{
    return (x - HTTP_ONES * n) & ~x & HTTP_HIGHS;
}

static inline uint64_t http_word_has_byte(uint64_t x, unsigned char c)
{
    return http_word_has_below(x ^ (HTTP_ONES * c), 1);
}

#if defined(__SSE2__) && !defined(VEX_HTTP_NO_SIMD)   /* NO_SIMD: test the fallback */
#include <emmintrin.h>

/* SSE2 is baseline on x86-64: 16 octets per step, and the mask gives the
 * exact stopping octet, so there is no byte-by-byte re-scan. */
static inline unsigned http_mask16_below(__m128i x, char n)
{
    __m128i at_least = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(n)), x);
    return ~(unsigned)_mm_movemask_epi8(at_least) & 0xffffu;
}

static inline unsigned http_mask16_equal(__m128i x, char c)
{
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(c)));
}

/* Advance over field-value octets; returns the first octet that is not one
 * (or end). HTAB stops the vector step but is skipped, it is rare. */
static inline const char *http_skip_field_chars(const char *p, const char *end)
{
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned stop = http_mask16_below(x, 0x20) | http_mask16_equal(x, 0x7f);
        if (stop == 0) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(stop);
        if (*p != '\t')
            return p;
        p++;
    }
    while (p < end && http_is_field_char(*p))
        p++;
    return p;
}

/* Same for request-target octets (VCHAR only: stops at SP, CTL, DEL, 8-bit). */
static inline const char *http_skip_target_chars(const char *p, const char *end)
{
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned stop = http_mask16_below(x, 0x21) | http_mask16_equal(x, 0x7f) |
                        (unsigned)_mm_movemask_epi8(x);
        if (stop == 0) {
            p += 16;
            continue;
        }
        return p + __builtin_ctz(stop);
    }
    while (p < end && http_char_is(*p, HC_TARGET))
        p++;
    return p;
}

#else /* portable word-at-a-time fallback */

/* Advance over field-value octets; returns the first octet that is not one
 * (or end). Any CTL or DEL in a word (HTAB included, it is rare) drops to
 * the byte loop for that word only. */
static inline const char *http_skip_field_chars(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x = http_load64(p);
        if (!(http_word_has_below(x, 0x20) | http_word_has_byte(x, 0x7f))) {
            p += 8;
            continue;
        }
        for (const char *w = p + 8; p < w; p++)
            if (!http_is_field_char(*p))
                return p;
    }
    while (p < end && http_is_field_char(*p))
        p++;
    return p;
}

/* Same for request-target octets (VCHAR only: stops at SP, CTL, DEL, 8-bit). */
static inline const char *http_skip_target_chars(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x = http_load64(p);
        if (!(http_word_has_below(x, 0x21) | http_word_has_byte(x, 0x7f) |
              (x & HTTP_HIGHS))) {
            p += 8;
            continue;
        }
        for (const char *w = p + 8; p < w; p++)
            if (!http_char_is(*p, HC_TARGET))
                return p;
    }
    while (p < end && http_char_is(*p, HC_TARGET))
        p++;
    return p;
}

#endif

#endif
