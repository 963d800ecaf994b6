/*
 * ratelimit.c — the zone table. RL_SHARDS shards, each a fixed array of
 * entries with a chained hash index and an LRU list (indices, not pointers,
 * so an entry is 48 bytes), behind a spin lock (rl_lock) held for a few dozen
 * instructions. The shard is chosen by the high bits of a seeded hash, the
 * bucket by the low ones; the seed comes from /dev/urandom so nobody can aim
 * a set of addresses at one chain.
 */
#include "ratelimit.h"
#include "mix64.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define RL_SHARDS 16u
#define NIL UINT32_MAX

/* A shard's lock: held for a few dozen instructions (a lookup, an LRU move,
 * two additions), so a spin lock, test-and-test-and-set, yielding after a
 * short spin in case the holder was preempted (more threads than cores).
 * pthread_mutex_lock + unlock were ~57 instructions of the ~500 a
 * policy-checked request cost; this is ~6 uncontended. */
typedef struct rl_lock {
    atomic_uint v;
} rl_lock;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline void rl_lock_take(rl_lock *l)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&l->v, 1u, memory_order_acquire)) {
        while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
            if (++spins >= 64) {
                sched_yield();
                spins = 0;
            } else {
                cpu_relax();
            }
        }
    }
}

static inline void rl_lock_drop(rl_lock *l)
{
    atomic_store_explicit(&l->v, 0u, memory_order_release);
}

typedef struct rl_entry {
    uint8_t key[16];
    uint64_t last_ms;
    int64_t excess;           /* thousandths of a request */
    uint32_t hnext;           /* hash chain */
    uint32_t prev, next;      /* LRU: head most recent */
    uint32_t bucket;
} rl_entry;

typedef struct shard {
    rl_lock mu;
    rl_entry *e;
    uint32_t *buckets;        /* heads, nbuckets a power of two */
    uint32_t nbuckets, cap, used;
    uint32_t head, tail, free_head;
    uint64_t evicted;
    uint64_t passed;          /* RLC_ALLOWED by rl_check itself: counted under
                                 the lock it holds anyway, so the common case
                                 writes no zone-wide atomic that every thread
                                 would bounce between cores */
} shard;

struct rl_zone {
    rl_params p;
    atomic_uint refs;
    _Atomic uint64_t n[RLC_N];
    uint64_t seed;
    shard sh[RL_SHARDS];
};

static uint64_t hash_key(const rl_zone *z, uint64_t a, uint64_t b)
{
    return mix64(mix64(a ^ z->seed) ^ b);
}

static bool key_is(const rl_entry *e, uint64_t a, uint64_t b)
{
    uint64_t x, y;
    memcpy(&x, e->key, 8);
    memcpy(&y, e->key + 8, 8);
    return ((x ^ a) | (y ^ b)) == 0;
}

uint64_t rl_seed(void)
{
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);   /* every platform has it */
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
            s = 0;
        close(fd);
    }
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid());
    }
    return s;
}

rl_zone *rl_zone_new(const rl_params *p)
{
    size_t per = sizeof(rl_entry) + 2 * sizeof(uint32_t);   /* entry + ~2 buckets */
    size_t cap = p->size_bytes / RL_SHARDS / per;
    if (cap < 1 || cap > (1u << 30))
        return NULL;
    rl_zone *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->p = *p;
    atomic_init(&z->refs, 1);
    z->seed = rl_seed();
    uint32_t nb = 1;
    while (nb < cap)
        nb <<= 1;
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        shard *s = &z->sh[i];
        atomic_init(&s->mu.v, 0u);
        s->cap = (uint32_t)cap;
        s->nbuckets = nb;
        s->e = malloc(cap * sizeof *s->e);
        s->buckets = malloc(nb * sizeof *s->buckets);
        if (!s->e || !s->buckets) {
            rl_zone_free(z);
            return NULL;
        }
        memset(s->buckets, 0xff, nb * sizeof *s->buckets);
        s->head = s->tail = s->free_head = NIL;
    }
    return z;
}

rl_zone *rl_zone_ref(rl_zone *z)
{
    atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
    return z;
}

const rl_params *rl_zone_params(const rl_zone *z) { return &z->p; }

void rl_zone_note(rl_zone *z, enum rl_counter c)
{
    atomic_fetch_add_explicit(&z->n[c], 1, memory_order_relaxed);
}

void rl_zone_free(rl_zone *z)
{
    if (!z || atomic_fetch_sub_explicit(&z->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        if (!z->sh[i].cap)
            continue;
        free(z->sh[i].e);
        free(z->sh[i].buckets);
    }
    free(z);
}

size_t rl_zone_capacity(const rl_zone *z) { return (size_t)z->sh[0].cap * RL_SHARDS; }

bool rl_params_equal(const rl_params *a, const rl_params *b)
{
    return a->rate_milli == b->rate_milli && a->burst == b->burst && a->delay == b->delay &&
           a->size_bytes == b->size_bytes;
}

static void lru_unlink(shard *s, uint32_t i)
{
    rl_entry *e = &s->e[i];
    if (e->prev != NIL) s->e[e->prev].next = e->next; else s->head = e->next;
    if (e->next != NIL) s->e[e->next].prev = e->prev; else s->tail = e->prev;
}

static void lru_front(shard *s, uint32_t i)
{
    rl_entry *e = &s->e[i];
    e->prev = NIL;
    e->next = s->head;
    if (s->head != NIL)
        s->e[s->head].prev = i;
    s->head = i;
    if (s->tail == NIL)
        s->tail = i;
}

static void hash_unlink(shard *s, uint32_t i)
{
    uint32_t *pp = &s->buckets[s->e[i].bucket];
    while (*pp != i)
        pp = &s->e[*pp].hnext;
    *pp = s->e[i].hnext;
}

/* A slot for a new entry: unused, or the least recently used one. */
static uint32_t take_slot(shard *s)
{
    if (s->used < s->cap)
        return s->used++;
    uint32_t i = s->tail;
    lru_unlink(s, i);
    hash_unlink(s, i);
    s->evicted++;
    return i;
}

rl_result rl_check(rl_zone *z, const uint8_t key[16], uint64_t now_ms, bool account)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return rl_check_words(z, a, b, now_ms, account);
}

