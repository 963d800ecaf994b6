/*
 * http_chunked.c — incremental chunked transfer-coding decoder (RFC 9112 §7.1).
 *
 * Data octets are moved in bulk; everything else (size lines, extensions,
 * trailers) goes through a one-octet state machine, so the decoder can stop
 * and resume at any byte and gives the same result for any split of the
 * input. The write cursor never passes the read cursor, which is what makes
 * decoding in place safe.
 */
#include "http_parser.h"
#include "http_chars.h"

#include <string.h>

/* Chunk extensions carry nothing we use; a long one is only a way to make
 * us burn CPU before the data, so the size line is capped. */
#define CHUNK_LINE_MAX 4096
#define TRAILERS_MAX   8192

enum chunked_state {
    CH_SIZE_FIRST = 0,   /* first hex digit of a chunk size */
    CH_SIZE,             /* more hex digits */
    CH_SIZE_BWS,         /* whitespace after the size: only ';' may follow */
    /* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
    CH_EXT_NAME_BWS,     /* after ';' */
    CH_EXT_NAME,
    CH_EXT_EQ_BWS,       /* whitespace after a name: '=' or ';' */
    CH_EXT_VALUE_BWS,    /* after '=' */
    CH_EXT_TOKEN,
    CH_EXT_QUOTED,
    CH_EXT_QUOTED_PAIR,  /* after a backslash */
    CH_EXT_QUOTED_END,   /* after the closing quote */
    CH_EXT_SEMI_BWS,     /* whitespace after a value: only ';' */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,    /* start of a trailer line, or CR of the last line */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_FINAL_LF,
    CH_DONE
};

void http_chunked_init(http_chunked *d, uint64_t max_body)
{
    d->state = CH_SIZE_FIRST;
    d->chunk_left = 0;
    d->total = 0;
    d->max_body = max_body;
    d->aux = 0;
}

static int size_line_octet(http_chunked *d, int next)
{
    return ++d->aux > CHUNK_LINE_MAX ? -400 : next;
}

static int trailer_octet(http_chunked *d, int next)
{
    return ++d->aux > TRAILERS_MAX ? -400 : next;
}

static int add_size_digit(http_chunked *d, char c)
{
    if (d->chunk_left > (UINT64_MAX >> 4))
        return -400;
    d->chunk_left = (d->chunk_left << 4) | http_hex_value(c);
    return size_line_octet(d, CH_SIZE);
}

static int end_size_line(http_chunked *d)
{
    d->aux = 0;
    if (d->chunk_left == 0)
        return CH_TRAILER_START;   /* last-chunk */
    /* Refuse on the announced size, before any of the data is buffered. */
    if (d->chunk_left > d->max_body - d->total)
        return -413;
    return CH_DATA;
}

/* Extensions are parsed to the letter rather than skipped to CR: a parser
 * that skips differently from the proxy in front of it (quotes, bare LF) is
 * how chunked bodies get smuggled. */
static int step_extension(http_chunked *d, char c)
{
    int next;
    switch (d->state) {
    case CH_EXT_NAME_BWS:
        next = http_is_ows(c) ? CH_EXT_NAME_BWS : http_is_tchar(c) ? CH_EXT_NAME : -400;
        break;
    case CH_EXT_NAME:
        next = http_is_tchar(c) ? CH_EXT_NAME : c == '=' ? CH_EXT_VALUE_BWS
             : c == ';' ? CH_EXT_NAME_BWS : http_is_ows(c) ? CH_EXT_EQ_BWS
             : c == '\r' ? CH_SIZE_LF : -400;
        break;
    case CH_EXT_EQ_BWS:
        next = http_is_ows(c) ? CH_EXT_EQ_BWS : c == '=' ? CH_EXT_VALUE_BWS
             : c == ';' ? CH_EXT_NAME_BWS : -400;
        break;
    case CH_EXT_VALUE_BWS:
        next = http_is_ows(c) ? CH_EXT_VALUE_BWS : c == '"' ? CH_EXT_QUOTED
             : http_is_tchar(c) ? CH_EXT_TOKEN : -400;
        break;
    case CH_EXT_TOKEN:
        next = http_is_tchar(c) ? CH_EXT_TOKEN : c == ';' ? CH_EXT_NAME_BWS
             : http_is_ows(c) ? CH_EXT_SEMI_BWS : c == '\r' ? CH_SIZE_LF : -400;
        break;
    case CH_EXT_QUOTED:
        next = c == '"' ? CH_EXT_QUOTED_END : c == '\\' ? CH_EXT_QUOTED_PAIR
             : http_is_field_char(c) ? CH_EXT_QUOTED : -400;
        break;
    case CH_EXT_QUOTED_PAIR:
        next = http_is_field_char(c) ? CH_EXT_QUOTED : -400;
        break;
    case CH_EXT_QUOTED_END:
        next = c == ';' ? CH_EXT_NAME_BWS : http_is_ows(c) ? CH_EXT_SEMI_BWS
             : c == '\r' ? CH_SIZE_LF : -400;
        break;
    default: /* CH_EXT_SEMI_BWS */
        next = http_is_ows(c) ? CH_EXT_SEMI_BWS : c == ';' ? CH_EXT_NAME_BWS : -400;
        break;
    }
    return next < 0 ? next : size_line_octet(d, next);
}

