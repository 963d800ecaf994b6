/* sock_pool.c — where the loop's sockets live: fixed-size blocks carved
 * from larger chunks, so a connection costs its struct and no more.
 *
 * Why not calloc: glibc gives each allocation 8 bytes of header and rounds
 * it up to 16, so an 80-byte socket takes 96 bytes and a 104-byte one 112;
 * at 10 000 idle connections that is 160 KiB on readiness backends, and
 * idle RSS per connection is a target (README, "Memory per idle
 * connection"). Blocks are handed out from the newest chunk in order, so a
 * chunk's untouched tail costs no RSS; freed blocks are reused first (a
 * free list through their first word). Chunks go back only when the loop
 * is freed: like the server's connection pool, the loop keeps the pages of
 * its high-water mark so the next burst costs no page faults.
 *
 * Sanitizer builds take each socket from calloc instead, so that
 * AddressSanitizer still sees a use after free of one. */
#include "loop_internal.h"
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define VEX__POOL_CALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VEX__POOL_CALLOC 1
#endif
#endif

/* Blocks per chunk: 256 x 104 bytes is 26 KiB, below glibc's mmap
 * threshold, and a chunk is a few pages of a 10 000-connection server. */
#define POOL_BLOCKS 256u

/* A chunk: its link, then the blocks (16-byte aligned, as malloc's). */
typedef struct pool_chunk {
    struct pool_chunk *next;
    void *pad_;
} pool_chunk;

#ifndef VEX__POOL_CALLOC
static size_t block_size(void)
{
    /* 8-byte steps: io_uring.c tags a socket's address with its low 3 bits. */
    return (vex__backend_sock_size + 7u) & ~(size_t)7u;
}
#endif

vex_sock *vex__sock_alloc(vex_loop *l)
{
#ifdef VEX__POOL_CALLOC
    (void)l;
    return calloc(1, vex__backend_sock_size);
#else
    size_t size = block_size();
    void *b = l->pool_free;
    if (b) {
        memcpy(&l->pool_free, b, sizeof l->pool_free);
    } else {
        if (l->pool_next == l->pool_end) {
            pool_chunk *c = malloc(sizeof *c + POOL_BLOCKS * size);
            if (!c)
                return NULL;
            c->next = l->pool_chunks;
            l->pool_chunks = c;
            l->pool_next = (char *)(c + 1);
            l->pool_end = l->pool_next + POOL_BLOCKS * size;
        }
        b = l->pool_next;
        l->pool_next += size;
    }
    memset(b, 0, size);
    return b;
#endif
}

void vex__sock_free(vex_loop *l, vex_sock *s)
{
#ifdef VEX__POOL_CALLOC
    (void)l;
    free(s);
#else
    memcpy(s, &l->pool_free, sizeof l->pool_free);
    l->pool_free = s;
#endif
}

void vex__sock_pool_free(vex_loop *l)
{
    while (l->pool_chunks) {
        pool_chunk *c = l->pool_chunks;
        l->pool_chunks = c->next;
        free(c);
    }
    l->pool_free = NULL;
    l->pool_next = l->pool_end = NULL;
}
