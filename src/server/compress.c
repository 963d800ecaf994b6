/*
 * compress.c — gzip, brotli and zstd as streams with one shape: input in,
 * output out through emit in pieces of OUT_PIECE, nothing kept between
 * calls but the codec's own state.
 *
 * Windows are bounded on purpose: brotli at lgwin 19 (512 KiB) and zstd at
 * windowLog 19, like nginx's brotli module, so a connection compressing a
 * long stream holds well under a few MiB whatever the level.
 */
#include "compress.h"

#include <brotli/encode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_PIECE (16u * 1024)
#define WINDOW_LOG 19

struct comp_stream {
    enum comp_enc enc;
    unsigned level;           /* made with it: a reload may change the setting */
    z_stream gz;
    BrotliEncoderState *br;
    ZSTD_CCtx *zs;
};

static const char *const names[ENC_N] = { "identity", "gzip", "br", "zstd" };

const char *comp_enc_name(enum comp_enc e) { return e < ENC_N ? names[e] : "identity"; }

void comp_settings_default(comp_settings *s)
{
    memset(s, 0, sizeof *s);
    s->on = true;
    s->precompressed = true;
    s->min_size = 1024;
    s->gzip_level = 6;
    s->brotli_level = 4;
    s->zstd_level = 3;
    strcpy(s->types, "text/*,application/json,application/javascript,image/svg+xml,"
                     "application/xml,+json,+xml");
    strcpy(s->order, "br,zstd,gzip");
}

/* One pattern: "type/sub", "type/ *" (no space) or "+suffix", token characters only. */
static bool pattern_ok(const char *p, size_t n)
{
    if (n == 0)
        return false;
    size_t slash = 0, i = 0;
    if (p[0] == '+')
        i = 1;
    if (i == n)
        return false;
    for (; i < n; i++) {
        char ch = p[i];
        if (ch == '/') {
            if (p[0] == '+' || slash++ || i == 0 || i + 1 == n)
                return false;
        } else if (ch == '*') {
            /* i == 0 first: a lone "*" has no octet before it to look at */
            if (i == 0 || i + 1 != n || p[i - 1] != '/')
                return false;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || strchr("!#$&-^_.+", ch))) {
            return false;
        }
    }
    return p[0] == '+' || slash == 1;
}

/* Comma-separated lists (types, codings), each item trimmed of spaces. */
typedef struct list_iter {
    const char *p;
    bool done;
} list_iter;

static bool list_next(list_iter *it, const char **item, size_t *n)
{
    if (it->done)
        return false;
    const char *s = it->p, *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    while (len && *s == ' ') { s++; len--; }
    while (len && s[len - 1] == ' ') len--;
    *item = s;
    *n = len;
    if (e)
        it->p = e + 1;
    else
        it->done = true;
    return true;
}

int comp_types_valid(const char *s)
{
    if (*s == '\0')
        return -1;
    list_iter it = { s, false };
    const char *t;
    size_t n;
    while (list_next(&it, &t, &n))
        if (!pattern_ok(t, n))
            return -1;
    return 0;
}

bool comp_type_ok(const char *types, const char *ctype)
{
    size_t cl = strcspn(ctype, "; ");
    const char *slash = memchr(ctype, '/', cl);
    list_iter it = { types, false };
    const char *s;
    size_t n;
    while (list_next(&it, &s, &n)) {
        if (n && s[0] == '+') {                         /* suffix: +json */
            if (cl > n && strncasecmp(ctype + cl - n, s, n) == 0)
                return true;
        } else if (n >= 2 && s[n - 1] == '*') {         /* text/ * */
            if (slash && (size_t)(slash - ctype) + 1 == n - 1 &&
                strncasecmp(ctype, s, n - 1) == 0)
                return true;
        } else if (n == cl && strncasecmp(ctype, s, n) == 0) {
            return true;
        }
    }
    return false;
}

int comp_order_parse(const char *s, uint8_t order[ENC_N])
{
    int k = 0;
    unsigned seen = 0;
    if (*s == '\0')
        return -1;
    list_iter it = { s, false };
    const char *t;
    size_t n;
    while (list_next(&it, &t, &n)) {
        int found = -1;
        for (int i = ENC_GZIP; i < ENC_N; i++)
            if (strlen(names[i]) == n && strncasecmp(t, names[i], n) == 0)
                found = i;
        if (found < 0 || (seen & (1u << found)))
            return -1;
        seen |= 1u << found;
        order[k++] = (uint8_t)found;
    }
    return k;
}

static unsigned level_of(enum comp_enc e, const comp_settings *s)
{
    return e == ENC_GZIP ? s->gzip_level : e == ENC_BR ? s->brotli_level : s->zstd_level;
}

