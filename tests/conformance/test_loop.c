/*
 * test_loop.c — loop-level contract: backend identity, the syscall counter,
 * vex_loop_wake from threads and signal handlers, vex_loop_free with live
 * sockets.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---- identity and counters --------------------------------------------------- */

static void test_backend_name_is_one_of_four(void **state)
{
    (void)state;
    static const char *const names[] = { "epoll", "io_uring", "kqueue", "poll" };
    const char *name = vex_backend_name();
    assert_non_null(name);
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= strcmp(name, names[i]) == 0;
    if (!known)
        fail_msg("vex_backend_name() = \"%s\"", name);
    char why[128] = "";
    assert_int_equal(vex_backend_available(why, sizeof why), 1);
    assert_int_equal(vex_backend_available(NULL, 0), 1);
}

static void test_loop_new_with_defaults_and_config(void **state)
{
    (void)state;
    vex_loop *a = h_loop_new(NULL);
    vex_loop_config cfg = { .max_fds = 256, .recv_buf_size = 4096,
                            .recv_buf_count = 64, .write_high_water = 65536,
                            .ring_entries = 256 };
    vex_loop *b = h_loop_new(&cfg);
    assert_true(vex_loop_run_once(a, 0) >= 0);
    assert_true(vex_loop_run_once(b, 0) >= 0);
    h_loop_free(a);
    h_loop_free(b);
}

static void test_now_ms_follows_monotonic_clock(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    assert_true(vex_loop_run_once(l, 0) >= 0);
    uint64_t t0 = vex_now_ms(l);
    h_sleep_ms(60);
    assert_true(vex_loop_run_once(l, 0) >= 0);
    uint64_t t1 = vex_now_ms(l);
    h_loop_free(l);
    if (t1 < t0 + 50 || t1 > t0 + 2000)
        fail_msg("vex_now_ms advanced by %lld ms over a 60 ms sleep",
                 (long long)(t1 - t0));
}

static void test_syscall_counter_increases_with_io(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    h_rec r;
    h_rec_init(&r, s);
    assert_int_equal(vex_sock_add(l, s, &h_rec_cbs, &r), 0);

    uint64_t before = vex_loop_syscalls(l);
    assert_int_equal(h_send_all(c, "ping", 4, 1000), 4);
    r.expect = 4;
    bool got = h_run_until(l, h_rec_has_expected, &r, 3000);
    uint64_t after_read = vex_loop_syscalls(l);
    ssize_t w = vex_write(l, s, "pong", 4);
    h_run_for(l, 30);
    uint64_t after_write = vex_loop_syscalls(l);
    char back[4] = { 0 };
    size_t n = h_recv_exact(c, back, 4, 2000);

    h_loop_free(l);
    close(c);
    h_rec_free(&r);
    assert_true(got);
    assert_int_equal(w, 4);
    assert_int_equal(n, 4);
    assert_memory_equal(back, "pong", 4);
    if (after_read <= before || after_write <= after_read)
        fail_msg("vex_loop_syscalls did not increase: %llu -> %llu (read) "
                 "-> %llu (write)", (unsigned long long)before,
                 (unsigned long long)after_read, (unsigned long long)after_write);
}

/* ---- wake-ups --------------------------------------------------------------------- */

typedef struct wake_ctx {
    vex_loop *loop;
    pthread_t loop_thread;
    atomic_int calls, wrong_thread, failures, sender_done;
    int to_send, delay_ms;
    bool stop_loop;
} wake_ctx;

static void on_wake(vex_loop *l, void *udata)
{
    wake_ctx *w = udata;
    atomic_fetch_add(&w->calls, 1);
    if (!pthread_equal(pthread_self(), w->loop_thread))
        atomic_fetch_add(&w->wrong_thread, 1);
    if (w->stop_loop)
        vex_loop_stop(l);
}

static vex_loop *wake_loop_new(wake_ctx *w)
{
    vex_loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_wake = on_wake;
    cfg.wake_udata = w;
    w->loop_thread = pthread_self();
    w->loop = h_loop_new(&cfg);
    return w->loop;
}

static void *wake_sender_main(void *arg)
{
    wake_ctx *w = arg;
    if (w->delay_ms)
        h_sleep_ms(w->delay_ms);
    for (int i = 0; i < w->to_send; i++)
        if (vex_loop_wake(w->loop) != 0)
            atomic_fetch_add(&w->failures, 1);
    atomic_store(&w->sender_done, 1);
    return NULL;
}

static bool wake_seen_and_sender_done(void *arg)
{
    wake_ctx *w = arg;
    return atomic_load(&w->sender_done) && atomic_load(&w->calls) > 0;
}

