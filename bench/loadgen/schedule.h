/*
 * schedule.h — when each request of an open-loop run is meant to be sent.
 *
 * Offsets are nanoseconds from the run's start. Constant rate: request i at
 * floor(i * 1e9 / rate), computed from i each time so there is no drift.
 * Poisson: exponential gaps of mean 1/rate from a seeded splitmix64, so a
 * seed reproduces the schedule exactly (scripts/vexbench tests check both).
 */
#ifndef VEX_LOADGEN_SCHEDULE_H
#define VEX_LOADGEN_SCHEDULE_H

#include <stdint.h>

typedef enum { SCHED_CONSTANT, SCHED_POISSON } sched_kind;

typedef struct schedule {
    sched_kind kind;
    double rate;          /* requests per second, > 0 */
    uint64_t i;           /* requests scheduled so far */
    uint64_t rng;         /* splitmix64 state (Poisson) */
    double t_ns;          /* Poisson: offset of the last request */
} schedule;

void schedule_init(schedule *s, sched_kind kind, double rate, uint64_t seed);
/* Offset of the next request, in ns from the start. */
uint64_t schedule_next(schedule *s);

#endif
