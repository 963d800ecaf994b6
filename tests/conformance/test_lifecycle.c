/*
 * test_lifecycle.c — how connections end: peer reset, peer close, half-close
 * both ways, vex_close from callbacks, vex_sock_remove handing the fd back,
 * and fd-number reuse after vex_close with I/O in flight.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool is_peer_gone_errno(int e)
{
    return e == EPIPE || e == ECONNRESET;
}

/* Write small messages, turning the loop, until vex_write fails (the
 * first writes may succeed until the loop learns the peer is gone). */
static ssize_t write_until_failure(vex_loop *l, int fd, int *err, int timeout_ms)
{
    uint64_t t0 = h_now_ms();
    ssize_t w;
    *err = 0;
    while ((w = vex_write(l, fd, "hello", 5)) == 5 &&
           h_now_ms() - t0 < (uint64_t)timeout_ms)
        h_run_for(l, 20);
    if (w < 0)
        *err = errno;
    return w;
}

/* ---- the peer goes away ---------------------------------------------------------- */

static void test_peer_reset_gives_econnreset_then_write_fails(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    h_run_for(p.loop, 20);
    h_set_linger_reset(p.c);
    close(p.c);                              /* RST */
    p.c = -1;
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 3000);
    h_run_for(p.loop, 200);
    int err;
    ssize_t w = write_until_failure(p.loop, p.s, &err, 2000);
    int registered = vex_sock_registered(p.loop, p.s);
    int closed = vex_close(p.loop, p.s);
    h_pair_close(&p);
    h_rec_free(&p.rec);

    assert_true(ended);
    if (p.rec.err_calls && p.rec.last_err != ECONNRESET)
        fail_msg("on_data reported errno %d (%s) for a peer reset",
                 p.rec.last_err, strerror(p.rec.last_err));
    assert_int_equal(p.rec.eof_calls + p.rec.err_calls, 1);
    assert_int_equal(p.rec.calls_after_end, 0);
    if (w != -1 || !is_peer_gone_errno(err))
        fail_msg("vex_write after a reset returned %zd errno %d (%s); "
                 "expected -1 EPIPE/ECONNRESET", w, err, strerror(err));
    assert_int_equal(registered, 1);         /* registered until vex_close */
    assert_int_equal(closed, 0);
}

static void test_write_after_peer_close_fails_with_epipe(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    close(p.c);                              /* FIN */
    p.c = -1;
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 3000);
    int err;
    ssize_t w = write_until_failure(p.loop, p.s, &err, 2000);
    h_run_for(p.loop, 50);
    h_pair_close(&p);
    h_rec_free(&p.rec);

    assert_true(ended);
    assert_int_equal(p.rec.eof_calls, 1);
    assert_int_equal(p.rec.err_calls, 0);
    assert_int_equal(p.rec.calls_after_end, 0);
    if (w != -1 || !is_peer_gone_errno(err))
        fail_msg("vex_write to a closed peer returned %zd errno %d (%s); "
                 "expected -1 EPIPE/ECONNRESET", w, err, strerror(err));
}

/* Open a pair whose peer reads nothing and queue 4 MiB toward it (paused
 * first if asked); returns how many of the 16 writes were accepted. */
static int queue_4mib_to_a_stuck_peer(h_pair *p, bool paused)
{
    static char chunk[256 * 1024];
    vex_loop_config cfg = { .write_high_water = 8u << 20 };
    h_pair_open(p, &cfg);
    vex_set_recvbuf(p->c, 16 * 1024);
    if (paused)
        assert_int_equal(vex_read_pause(p->loop, p->s), 0);
    int queued = 0;
    for (int i = 0; i < 16; i++)
        queued += vex_write(p->loop, p->s, chunk, sizeof chunk) == (ssize_t)sizeof chunk;
    return queued;
}

/* The peer resets while megabytes are queued toward it. */
static void test_reset_during_large_write(void **state)
{
    (void)state;
    h_pair p;
    int queued = queue_4mib_to_a_stuck_peer(&p, false);
    h_run_for(p.loop, 50);
    h_set_linger_reset(p.c);
    close(p.c);
    p.c = -1;
    int err;
    ssize_t w = write_until_failure(p.loop, p.s, &err, 3000);
    h_run_for(p.loop, 50);
    int ends = p.rec.eof_calls + p.rec.err_calls;
    h_pair_close(&p);
    h_rec_free(&p.rec);

    assert_int_equal(queued, 16);
    if (w != -1 || !is_peer_gone_errno(err))
        fail_msg("vex_write after reset with queued data returned %zd errno "
                 "%d (%s)", w, err, strerror(err));
    assert_true(ends <= 1);
    assert_int_equal(p.rec.calls_after_end, 0);
}

