/*
 * test_io.c — the data path: partial reads, vex_write copying and ordering,
 * write high-water / EAGAIN / on_drain backpressure, read pause/resume.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- partial reads --------------------------------------------------------------- */

static void test_partial_reads_arrive_complete_and_in_order(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    h_sender snd = { .fd = p.c, .total = 256 * 1024, .max_piece = 1500,
                     .gap_every = 8, .gap_ms = 1, .timeout_ms = 10000,
                     .shut_wr = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_sender_main, &snd), 0);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 15000);
    pthread_join(th, NULL);
    h_run_for(p.loop, 50);
    h_pair_close(&p);

    assert_int_equal(snd.sent, snd.total);
    assert_true(ended);
    h_assert_pattern(&p.rec, snd.total);
    assert_int_equal(p.rec.eof_calls, 1);
    assert_int_equal(p.rec.err_calls, 0);
    assert_int_equal(p.rec.calls_after_end, 0);
    assert_int_equal(p.rec.wrong_fd, 0);
    assert_true(p.rec.data_calls > 1);
    h_rec_free(&p.rec);
}

/* ---- vex_write semantics ------------------------------------------------------------ */

static void test_write_copies_the_callers_buffer(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    char msg[64];
    h_pattern_fill(msg, 0, sizeof msg);
    ssize_t w = vex_write(p.loop, p.s, msg, sizeof msg);
    size_t pending = vex_write_pending(p.loop, p.s);
    memset(msg, 'X', sizeof msg);          /* before the loop flushes */
    h_run_for(p.loop, 30);
    char back[64];
    size_t n = h_recv_exact(p.c, back, sizeof back, 2000);
    size_t after = vex_write_pending(p.loop, p.s);
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(w, 64);
    assert_int_equal(pending, 64);
    assert_int_equal(after, 0);
    assert_int_equal(n, 64);
    assert_int_equal(h_pattern_check(back, 0, 64), 64);
}

