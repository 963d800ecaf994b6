/* hist.c — see hist.h for the layout; it is a file format, change it only with
 * its version. */
#include "hist.h"
#include <math.h>
#include <string.h>

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned log2_u64(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = log2_u64(v);
    if (e >= HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned shift = e - HIST_SUB_BITS;
    unsigned m = (unsigned)(v >> shift);            /* in [2^B, 2^(B+1)) */
    return HIST_SUB + shift * HIST_SUB + (m - HIST_SUB);
}

void hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
    if (i < HIST_SUB) {
        *lo = i;
        *hi = (uint64_t)i + 1;
        return;
    }
    if (i >= HIST_BUCKETS - 1) {
        *lo = (uint64_t)1 << HIST_MAX_EXP;
        *hi = UINT64_MAX;
        return;
    }
    unsigned shift = (i - HIST_SUB) / HIST_SUB;
    uint64_t m = HIST_SUB + (i - HIST_SUB) % HIST_SUB;
    *lo = m << shift;
    *hi = (m + 1) << shift;
}

void hist_record(hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist *into, const hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->total += from->total;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

double hist_percentile(const hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 100)
        q = 100;
    uint64_t rank = (uint64_t)ceil(q / 100.0 * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            hist_bounds(i, &lo, &hi);
            double mid = i >= HIST_BUCKETS - 1 ? (double)h->max
                                               : (double)lo + (double)(hi - 1 - lo) / 2.0;
            if (mid < (double)h->min)
                mid = (double)h->min;
            if (mid > (double)h->max)
                mid = (double)h->max;
            return mid;
        }
    }
    return (double)h->max;
}

void hist_write_json(const hist *h, FILE *f)
{
    fprintf(f, "{\"layout\":\"log-linear/v1\",\"unit\":\"ns\",\"sub_bucket_bits\":%d,"
               "\"max_exponent\":%d,\"buckets\":%d,\"total\":%llu,\"min\":%llu,"
               "\"max\":%llu,\"sum\":%.0f,\"counts\":[",
            HIST_SUB_BITS, HIST_MAX_EXP, HIST_BUCKETS, (unsigned long long)h->total,
            (unsigned long long)(h->total ? h->min : 0), (unsigned long long)h->max, h->sum);
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)h->counts[i]);
    fputs("]}", f);
}
