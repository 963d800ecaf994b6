/*
 * access_log.h — one JSON line per response, formatted by the worker that
 * answered it into that worker's log slot (h1_ctx.on_response).
 */
#ifndef VEX_SERVER_ACCESS_LOG_H
#define VEX_SERVER_ACCESS_LOG_H

#include <stddef.h>
#include <time.h>

#include "http1.h"
#include "log.h"

/* Longest line: string fields are clipped (still valid JSON) to fit. */
#define ACCESS_LINE_MAX 8192

typedef struct access_log {
    log_slot *slot;
    long long sec;            /* the second secs holds */
    char secs[20];            /* "YYYY-MM-DDTHH:MM:SS" of that second */
    /* The last client's address, formatted: a keep-alive connection logs
     * the same one on every line, and inet_ntop costs more than the rest
     * of the line (glibc formats through sprintf). */
    uint8_t peer_addr[16];
    uint8_t peer_family;
    uint8_t peer_len;
    char peer_text[48];       /* "\"ADDR\"" with its quotes */
    char line[ACCESS_LINE_MAX];
} access_log;

access_log *access_log_new(log_slot *slot);   /* NULL: ENOMEM */
void access_log_free(access_log *a);
/* The h1 response hook; ctx is an access_log. */
void access_log_hook(void *ctx, const h1_log *l);
/* The line for l at time now, with its '\n', into out (at least 2 KiB);
 * returns its length. */
size_t access_log_format(access_log *a, char *out, size_t cap, const h1_log *l,
                         const struct timespec *now);

#endif
