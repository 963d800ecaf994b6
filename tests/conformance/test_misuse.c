/*
 * test_misuse.c — misuse returns -1 with the documented errno and never
 * crashes, closes a caller's fd, or breaks the loop for other sockets.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static void expect_fail(const char *what, long rc, int err, int want)
{
    if (rc != -1 || err != want)
        fail_msg("%s returned %ld, errno %d (%s); expected -1, errno %d (%s)",
                 what, rc, err, strerror(err), want, strerror(want));
}

#define EXPECT_FAIL(call, want)                                    \
    do {                                                           \
        errno = 0;                                                 \
        long rc_ = (long)(call);                                   \
        expect_fail(#call, rc_, errno, (want));                    \
    } while (0)

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

/* Every fd-taking call on fd that is not a registered connection. */
static void expect_all_ebadf(vex_loop *l, int fd)
{
    EXPECT_FAIL(vex_write(l, fd, "x", 1), EBADF);
    EXPECT_FAIL(vex_close(l, fd), EBADF);
    EXPECT_FAIL(vex_read_pause(l, fd), EBADF);
    EXPECT_FAIL(vex_read_resume(l, fd), EBADF);
    EXPECT_FAIL(vex_want_drain(l, fd), EBADF);
    EXPECT_FAIL(vex_shutdown_write(l, fd), EBADF);
    EXPECT_FAIL(vex_sock_remove(l, fd), EBADF);
    EXPECT_FAIL(vex_listen_pause(l, fd), EBADF);
    EXPECT_FAIL(vex_listen_resume(l, fd), EBADF);
    EXPECT_FAIL(vex_listen_stop(l, fd), EBADF);
    assert_int_equal(vex_write_pending(l, fd), 0);
    assert_int_equal(vex_sock_registered(l, fd), 0);
}

/* A fresh pair on l still echoes: misuse did not break the loop. */
static void assert_loop_still_works(vex_loop *l)
{
    int s, c;
    h_tcp_pair(&s, &c);
    h_rec r;
    h_rec_init(&r, s);
    int added = vex_sock_add(l, s, &h_rec_cbs, &r);
    h_send_all(c, "still-alive", 11, 1000);
    r.expect = 11;
    bool got = added == 0 && h_run_until(l, h_rec_has_expected, &r, 3000);
    bool match = got && r.len == 11 && memcmp(r.buf, "still-alive", 11) == 0;
    if (added == 0)
        vex_close(l, s);
    else
        close(s);
    close(c);
    h_rec_free(&r);
    assert_int_equal(added, 0);
    assert_true(match);
}

static void test_unregistered_open_fd_gives_ebadf(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    expect_all_ebadf(l, s);
    /* The library must not have closed or consumed the caller's fd. */
    assert_true(h_fd_is_open(s));
    assert_int_equal(h_send_all(s, "mine", 4, 1000), 4);
    char buf[4];
    assert_int_equal(h_recv_exact(c, buf, 4, 1000), 4);
    assert_memory_equal(buf, "mine", 4);
    assert_loop_still_works(l);
    h_loop_free(l);
    close(s);
    close(c);
}

static void test_fd_out_of_range_gives_ebadf(void **state)
{
    (void)state;
    vex_loop_config cfg = { .max_fds = 128 };
    vex_loop *l = h_loop_new(&cfg);
    h_rec dummy;
    h_rec_init(&dummy, -1);
    const int bad[] = { -1, -2, INT_MIN, 128, 129, 100000, INT_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_all_ebadf(l, bad[i]);
        EXPECT_FAIL(vex_sock_add(l, bad[i], &h_rec_cbs, &dummy), EBADF);
    }
    EXPECT_FAIL(vex_listen_start(l, -1, noop_accept, NULL), EBADF);
    EXPECT_FAIL(vex_listen_start(l, INT_MAX, noop_accept, NULL), EBADF);

    /* An open socket whose number is beyond the table (max_fds = 128). */
    int s, c;
    h_tcp_pair(&s, &c);
    int high = 128 + 40;
    if (high < h_nofile_limit() && dup2(s, high) == high) {
        EXPECT_FAIL(vex_sock_add(l, high, &h_rec_cbs, &dummy), EBADF);
        expect_all_ebadf(l, high);
        assert_true(h_fd_is_open(high));
        close(high);
    } else {
        print_message("    (could not dup2 to fd %d; beyond-table add not checked)\n", high);
    }
    assert_loop_still_works(l);
    h_loop_free(l);
    close(s);
    close(c);
}

static void test_add_of_closed_fd_gives_ebadf(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    close(s);                       /* s is now a free number in range */
    h_rec dummy;
    h_rec_init(&dummy, s);
    EXPECT_FAIL(vex_sock_add(l, s, &h_rec_cbs, &dummy), EBADF);
    assert_int_equal(vex_sock_registered(l, s), 0);
    assert_loop_still_works(l);
    h_loop_free(l);
    close(c);
}