comp_stream *comp_new(enum comp_enc e, const comp_settings *s)
{
    comp_stream *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->enc = e;
    z->level = level_of(e, s);
    switch (e) {
    case ENC_GZIP:
        /* 15 + 16: a gzip wrapper; memLevel 8 is zlib's default (~256 KiB) */
        if (deflateInit2(&z->gz, (int)s->gzip_level, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) == Z_OK)
            return z;
        break;
    case ENC_BR:
        if ((z->br = BrotliEncoderCreateInstance(NULL, NULL, NULL)) != NULL) {
            BrotliEncoderSetParameter(z->br, BROTLI_PARAM_QUALITY, s->brotli_level);
            BrotliEncoderSetParameter(z->br, BROTLI_PARAM_LGWIN, WINDOW_LOG);
            return z;
        }
        break;
    case ENC_ZSTD:
        if ((z->zs = ZSTD_createCCtx()) != NULL &&
            !ZSTD_isError(ZSTD_CCtx_setParameter(z->zs, ZSTD_c_compressionLevel,
                                                 (int)s->zstd_level)) &&
            !ZSTD_isError(ZSTD_CCtx_setParameter(z->zs, ZSTD_c_windowLog, WINDOW_LOG)))
            return z;
        break;
    default:
        break;
    }
    comp_free(z);
    return NULL;
}

enum comp_enc comp_encoding(const comp_stream *z) { return z->enc; }

static bool run_gzip(comp_stream *z, const void *in, size_t n, bool fin,
                     comp_emit emit, void *arg)
{
    unsigned char out[OUT_PIECE];
    z->gz.next_in = (Bytef *)(uintptr_t)in;
    z->gz.avail_in = (uInt)n;
    for (;;) {
        z->gz.next_out = out;
        z->gz.avail_out = sizeof out;
        int r = deflate(&z->gz, fin ? Z_FINISH : Z_NO_FLUSH);
        if (r == Z_STREAM_ERROR)
            return false;
        size_t got = sizeof out - z->gz.avail_out;
        if (got && !emit(arg, out, got))
            return false;
        if (fin ? r == Z_STREAM_END : (z->gz.avail_in == 0 && z->gz.avail_out != 0))
            return true;
    }
}

static bool run_br(comp_stream *z, const void *in, size_t n, bool fin,
                   comp_emit emit, void *arg)
{
    uint8_t out[OUT_PIECE];
    const uint8_t *ip = in;
    size_t avail_in = n;
    for (;;) {
        uint8_t *op = out;
        size_t avail_out = sizeof out;
        if (!BrotliEncoderCompressStream(z->br, fin ? BROTLI_OPERATION_FINISH
                                                    : BROTLI_OPERATION_PROCESS,
                                         &avail_in, &ip, &avail_out, &op, NULL))
            return false;
        size_t got = sizeof out - avail_out;
        if (got && !emit(arg, out, got))
            return false;
        if (fin ? BrotliEncoderIsFinished(z->br)
                : (avail_in == 0 && !BrotliEncoderHasMoreOutput(z->br)))
            return true;
    }
}

static bool run_zstd(comp_stream *z, const void *in, size_t n, bool fin,
                     comp_emit emit, void *arg)
{
    char out[OUT_PIECE];
    ZSTD_inBuffer ib = { in, n, 0 };
    for (;;) {
        ZSTD_outBuffer ob = { out, sizeof out, 0 };
        size_t left = ZSTD_compressStream2(z->zs, &ob, &ib, fin ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return false;
        if (ob.pos && !emit(arg, out, ob.pos))
            return false;
        if (fin ? left == 0 : ib.pos == ib.size)
            return true;
    }
}

bool comp_write(comp_stream *z, const void *in, size_t n, bool fin, comp_emit emit, void *arg)
{
    switch (z->enc) {
    case ENC_GZIP: return run_gzip(z, in, n, fin, emit, arg);
    case ENC_BR:   return run_br(z, in, n, fin, emit, arg);
    case ENC_ZSTD: return run_zstd(z, in, n, fin, emit, arg);
    default:       return false;
    }
}

comp_stream *comp_take(comp_pool *p, enum comp_enc e, const comp_settings *s)
{
    comp_stream *z = e < ENC_N ? p->idle[e] : NULL;
    if (z) {
        p->idle[e] = NULL;
        bool reset = z->level == level_of(e, s) &&
                     (e == ENC_GZIP ? deflateReset(&z->gz) == Z_OK
                                    : !ZSTD_isError(ZSTD_CCtx_reset(z->zs, ZSTD_reset_session_only)));
        if (reset)
            return z;
        comp_free(z);
    }
    return comp_new(e, s);
}

void comp_give(comp_pool *p, comp_stream *z)
{
    if (z && z->enc != ENC_BR && !p->idle[z->enc]) {
        p->idle[z->enc] = z;
        return;
    }
    comp_free(z);
}

void comp_pool_free(comp_pool *p)
{
    for (int e = 0; e < ENC_N; e++) {
        comp_free(p->idle[e]);
        p->idle[e] = NULL;
    }
}

void comp_free(comp_stream *z)
{
    if (!z)
        return;
    if (z->enc == ENC_GZIP)
        deflateEnd(&z->gz);
    if (z->br)
        BrotliEncoderDestroyInstance(z->br);
    if (z->zs)
        ZSTD_freeCCtx(z->zs);
    free(z);
}
