/*
 * response.h — response bytes: pre-formatted fixed responses with only the
 * Date patched once a second, and a small builder for dynamic heads.
 *
 * The hot path (GET /, GET /json) is one memcpy of a ready response into the
 * worker's output batch: no formatting, no allocation.
 */
#ifndef VEX_SERVER_RESPONSE_H
#define VEX_SERVER_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SERVER_NAME "vex_net"
#define DATE_LEN 29              /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Fixed responses. */
enum resp_id {
    R_PLAIN, R_JSON, R_HEALTHZ, R_READY, R_NOT_READY,
    R_404, R_405_GET, R_405_POST, R_403,
    R_E400, R_E408, R_E413, R_E414, R_E431, R_E500, R_E501, R_E503, R_E505,
    R_COUNT
};
/* Connection header variant: HTTP/1.1 keep-alive (none), HTTP/1.0
 * keep-alive ("Connection: keep-alive"), or "Connection: close". */
enum resp_conn { RC_KA11, RC_KA10, RC_CLOSE, RC_COUNT };

typedef struct resp_fixed {
    char *buf;
    uint32_t len;                /* with body */
    uint32_t head_len;           /* without body (HEAD) */
    uint32_t date_off;
    int status;
} resp_fixed;

typedef struct resp_table {
    resp_fixed r[R_COUNT][RC_COUNT];
    char *arena;
    char date[DATE_LEN + 1];
    time_t date_sec;
} resp_table;

int  resp_table_init(resp_table *t);     /* 0 or -1 (ENOMEM) */
void resp_table_free(resp_table *t);
/* Re-format Date if the wall-clock second changed, and patch every fixed
 * response. Called from the worker's 1 s tick, never per request. */
void resp_table_tick(resp_table *t);

/* Map an error status from the parser (400, 413, ...) to its fixed id. */
enum resp_id resp_error_id(int status);

/* Builder for dynamic heads (into caller memory, no printf). */
typedef struct hb {
    char *p;
    size_t len, cap;
    int overflow;
} hb;
void hb_mem(hb *b, const void *s, size_t n);
void hb_str(hb *b, const char *s);
void hb_u64(hb *b, uint64_t v);
/* Status line, Server, Date, Content-Type, Content-Length (clen >= 0) or
 * nothing for clen < 0, the Connection variant, then extra (already CRLF
 * terminated lines, may be NULL) and the blank line. */
void hb_head(hb *b, const resp_table *t, int status, const char *ctype,
             int64_t clen, enum resp_conn rc, const char *extra);

#endif