static void test_many_small_writes_in_one_turn_keep_order(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    enum { PIECES = 10000, PIECE = 10, TOTAL = PIECES * PIECE };
    h_reader rd = { .fd = p.c, .chunk = 4096, .timeout_ms = 10000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    int short_writes = 0;
    for (size_t off = 0; off < TOTAL; off += PIECE) {
        char piece[PIECE];
        h_pattern_fill(piece, off, PIECE);
        short_writes += vex_write(p.loop, p.s, piece, PIECE) != PIECE;
    }
    int shut = vex_shutdown_write(p.loop, p.s);
    h_run_for(p.loop, 20);
    uint64_t t0 = h_now_ms();
    while (vex_write_pending(p.loop, p.s) > 0 && h_now_ms() - t0 < 5000)
        h_run_for(p.loop, 10);
    pthread_join(th, NULL);
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(short_writes, 0);
    assert_int_equal(shut, 0);
    assert_int_equal(rd.got, TOTAL);
    assert_true(rd.mismatch_at == SIZE_MAX);
    assert_true(rd.eof);
}

/* ---- backpressure ----------------------------------------------------------------------- */

#define BP_TOTAL   (64u << 20)
#define BP_CHUNK   (64u << 10)
#define BP_HIGH    (256u << 10)

typedef struct pump {
    size_t sent;
    int eagain, wants, other_err, over_high, eagain_queued;
    bool finished, shut;
    unsigned char chunk[BP_CHUNK];
} pump;

/* Write pattern chunks until EAGAIN, then ask for on_drain. */
static void pump_run(vex_loop *l, int fd, pump *pp)
{
    while (pp->sent < BP_TOTAL) {
        size_t n = BP_TOTAL - pp->sent < BP_CHUNK ? BP_TOTAL - pp->sent : BP_CHUNK;
        h_pattern_fill(pp->chunk, pp->sent, n);
        size_t before = vex_write_pending(l, fd);
        ssize_t w = vex_write(l, fd, pp->chunk, n);
        if (w == (ssize_t)n) {
            pp->sent += n;
            if (vex_write_pending(l, fd) > BP_HIGH + BP_CHUNK)
                pp->over_high++;
            continue;
        }
        if (w == -1 && errno == EAGAIN) {
            pp->eagain++;
            if (vex_write_pending(l, fd) != before)
                pp->eagain_queued++;   /* EAGAIN must queue nothing */
        } else {
            pp->other_err = w == -1 ? errno : EMSGSIZE;
            return;
        }
        break;
    }
    if (pp->finished) {            /* the last drain: all bytes are out */
        pp->shut = vex_shutdown_write(l, fd) == 0;
        return;
    }
    pp->finished = pp->sent == BP_TOTAL;
    pp->wants++;
    vex_want_drain(l, fd);
}

static void pump_on_drain(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    (void)n;
    pump_run(l, fd, r->user);
}

static bool pump_done(void *arg)
{
    pump *pp = arg;
    return pp->shut || pp->other_err;
}

/* A reader that starts late with a small receive buffer: vex_write must hit
 * the high-water mark, say EAGAIN without queueing, and on_drain must come
 * exactly once per vex_want_drain; all 64 MiB arrive intact. */
static void test_backpressure_64mib_to_a_slow_reader(void **state)
{
    (void)state;
    vex_loop_config cfg = { .write_high_water = BP_HIGH };
    h_pair p;
    h_pair_open(&p, &cfg);
    vex_set_recvbuf(p.c, 64 * 1024);
    pump *pp = calloc(1, sizeof *pp);
    assert_non_null(pp);
    p.rec.user = pp;
    p.rec.drain_hook = pump_on_drain;
    h_reader rd = { .fd = p.c, .chunk = 16 * 1024, .delay_ms = 300,
                    .timeout_ms = 30000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    pump_run(p.loop, p.s, pp);
    bool done = h_run_until(p.loop, pump_done, pp, 30000);
    h_run_for(p.loop, 20);
    pthread_join(th, NULL);
    size_t left = vex_write_pending(p.loop, p.s);
    h_pair_close(&p);
    h_rec_free(&p.rec);

    pump res = *pp;
    free(pp);
    if (res.other_err)
        fail_msg("vex_write failed with errno %d (%s)", res.other_err,
                 strerror(res.other_err));
    assert_true(done);
    assert_int_equal(res.sent, BP_TOTAL);
    if (res.eagain == 0)
        fail_msg("vex_write never said EAGAIN above write_high_water");
    assert_int_equal(res.eagain_queued, 0);
    if (res.over_high)
        fail_msg("queue exceeded write_high_water + one write %d time(s)",
                 res.over_high);
    assert_int_equal(p.rec.drains, res.wants);
    assert_int_equal(left, 0);
    if (rd.got != BP_TOTAL || rd.mismatch_at != SIZE_MAX)
        fail_msg("reader got %zu of %u bytes, first bad byte at %zu, err %d",
                 rd.got, BP_TOTAL, rd.mismatch_at == SIZE_MAX ? rd.got : rd.mismatch_at,
                 rd.err);
    assert_true(rd.eof);
    print_message("    64 MiB sent with %d EAGAIN(s) and %d drain(s)\n",
                  res.eagain, p.rec.drains);
}

static void test_want_drain_on_empty_queue_calls_once(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    assert_int_equal(vex_want_drain(p.loop, p.s), 0);
    h_run_for(p.loop, 100);
    int first = p.rec.drains;
    h_run_for(p.loop, 100);
    int later = p.rec.drains;
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(first, 1);
    assert_int_equal(later, 1);
}

/* ---- read pause / resume ------------------------------------------------------------ */

#define PAUSE_BYTES (100u * 1024)

static void pause_in_callback(vex_loop *l, int fd, const char *d, ssize_t n,
                              h_rec *r)
{
    (void)d;
    if (n > 0 && r->user == NULL) {
        r->user = r;                         /* only the first time */
        if (vex_read_pause(l, fd) != 0)
            r->hook_errors++;
        r->blocked = true;
    }
}

/* Pause from inside on_data: nothing is delivered while paused (not even
 * what the backend had already received), and after resume every byte
 * arrives in order, then EOF. */
static void test_read_pause_in_callback_then_resume(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    p.rec.hook = pause_in_callback;
    h_sender snd = { .fd = p.c, .total = PAUSE_BYTES, .max_piece = 4096,
                     .gap_every = 4, .gap_ms = 1, .timeout_ms = 10000,
                     .shut_wr = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_sender_main, &snd), 0);
    uint64_t t0 = h_now_ms();
    while (!p.rec.blocked && h_now_ms() - t0 < 5000)
        h_run_for(p.loop, 10);
    size_t at_pause = p.rec.len;
    h_run_for(p.loop, 300);
    int while_paused = p.rec.calls_while_blocked;
    size_t len_paused = p.rec.len;
    p.rec.blocked = false;
    int resumed = vex_read_resume(p.loop, p.s);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 10000);
    pthread_join(th, NULL);
    h_pair_close(&p);

    assert_true(at_pause > 0);
    if (while_paused)
        fail_msg("%d callback(s) while reading was paused (%zu -> %zu bytes)",
                 while_paused, at_pause, len_paused);
    assert_int_equal(resumed, 0);
    assert_int_equal(p.rec.hook_errors, 0);
    assert_int_equal(p.rec.wrong_fd, 0);
    assert_true(ended);
    h_assert_pattern(&p.rec, PAUSE_BYTES);
    assert_int_equal(p.rec.eof_calls, 1);
    assert_int_equal(p.rec.calls_after_end, 0);
    h_rec_free(&p.rec);
}

