/*
 * connlimit.c — 16 shards, each a mutex, a chained hash index and a free
 * list over a fixed array of {key, count}. An entry whose count drops to 0
 * is freed at once.
 */
#include "connlimit.h"
#include "mix64.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "ratelimit.h"

#define CL_SHARDS 16u
#define NIL UINT32_MAX

typedef struct cl_entry {
    uint8_t key[16];
    uint32_t count, next;     /* next: hash chain, or the free list */
} cl_entry;

typedef struct cl_shard {
    pthread_mutex_t mu;
    cl_entry *e;
    uint32_t *buckets;
    uint32_t nbuckets, free_head, used, cap;
} cl_shard;

struct cl_table {
    uint64_t seed;
    cl_shard sh[CL_SHARDS];
};

void cl_key(const uint8_t addr[16], uint8_t key[16])
{
    cidr_mask(key, addr, cidr_is_v4(addr) ? 128 : 64);
}

cl_table *cl_table_new(uint32_t capacity)
{
    cl_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->seed = rl_seed();
    /* Four times a shard's share, plus 64: the hash is seeded from
     * /dev/urandom, so no client set can be aimed at one shard, and a shard
     * holding 4x its mean of distinct clients does not happen by chance at
     * any size that matters. Virtual memory: 96 bytes per connection of
     * the limit; pages are touched only as clients come. */
    uint32_t cap = capacity / 4 + 64, nb = 1;
    while (nb < cap / 4 + 1)
        nb <<= 1;
    for (unsigned i = 0; i < CL_SHARDS; i++) {
        cl_shard *s = &t->sh[i];
        pthread_mutex_init(&s->mu, NULL);
        s->e = malloc((size_t)cap * sizeof *s->e);
        s->buckets = malloc((size_t)nb * sizeof *s->buckets);
        s->nbuckets = nb;
        if (!s->e || !s->buckets) {
            cl_table_free(t);
            return NULL;
        }
        memset(s->buckets, 0xff, (size_t)nb * sizeof *s->buckets);
        s->free_head = NIL;       /* entries are touched only when first used */
        s->cap = cap;
    }
    return t;
}

void cl_table_free(cl_table *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < CL_SHARDS; i++) {
        if (t->sh[i].nbuckets)
            pthread_mutex_destroy(&t->sh[i].mu);
        free(t->sh[i].e);
        free(t->sh[i].buckets);
    }
    free(t);
}

static cl_shard *shard_of(cl_table *t, const uint8_t key[16], uint32_t **head)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = mix64(mix64(a ^ t->seed) ^ b);
    cl_shard *s = &t->sh[h >> 60];
    *head = &s->buckets[(uint32_t)h & (s->nbuckets - 1)];
    return s;
}

bool cl_acquire(cl_table *t, const uint8_t key[16], uint32_t max)
{
    uint32_t *head;
    cl_shard *s = shard_of(t, key, &head);
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    uint32_t i = *head;
    while (i != NIL && memcmp(s->e[i].key, key, 16) != 0)
        i = s->e[i].next;
    if (i != NIL) {
        if (s->e[i].count < max) {
            s->e[i].count++;
            ok = true;
        }
    } else if (max > 0 && (s->free_head != NIL || s->used < s->cap)) {
        if (s->free_head != NIL) {
            i = s->free_head;
            s->free_head = s->e[i].next;
        } else {
            i = s->used++;
        }
        memcpy(s->e[i].key, key, 16);
        s->e[i].count = 1;
        s->e[i].next = *head;
        *head = i;
        ok = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void cl_release(cl_table *t, const uint8_t key[16])
{
    uint32_t *head;
    cl_shard *s = shard_of(t, key, &head);
    pthread_mutex_lock(&s->mu);
    uint32_t *pp = head;
    while (*pp != NIL && memcmp(s->e[*pp].key, key, 16) != 0)
        pp = &s->e[*pp].next;
    uint32_t i = *pp;
    if (i != NIL && --s->e[i].count == 0) {
        *pp = s->e[i].next;
        s->e[i].next = s->free_head;
        s->free_head = i;
    }
    pthread_mutex_unlock(&s->mu);
}
