/*
 * test_timers.c — timer order (by due time, then start order), periodic
 * timers, vex_timer_stop (also from callbacks), re-arming, and timers
 * bounding vex_loop_run_once(-1) / ending vex_loop_run.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMERS 2048

typedef struct tlog {
    int order[MAX_TIMERS * 2];
    uint64_t at[MAX_TIMERS * 2];    /* h_now_ms() at each firing */
    int n, want;
} tlog;

typedef struct tctx {
    vex_timer t;
    int id, calls, stop_after;      /* stop_after: stop self at that call */
    int restarts_left;              /* re-arm self with after_ms = 5 */
    vex_timer *victim;              /* stop this one when firing */
    tlog *log;
} tctx;

static void on_timer(vex_loop *l, vex_timer *t)
{
    tctx *c = t->data;
    c->calls++;
    if (c->log && c->log->n < MAX_TIMERS * 2) {
        c->log->order[c->log->n] = c->id;
        c->log->at[c->log->n++] = h_now_ms();
    }
    if (c->victim)
        vex_timer_stop(l, c->victim);
    if (c->stop_after && c->calls >= c->stop_after)
        vex_timer_stop(l, t);
    if (c->restarts_left > 0) {
        c->restarts_left--;
        vex_timer_start(l, t, 5, 0, on_timer, c);
    }
}

static void tctx_start(vex_loop *l, tctx *c, int id, uint64_t after,
                       uint64_t period, tlog *log)
{
    c->id = id;
    c->log = log;
    if (vex_timer_start(l, &c->t, after, period, on_timer, c) != 0)
        fail_msg("vex_timer_start(timer %d): %s", id, strerror(errno));
}

static bool log_has_want(void *arg)
{
    tlog *log = arg;
    return log->n >= log->want;
}

/* Runs until log holds want entries (or timeout). */
static bool run_until_logged(vex_loop *l, tlog *log, int want, int timeout_ms)
{
    log->want = want;
    return h_run_until(l, log_has_want, log, timeout_ms);
}

/* ---- order ------------------------------------------------------------------------- */

static void test_timers_fire_in_due_order(void **state)
{
    (void)state;
    static const uint64_t delays[] = { 60, 10, 40, 0, 50, 20, 30 };
    enum { N = sizeof delays / sizeof delays[0] };
    vex_loop *l = h_loop_new(NULL);
    assert_true(vex_loop_run_once(l, 0) >= 0);
    tlog *log = calloc(1, sizeof *log);
    tctx c[N];
    memset(c, 0, sizeof c);
    /* Lower bounds are measured from the loop's cached time: a timer may
     * count from it (libuv style) or from a fresh reading, never earlier. */
    uint64_t t0 = vex_now_ms(l);
    for (int i = 0; i < N; i++)
        tctx_start(l, &c[i], i, delays[i], 0, log);
    bool all = run_until_logged(l, log, N, 3000);
    h_run_for(l, 50);
    h_loop_free(l);

    tlog res = *log;
    free(log);
    assert_true(all);
    assert_int_equal(res.n, N);
    static const int want[N] = { 3, 1, 5, 6, 2, 4, 0 };
    for (int i = 0; i < N; i++) {
        if (res.order[i] != want[i])
            fail_msg("firing %d was timer %d (%llu ms), expected timer %d (%llu ms)",
                     i, res.order[i], (unsigned long long)delays[res.order[i]],
                     want[i], (unsigned long long)delays[want[i]]);
        uint64_t delay = delays[want[i]], at = res.at[i] - t0;
        if (at < delay || at > delay + 1000)
            fail_msg("timer of %llu ms fired after %llu ms",
                     (unsigned long long)delay, (unsigned long long)at);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(vex_timer_active(&c[i].t), 0);   /* one-shot done */
    }
}

/* Timers started one after another: for i started before j with
 * delay_i <= delay_j, i is due no later than j (whatever clock reading
 * vex_timer_start uses), so i must fire first; equal due times fire in
 * start order. Checks every pair; reports the first violation. */
static void assert_fired_in_order(const tlog *log, const uint64_t *delays, int n)
{
    int *pos = malloc((size_t)n * sizeof *pos);
    assert_non_null(pos);
    for (int i = 0; i < n; i++)
        pos[i] = -1;
    int dup = -1;
    for (int k = 0; k < log->n; k++) {
        int id = log->order[k];
        if (id < 0 || id >= n || pos[id] >= 0)
            dup = id;
        else
            pos[id] = k;
    }
    int bad_i = -1, bad_j = -1;
    for (int i = 0; i < n && bad_i < 0; i++)
        for (int j = i + 1; j < n; j++)
            if (delays[i] <= delays[j] && pos[i] > pos[j]) {
                bad_i = i;
                bad_j = j;
                break;
            }
    int pi = bad_i >= 0 ? pos[bad_i] : 0, pj = bad_i >= 0 ? pos[bad_j] : 0;
    free(pos);
    if (dup >= 0)
        fail_msg("timer %d fired more than once", dup);
    assert_int_equal(log->n, n);
    if (bad_i >= 0)
        fail_msg("timer %d (%llu ms, started later) fired as #%d, before "
                 "timer %d (%llu ms, started earlier) as #%d", bad_j,
                 (unsigned long long)delays[bad_j], pj, bad_i,
                 (unsigned long long)delays[bad_i], pi);
}