static int step_size_line(http_chunked *d, char c)
{
    switch (d->state) {
    case CH_SIZE_FIRST:
        if (!http_char_is(c, HC_HEX))
            return -400;
        d->chunk_left = 0;
        d->aux = 0;
        return add_size_digit(d, c);
    case CH_SIZE:
        if (http_char_is(c, HC_HEX))
            return add_size_digit(d, c);
        if (c == '\r')
            return CH_SIZE_LF;
        if (c == ';')
            return size_line_octet(d, CH_EXT_NAME_BWS);
        return http_is_ows(c) ? size_line_octet(d, CH_SIZE_BWS) : -400;
    case CH_SIZE_BWS:
        if (c == ';')
            return size_line_octet(d, CH_EXT_NAME_BWS);
        return http_is_ows(c) ? size_line_octet(d, CH_SIZE_BWS) : -400;
    case CH_SIZE_LF:
        return c == '\n' ? end_size_line(d) : -400;
    default:
        return step_extension(d, c);
    }
}

/* Framing and routing fields are refused in trailers: a proxy that merges
 * trailers into the head would reframe or reroute the message. Names may
 * arrive split across calls, so they are matched octet by octet; the match
 * lives in chunk_left, which has no other use once the last chunk is read:
 * bits 0-7 count name octets, bits 8 and up are the names still matching. */
static const struct { const char *name; size_t len; } forbidden_trailers[] = {
    { "content-length", 14 }, { "transfer-encoding", 17 }, { "host", 4 },
};
#define N_FORBIDDEN_TRAILERS (sizeof forbidden_trailers / sizeof forbidden_trailers[0])

static void trailer_name_begin(http_chunked *d)
{
    d->chunk_left = (uint64_t)((1u << N_FORBIDDEN_TRAILERS) - 1) << 8;
}

static void trailer_name_octet(http_chunked *d, char c)
{
    uint64_t pos = d->chunk_left & 0xff, alive = d->chunk_left >> 8;
    for (size_t i = 0; i < N_FORBIDDEN_TRAILERS; i++)
        if (pos >= forbidden_trailers[i].len ||
            http_ascii_lower(c) != forbidden_trailers[i].name[pos])
            alive &= ~((uint64_t)1 << i);
    if (pos < 0xff)
        pos++;
    d->chunk_left = alive << 8 | pos;
}

static bool trailer_name_forbidden(const http_chunked *d)
{
    uint64_t pos = d->chunk_left & 0xff, alive = d->chunk_left >> 8;
    for (size_t i = 0; i < N_FORBIDDEN_TRAILERS; i++)
        if ((alive >> i & 1) && forbidden_trailers[i].len == pos)
            return true;
    return false;
}

static int step_trailer_name(http_chunked *d, char c)
{
    if (c == ':') {
        if (trailer_name_forbidden(d))
            return -400;
        d->chunk_left = 0;
        return trailer_octet(d, CH_TRAILER_VALUE);
    }
    if (!http_is_tchar(c))
        return -400;
    if (d->state == CH_TRAILER_START)
        trailer_name_begin(d);
    trailer_name_octet(d, c);
    return trailer_octet(d, CH_TRAILER_NAME);
}

static int step_trailer(http_chunked *d, char c)
{
    switch (d->state) {
    case CH_TRAILER_START:
        if (c == '\r')
            return CH_FINAL_LF;
        return c == ':' ? -400 : step_trailer_name(d, c);
    case CH_TRAILER_NAME:
        return step_trailer_name(d, c);
    case CH_TRAILER_VALUE:
        if (c == '\r')
            return trailer_octet(d, CH_TRAILER_LF);
        return http_is_field_char(c) ? trailer_octet(d, CH_TRAILER_VALUE) : -400;
    case CH_TRAILER_LF:
        return c == '\n' ? trailer_octet(d, CH_TRAILER_START) : -400;
    default: /* CH_FINAL_LF */
        return c == '\n' ? CH_DONE : -400;
    }
}

/* One non-data octet: returns the next state or -status. */
static int step_octet(http_chunked *d, char c)
{
    switch (d->state) {
    case CH_SIZE_FIRST: case CH_SIZE: case CH_SIZE_BWS: case CH_SIZE_LF:
    case CH_EXT_NAME_BWS: case CH_EXT_NAME: case CH_EXT_EQ_BWS: case CH_EXT_VALUE_BWS:
    case CH_EXT_TOKEN: case CH_EXT_QUOTED: case CH_EXT_QUOTED_PAIR: case CH_EXT_QUOTED_END:
    case CH_EXT_SEMI_BWS:
        return step_size_line(d, c);
    case CH_DATA_CR:
        return c == '\r' ? CH_DATA_LF : -400;
    case CH_DATA_LF:
        return c == '\n' ? CH_SIZE_FIRST : -400;
    default:
        return step_trailer(d, c);
    }
}

int http_chunked_decode(http_chunked *d, char *buf, size_t *len,
                        size_t *consumed)
{
    size_t n = *len, r = 0, w = 0;

    while (r < n && d->state >= 0 && d->state != CH_DONE) {
        if (d->state == CH_DATA) {
            size_t take = n - r;
            if (take > d->chunk_left)
                take = (size_t)d->chunk_left;
            if (w != r)
                memmove(buf + w, buf + r, take);
            w += take;
            r += take;
            d->chunk_left -= take;
            d->total += take;
            if (d->chunk_left == 0)
                d->state = CH_DATA_CR;
            continue;
        }
        d->state = step_octet(d, buf[r++]);   /* errors stick: state = -status */
    }
    *len = w;
    *consumed = r;
    if (d->state < 0)
        return d->state;
    return d->state == CH_DONE ? 1 : 0;
}
