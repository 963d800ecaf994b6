/*
 * bench_slowdown.h — fixed extra work per request, compiled in only by
 * `make BENCH_SLOWDOWN=N` (binaries land in build/<backend>-slowN/). The CI
 * gate's validation benchmark uses it to prove that the gate notices a
 * slowdown of known size. Never part of a normal build.
 *
 * One unit is one xorshift step (a few dependent cycles, about 1 ns); the
 * volatile sink keeps the compiler from deleting the loop.
 */
#ifndef VEX_BENCH_SLOWDOWN_H
#define VEX_BENCH_SLOWDOWN_H

#include <stdint.h>

#ifdef VEX_BENCH_SLOWDOWN
static inline void bench_slowdown(void)
{
    static volatile uint64_t sink;
    uint64_t x = sink | 1;
    for (long i = 0; i < (long)(VEX_BENCH_SLOWDOWN); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink = x;
}
#else
static inline void bench_slowdown(void) {}
#endif

#endif
