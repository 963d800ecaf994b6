/*
 * test_uring.c — io_uring-only behaviour the README promises: completions
 * that overflowed the CQ are flushed in the same turn, an -ENOBUFS from the
 * provided-buffer ring re-arms the recv instead of ending the connection, and
 * every setup-flag fallback gives a working loop. On other backends each test
 * is skipped, naming why.
 *
 * Neither the overflow nor ENOBUFS is visible through the API, so each test
 * makes it certain and checks what the API promises around it: a 4-entry SQ
 * (16-entry CQ) with 64 sockets' data waiting must still deliver all of it in
 * one vex_loop_run_once; two 1 KiB receive buffers shared by 32 senders of
 * 64 KiB each must run dry again and again, and every byte must still arrive
 * in order with no error. The fallbacks are forced with the test hook
 * VEX_IO_URING_SETUP_FROM of ring_init (src/backends/io_uring.c).
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void need_io_uring(void)
{
    if (strcmp(vex_backend_name(), "io_uring") != 0) {
        printf("    skipped: io_uring only (this build: %s)\n", vex_backend_name());
        h_skip();
    }
}

/* ---- CQ overflow ------------------------------------------------------------ */

enum { OVF_SOCKS = 64, OVF_BYTES = 100 };

typedef struct pairs {
    int s[OVF_SOCKS], c[OVF_SOCKS];
    h_rec rec[OVF_SOCKS];
    int n;
} pairs;

static void pairs_open(vex_loop *l, pairs *p, int n)
{
    p->n = n;
    for (int i = 0; i < n; i++) {
        h_tcp_pair(&p->s[i], &p->c[i]);
        h_rec_init(&p->rec[i], p->s[i]);
        assert_int_equal(vex_sock_add(l, p->s[i], &h_rec_cbs, &p->rec[i]), 0);
    }
}

static void pairs_close(pairs *p)
{
    for (int i = 0; i < p->n; i++) {
        close(p->c[i]);
        h_rec_free(&p->rec[i]);
    }
}

static int sockets_with_data(const pairs *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        n += p->rec[i].len > 0;
    return n;
}

static void test_uring_cq_overflow_is_flushed_in_the_same_turn(void **state)
{
    (void)state;
    need_io_uring();
    vex_loop_config cfg = { .ring_entries = 4 };      /* CQ: 16 entries */
    vex_loop *l = h_loop_new(&cfg);
    pairs p;
    pairs_open(l, &p, OVF_SOCKS);
    assert_true(h_run_for(l, 50));                    /* every recv armed */
    assert_int_equal(sockets_with_data(&p), 0);
    unsigned char msg[OVF_BYTES];
    h_pattern_fill(msg, 0, sizeof msg);
    for (int i = 0; i < OVF_SOCKS; i++)
        assert_int_equal(h_send_all(p.c[i], msg, sizeof msg, 2000), sizeof msg);
    h_sleep_ms(50);                                   /* all of it in the kernel */
    /* 64 completions wait for a 16-entry CQ: one turn must deliver them all. */
    assert_true(vex_loop_run_once(l, 1000) >= 0);
    int got = sockets_with_data(&p);
    int whole = 0, errors = 0;
    for (int i = 0; i < OVF_SOCKS; i++) {
        whole += p.rec[i].len == OVF_BYTES &&
                 h_pattern_check(p.rec[i].buf, 0, OVF_BYTES) == OVF_BYTES;
        errors += p.rec[i].err_calls + p.rec[i].eof_calls;
    }
    h_loop_free(l);
    pairs_close(&p);
    assert_int_equal(got, OVF_SOCKS);
    assert_int_equal(whole, OVF_SOCKS);
    assert_int_equal(errors, 0);
}

/* ---- ENOBUFS ------------------------------------------------------------------ */

enum { NOBUF_SOCKS = 32, NOBUF_BYTES = 64 * 1024 };

typedef struct senders {
    pairs *p;
    size_t sent[NOBUF_SOCKS];
} senders;

/* Each client sends NOBUF_BYTES of the pattern, interleaved with the others
 * in 4 KiB pieces, so many sockets have data at once all the time. */
static void *send_all_main(void *arg)
{
    senders *sd = arg;
    unsigned char piece[4096];
    for (size_t off = 0; off < NOBUF_BYTES; off += sizeof piece) {
        h_pattern_fill(piece, off, sizeof piece);
        for (int i = 0; i < sd->p->n; i++)
            sd->sent[i] += h_send_all(sd->p->c[i], piece, sizeof piece, 10000);
    }
    return NULL;
}

static bool all_received(void *arg)
{
    pairs *p = arg;
    for (int i = 0; i < p->n; i++)
        if (p->rec[i].len < NOBUF_BYTES || p->rec[i].err_calls || p->rec[i].eof_calls)
            return p->rec[i].err_calls || p->rec[i].eof_calls;   /* stop early on an end */
    return true;
}