/* Pause before any data; the peer sends and closes. Neither data nor EOF
 * comes while paused; after resume the data, then EOF. */
static void test_read_pause_before_data_holds_data_and_eof(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    assert_int_equal(vex_read_pause(p.loop, p.s), 0);
    p.rec.blocked = true;
    char msg[10000];
    h_pattern_fill(msg, 0, sizeof msg);
    size_t sent = h_send_all(p.c, msg, sizeof msg, 2000);
    shutdown(p.c, SHUT_WR);
    h_run_for(p.loop, 300);
    int while_paused = p.rec.calls_while_blocked;
    p.rec.blocked = false;
    assert_int_equal(vex_read_resume(p.loop, p.s), 0);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 5000);
    h_pair_close(&p);

    assert_int_equal(sent, sizeof msg);
    if (while_paused)
        fail_msg("%d callback(s) while reading was paused", while_paused);
    assert_true(ended);
    h_assert_pattern(&p.rec, sizeof msg);
    assert_int_equal(p.rec.eof_calls, 1);
    h_rec_free(&p.rec);
}

/* Several pause/resume cycles while a sender streams: nothing is lost. */
static void test_read_pause_resume_cycles_lose_nothing(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    h_sender snd = { .fd = p.c, .total = 1u << 20, .max_piece = 4096,
                     .gap_every = 2, .gap_ms = 1, .timeout_ms = 15000,
                     .shut_wr = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_sender_main, &snd), 0);
    int cycles = 0, violations = 0, errors = 0;
    uint64_t t0 = h_now_ms();
    while (!h_rec_has_ended(&p.rec) && h_now_ms() - t0 < 15000) {
        errors += vex_read_pause(p.loop, p.s) != 0;
        p.rec.blocked = true;
        h_run_for(p.loop, 15);
        violations += p.rec.calls_while_blocked;
        p.rec.calls_while_blocked = 0;
        p.rec.blocked = false;
        errors += vex_read_resume(p.loop, p.s) != 0;
        h_run_for(p.loop, 15);
        cycles++;
    }
    pthread_join(th, NULL);
    h_pair_close(&p);
    assert_int_equal(errors, 0);
    assert_int_equal(violations, 0);
    assert_true(h_rec_has_ended(&p.rec));
    h_assert_pattern(&p.rec, 1u << 20);
    assert_int_equal(p.rec.eof_calls, 1);
    print_message("    %d pause/resume cycles\n", cycles);
    h_rec_free(&p.rec);
}

/* ---- the paused-read contract under a burst ------------------------------------------ */

#define BURST_BYTES (8u << 20)
#define BURST_PIECE 4096u            /* recv_buf_size: the burst is 2048 of them */

typedef struct burst_watch {
    size_t max_call;                 /* largest on_data, held data included */
    int pauses;
} burst_watch;

/* The owner pauses after every single delivery, as a server does when its
 * input bound is reached: each call must be within recv_buf_size, and
 * nothing may arrive until the test resumes. */
static void pause_every_call(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    burst_watch *bw = r->user;
    if (n <= 0)
        return;
    if ((size_t)n > bw->max_call)
        bw->max_call = (size_t)n;
    if (vex_read_pause(l, fd) != 0)
        r->hook_errors++;
    bw->pauses++;
    r->blocked = true;
}