/* 64 timers alternating 20 ms and 40 ms: each group fires in start order
 * (a heap without a sequence tie-break fails this). */
static void test_equal_delays_fire_in_start_order(void **state)
{
    (void)state;
    enum { N = 64 };
    uint64_t delays[N];
    vex_loop *l = h_loop_new(NULL);
    tlog *log = calloc(1, sizeof *log);
    tctx *c = calloc(N, sizeof *c);
    for (int i = 0; i < N; i++) {
        delays[i] = (i & 1) ? 40 : 20;
        tctx_start(l, &c[i], i, delays[i], 0, log);
    }
    bool all = run_until_logged(l, log, N, 3000);
    h_run_for(l, 20);
    h_loop_free(l);
    free(c);
    tlog res = *log;
    free(log);
    assert_true(all);
    assert_fired_in_order(&res, delays, N);
}

/* 2000 timers with pseudo-random delays 0..150 ms (many equal). */
static void test_many_timers_fire_sorted_by_due_then_start(void **state)
{
    (void)state;
    enum { N = 2000 };
    static uint64_t delays[N];
    uint32_t seed = 2463534242u;
    for (int i = 0; i < N; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        delays[i] = seed % 151;
    }
    vex_loop *l = h_loop_new(NULL);
    tlog *log = calloc(1, sizeof *log);
    tctx *c = calloc(N, sizeof *c);
    for (int i = 0; i < N; i++)
        tctx_start(l, &c[i], i, delays[i], 0, log);
    bool all = run_until_logged(l, log, N, 5000);
    h_run_for(l, 20);
    h_loop_free(l);
    free(c);
    assert_true(all);
    assert_fired_in_order(log, delays, N);
    free(log);
}

/* ---- periodic and stop ---------------------------------------------------------------- */

static bool calls_reached(void *arg)
{
    tctx *c = arg;
    return c->calls >= c->stop_after;
}

static void test_periodic_timer_repeats_then_stops_itself(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    tctx c;
    memset(&c, 0, sizeof c);
    c.stop_after = 10;
    uint64_t t0 = vex_now_ms(l);
    tctx_start(l, &c, 0, 10, 10, NULL);
    bool reached = h_run_until(l, calls_reached, &c, 3000);
    uint64_t elapsed = h_now_ms() - t0;
    int active_after_stop = vex_timer_active(&c.t);
    h_run_for(l, 100);
    h_loop_free(l);

    assert_true(reached);
    assert_int_equal(c.calls, 10);          /* none after the stop */
    assert_int_equal(active_after_stop, 0);
    if (elapsed < 90)
        fail_msg("10 periods of 10 ms took only %llu ms",
                 (unsigned long long)elapsed);
}

/* A fires first and stops B, which is due at the same time: B must not
 * fire (stopped timers never run, even if already collected as due). */
static void test_stop_other_due_timer_from_callback(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    tctx a, b, p;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&p, 0, sizeof p);
    a.victim = &b.t;
    tctx_start(l, &a, 0, 15, 0, NULL);
    tctx_start(l, &b, 1, 15, 0, NULL);
    p.stop_after = 3;                        /* periodic, stops itself */
    tctx_start(l, &p, 2, 5, 5, NULL);
    h_run_for(l, 150);
    int b_active = vex_timer_active(&b.t);
    h_loop_free(l);
    assert_int_equal(a.calls, 1);
    if (b.calls)
        fail_msg("a timer stopped by an earlier callback in the same turn fired");
    assert_int_equal(b_active, 0);
    assert_int_equal(p.calls, 3);
}

/* ---- re-arming --------------------------------------------------------------------------- */

static void test_restart_armed_timer_moves_its_deadline(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    tlog *log = calloc(1, sizeof *log);
    tctx later, sooner;
    memset(&later, 0, sizeof later);
    memset(&sooner, 0, sizeof sooner);
    uint64_t t0 = vex_now_ms(l);
    tctx_start(l, &later, 0, 30, 0, log);
    tctx_start(l, &later, 0, 200, 0, log);  /* re-arm: now 200 ms */
    tctx_start(l, &sooner, 1, 1000, 0, log);
    tctx_start(l, &sooner, 1, 20, 0, log);  /* re-arm: now 20 ms */
    int active = vex_timer_active(&later.t) && vex_timer_active(&sooner.t);
    bool both = run_until_logged(l, log, 2, 3000);
    h_run_for(l, 150);                      /* any stale entry would fire */
    h_loop_free(l);

    tlog res = *log;
    free(log);
    assert_true(active);
    assert_true(both);
    assert_int_equal(res.n, 2);
    assert_int_equal(later.calls, 1);
    assert_int_equal(sooner.calls, 1);
    assert_int_equal(res.order[0], 1);
    assert_int_equal(res.order[1], 0);
    if (res.at[1] - t0 < 190)
        fail_msg("timer re-armed to 200 ms fired after %llu ms",
                 (unsigned long long)(res.at[1] - t0));
    if (res.at[0] - t0 > 900)
        fail_msg("timer re-armed to 20 ms fired after %llu ms",
                 (unsigned long long)(res.at[0] - t0));
}

