/*
 * harness.h — shared helpers for the backend conformance suite.
 *
 * The suite tests include/vex_net.h as a contract: every backend must pass
 * it unchanged. The client side of every test is plain POSIX sockets (some
 * in threads); only loopback addresses are used. Every wait is bounded:
 * loops are driven with vex_loop_run_once(loop, small timeout) until a
 * condition holds or a deadline passes, and client I/O goes through poll()
 * with a deadline. Each test runs in its own forked process, so a crash,
 * heap corruption or a library call that never returns fails that test
 * only (killed after VEX_TEST_WATCHDOG_S, default 60), and afterwards the
 * process is checked for fds left open, SIGPIPEs and (ASan builds) leaks.
 *
 * Discipline for tests with client threads: never assert while a thread
 * that touches the test's stack is running. Drive the loop, join, then
 * assert.
 */
#ifndef VEX_CONFORMANCE_HARNESS_H
#define VEX_CONFORMANCE_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <cmocka.h>

#include "vex_net.h"

/* ---- suite plumbing ------------------------------------------------------ */

/* A test run in its own process (VEX_TEST_NOFORK=1: in this one, bounded
 * by an alarm() watchdog instead; handy under gdb). */
typedef struct h_case {
    void (*fn)(void **state);
    const char *name;
} h_case;
#define H_TEST(f)                                                           \
    { .name = #f, .test_func = h_run_isolated, .setup_func = h_test_setup,  \
      .teardown_func = h_test_teardown, .initial_state = &(h_case){ f, #f } }
void h_run_isolated(void **state);
int h_test_setup(void **state);
int h_test_teardown(void **state);
/* skip() that also works inside the test's process. */
void h_skip(void);
/* Once per process: raise RLIMIT_NOFILE, count SIGPIPEs instead of dying. */
void h_global_init(void);

/* Groups (one per test file); each returns the number of failed tests. */
int h_group_accept(void);
int h_group_io(void);
int h_group_lifecycle(void);
int h_group_timers(void);
int h_group_loop(void);
int h_group_misuse(void);
int h_group_scale(void);
int h_group_sendfile(void);
int h_group_peer(void);
int h_group_uring(void);        /* io_uring only; skipped by name elsewhere */

/* ---- time ------------------------------------------------------------------ */

uint64_t h_now_ms(void);            /* CLOCK_MONOTONIC in ms */
void h_sleep_ms(int ms);

/* ---- loop driving ---------------------------------------------------------- */

typedef bool (*h_cond)(void *arg);

/* vex_loop_new() that fails the test (with the loop's message) on NULL.
 * Free with h_loop_free; teardown frees loops a failed test left behind. */
vex_loop *h_loop_new(const vex_loop_config *cfg);
void h_loop_free(vex_loop *l);
/* Run turns of at most 10 ms until cond(arg) holds (true) or timeout_ms
 * passes or vex_loop_run_once fails with anything but EINTR (false; the
 * failure is printed). */
bool h_run_until(vex_loop *l, h_cond cond, void *arg, int timeout_ms);
/* Run turns for ms milliseconds. Returns false if a turn failed. */
bool h_run_for(vex_loop *l, int ms);

/* ---- fds and sockets -------------------------------------------------------- */

bool h_fd_is_open(int fd);
bool h_fd_is_nonblocking(int fd);
bool h_fd_is_cloexec(int fd);
int  h_nofile_limit(void);          /* current soft RLIMIT_NOFILE */
/* Lowest free fd number: with the soft limit set to it, any new fd fails. */
int  h_lowest_free_fd(void);
/* Raise the soft RLIMIT_NOFILE as far as the hard limit (and the OS) allow;
 * returns the new soft limit. */
int  h_raise_nofile(void);
unsigned long h_sigpipe_count(void);

/* vex_tcp_listen on 127.0.0.1, port 0; fails the test on error. */
int  h_listen(int backlog, int *port);
/* Blocking connect to 127.0.0.1:port; -1 on failure. */
int  h_connect(int port);
/* The same in two steps: a client TCP socket, then a blocking connect. */
int  h_socket(void);
int  h_connect_fd(int fd, int port);
/* socket + non-blocking connect; -1 on immediate failure. */
int  h_connect_start(int port);
/* Accept one connection from a non-blocking listener within timeout_ms. */
int  h_accept(int listen_fd, int timeout_ms);
/* A connected loopback pair: *server is for the loop, *client for the test. */
void h_tcp_pair(int *server, int *client);
/* Make close(fd) send a RST (SO_LINGER {1, 0}). */
void h_set_linger_reset(int fd);
/* Port of the remote end, or -1. */
int  h_peer_port(int fd);

/* Client I/O, all bounded. h_send_all returns bytes sent (short on timeout
 * or error). h_recv_exact returns bytes received before EOF/error/timeout. */
size_t h_send_all(int fd, const void *p, size_t n, int timeout_ms);
size_t h_recv_exact(int fd, void *p, size_t n, int timeout_ms);
enum h_end { H_EOF, H_DATA, H_TIMEOUT, H_ERROR };
/* What comes next on fd: EOF, more data (discarded), nothing, or an error
 * (errno kept). */
enum h_end h_recv_end(int fd, int timeout_ms);
/* Nothing at all (no data, no EOF) arrives within ms. */
bool h_recv_nothing(int fd, int ms);

/* ---- data pattern ------------------------------------------------------------ */

/* Byte at stream offset off: order-sensitive, so lost, duplicated or
 * reordered bytes are detected. */
static inline unsigned char h_pattern(uint64_t off)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull;
    return (unsigned char)((x >> 56) ^ (x >> 29));
}
void h_pattern_fill(void *p, uint64_t off, size_t n);
/* Index of the first byte that differs from the pattern, or n. */
size_t h_pattern_check(const void *p, uint64_t off, size_t n);

/* ---- recording data callbacks ------------------------------------------------ */

typedef struct h_rec h_rec;
typedef void (*h_rec_hook)(vex_loop *l, int fd, const char *data, ssize_t n,
                           h_rec *r);
struct h_rec {
    int fd;                 /* the fd the callbacks must name */
    unsigned char *buf;     /* every byte delivered, in order */
    size_t len, cap;
    size_t expect;          /* for h_rec_has_expected */
    int data_calls;         /* n > 0 */
    int eof_calls;          /* n == 0 */
    int err_calls;          /* n < 0 */
    int last_err;           /* -n of the last error */
    int calls_after_end;    /* any call after the first EOF or error */
    int calls_while_blocked;/* any call while blocked is set */
    int wrong_fd;           /* calls naming another fd */
    int drains;             /* on_drain calls */
    int hook_errors;        /* library calls that failed inside a hook */
    bool blocked;           /* set by tests: no callback expected now */
    h_rec_hook hook;        /* optional, runs after recording */
    h_rec_hook drain_hook;  /* optional, on_drain (data NULL, n 0) */
    void *user;
};
/* cbs whose udata must be an h_rec. */
extern const vex_sock_cbs h_rec_cbs;
void h_rec_init(h_rec *r, int fd);
void h_rec_free(h_rec *r);
int  h_rec_calls(const h_rec *r);
/* Fails unless r holds exactly total pattern bytes. */
void h_assert_pattern(const h_rec *r, size_t total);
bool h_rec_has_ended(void *r);      /* h_cond: EOF or error seen */
bool h_rec_has_expected(void *r);   /* h_cond: len >= expect */

/* A loop with one registered loopback connection recorded by rec. */
typedef struct h_pair {
    vex_loop *loop;
    int s, c;               /* s: registered with loop; c: the test's client */
    h_rec rec;
} h_pair;
void h_pair_open(h_pair *p, const vex_loop_config *cfg);
/* Frees the loop (which closes s) and closes c; rec stays for asserts. */
void h_pair_close(h_pair *p);

/* ---- client threads ------------------------------------------------------------ */

/* Sends total pattern bytes (from offset 0) in pieces of 1..max_piece bytes,
 * sleeping gap_ms after every gap_every pieces; then optionally
 * shutdown(SHUT_WR). */
typedef struct h_sender {
    int fd;
    size_t total, max_piece;
    int gap_every, gap_ms, timeout_ms;
    bool shut_wr;
    size_t sent;            /* result */
} h_sender;
void *h_sender_main(void *arg);

/* Waits delay_ms, then reads up to EOF (or timeout) in chunks of at most
 * chunk bytes, checking every byte against the pattern from offset 0. */
typedef struct h_reader {
    int fd;
    size_t chunk;
    int delay_ms, timeout_ms;
    size_t got;             /* results */
    size_t mismatch_at;     /* SIZE_MAX if every byte matched */
    bool eof;
    int err;
} h_reader;
void *h_reader_main(void *arg);

/* Many non-blocking clients driven by poll(): each connects to port, sends
 * a unique msg_len-byte message and waits for it to come back; all stay
 * connected until every client is done, then all are closed. At most
 * max_connecting connects are in progress at once. */
typedef struct h_clients {
    int port, n, max_connecting, timeout_ms;
    int connected, echoed, failed;  /* results */
    int first_errno;
} h_clients;
void *h_clients_main(void *arg);

/* ---- a loop-side echo server (for h_clients) ----------------------------------- */

typedef struct h_echo {
    int listen_fd;
    int accepted, accept_errors, last_accept_err;
    int add_failures, write_failures, closed, close_failures;
    int not_nonblocking, not_cloexec, duplicate_fds, wrong_listener;
    unsigned char *open_fds;        /* one byte per fd: currently open */
    int max_fd;
} h_echo;
/* Listens on 127.0.0.1:0 and starts accepting into an echo server. */
void h_echo_start(vex_loop *l, h_echo *e, int backlog, int *port);
/* Stops listening and closes the listener (registered sockets stay). */
void h_echo_stop(vex_loop *l, h_echo *e);
void h_echo_free(h_echo *e);
/* n clients (at most max_connecting connecting at once) against an echo
 * server on a new loop: every one accepted once and echoed (test_accept.c). */
void h_run_echo_burst(int n, int max_connecting, int timeout_ms);

#endif