static void run_burst(bool hold_first)
{
    vex_loop_config cfg = { .recv_buf_size = BURST_PIECE, .recv_buf_count = 64 };
    h_pair p;
    h_pair_open(&p, &cfg);
    burst_watch bw = {0, 0};
    p.rec.user = &bw;
    p.rec.hook = pause_every_call;
    if (hold_first) {             /* paused before the burst: it piles up */
        assert_int_equal(vex_read_pause(p.loop, p.s), 0);
        p.rec.blocked = true;
    }
    h_sender snd = { .fd = p.c, .total = BURST_BYTES, .max_piece = 256 * 1024,
                     .timeout_ms = 30000, .shut_wr = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_sender_main, &snd), 0);
    if (hold_first)
        h_run_for(p.loop, 300);      /* io_uring's multishot recv may complete now */
    int violations = p.rec.calls_while_blocked, errors = 0;
    uint64_t t0 = h_now_ms();
    while (!h_rec_has_ended(&p.rec) && h_now_ms() - t0 < 30000) {
        p.rec.calls_while_blocked = 0;
        p.rec.blocked = false;
        errors += vex_read_resume(p.loop, p.s) != 0;
        /* One turn delivers at most one piece (the hook pauses again); a
         * second turn while paused must deliver nothing. */
        vex_loop_run_once(p.loop, 10);
        if (p.rec.blocked) {
            vex_loop_run_once(p.loop, 0);
            violations += p.rec.calls_while_blocked;
        }
    }
    pthread_join(th, NULL);
    h_pair_close(&p);
    assert_int_equal(snd.sent, BURST_BYTES);
    assert_int_equal(errors, 0);
    assert_int_equal(p.rec.hook_errors, 0);
    if (violations)
        fail_msg("%d callback(s) while reading was paused", violations);
    if (bw.max_call > BURST_PIECE)
        fail_msg("an on_data call carried %zu bytes, more than recv_buf_size %u",
                 bw.max_call, BURST_PIECE);
    assert_true(h_rec_has_ended(&p.rec));
    h_assert_pattern(&p.rec, BURST_BYTES);
    assert_int_equal(p.rec.eof_calls, 1);
    assert_int_equal(p.rec.calls_after_end, 0);
    print_message("    %d deliveries, largest %zu bytes\n", bw.pauses, bw.max_call);
    h_rec_free(&p.rec);
}

/* An 8 MiB burst (2048 receive buffers) while the owner pauses after every
 * delivery: on io_uring the multishot recv keeps completing until its
 * cancel lands, so data is held; it must come out in order, one
 * recv_buf_size piece per call, never while paused. */
static void test_read_pause_burst_held_data_in_bounded_pieces(void **state)
{
    (void)state;
    run_burst(false);
}

/* The same with reading paused before the burst and kept paused while the
 * kernel's buffers fill. */
static void test_read_pause_before_burst_delivers_all_in_order(void **state)
{
    (void)state;
    run_burst(true);
}

/* ---- writing in place: vex_write_reserve / vex_write_commit --------------------------- */

/* Reserved room, written and committed, goes out in order with vex_write's
 * bytes around it; 512 KiB of room at once; nothing but what was committed. */
