/* pacer.c — wakes vex_loadgen's loop at each send time (see below). */
#include "loadgen.h"

#include <errno.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* The loop's waits have millisecond timeouts, and polling without blocking
 * while idle is unfair to a shared CPU (the scheduler then preempts the
 * spinner for whole time slices). So when the next send is due within 2 ms,
 * the loop publishes that moment and blocks; this thread sleeps until it
 * (1 ns timer slack) and wakes the loop with vex_loop_wake(), the one call
 * allowed from another thread, SPIN_NS early; the loop polls without
 * blocking for the last SPIN_NS, as it does whenever it is that busy. */

void *pacer(void *arg)
{
    run *r = arg;
#ifdef PR_SET_TIMERSLACK
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
    uint64_t done = 0;
    pthread_mutex_lock(&r->pace_mu);
    while (!r->pace_stop) {
        if (r->pace_target == 0 || r->pace_target == done) {
            pthread_cond_wait(&r->pace_cv, &r->pace_mu);
            continue;
        }
        uint64_t t = r->pace_target;
        pthread_mutex_unlock(&r->pace_mu);
        /* early by the spin window: waking takes tens of µs, the loop polls the rest */
        uint64_t at = t - SPIN_NS;
        struct timespec ts = {(time_t)(at / NS), (long)(at % NS)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        pthread_mutex_lock(&r->pace_mu);
        if (r->pace_target == t)      /* the loop still waits for this moment */
            vex_loop_wake(r->loop);
        done = t;
    }
    pthread_mutex_unlock(&r->pace_mu);
    return NULL;
}

void pace_set(run *r, uint64_t target)
{
    pthread_mutex_lock(&r->pace_mu);
    r->pace_target = target;
    if (target)
        pthread_cond_signal(&r->pace_cv);
    pthread_mutex_unlock(&r->pace_mu);
}

void on_wake(vex_loop *loop, void *udata)
{
    (void)loop;
    (void)udata;             /* the wake-up itself is the message */
}