static void test_uring_enobufs_rearms_the_recv(void **state)
{
    (void)state;
    need_io_uring();
    /* Two 1 KiB buffers for 32 busy sockets: the ring runs dry all the time. */
    vex_loop_config cfg = { .recv_buf_count = 2, .recv_buf_size = 1024 };
    vex_loop *l = h_loop_new(&cfg);
    pairs p;
    pairs_open(l, &p, NOBUF_SOCKS);
    senders sd = { .p = &p };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_all_main, &sd), 0);
    bool done = h_run_until(l, all_received, &p, 30000);
    pthread_join(t, NULL);
    int whole = 0, ended = 0, max_calls = 0;
    for (int i = 0; i < NOBUF_SOCKS; i++) {
        whole += p.rec[i].len == NOBUF_BYTES &&
                 h_pattern_check(p.rec[i].buf, 0, NOBUF_BYTES) == NOBUF_BYTES &&
                 sd.sent[i] == NOBUF_BYTES;
        ended += p.rec[i].err_calls + p.rec[i].eof_calls;
        if (p.rec[i].data_calls > max_calls)
            max_calls = p.rec[i].data_calls;
    }
    h_loop_free(l);
    pairs_close(&p);
    assert_true(done);
    assert_int_equal(ended, 0);                      /* no -ENOBUFS reached the owner */
    assert_int_equal(whole, NOBUF_SOCKS);            /* every byte, in order */
    assert_true(max_calls >= NOBUF_BYTES / 1024);    /* 1 KiB buffers were really used */
}

/* ---- setup-flag fallbacks ------------------------------------------------------ */

typedef struct waker {
    vex_loop *l;
} waker;

static void *wake_main(void *arg)
{
    h_sleep_ms(20);
    vex_loop_wake(((waker *)arg)->l);
    return NULL;
}

static void on_timer(vex_loop *l, vex_timer *t)
{
    (void)l;
    (*(int *)t->data)++;
}

/* A loop set up from fallback `from` on: data both ways (with backpressure),
 * a timer, a wake-up from another thread, then close and free. */
static void fallback_works(const char *from)
{
    assert_int_equal(setenv("VEX_IO_URING_SETUP_FROM", from, 1), 0);
    h_pair p;
    vex_loop_config cfg = { .ring_entries = 8 };
    h_pair_open(&p, &cfg);
    enum { N = 256 * 1024 };
    unsigned char *out = malloc(N), *in = malloc(N);
    assert_non_null(out);
    assert_non_null(in);
    h_pattern_fill(out, 0, N);
    h_sender snd = { .fd = p.c, .total = N, .max_piece = 7000, .timeout_ms = 10000 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, h_sender_main, &snd), 0);
    p.rec.expect = N;
    bool got_all = h_run_until(p.loop, h_rec_has_expected, &p.rec, 10000);
    pthread_join(t, NULL);
    assert_int_equal(vex_write(p.loop, p.s, out, N), N);
    h_reader rd = { .fd = p.c, .chunk = 65536, .timeout_ms = 10000 };
    pthread_t tr;
    assert_int_equal(pthread_create(&tr, NULL, h_reader_main, &rd), 0);
    uint64_t end = h_now_ms() + 5000;
    while (vex_write_pending(p.loop, p.s) > 0 && h_now_ms() < end)
        vex_loop_run_once(p.loop, 10);
    int fired = 0;
    vex_timer tm = VEX_TIMER_INIT;
    assert_int_equal(vex_timer_start(p.loop, &tm, 5, 0, on_timer, &fired), 0);
    waker w = { p.loop };
    pthread_t tw;
    assert_int_equal(pthread_create(&tw, NULL, wake_main, &w), 0);
    int woke = vex_loop_run_once(p.loop, 2000) >= 0;
    pthread_join(tw, NULL);
    h_run_for(p.loop, 30);
    assert_int_equal(vex_close(p.loop, p.s), 0);
    h_run_for(p.loop, 20);
    pthread_join(tr, NULL);
    h_loop_free(p.loop);
    p.loop = NULL;
    close(p.c);
    size_t bad = h_pattern_check(p.rec.buf, 0, p.rec.len);
    unsetenv("VEX_IO_URING_SETUP_FROM");
    free(out);
    free(in);
    assert_true(got_all);
    assert_int_equal(p.rec.len, N);
    assert_int_equal(bad, N);
    assert_int_equal(rd.got, N);
    assert_int_equal(rd.mismatch_at, SIZE_MAX);
    assert_true(rd.eof);
    assert_true(woke);
    assert_int_equal(fired, 1);
    assert_int_equal(p.rec.err_calls, 0);
    h_rec_free(&p.rec);
}

static void test_uring_setup_without_defer_taskrun(void **state)
{
    (void)state;
    need_io_uring();
    fallback_works("1");          /* SUBMIT_ALL|COOP_TASKRUN */
}

static void test_uring_setup_without_flags(void **state)
{
    (void)state;
    need_io_uring();
    fallback_works("2");          /* no setup flags at all */
}

static void test_uring_setup_newest_flags(void **state)
{
    (void)state;
    need_io_uring();
    fallback_works("0");          /* SUBMIT_ALL|SINGLE_ISSUER|DEFER_TASKRUN */
}

int h_group_uring(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_uring_cq_overflow_is_flushed_in_the_same_turn),
        H_TEST(test_uring_enobufs_rearms_the_recv),
        H_TEST(test_uring_setup_newest_flags),
        H_TEST(test_uring_setup_without_defer_taskrun),
        H_TEST(test_uring_setup_without_flags),
    };
    return cmocka_run_group_tests_name("io_uring", tests, NULL, NULL);
}