static void test_double_close_gives_ebadf(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    h_rec r;
    h_rec_init(&r, s);
    assert_int_equal(vex_sock_add(l, s, &h_rec_cbs, &r), 0);
    assert_int_equal(vex_sock_registered(l, s), 1);
    assert_int_equal(vex_close(l, s), 0);
    assert_int_equal(vex_sock_registered(l, s), 0);
    EXPECT_FAIL(vex_close(l, s), EBADF);
    expect_all_ebadf(l, s);
    h_run_for(l, 30);
    EXPECT_FAIL(vex_close(l, s), EBADF);
    bool closed = !h_fd_is_open(s);
    enum h_end end = h_recv_end(c, 2000);
    int calls = h_rec_calls(&r);
    assert_loop_still_works(l);
    h_loop_free(l);
    close(c);
    h_rec_free(&r);
    if (!closed)
        fail_msg("fd %d still open after vex_close and a loop turn", s);
    assert_int_equal(end, H_EOF);
    assert_int_equal(calls, 0);
}

static void test_add_twice_gives_eexist_and_keeps_first(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    h_rec first, second;
    h_rec_init(&first, s);
    h_rec_init(&second, s);
    assert_int_equal(vex_sock_add(l, s, &h_rec_cbs, &first), 0);
    EXPECT_FAIL(vex_sock_add(l, s, &h_rec_cbs, &second), EEXIST);
    assert_int_equal(vex_sock_registered(l, s), 1);
    h_send_all(c, "hello", 5, 1000);
    first.expect = 5;
    bool got = h_run_until(l, h_rec_has_expected, &first, 3000);
    int second_calls = h_rec_calls(&second);
    h_loop_free(l);
    close(c);
    assert_true(got);
    assert_memory_equal(first.buf, "hello", 5);
    assert_int_equal(second_calls, 0);
    h_rec_free(&first);
    h_rec_free(&second);
}

static void test_add_without_callbacks_gives_einval(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int s, c;
    h_tcp_pair(&s, &c);
    static const vex_sock_cbs no_data = { NULL, NULL };
    EXPECT_FAIL(vex_sock_add(l, s, NULL, NULL), EINVAL);
    EXPECT_FAIL(vex_sock_add(l, s, &no_data, NULL), EINVAL);
    assert_int_equal(vex_sock_registered(l, s), 0);
    assert_true(h_fd_is_open(s));
    /* The failed adds left no trace: a correct add now works. */
    h_rec r;
    h_rec_init(&r, s);
    assert_int_equal(vex_sock_add(l, s, &h_rec_cbs, &r), 0);
    h_send_all(c, "ok", 2, 1000);
    r.expect = 2;
    bool got = h_run_until(l, h_rec_has_expected, &r, 3000);
    h_loop_free(l);
    close(c);
    h_rec_free(&r);
    assert_true(got);
}

static void test_listen_calls_on_non_listener_give_ebadf(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    int port;
    int lfd = h_listen(8, &port);
    /* Bound and listening, but never passed to vex_listen_start. */
    EXPECT_FAIL(vex_listen_pause(l, lfd), EBADF);
    EXPECT_FAIL(vex_listen_resume(l, lfd), EBADF);
    EXPECT_FAIL(vex_listen_stop(l, lfd), EBADF);
    /* A registered connection is not a listener either. */
    int s, c;
    h_tcp_pair(&s, &c);
    h_rec r;
    h_rec_init(&r, s);
    assert_int_equal(vex_sock_add(l, s, &h_rec_cbs, &r), 0);
    EXPECT_FAIL(vex_listen_pause(l, s), EBADF);
    EXPECT_FAIL(vex_listen_stop(l, s), EBADF);
    /* Started then stopped: the fd is the caller's again. */
    assert_int_equal(vex_listen_start(l, lfd, noop_accept, NULL), 0);
    assert_int_equal(vex_listen_stop(l, lfd), 0);
    EXPECT_FAIL(vex_listen_stop(l, lfd), EBADF);
    EXPECT_FAIL(vex_listen_pause(l, lfd), EBADF);
    assert_true(h_fd_is_open(lfd));
    assert_loop_still_works(l);
    h_loop_free(l);
    close(lfd);
    close(c);
    h_rec_free(&r);
}

static void test_timer_stop_on_unarmed_timer_is_safe(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    vex_timer t = VEX_TIMER_INIT, z;
    memset(&z, 0, sizeof z);
    vex_timer_stop(l, &t);
    vex_timer_stop(l, &t);
    vex_timer_stop(l, &z);
    assert_int_equal(vex_timer_active(&t), 0);
    assert_int_equal(vex_timer_active(&z), 0);
    assert_true(vex_loop_run_once(l, 0) >= 0);
    h_loop_free(l);
}

int h_group_misuse(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_unregistered_open_fd_gives_ebadf),
        H_TEST(test_fd_out_of_range_gives_ebadf),
        H_TEST(test_add_of_closed_fd_gives_ebadf),
        H_TEST(test_double_close_gives_ebadf),
        H_TEST(test_add_twice_gives_eexist_and_keeps_first),
        H_TEST(test_add_without_callbacks_gives_einval),
        H_TEST(test_listen_calls_on_non_listener_give_ebadf),
        H_TEST(test_timer_stop_on_unarmed_timer_is_safe),
    };
    return cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
}
