/*
 * test_scale.c — thousands of concurrent connections on one loop, and many
 * idle registered sockets with a few busy ones.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCALE_CONNECTIONS 5000

/* Each connection takes two fds here (client and server side). */
static int connections_for_limit(int want)
{
    int limit = h_raise_nofile();
    int fit = (limit - 256) / 2;
    return fit < want ? fit : want;
}

static void test_5000_concurrent_echo_connections(void **state)
{
    (void)state;
    int n = connections_for_limit(SCALE_CONNECTIONS);
    if (n < SCALE_CONNECTIONS)
        print_message("    RLIMIT_NOFILE %d allows only %d connections\n",
                      h_nofile_limit(), n);
    if (n < 500)
        h_skip();
    h_run_echo_burst(n, 512, 40000);
}

typedef struct idle_set {
    h_rec *rec;
    int n;
} idle_set;

static bool every_idle_got_a_byte(void *arg)
{
    idle_set *set = arg;
    for (int i = 0; i < set->n; i++)
        if (set->rec[i].len < 1)
            return false;
    return true;
}

/* 2000 idle registered sockets must not starve one busy socket (4 MiB
 * through it), get no callbacks while idle, and all still work after. */
static void test_busy_socket_among_2000_idle_ones(void **state)
{
    (void)state;
    enum { IDLE = 2000, BUSY_BYTES = 4u << 20 };
    int n = connections_for_limit(IDLE);
    if (n < 200)
        h_skip();
    vex_loop *l = h_loop_new(NULL);
    int *srv = calloc((size_t)n, sizeof *srv), *cli = calloc((size_t)n, sizeof *cli);
    h_rec *rec = calloc((size_t)n, sizeof *rec);
    assert_true(srv && cli && rec);
    int added = 0;
    for (int i = 0; i < n; i++) {
        h_tcp_pair(&srv[i], &cli[i]);
        h_rec_init(&rec[i], srv[i]);
        added += vex_sock_add(l, srv[i], &h_rec_cbs, &rec[i]) == 0;
    }
    int bs, bc;
    h_tcp_pair(&bs, &bc);
    h_rec busy;
    h_rec_init(&busy, bs);
    int busy_added = vex_sock_add(l, bs, &h_rec_cbs, &busy);
    h_sender snd = { .fd = bc, .total = BUSY_BYTES, .max_piece = 65536,
                     .timeout_ms = 20000, .shut_wr = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_sender_main, &snd), 0);
    bool busy_done = h_run_until(l, h_rec_has_ended, &busy, 25000);
    pthread_join(th, NULL);
    int idle_calls = 0;
    for (int i = 0; i < n; i++)
        idle_calls += h_rec_calls(&rec[i]);
    for (int i = 0; i < n; i++)
        h_send_all(cli[i], "i", 1, 1000);
    idle_set set = { rec, n };
    bool all_alive = h_run_until(l, every_idle_got_a_byte, &set, 10000);
    int alive = 0;
    for (int i = 0; i < n; i++)
        alive += rec[i].len == 1 && rec[i].buf[0] == 'i';
    h_loop_free(l);
    int left_open = 0;
    for (int i = 0; i < n; i++)
        left_open += h_fd_is_open(srv[i]);
    for (int i = 0; i < n; i++) {
        close(cli[i]);
        if (h_fd_is_open(srv[i]))
            close(srv[i]);
        h_rec_free(&rec[i]);
    }
    if (h_fd_is_open(bs)) {
        left_open++;
        close(bs);
    }
    close(bc);
    free(srv);
    free(cli);
    free(rec);

    assert_int_equal(added, n);
    assert_int_equal(busy_added, 0);
    assert_int_equal(snd.sent, BUSY_BYTES);
    assert_true(busy_done);
    h_assert_pattern(&busy, BUSY_BYTES);
    h_rec_free(&busy);
    assert_int_equal(idle_calls, 0);
    if (left_open)
        fail_msg("vex_loop_free left %d of %d registered sockets open",
                 left_open, n + 1);
    if (!all_alive)
        fail_msg("only %d of %d idle sockets delivered a byte afterwards",
                 alive, n);
    assert_int_equal(alive, n);
}

int h_group_scale(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_5000_concurrent_echo_connections),
        H_TEST(test_busy_socket_among_2000_idle_ones),
    };
    return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
