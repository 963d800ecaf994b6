/*
 * ratelimit.h — nginx limit_req's leaky bucket over a bounded table shared
 * by every worker thread: one zone per rule, keyed on a client address (or
 * its /N prefix), split into shards each behind its own mutex, so a client
 * that SO_REUSEPORT spreads over N workers sees the same limit as with one.
 *
 * Per key the zone keeps `excess` (in thousandths of a request) and the time
 * of the last accepted request, exactly as nginx does: a request adds 1000,
 * time drains rate*ms/1000, and a request that would raise excess above
 * burst*1000 is rejected without changing the entry. The zone's memory is
 * fixed at creation (zone size in bytes); when a shard is full the least
 * recently used entry is evicted (counted).
 */
#ifndef VEX_SERVER_RATELIMIT_H
#define VEX_SERVER_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rl_params {
    uint64_t rate_milli;      /* thousandths of a request per second (10r/s: 10000) */
    uint64_t burst;           /* requests above the rate that may queue */
    uint64_t delay;           /* of those, how many pass at once (nodelay: burst) */
    size_t size_bytes;        /* the table's memory, entries and index */
} rl_params;

enum rl_verdict { RL_PASS = 0, RL_DELAY, RL_REJECT };

typedef struct rl_result {
    enum rl_verdict verdict;
    uint64_t delay_ms;        /* RL_DELAY: hold the request this long */
    uint64_t retry_after_s;   /* RL_REJECT: when one more would pass (>= 1) */
} rl_result;

typedef struct rl_zone rl_zone;

/* NULL: out of memory, or size_bytes too small for one entry per shard. */
rl_zone *rl_zone_new(const rl_params *p);
/* Zones are reference counted: a reload that keeps a zone's parameters
 * keeps its state (rl_zone_ref), and the last holder frees it. */
rl_zone *rl_zone_ref(rl_zone *z);
void rl_zone_free(rl_zone *z);
const rl_params *rl_zone_params(const rl_zone *z);
size_t rl_zone_capacity(const rl_zone *z);     /* entries it can hold */
/* Same parameters: a reload may keep the state. */
bool rl_params_equal(const rl_params *a, const rl_params *b);

/* Account one request of key (16 bytes) at now_ms. account=false only asks
 * (dry run): the entry is not changed. Thread-safe. An accounted RL_PASS is
 * counted as RLC_ALLOWED here; the caller notes every other decision. */
rl_result rl_check(rl_zone *z, const uint8_t key[16], uint64_t now_ms, bool account);
/* The same with the key as its two 8-byte halves, as memcpy'd from it. */
rl_result rl_check_words(rl_zone *z, uint64_t ka, uint64_t kb, uint64_t now_ms, bool account);

/* Decisions other than rl_check's own passes, counted by the policy that
 * asks (limit_policy.c). */
enum rl_counter { RLC_ALLOWED, RLC_DELAYED, RLC_REJECTED, RLC_DRY_RUN, RLC_N };
void rl_zone_note(rl_zone *z, enum rl_counter c);

/* Counters of the zone, for /metrics. */
typedef struct rl_counts {
    uint64_t entries, capacity, evicted;
    uint64_t n[RLC_N];
} rl_counts;
void rl_zone_counts(rl_zone *z, rl_counts *out);

/* 64 random bits (/dev/urandom) for a table's hash seed. */
uint64_t rl_seed(void);

#endif