/* The owner paused reading and waits for on_drain; the peer resets. The
 * write failure must reach it through on_data anyway (no drain will ever
 * come), exactly once. */
static void test_write_failure_reported_while_reading_is_paused(void **state)
{
    (void)state;
    h_pair p;
    assert_int_equal(queue_4mib_to_a_stuck_peer(&p, true), 16);
    assert_int_equal(vex_want_drain(p.loop, p.s), 0);
    h_run_for(p.loop, 50);
    assert_int_equal(h_send_all(p.c, "unread", 6, 1000), 6);   /* held by the pause */
    h_set_linger_reset(p.c);
    close(p.c);
    p.c = -1;
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 5000);
    h_run_for(p.loop, 50);
    errno = 0;
    ssize_t w = vex_write(p.loop, p.s, "x", 1);
    int err = errno;
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_true(ended);
    assert_int_equal(p.rec.err_calls + p.rec.eof_calls, 1);
    assert_int_equal(p.rec.drains, 0);
    assert_int_equal(p.rec.calls_after_end, 0);
    assert_int_equal(w, -1);
    assert_true(is_peer_gone_errno(err));
}

/* ---- half-close ------------------------------------------------------------------------ */

static void reply_on_eof(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    if (n != 0)
        return;
    char reply[64];
    int len = snprintf(reply, sizeof reply, "pong:%.*s", (int)r->len, r->buf);
    r->hook_errors += vex_write(l, fd, reply, (size_t)len) != len;
    r->hook_errors += vex_shutdown_write(l, fd) != 0;
}

/* Peer: "ping" + shutdown(SHUT_WR). We get "ping", then n == 0, and can
 * still reply; the peer reads the reply and then EOF. */
static void test_peer_half_close_then_reply(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    p.rec.hook = reply_on_eof;
    h_send_all(p.c, "ping", 4, 1000);
    shutdown(p.c, SHUT_WR);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 3000);
    h_run_for(p.loop, 150);
    char reply[9] = { 0 };
    size_t n = h_recv_exact(p.c, reply, sizeof reply, 2000);
    enum h_end end = h_recv_end(p.c, 2000);
    int registered = vex_sock_registered(p.loop, p.s);
    h_pair_close(&p);

    assert_true(ended);
    assert_int_equal(p.rec.len, 4);
    assert_memory_equal(p.rec.buf, "ping", 4);
    assert_int_equal(p.rec.eof_calls, 1);
    assert_int_equal(p.rec.calls_after_end, 0);
    assert_int_equal(p.rec.hook_errors, 0);
    assert_int_equal(n, 9);
    assert_memory_equal(reply, "pong:ping", 9);
    assert_int_equal(end, H_EOF);
    assert_int_equal(registered, 1);
    h_rec_free(&p.rec);
}

/* vex_shutdown_write with 1 MiB queued: the peer reads all of it, then
 * EOF; vex_write now says EPIPE; reading goes on. */
static void test_shutdown_write_sends_queued_data_then_eof(void **state)
{
    (void)state;
    enum { CHUNK = 64 * 1024, CHUNKS = 16, TOTAL = CHUNK * CHUNKS };
    static char chunk[CHUNK];
    vex_loop_config cfg = { .write_high_water = 4u << 20 };
    h_pair p;
    h_pair_open(&p, &cfg);
    h_reader rd = { .fd = p.c, .chunk = 8192, .timeout_ms = 5000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    int queued = 0;
    for (int i = 0; i < CHUNKS; i++) {
        h_pattern_fill(chunk, (uint64_t)i * CHUNK, CHUNK);
        queued += vex_write(p.loop, p.s, chunk, CHUNK) == CHUNK;
    }
    int shut = vex_shutdown_write(p.loop, p.s);
    errno = 0;
    ssize_t after = vex_write(p.loop, p.s, "more", 4);
    int after_err = errno;
    uint64_t t0 = h_now_ms();
    while (vex_write_pending(p.loop, p.s) > 0 && h_now_ms() - t0 < 5000)
        h_run_for(p.loop, 10);
    h_run_for(p.loop, 50);
    pthread_join(th, NULL);
    /* Our side is shut; the peer's is not: it can still talk to us. */
    h_send_all(p.c, "after-eof", 9, 1000);
    p.rec.expect = 9;
    bool got = h_run_until(p.loop, h_rec_has_expected, &p.rec, 3000);
    close(p.c);
    p.c = -1;
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 3000);
    h_pair_close(&p);

    assert_int_equal(queued, CHUNKS);
    assert_int_equal(shut, 0);
    if (after != -1 || after_err != EPIPE)
        fail_msg("vex_write after vex_shutdown_write returned %zd errno %d "
                 "(%s); expected -1 EPIPE", after, after_err, strerror(after_err));
    if (rd.got != TOTAL || rd.mismatch_at != SIZE_MAX || !rd.eof)
        fail_msg("peer got %zu of %d bytes (first bad %zu), eof %d, err %d",
                 rd.got, TOTAL, rd.mismatch_at, rd.eof, rd.err);
    assert_true(got);
    assert_memory_equal(p.rec.buf, "after-eof", 9);
    assert_true(ended);
    assert_int_equal(p.rec.eof_calls, 1);
    h_rec_free(&p.rec);
}

