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
    CH_EXT,              /* chunk extension up to CR */
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

static int step_size_line(http_chunked *d, char c)
{
    bool hex = http_char_is(c, HC_HEX);
    switch (d->state) {
    case CH_SIZE_FIRST:
        if (!hex)
            return -400;
        d->chunk_left = 0;
        d->aux = 0;
        return add_size_digit(d, c);
    case CH_SIZE:
        if (hex)
            return add_size_digit(d, c);
        if (c == '\r')
            return CH_SIZE_LF;
        if (c == ';')
            return size_line_octet(d, CH_EXT);
        if (http_is_ows(c))
            return size_line_octet(d, CH_SIZE_BWS);
        return -400;
    case CH_SIZE_BWS:
        if (c == ';')
            return size_line_octet(d, CH_EXT);
        return http_is_ows(c) ? size_line_octet(d, CH_SIZE_BWS) : -400;
    case CH_EXT:
        if (c == '\r')
            return CH_SIZE_LF;
        /* No CTL but HTAB: a bare LF here is the classic desync vector. */
        return http_is_field_char(c) ? size_line_octet(d, CH_EXT) : -400;
    default: /* CH_SIZE_LF */
        return c == '\n' ? end_size_line(d) : -400;
    }
}

static int step_trailer(http_chunked *d, char c)
{
    switch (d->state) {
    case CH_TRAILER_START:
        if (c == '\r')
            return CH_FINAL_LF;
        return http_is_tchar(c) ? trailer_octet(d, CH_TRAILER_NAME) : -400;
    case CH_TRAILER_NAME:
        if (c == ':')
            return trailer_octet(d, CH_TRAILER_VALUE);
        return http_is_tchar(c) ? trailer_octet(d, CH_TRAILER_NAME) : -400;
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
    case CH_SIZE_FIRST: case CH_SIZE: case CH_SIZE_BWS: case CH_EXT: case CH_SIZE_LF:
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