static void test_wake_from_thread_runs_on_loop_thread_and_folds(void **state)
{
    (void)state;
    wake_ctx w;
    memset(&w, 0, sizeof w);
    w.to_send = 1000;
    vex_loop *l = wake_loop_new(&w);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wake_sender_main, &w), 0);
    bool seen = h_run_until(l, wake_seen_and_sender_done, &w, 5000);
    pthread_join(th, NULL);
    h_run_for(l, 50);                       /* let folded wakes settle */
    int settled = atomic_load(&w.calls);
    uint64_t sys0 = vex_loop_syscalls(l);
    h_run_for(l, 200);                      /* ~20 idle turns of 10 ms */
    uint64_t idle_syscalls = vex_loop_syscalls(l) - sys0;
    int later = atomic_load(&w.calls);
    h_loop_free(l);

    assert_true(seen);
    assert_int_equal(atomic_load(&w.failures), 0);
    assert_int_equal(atomic_load(&w.wrong_thread), 0);
    if (settled < 1 || settled > 1000)
        fail_msg("%d on_wake calls for 1000 wakes", settled);
    if (later != settled)
        fail_msg("on_wake ran %d more time(s) with no wake pending "
                 "(wake fd not drained?)", later - settled);
    if (idle_syscalls > 200)
        fail_msg("%llu syscalls in 200 ms of idle 10 ms turns: the loop spins",
                 (unsigned long long)idle_syscalls);
    print_message("    1000 wakes folded into %d on_wake call(s)\n", settled);
}

static void test_wake_interrupts_a_blocking_wait(void **state)
{
    (void)state;
    wake_ctx w;
    memset(&w, 0, sizeof w);
    w.to_send = 1;
    w.delay_ms = 100;
    vex_loop *l = wake_loop_new(&w);
    assert_true(vex_loop_run_once(l, 0) >= 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wake_sender_main, &w), 0);
    uint64_t t0 = h_now_ms();
    int rc = 0;
    /* One turn of up to 5 s must end soon after the wake (EINTR aside). */
    while (atomic_load(&w.calls) == 0 && h_now_ms() - t0 < 5000)
        if ((rc = vex_loop_run_once(l, 5000)) < 0 && errno != EINTR)
            break;
    uint64_t elapsed = h_now_ms() - t0;
    pthread_join(th, NULL);
    h_loop_free(l);
    assert_true(rc >= 0);
    assert_int_equal(atomic_load(&w.calls), 1);
    if (elapsed > 2000)
        fail_msg("vex_loop_run_once(5000) returned %llu ms after start; the "
                 "wake 100 ms in did not interrupt the wait",
                 (unsigned long long)elapsed);
}

static vex_loop *volatile sig_loop;
static volatile sig_atomic_t sig_wakes, sig_wake_failures;

static void on_sigusr1(int sig)
{
    (void)sig;
    int saved = errno;
    if (vex_loop_wake(sig_loop) != 0)
        sig_wake_failures++;
    sig_wakes++;
    errno = saved;
}

typedef struct signaller {
    pthread_t target;
    atomic_int stop;
    int sent;
} signaller;

static void *signaller_main(void *arg)
{
    signaller *s = arg;
    uint64_t t0 = h_now_ms();
    while (!atomic_load(&s->stop) && h_now_ms() - t0 < 3000) {
        h_sleep_ms(20);
        if (pthread_kill(s->target, SIGUSR1) == 0)
            s->sent++;
    }
    return NULL;
}

static void guard_stop(vex_loop *l, vex_timer *t)
{
    *(int *)t->data = 1;
    vex_loop_stop(l);
}

/* The handler calls vex_loop_wake; on_wake stops vex_loop_run, which must
 * return 0 (EINTR from the interrupted wait is not a fatal error). */