/* ---- vex_close from inside callbacks ------------------------------------------------ */

static void close_on_first_data(vex_loop *l, int fd, const char *d, ssize_t n,
                                h_rec *r)
{
    (void)d;
    if (n > 0 && !r->blocked) {
        r->hook_errors += vex_close(l, fd) != 0;
        r->blocked = true;                  /* no callback may follow */
    }
}

static bool rec_blocked(void *arg)
{
    return ((h_rec *)arg)->blocked;
}

static void test_close_inside_on_data(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    p.rec.hook = close_on_first_data;
    h_send_all(p.c, "one", 3, 1000);
    bool closed = h_run_until(p.loop, rec_blocked, &p.rec, 3000);
    h_send_all(p.c, "two", 3, 1000);
    h_run_for(p.loop, 200);
    enum h_end end = h_recv_end(p.c, 2000);
    int end_err = errno;
    bool fd_open = h_fd_is_open(p.s);
    int registered = vex_sock_registered(p.loop, p.s);
    h_pair_close(&p);
    h_rec_free(&p.rec);

    assert_true(closed);
    assert_int_equal(p.rec.hook_errors, 0);
    assert_int_equal(p.rec.calls_while_blocked, 0);
    assert_int_equal(registered, 0);
    assert_false(fd_open);
    assert_true(end == H_EOF || (end == H_ERROR && end_err == ECONNRESET));
}

static void close_on_end(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    if (n <= 0) {
        r->hook_errors += vex_close(l, fd) != 0;
        r->blocked = true;
    }
}

/* The most common way a connection ends: EOF, and vex_close inside that
 * on_data call. Repeated, with a loop turn between, on several sockets. */
static void test_close_inside_on_data_at_eof(void **state)
{
    (void)state;
    enum { N = 16 };
    vex_loop *l = h_loop_new(NULL);
    int s[N], c[N];
    h_rec r[N];
    for (int i = 0; i < N; i++) {
        h_tcp_pair(&s[i], &c[i]);
        h_rec_init(&r[i], s[i]);
        r[i].hook = close_on_end;
        assert_int_equal(vex_sock_add(l, s[i], &h_rec_cbs, &r[i]), 0);
        h_send_all(c[i], "bye", 3, 1000);
        if (i & 1)
            h_run_for(l, 5);             /* half: data and EOF apart */
        close(c[i]);
    }
    uint64_t t0 = h_now_ms();
    int closed = 0;
    while (closed < N && h_now_ms() - t0 < 3000) {
        h_run_for(l, 10);
        closed = 0;
        for (int i = 0; i < N; i++)
            closed += r[i].blocked;
    }
    h_run_for(l, 100);
    int bad = 0, still_open = 0;
    for (int i = 0; i < N; i++) {
        bad += r[i].hook_errors + r[i].calls_while_blocked + r[i].err_calls +
               (r[i].len != 3) + (r[i].eof_calls != 1);
        still_open += h_fd_is_open(s[i]);
        h_rec_free(&r[i]);
    }
    h_loop_free(l);
    assert_int_equal(closed, N);
    assert_int_equal(bad, 0);
    assert_int_equal(still_open, 0);
}

static void close_on_drain(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    (void)n;
    r->hook_errors += vex_close(l, fd) != 0;
    r->blocked = true;
}

/* on_drain means everything reached the kernel: closing there loses
 * nothing, and the peer reads all bytes, then EOF. */
