/*
 * metrics.c — histogram bucketing, summation and quantiles.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

const char *const prom_le_str[PROM_BUCKETS] = {
    "1e-06", "2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001",
    "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};
static const uint64_t prom_le_ns[PROM_BUCKETS - 1] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
    250000000, 500000000, 1000000000, 2500000000u, 5000000000u, 10000000000u,
};

static inline unsigned lat_index(uint64_t ns)
{
    if (ns < 8)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned idx = (msb - 2) * 8 + (unsigned)((ns >> (msb - 3)) & 7);
    return idx < LAT_BUCKETS ? idx : LAT_BUCKETS - 1;
}

/* [lo, hi) of bucket idx in nanoseconds. */
static void lat_bounds(unsigned idx, double *lo, double *hi)
{
    if (idx < 8) {
        *lo = idx;
        *hi = idx + 1;
        return;
    }
    unsigned msb = idx / 8 + 2, sub = idx % 8;
    double w = (double)((uint64_t)1 << (msb - 3));
    *lo = (8 + sub) * w;
    *hi = *lo + w;
}

void stats_latency(wstats *s, uint64_t ns, uint64_t count)
{
    ctr_add(&s->hdr[lat_index(ns)], count);
    unsigned b = 0;
    /* Latencies are mostly in the first buckets: a short scan beats a search. */
    while (b < PROM_BUCKETS - 1 && ns > prom_le_ns[b])
        b++;
    ctr_add(&s->prom[b], count);
    ctr_add(&s->lat_sum_ns, ns * count);
    ctr_add(&s->lat_count, count);
}

wstats *stats_new(void)
{
    size_t sz = (sizeof(wstats) + 63) & ~(size_t)63;
    wstats *s = aligned_alloc(64, sz);
    if (s)
        memset(s, 0, sz);
    return s;
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void stats_add_into(stats_snap *d, const wstats *s)
{
    wstats *m = (wstats *)s;   /* atomic_load wants a non-const pointer in C11 */
    d->conns_total += LD(m->conns_total);
    d->conns_active += LD(m->conns_active);
    d->requests += LD(m->requests);
    d->bytes_rx += LD(m->bytes_rx);
    d->bytes_tx += LD(m->bytes_tx);
    for (int i = 0; i < 4; i++)
        d->resp[i] += LD(m->resp[i]);
    d->errors += LD(m->errors);
    d->timeouts += LD(m->timeouts);
    d->rejected += LD(m->rejected);
    d->parked += LD(m->parked);
    d->tls_hs_ok += LD(m->tls_hs_ok);
    for (int i = 0; i < 3; i++)
        d->comp_resp[i] += LD(m->comp_resp[i]);
    d->comp_in += LD(m->comp_in);
    d->comp_out += LD(m->comp_out);
    d->tls_hs_failed += LD(m->tls_hs_failed);
    d->proxy_bad += LD(m->proxy_bad);
    d->conn_limited += LD(m->conn_limited);
    for (int i = 0; i < ACC_N; i++)
        d->acc[i] += LD(m->acc[i]);
    d->tls_resumed += LD(m->tls_resumed);
    for (int i = 0; i < METRICS_CONN_STATES; i++)
        d->conn_state[i] += LD(m->conn_state[i]);
    d->syscalls += LD(m->syscalls);
    d->lat_sum_ns += LD(m->lat_sum_ns);
    d->lat_count += LD(m->lat_count);
    for (int i = 0; i < PROM_BUCKETS; i++)
        d->prom[i] += LD(m->prom[i]);
    for (int i = 0; i < LAT_BUCKETS; i++)
        d->hdr[i] += LD(m->hdr[i]);
}

double stats_quantile_ns(const stats_snap *s, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < LAT_BUCKETS; i++)
        total += s->hdr[i];
    if (total == 0)
        return 0;
    /* rank of the q-th observation, 1-based, as in nearest-rank */
    double rank = q * (double)total;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += s->hdr[i];
        if ((double)seen >= rank) {
            double lo, hi;
            lat_bounds(i, &lo, &hi);
            return (lo + hi) / 2;
        }
    }
    return 0;
}