static void test_write_reserve_commit_in_order_with_writes(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    enum { A = 100, B = 512u * 1024, C = 300, TOTAL = A + B + C };
    h_reader rd = { .fd = p.c, .chunk = 65536, .timeout_ms = 10000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    char a[A], c[C];
    h_pattern_fill(a, 0, A);
    h_pattern_fill(c, A + B, C);
    ssize_t wa = vex_write(p.loop, p.s, a, A);
    size_t avail = 0;
    char *room = vex_write_reserve(p.loop, p.s, B, &avail);
    bool got_room = room != NULL && avail >= B;
    if (got_room) {
        h_pattern_fill(room, A, B);
        memset(room + B, 'X', avail - B);   /* written but never committed */
    }
    int committed = got_room ? vex_write_commit(p.loop, p.s, B) : -1;
    size_t pending = vex_write_pending(p.loop, p.s);
    ssize_t wc = vex_write(p.loop, p.s, c, C);
    int shut = vex_shutdown_write(p.loop, p.s);
    uint64_t t0 = h_now_ms();
    while (rd.got < TOTAL && !rd.eof && h_now_ms() - t0 < 10000)
        h_run_for(p.loop, 10);
    h_run_for(p.loop, 50);
    pthread_join(th, NULL);
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(wa, A);
    assert_true(got_room);
    assert_int_equal(committed, 0);
    assert_int_equal(pending, A + B);
    assert_int_equal(wc, C);
    assert_int_equal(shut, 0);
    assert_int_equal(rd.got, TOTAL);
    assert_true(rd.mismatch_at == SIZE_MAX);
    assert_true(rd.eof);
}

/* Misuse: a commit with no room, over the room, after another call ended
 * the room, or after the loop turned, fails EINVAL and queues nothing; an
 * unknown fd is EBADF; above write_high_water the room is refused with
 * EAGAIN and on_drain follows, as for vex_write. */
static void test_write_reserve_misuse_and_refusals(void **state)
{
    (void)state;
    vex_loop_config cfg = { .write_high_water = 4096 };
    h_pair p;
    h_pair_open(&p, &cfg);
    errno = 0;
    int no_room = vex_write_commit(p.loop, p.s, 1);
    int e_no_room = errno;
    size_t avail = 0;
    char *room = vex_write_reserve(p.loop, p.s, 10, &avail);
    errno = 0;
    int over = room ? vex_write_commit(p.loop, p.s, avail + 1) : 0;
    int e_over = errno;
    room = vex_write_reserve(p.loop, p.s, 10, &avail);
    ssize_t w = vex_write(p.loop, p.s, "abc", 3);
    errno = 0;
    int after_write = vex_write_commit(p.loop, p.s, 5);
    int e_after_write = errno;
    room = vex_write_reserve(p.loop, p.s, 10, &avail);
    h_run_for(p.loop, 20);
    errno = 0;
    int after_turn = vex_write_commit(p.loop, p.s, 5);
    int e_after_turn = errno;
    errno = 0;
    void *bad = vex_write_reserve(p.loop, 100000, 10, &avail);
    int e_bad = errno;
    /* Fill past the high-water mark; the client does not read yet. */
    char big[8192];
    memset(big, 'y', sizeof big);
    ssize_t filled = vex_write(p.loop, p.s, big, sizeof big);
    errno = 0;
    void *refused = vex_write_reserve(p.loop, p.s, 10, &avail);
    int e_refused = errno;
    char sink[16384];
    size_t got = 0;
    uint64_t t0 = h_now_ms();
    while ((got < 3 + sizeof big || p.rec.drains == 0) && h_now_ms() - t0 < 5000) {
        h_run_for(p.loop, 10);
        got += h_recv_exact(p.c, sink + got, 3 + sizeof big - got, 10);
    }
    int drains = p.rec.drains;
    bool nothing_more = h_recv_nothing(p.c, 100);
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(no_room, -1);
    assert_int_equal(e_no_room, EINVAL);
    assert_int_equal(over, -1);
    assert_int_equal(e_over, EINVAL);
    assert_int_equal(w, 3);
    assert_int_equal(after_write, -1);
    assert_int_equal(e_after_write, EINVAL);
    assert_int_equal(after_turn, -1);
    assert_int_equal(e_after_turn, EINVAL);
    assert_null(bad);
    assert_int_equal(e_bad, EBADF);
    assert_int_equal(filled, (ssize_t)sizeof big);
    assert_null(refused);
    assert_int_equal(e_refused, EAGAIN);
    assert_int_equal(got, 3 + sizeof big);   /* "abc" and big only: no reserved bytes */
    assert_int_equal(drains, 1);
    assert_true(nothing_more);
}

int h_group_io(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_partial_reads_arrive_complete_and_in_order),
        H_TEST(test_write_copies_the_callers_buffer),
        H_TEST(test_many_small_writes_in_one_turn_keep_order),
        H_TEST(test_backpressure_64mib_to_a_slow_reader),
        H_TEST(test_want_drain_on_empty_queue_calls_once),
        H_TEST(test_read_pause_in_callback_then_resume),
        H_TEST(test_read_pause_before_data_holds_data_and_eof),
        H_TEST(test_read_pause_resume_cycles_lose_nothing),
        H_TEST(test_read_pause_burst_held_data_in_bounded_pieces),
        H_TEST(test_read_pause_before_burst_delivers_all_in_order),
        H_TEST(test_write_reserve_commit_in_order_with_writes),
        H_TEST(test_write_reserve_misuse_and_refusals),
    };
    return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
