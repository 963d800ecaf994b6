/*
 * compress.h — streaming content codings (gzip over zlib, brotli over
 * libbrotlienc, zstd over libzstd) behind one interface, and the settings
 * that choose when to use them. One stream per response being compressed;
 * its memory is the codec's window and state, not the response size.
 */
#ifndef VEX_SERVER_COMPRESS_H
#define VEX_SERVER_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum comp_enc { ENC_IDENTITY = 0, ENC_GZIP, ENC_BR, ENC_ZSTD, ENC_N };

#define COMP_TYPES_LEN 512      /* compression-types, as written */
#define COMP_ORDER_LEN 32       /* compression-encodings, as written */

/* Part of server_config (the snapshot): all live on reload. */
typedef struct comp_settings {
    bool on;                    /* compression */
    bool precompressed;         /* serve .br/.zst/.gz siblings of static files */
    unsigned min_size;          /* bodies shorter than this go as they are */
    unsigned gzip_level, brotli_level, zstd_level;
    char types[COMP_TYPES_LEN]; /* "text/ *" patterns, comma-separated    */
    char order[COMP_ORDER_LEN]; /* server preference, "br,zstd,gzip" */
} comp_settings;

void comp_settings_default(comp_settings *s);
const char *comp_enc_name(enum comp_enc e);        /* "gzip", "br", "zstd" */
/* A comma-separated list of type patterns (type/sub, type/ *, +suffix): 0 or -1. */
int comp_types_valid(const char *s);
/* Is a Content-Type (parameters ignored) in the list? */
bool comp_type_ok(const char *types, const char *ctype);
/* Parse "br,zstd,gzip" (each known, once, at least one) into order[]:
 * the count, or -1. */
int comp_order_parse(const char *s, uint8_t order[ENC_N]);

typedef struct comp_stream comp_stream;
/* emit: write produced bytes on; false stops the stream (the peer failed). */
typedef bool (*comp_emit)(void *arg, const void *p, size_t n);

/* NULL: out of memory. */
comp_stream *comp_new(enum comp_enc e, const comp_settings *s);
/* Compress in[0..n) (fin: and end the stream), emitting output as it is
 * produced. false: emit failed or the codec did. */
bool comp_write(comp_stream *z, const void *in, size_t n, bool fin, comp_emit emit, void *arg);
void comp_free(comp_stream *z);
enum comp_enc comp_encoding(const comp_stream *z);

/* One idle stream per coding, per thread (no lock): a response's codec is
 * reset and reused rather than made and freed each time. zlib's ~256 KiB
 * state freed on top of the heap is trimmed back to the kernel and faulted
 * in again by the next response (22-24 page faults per gzip response once
 * larger buffers sat below it). Memory kept: at most one gzip state and one
 * zstd context per thread, from their first use on. brotli has no reset
 * and is made each time. */
typedef struct comp_pool {
    comp_stream *idle[ENC_N];
} comp_pool;
/* Like comp_new, from the pool when it holds one made with the same level. */
comp_stream *comp_take(comp_pool *p, enum comp_enc e, const comp_settings *s);
/* Back to the pool (its slot empty) or freed; z may be NULL or cut short. */
void comp_give(comp_pool *p, comp_stream *z);
void comp_pool_free(comp_pool *p);

#endif
