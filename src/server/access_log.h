/*
 * access_log.h — one JSON line per response, formatted by the worker that
 * answered it into that worker's log slot (h1_ctx.on_response).
 */
#ifndef VEX_SERVER_ACCESS_LOG_H
#define VEX_SERVER_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http1.h"
#include "log.h"

/* Longest line: string fields are clipped (still valid JSON) to fit. */
#define ACCESS_LINE_MAX 8192

typedef struct access_log {
    log_slot *slot;
    /* The wall clock as the monotonic one plus an offset, read again once
     * a (monotonic) second: one clock read per line, the duration's. The
     * two clocks differ only by steps (settimeofday, clock_settime), which
     * a line shows within a second. */
    uint64_t wall_mono_ns;    /* when wall_off_ns was taken; 0: never */
    int64_t wall_off_ns;      /* CLOCK_REALTIME - CLOCK_MONOTONIC then */
    /* The line's first 44 bytes, `{"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","client":`,
     * for the millisecond ms_key (the date part is made once a second). */
    long long ms_key;
    long long sec;            /* the second prefix's date part holds */
    char prefix[48];
    /* The last client's address and port, formatted: a keep-alive connection logs
     * the same one on every line, and inet_ntop costs more than the rest
     * of the line (glibc formats through sprintf). */
    uint8_t peer_addr[16];
    uint8_t peer_family;
    uint8_t peer_len;
    uint16_t peer_port;
    /* "\"ADDR\",\"port\":PORT" (copied whole): the port is the
     * connection's too, so it is formatted with the address */
    char peer_text[64];
} access_log;

access_log *access_log_new(log_slot *slot);   /* NULL: ENOMEM */
void access_log_free(access_log *a);
/* The h1 response hook; ctx is an access_log. The line is formatted in
 * place in the worker's log buffer (log_reserve): no copy. */
void access_log_hook(void *ctx, const h1_log *l);
/* The most bytes access_log_format can write for l with this cap (at most
 * cap): what the hook reserves. */
size_t access_log_bound(const h1_log *l, size_t cap);
/* The line for l at time now, with its '\n', into out (at least
 * access_log_bound(l, cap) bytes, cap at least LOG_BUFFER_MIN); returns
 * its length. */
size_t access_log_format(access_log *a, char *out, size_t cap, const h1_log *l,
                         const struct timespec *now);

#endif