static bool restarts_done(void *arg)
{
    tctx *c = arg;
    return c->calls >= 6;
}

static void test_restart_from_own_callback(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    tctx c;
    memset(&c, 0, sizeof c);
    c.restarts_left = 5;
    tctx_start(l, &c, 0, 5, 0, NULL);
    bool done = h_run_until(l, restarts_done, &c, 3000);
    h_run_for(l, 60);
    int active = vex_timer_active(&c.t);
    h_loop_free(l);
    assert_true(done);
    assert_int_equal(c.calls, 6);
    assert_int_equal(active, 0);
}

/* ---- timers and waiting ---------------------------------------------------------------------- */

typedef struct guard {
    vex_loop *loop;
    atomic_int stop, fired;
} guard;

static void *guard_main(void *arg)
{
    guard *g = arg;
    for (int i = 0; i < 200 && !atomic_load(&g->stop); i++)
        h_sleep_ms(10);
    if (!atomic_load(&g->stop)) {
        atomic_store(&g->fired, 1);
        vex_loop_wake(g->loop);
    }
    return NULL;
}

/* run_once(-1) waits for the next timer, not forever (a guard thread wakes
 * the loop after 2 s so a broken backend fails instead of hanging). */
static void test_run_once_infinite_wait_ends_at_next_timer(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    tlog *log = calloc(1, sizeof *log);
    tctx c;
    memset(&c, 0, sizeof c);
    uint64_t t0 = h_now_ms(), base = vex_now_ms(l);
    tctx_start(l, &c, 0, 50, 0, log);
    guard g;
    memset(&g, 0, sizeof g);
    g.loop = l;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, guard_main, &g), 0);
    int rc = 0, turns = 0;
    while (c.calls == 0 && turns++ < 5 && !atomic_load(&g.fired))
        if ((rc = vex_loop_run_once(l, -1)) < 0 && errno != EINTR)
            break;
    uint64_t elapsed = h_now_ms() - t0;
    atomic_store(&g.stop, 1);
    pthread_join(th, NULL);
    h_loop_free(l);
    uint64_t fired_after = log->n ? log->at[0] - base : 0;
    free(log);
    assert_true(rc >= 0);
    if (c.calls != 1 || elapsed > 1000)
        fail_msg("vex_loop_run_once(-1) with a 50 ms timer: %d call(s) after "
                 "%llu ms%s", c.calls, (unsigned long long)elapsed,
                 atomic_load(&g.fired) ? " (woken by the 2 s guard)" : "");
    if (fired_after < 50)
        fail_msg("50 ms timer fired %llu ms after the loop's time at start",
                 (unsigned long long)fired_after);
}

static void stop_loop_timer(vex_loop *l, vex_timer *t)
{
    (*(int *)t->data)++;
    vex_loop_stop(l);
}

static void test_loop_run_returns_after_stop_from_timer(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int fired = 0;
    vex_timer t = VEX_TIMER_INIT;
    assert_int_equal(vex_timer_start(l, &t, 20, 0, stop_loop_timer, &fired), 0);
    uint64_t t0 = h_now_ms();
    int rc = vex_loop_run(l);
    uint64_t elapsed = h_now_ms() - t0;
    /* The loop can run again after a stop. */
    assert_int_equal(vex_timer_start(l, &t, 10, 0, stop_loop_timer, &fired), 0);
    int rc2 = vex_loop_run(l);
    h_loop_free(l);
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(fired, 2);
    assert_true(elapsed < 1000);
}

int h_group_timers(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_timers_fire_in_due_order),
        H_TEST(test_equal_delays_fire_in_start_order),
        H_TEST(test_many_timers_fire_sorted_by_due_then_start),
        H_TEST(test_periodic_timer_repeats_then_stops_itself),
        H_TEST(test_stop_other_due_timer_from_callback),
        H_TEST(test_restart_armed_timer_moves_its_deadline),
        H_TEST(test_restart_from_own_callback),
        H_TEST(test_run_once_infinite_wait_ends_at_next_timer),
        H_TEST(test_loop_run_returns_after_stop_from_timer),
    };
    return cmocka_run_group_tests_name("timers", tests, NULL, NULL);
}
