/*
 * metrics.h — per-thread counters and the request-latency histogram.
 *
 * Each worker owns one wstats block and is its only writer, so an increment
 * is a relaxed load + store (no lock prefix: a locked add costs ~20 cycles
 * for nothing when nobody else writes). Readers (the stats printer, /metrics
 * on any thread) load each counter atomically and sum over workers. Blocks
 * are 64-byte aligned so two workers never write the same cache line.
 */
#ifndef VEX_SERVER_METRICS_H
#define VEX_SERVER_METRICS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Log-linear latency buckets in nanoseconds: 8 sub-buckets per power of two
 * (12.5% resolution), enough for p50/p99 up to ~70 minutes. */
#define LAT_BUCKETS 328
/* Prometheus buckets (seconds), +Inf last. */
#define PROM_BUCKETS 23

typedef _Atomic uint64_t counter;

/* Open connections per state of http1's state machine (h1_state). */
#define METRICS_CONN_STATES 6

/* Access decisions (access.c), per thread like the rest. */
enum { ACC_ALLOWED, ACC_DENIED, ACC_UNAUTHENTICATED, ACC_AUTH_FAILURES, ACC_FORBIDDEN,
       ACC_THROTTLED, ACC_CACHE_HITS, ACC_HASHED, ACC_N };

typedef struct wstats {
    alignas(64) counter conns_total;
    counter conns_active;
    counter requests;
    counter bytes_rx, bytes_tx;
    counter resp[4];              /* 2xx 3xx 4xx 5xx */
    counter errors, timeouts, rejected;
    counter parked;               /* accepted at the limit, held for a slot */
    counter tls_hs_ok, tls_hs_failed, tls_resumed;   /* TLS handshakes */
    counter proxy_bad;            /* malformed PROXY protocol headers */
    counter conn_limited;         /* refused over limit-conn */
    counter acc[ACC_N];           /* access decisions */
    counter comp_resp[3];         /* responses compressed: gzip, br, zstd */
    counter comp_in, comp_out;    /* body bytes before and after compression */
    counter conn_state[METRICS_CONN_STATES];        /* open connections per http1 state (gauges) */
    counter syscalls;             /* published by the owner from its loop */
    counter lat_sum_ns, lat_count;
    counter prom[PROM_BUCKETS];
    counter hdr[LAT_BUCKETS];
} wstats;

/* A summed copy over all workers, plain integers. */
typedef struct stats_snap {
    uint64_t conns_total, conns_active, requests, bytes_rx, bytes_tx;
    uint64_t resp[4], errors, timeouts, rejected, parked, syscalls;
    uint64_t tls_hs_ok, tls_hs_failed, tls_resumed, proxy_bad, conn_limited;
    uint64_t acc[ACC_N];
    uint64_t comp_resp[3], comp_in, comp_out;
    uint64_t conn_state[METRICS_CONN_STATES];
    uint64_t lat_sum_ns, lat_count;
    uint64_t prom[PROM_BUCKETS];
    uint64_t hdr[LAT_BUCKETS];
} stats_snap;

/* Single-writer increment (see above). */
static inline void ctr_add(counter *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static inline void ctr_sub(counter *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - v,
                          memory_order_relaxed);
}
static inline void ctr_set(counter *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline void stats_response(wstats *s, int status)
{
    unsigned cls = (unsigned)status / 100u;
    if (cls >= 2 && cls <= 5)
        ctr_add(&s->resp[cls - 2], 1);
    ctr_add(&s->requests, 1);
}

/* Record count requests that each took ns nanoseconds. */
void stats_latency(wstats *s, uint64_t ns, uint64_t count);

wstats *stats_new(void);              /* zeroed, 64-byte aligned */
void stats_add_into(stats_snap *dst, const wstats *src);
/* Latency quantile q in [0,1] in nanoseconds (bucket midpoint), 0 if empty. */
double stats_quantile_ns(const stats_snap *s, double q);

/* Prometheus bucket upper bounds, as printed and in nanoseconds. */
extern const char *const prom_le_str[PROM_BUCKETS];

#endif