/* Everything but rl_check_words' common case, with the shard locked (i: the
 * key's entry or NIL); unlocks. Out of line, so the common case is short. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static rl_result check_locked(rl_zone *z, shard *s, uint32_t b, uint32_t i, uint64_t ka,
                              uint64_t kb, uint64_t now_ms, bool account)
{
    const rl_params *p = &z->p;
    int64_t burst = (int64_t)p->burst * 1000, delay = (int64_t)p->delay * 1000;
    int64_t rate = (int64_t)p->rate_milli;
    rl_result r = { RL_PASS, 0, 0 };
    int64_t excess = 0;
    if (i != NIL) {
        rl_entry *e = &s->e[i];
        /* used, even when rejected (as nginx): a client hammering away over
         * its limit stays the most recent, never the one evicted */
        if (s->head != i) {     /* a steady client is usually already there */
            lru_unlink(s, i);
            lru_front(s, i);
        }
        int64_t ms = now_ms >= e->last_ms ? (int64_t)(now_ms - e->last_ms) : 0;
        excess = e->excess - rate * ms / 1000 + 1000;
        if (excess < 0)
            excess = 0;
        if (excess > burst) {
            r.verdict = RL_REJECT;
            /* excess' - rate*t/1000 + 1000 <= burst */
            uint64_t wait = (uint64_t)((excess - burst) * 1000 + rate - 1) / (uint64_t)rate;
            r.retry_after_s = (wait + 999) / 1000;
            if (r.retry_after_s == 0)
                r.retry_after_s = 1;
        } else if (account) {
            e->excess = excess;
            if (ms)                 /* as nginx: keep sub-millisecond drain */
                e->last_ms = now_ms;
        }
    } else if (account) {
        i = take_slot(s);
        rl_entry *e = &s->e[i];
        memcpy(e->key, &ka, 8);
        memcpy(e->key + 8, &kb, 8);
        e->last_ms = now_ms;
        e->excess = 0;
        e->bucket = b;
        e->hnext = s->buckets[b];
        s->buckets[b] = i;
        lru_front(s, i);
    }
    if (r.verdict == RL_PASS && excess > delay) {
        r.verdict = RL_DELAY;
        r.delay_ms = (uint64_t)((excess - delay) * 1000 / rate);
        if (r.delay_ms == 0)
            r.verdict = RL_PASS;
    }
    if (account && r.verdict == RL_PASS)
        s->passed++;
    rl_lock_drop(&s->mu);
    return r;
}

rl_result rl_check_words(rl_zone *z, uint64_t ka, uint64_t kb, uint64_t now_ms, bool account)
{
    uint64_t h = hash_key(z, ka, kb);
    shard *s = &z->sh[h >> 60];
    uint32_t b = (uint32_t)h & (s->nbuckets - 1);
    rl_lock_take(&s->mu);
    uint32_t i = s->buckets[b];
    while (i != NIL && !key_is(&s->e[i], ka, kb))
        i = s->e[i].hnext;
    /* The common case: a known client, the most recent of its shard, within
     * the rate or its burst's undelayed part; the same arithmetic as
     * check_locked, which decides everything else. */
    if (i != NIL && account && s->head == i) {
        rl_entry *e = &s->e[i];
        const rl_params *p = &z->p;
        int64_t ms = now_ms >= e->last_ms ? (int64_t)(now_ms - e->last_ms) : 0;
        int64_t excess = e->excess - (int64_t)p->rate_milli * ms / 1000 + 1000;
        if (excess < 0)
            excess = 0;
        if (excess <= (int64_t)p->burst * 1000 && excess <= (int64_t)p->delay * 1000) {
            e->excess = excess;
            if (ms)
                e->last_ms = now_ms;
            s->passed++;
            rl_lock_drop(&s->mu);
            return (rl_result){ RL_PASS, 0, 0 };
        }
    }
    return check_locked(z, s, b, i, ka, kb, now_ms, account);
}

void rl_zone_counts(rl_zone *z, rl_counts *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        shard *s = &z->sh[i];
        rl_lock_take(&s->mu);
        out->entries += s->used;
        out->evicted += s->evicted;
        out->n[RLC_ALLOWED] += s->passed;
        rl_lock_drop(&s->mu);
    }
    out->capacity = rl_zone_capacity(z);
    for (unsigned c = 0; c < RLC_N; c++)
        out->n[c] += atomic_load_explicit(&z->n[c], memory_order_relaxed);
}
