#include "schedule.h"
#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void schedule_init(schedule *s, sched_kind kind, double rate, uint64_t seed)
{
    s->kind = kind;
    s->rate = rate;
    s->i = 0;
    s->rng = seed;
    s->t_ns = 0;
}

uint64_t schedule_next(schedule *s)
{
    uint64_t i = s->i++;
    if (s->kind == SCHED_CONSTANT)
        return (uint64_t)((double)i * 1e9 / s->rate);
    if (i == 0)
        return 0;     /* the first request opens the run in both kinds */
    /* uniform in (0, 1]: 53 random bits, never 0, so log() is finite */
    double u = ((double)(splitmix64(&s->rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    s->t_ns += -log(u) * 1e9 / s->rate;
    return (uint64_t)s->t_ns;
}
