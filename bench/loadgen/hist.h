/*
 * hist.h — log-linear latency histogram of vex_loadgen, in nanoseconds.
 *
 * Layout "log-linear/v1" (also implemented by scripts/vexbench/histogram.py;
 * the two must agree bucket for bucket, so histograms written on different
 * hosts merge exactly by adding counts):
 *   - values below 2^B ns (B = HIST_SUB_BITS = 7, so below 128 ns) have one
 *     bucket each;
 *   - a value v >= 2^B with e = floor(log2 v) falls in bucket
 *       2^B + (e - B) * 2^B + ((v >> (e - B)) - 2^B),
 *     which covers [m << (e-B), (m+1) << (e-B)) for m = v >> (e-B) in
 *     [2^B, 2^(B+1)): its width is at most 1/128 of its lower edge, so the
 *     bucket's midpoint is within 0.39% of every value in it (0.78% for the
 *     upper edge), far inside the 1% promised from 1 µs to 1 min;
 *   - values from 2^HIST_MAX_EXP ns (2^36 ns = 68.7 s) up go to one overflow
 *     bucket, the last.
 * Percentiles are nearest-rank over the counts (rank = ceil(q/100 * total)),
 * reported as the bucket's midpoint (clamped to the exact min and max seen).
 */
#ifndef VEX_LOADGEN_HIST_H
#define VEX_LOADGEN_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_EXP 36
#define HIST_SUB (1u << HIST_SUB_BITS)
/* exact buckets + one group per octave from 2^B to 2^MAX_EXP + overflow */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB + 1)

typedef struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;      /* exact, ns (min = UINT64_MAX when empty) */
    double sum;             /* ns, for the mean */
} hist;

void hist_init(hist *h);
unsigned hist_index(uint64_t v);
/* [lo, hi) of bucket i in ns; the overflow bucket's hi is UINT64_MAX. */
void hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi);
void hist_record(hist *h, uint64_t v);
void hist_merge(hist *into, const hist *from);
/* Nearest-rank percentile q in [0, 100], ns; 0 when empty. */
double hist_percentile(const hist *h, double q);
/* {"layout":"log-linear/v1",...,"counts":[every bucket]} */
void hist_write_json(const hist *h, FILE *f);

#endif