static void test_wake_from_signal_handler_stops_run(void **state)
{
    (void)state;
    wake_ctx w;
    memset(&w, 0, sizeof w);
    w.stop_loop = true;
    vex_loop *l = wake_loop_new(&w);
    sig_loop = l;
    sig_wakes = sig_wake_failures = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;         /* no SA_RESTART: waits see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);

    int guard_fired = 0;
    vex_timer guard = VEX_TIMER_INIT;
    assert_int_equal(vex_timer_start(l, &guard, 3000, 0, guard_stop, &guard_fired), 0);
    signaller sg = { .target = pthread_self() };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, signaller_main, &sg), 0);
    errno = 0;
    int rc = vex_loop_run(l);
    int err = errno;
    atomic_store(&sg.stop, 1);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    vex_timer_stop(l, &guard);
    h_loop_free(l);
    sig_loop = NULL;

    if (rc != 0)
        fail_msg("vex_loop_run returned %d errno %d (%s) after a signal", rc,
                 err, strerror(err));
    assert_int_equal(sig_wake_failures, 0);
    assert_true(sig_wakes >= 1);
    if (guard_fired)
        fail_msg("%d signal wake(s) never ran on_wake; the 3 s guard timer "
                 "stopped the loop", (int)sig_wakes);
    assert_true(atomic_load(&w.calls) >= 1);
    assert_int_equal(atomic_load(&w.wrong_thread), 0);
}

/* ---- vex_loop_free with live sockets ------------------------------------------------ */

#define FREE_PAIRS 64   /* 8 of each state below */

static void noop_timer(vex_loop *l, vex_timer *t)
{
    (void)l;
    (void)t;
}

static void noop_accept(vex_loop *l, int listen_fd, int fd,
                        const struct sockaddr *peer, socklen_t peer_len, void *udata)
{
    (void)l;
    (void)listen_fd;
    (void)peer;
    (void)peer_len;
    (void)udata;
    if (fd >= 0)
        close(fd);
}

/* State before a loop turn: 0 idle, 1 output queued, 2 paused with data
 * waiting, 3 data delivered, 4 EOF seen, 5 output queued + drain wanted.
 * Returns the number of calls that failed. */
static int put_in_state(vex_loop *l, int s, int c, int state, const char *big,
                        size_t big_len)
{
    switch (state) {
    case 1:
        return vex_write(l, s, big, big_len) != (ssize_t)big_len;
    case 2:
        return (vex_read_pause(l, s) != 0) + (h_send_all(c, big, 4096, 1000) != 4096);
    case 3:
        return h_send_all(c, "x", 1, 1000) != 1;
    case 4:
        return shutdown(c, SHUT_WR) != 0;
    case 5:
        return (vex_write(l, s, big, big_len) != (ssize_t)big_len) +
               (vex_want_drain(l, s) != 0);
    default:
        return 0;
    }
}

/* State after the turn: 6 output queued and not yet flushed, 7 write side
 * shut. */
static int put_in_late_state(vex_loop *l, int s, int state)
{
    if (state == 6)
        return vex_write(l, s, "tail", 4) != 4;
    if (state == 7)
        return vex_shutdown_write(l, s) != 0;
    return 0;
}

/* Sockets in every state (idle, queued output, paused with held data, EOF
 * seen, drain wanted), a listener with a pending connection and armed
 * timers: vex_loop_free closes the registered sockets and frees it all. */
static void test_loop_free_with_open_sockets_closes_and_frees(void **state)
{
    (void)state;
    static char big[256 * 1024];
    h_pattern_fill(big, 0, sizeof big);
    vex_loop *l = h_loop_new(NULL);
    int srv[FREE_PAIRS], cli[FREE_PAIRS];
    h_rec rec[FREE_PAIRS];
    for (int i = 0; i < FREE_PAIRS; i++) {
        h_tcp_pair(&srv[i], &cli[i]);
        h_rec_init(&rec[i], srv[i]);
        assert_int_equal(vex_sock_add(l, srv[i], &h_rec_cbs, &rec[i]), 0);
    }
    int port;
    int lfd = h_listen(16, &port);
    assert_int_equal(vex_listen_start(l, lfd, noop_accept, NULL), 0);
    assert_int_equal(vex_listen_pause(l, lfd), 0);
    int pending = h_connect(port);

    int setup_errors = 0;
    for (int i = 0; i < FREE_PAIRS; i++)
        setup_errors += put_in_state(l, srv[i], cli[i], i % 8, big, sizeof big);
    h_run_for(l, 50);
    for (int i = 0; i < FREE_PAIRS; i++)
        setup_errors += put_in_late_state(l, srv[i], i % 8);
    assert_int_equal(setup_errors, 0);

    vex_timer t1 = VEX_TIMER_INIT, t2 = VEX_TIMER_INIT;
    assert_int_equal(vex_timer_start(l, &t1, 10000, 0, noop_timer, NULL), 0);
    assert_int_equal(vex_timer_start(l, &t2, 5, 5, noop_timer, NULL), 0);

    h_loop_free(l);

    int still_open = 0, first_open = -1;
    for (int i = 0; i < FREE_PAIRS; i++)
        if (h_fd_is_open(srv[i]) && still_open++ == 0)
            first_open = srv[i];
    int peers_saw_close = 0;
    uint64_t deadline = h_now_ms() + 3000;
    for (int i = 0; i < FREE_PAIRS; i++) {
        enum h_end end;
        do
            end = h_recv_end(cli[i], (int)(deadline > h_now_ms() ? deadline - h_now_ms() : 0));
        while (end == H_DATA);
        peers_saw_close += end == H_EOF || end == H_ERROR;
        close(cli[i]);
    }
    if (h_fd_is_open(lfd))
        close(lfd);                 /* the caller owns listeners */
    if (pending >= 0)
        close(pending);
    int calls = 0;
    for (int i = 0; i < FREE_PAIRS; i++) {
        calls += rec[i].calls_after_end;
        h_rec_free(&rec[i]);
    }
    if (still_open)
        fail_msg("vex_loop_free left %d registered socket(s) open (fd %d)",
                 still_open, first_open);
    assert_int_equal(peers_saw_close, FREE_PAIRS);
    assert_int_equal(calls, 0);
    /* ASan builds: the harness runs LeakSanitizer after every test. */
}

int h_group_loop(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_backend_name_is_one_of_four),
        H_TEST(test_loop_new_with_defaults_and_config),
        H_TEST(test_now_ms_follows_monotonic_clock),
        H_TEST(test_syscall_counter_increases_with_io),
        H_TEST(test_wake_from_thread_runs_on_loop_thread_and_folds),
        H_TEST(test_wake_interrupts_a_blocking_wait),
        H_TEST(test_wake_from_signal_handler_stops_run),
        H_TEST(test_loop_free_with_open_sockets_closes_and_frees),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