static void test_close_inside_on_drain_loses_nothing(void **state)
{
    (void)state;
    enum { TOTAL = 512 * 1024 };
    static char data[TOTAL];
    h_pattern_fill(data, 0, TOTAL);
    h_pair p;
    h_pair_open(&p, NULL);
    p.rec.drain_hook = close_on_drain;
    h_reader rd = { .fd = p.c, .chunk = 8192, .timeout_ms = 5000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    ssize_t w = vex_write(p.loop, p.s, data, TOTAL);
    int want = vex_want_drain(p.loop, p.s);
    bool drained = h_run_until(p.loop, rec_blocked, &p.rec, 5000);
    h_run_for(p.loop, 100);
    pthread_join(th, NULL);
    h_pair_close(&p);
    h_rec_free(&p.rec);

    assert_int_equal(w, TOTAL);
    assert_int_equal(want, 0);
    assert_true(drained);
    assert_int_equal(p.rec.drains, 1);
    assert_int_equal(p.rec.hook_errors, 0);
    assert_int_equal(p.rec.calls_while_blocked, 0);
    if (rd.got != TOTAL || rd.mismatch_at != SIZE_MAX || !rd.eof)
        fail_msg("peer got %zu of %d bytes (first bad %zu), eof %d, err %d",
                 rd.got, TOTAL, rd.mismatch_at, rd.eof, rd.err);
}

/* ---- vex_sock_remove: the fd goes back to the caller ---------------------------------- */

static void test_remove_then_caller_uses_and_closes_fd(void **state)
{
    (void)state;
    h_pair p;
    h_pair_open(&p, NULL);
    h_send_all(p.c, "A", 1, 1000);
    p.rec.expect = 1;
    bool got_a = h_run_until(p.loop, h_rec_has_expected, &p.rec, 3000);

    ssize_t queued = vex_write(p.loop, p.s, "X", 1);  /* discarded by remove */
    int removed = vex_sock_remove(p.loop, p.s);
    int registered = vex_sock_registered(p.loop, p.s);
    p.rec.blocked = true;
    h_send_all(p.c, "B", 1, 1000);
    h_run_for(p.loop, 200);

    /* The caller owns s again: it reads B (not consumed by the loop) and
     * writes C; the peer sees C first (X was discarded). */
    char b = 0, c = 0;
    size_t nb = h_recv_exact(p.s, &b, 1, 1000);
    size_t nc = h_send_all(p.s, "C", 1, 1000);
    size_t nc_peer = h_recv_exact(p.c, &c, 1, 1000);
    errno = 0;
    ssize_t w = vex_write(p.loop, p.s, "Y", 1);
    int w_err = errno;
    errno = 0;
    int cl = vex_close(p.loop, p.s);
    int cl_err = errno;
    bool still_open = h_fd_is_open(p.s);

    /* It can be registered again, and the backend sees new data. */
    h_rec again;
    h_rec_init(&again, p.s);
    int readd = vex_sock_add(p.loop, p.s, &h_rec_cbs, &again);
    h_send_all(p.c, "D", 1, 1000);
    again.expect = 1;
    bool got_d = readd == 0 && h_run_until(p.loop, h_rec_has_expected, &again, 3000);
    int removed_again = vex_sock_remove(p.loop, p.s);
    again.blocked = true;
    close(p.s);                              /* the caller closes */
    h_send_all(p.c, "E", 1, 200);
    h_run_for(p.loop, 100);
    h_pair_close(&p);

    assert_true(got_a);
    assert_int_equal(queued, 1);
    assert_int_equal(removed, 0);
    assert_int_equal(registered, 0);
    assert_int_equal(p.rec.calls_while_blocked, 0);
    assert_int_equal(nb, 1);
    if (b != 'B')
        fail_msg("caller read '%c' from the removed fd, expected 'B'", b);
    assert_int_equal(nc, 1);
    assert_int_equal(nc_peer, 1);
    if (c != 'C')
        fail_msg("peer read '%c' first; output queued before "
                 "vex_sock_remove must be discarded", c);
    assert_int_equal(w, -1);
    assert_int_equal(w_err, EBADF);
    assert_int_equal(cl, -1);
    assert_int_equal(cl_err, EBADF);
    assert_true(still_open);
    assert_int_equal(readd, 0);
    assert_true(got_d);
    assert_memory_equal(again.buf, "D", 1);
    assert_int_equal(removed_again, 0);
    assert_int_equal(again.calls_while_blocked, 0);
    h_rec_free(&p.rec);
    h_rec_free(&again);
}

/* ---- fd reuse after vex_close --------------------------------------------------------------- */

#define REUSE_ROUNDS 20

typedef struct reuse_totals {
    int reused, closed_at_once, late_old_calls, wrong_new, missing_new;
    int add_failures, close_failures;
} reuse_totals;

/* One round: A is registered with data streaming in, A is closed (paused
 * first on odd rounds), B is accepted into A's fd number and registered:
 * B sees exactly its own bytes and A's callbacks never run again. */
static void reuse_round(vex_loop *l, int lfd, int port, int round, reuse_totals *t)
{
    static char junk[32 * 1024];
    h_pattern_fill(junk, 0, sizeof junk);
    int ca = h_connect(port);
    int sa = h_accept(lfd, 2000);
    h_rec ra, rb;
    h_rec_init(&ra, sa);
    if (sa < 0 || vex_sock_add(l, sa, &h_rec_cbs, &ra) != 0) {
        t->add_failures++;
        goto out_a;
    }
    h_send_all(ca, junk, sizeof junk, 200);
    vex_loop_run_once(l, 0);
    if (round & 1)
        vex_read_pause(l, sa);
    h_send_all(ca, junk, sizeof junk / 2, 100);
    int cb = h_connect(port);                /* waits in the backlog */
    t->close_failures += vex_close(l, sa) != 0;
    ra.blocked = true;
    /* A completion backend may close asynchronously, at its next submit:
     * turn the loop (no waiting) until the number is free, so the new
     * socket gets it while the old one's cancellations are in flight. */
    t->closed_at_once += !h_fd_is_open(sa);
    for (int i = 0; i < 100 && h_fd_is_open(sa); i++) {
        vex_loop_run_once(l, 0);
        if (h_fd_is_open(sa))
            h_sleep_ms(1);
    }
    int sb = h_accept(lfd, 2000);            /* lowest free number */
    t->reused += sb == sa;
    h_rec_init(&rb, sb);
    if (sb < 0 || vex_sock_add(l, sb, &h_rec_cbs, &rb) != 0) {
        t->add_failures++;
        if (sb >= 0)
            close(sb);
        goto out_b;
    }
    char msg[32];
    int len = snprintf(msg, sizeof msg, "fresh-%d", round);
    h_send_all(ca, junk, sizeof junk, 100);  /* old peer keeps talking */
    h_send_all(cb, msg, (size_t)len, 1000);
    rb.expect = (size_t)len;
    h_run_until(l, h_rec_has_expected, &rb, 2000);
    h_run_for(l, 30);
    bool exact = rb.len == (size_t)len && memcmp(rb.buf, msg, (size_t)len) == 0;
    if (rb.len > (size_t)len || rb.wrong_fd || (rb.len == (size_t)len && !exact))
        t->wrong_new++;
    else if (rb.len < (size_t)len)
        t->missing_new++;
    vex_close(l, sb);
out_b:
    if (cb >= 0)
        close(cb);
    h_rec_free(&rb);
out_a:
    t->late_old_calls += ra.calls_while_blocked;
    h_rec_free(&ra);
    if (ca >= 0)
        close(ca);
}

static void test_fd_reuse_never_sees_old_sockets_data(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int port;
    int lfd = h_listen(64, &port);
    reuse_totals t;
    memset(&t, 0, sizeof t);
    for (int round = 0; round < REUSE_ROUNDS; round++)
        reuse_round(l, lfd, port, round, &t);
    h_loop_free(l);
    close(lfd);

    assert_int_equal(t.add_failures, 0);
    assert_int_equal(t.close_failures, 0);
    if (t.late_old_calls)
        fail_msg("%d callback(s) for closed sockets", t.late_old_calls);
    if (t.wrong_new)
        fail_msg("%d of %d new sockets got bytes or callbacks of the old "
                 "socket with the same fd", t.wrong_new, REUSE_ROUNDS);
    assert_int_equal(t.missing_new, 0);
    if (t.reused == 0)
        fail_msg("the fd number was never freed after vex_close and 100 "
                 "turns; reuse could not be tested");
    print_message("    fd number reused in %d of %d rounds (closed before "
                  "vex_close returned: %d)\n", t.reused, REUSE_ROUNDS,
                  t.closed_at_once);
}

int h_group_lifecycle(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_peer_reset_gives_econnreset_then_write_fails),
        H_TEST(test_write_after_peer_close_fails_with_epipe),
        H_TEST(test_reset_during_large_write),
        H_TEST(test_write_failure_reported_while_reading_is_paused),
        H_TEST(test_peer_half_close_then_reply),
        H_TEST(test_shutdown_write_sends_queued_data_then_eof),
        H_TEST(test_close_inside_on_data),
        H_TEST(test_close_inside_on_data_at_eof),
        H_TEST(test_close_inside_on_drain_loses_nothing),
        H_TEST(test_remove_then_caller_uses_and_closes_fd),
        H_TEST(test_fd_reuse_never_sees_old_sockets_data),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
