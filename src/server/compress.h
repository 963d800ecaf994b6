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

#endif
