/*
 * detclock.c — a deterministic clock for the gate's instruction-count mode.
 *
 * LD_PRELOADed into the server under callgrind (ci/perfgate/determ.py builds it with
 * `cc -shared -fPIC`). Every clock read returns the previous reading plus one
 * microsecond, starting at a fixed date, so time-dependent work — latency histogram
 * bucket scans, Date header refreshes — is the same in every run and the instruction
 * count of a fixed request sequence repeats exactly. Sleeping and epoll timeouts still
 * use real time; the gate's client never leaves a connection open across shutdown, so
 * no drain waits on this clock.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>

#define DETCLOCK_EPOCH_S 1700000000ULL   /* 2023-11-14T22:13:20Z */
#define DETCLOCK_STEP_NS 1000ULL

static atomic_ullong detclock_reads;

static unsigned long long detclock_next_ns(void)
{
    unsigned long long n = atomic_fetch_add_explicit(&detclock_reads, 1, memory_order_relaxed);
    return DETCLOCK_EPOCH_S * 1000000000ULL + n * DETCLOCK_STEP_NS;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    (void)id;
    unsigned long long t = detclock_next_ns();
    ts->tv_sec = (time_t)(t / 1000000000ULL);
    ts->tv_nsec = (long)(t % 1000000000ULL);
    return 0;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    unsigned long long t = detclock_next_ns();
    tv->tv_sec = (time_t)(t / 1000000000ULL);
    tv->tv_usec = (suseconds_t)(t % 1000000000ULL / 1000ULL);
    return 0;
}

time_t time(time_t *out)
{
    time_t s = (time_t)(detclock_next_ns() / 1000000000ULL);
    if (out)
        *out = s;
    return s;
}
