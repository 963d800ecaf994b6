/* harness.c — shared helpers for the conformance suite (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define H_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H_ASAN 1
#endif
#endif
#ifdef H_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0      /* macOS: SO_NOSIGPIPE is set on client sockets */
#endif

/* ---- time ------------------------------------------------------------------ */

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = h_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* ---- suite plumbing ---------------------------------------------------------- */

static volatile sig_atomic_t sigpipes;
static unsigned long sigpipes_at_setup;
static unsigned char *fds_at_setup;
static int fds_at_setup_n;
static bool in_child;               /* this process runs one test only */

static int free_live_loops(void);
static void open_pair_listener(void);

#ifdef VEX_LIBKQUEUE
/* make test-libkqueue: libkqueue owns descriptors of its own. Two are
 * process-wide, created by a process's first kqueue() (again in a forked
 * child) and kept: create them before a baseline is taken. A closed
 * kqueue's internal ones are closed later by its helper thread: wait for
 * that before comparing. A kqueue the library left open still shows. */
#include <sys/event.h>
void libkqueue_drain_pending_close(void);   /* exported, not in its header */
static void libkqueue_settle(void)
{
    int kq = kqueue();
    if (kq >= 0)
        close(kq);
    libkqueue_drain_pending_close();
}
#else
static void libkqueue_settle(void) {}
#endif

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

/* Only with VEX_TEST_NOFORK: the parent's wait bounds forked tests. */
static void on_watchdog(int sig)
{
    static const char msg[] =
        "\n[  FAILED  ] watchdog: the test above did not finish in time; "
        "a library call never returned (run_once ignoring its timeout?)\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing left to do */
    }
    _exit(3);
}

static int watchdog_seconds(void)
{
    const char *s = getenv("VEX_TEST_WATCHDOG_S");
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : 60;
}

static bool isolated(void)
{
    const char *s = getenv("VEX_TEST_NOFORK");
    return !(s && *s && strcmp(s, "0") != 0);
}

int h_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > 65536)
            want = 65536;
        while (want > rl.rlim_cur) {            /* macOS caps at OPEN_MAX */
            struct rlimit nr = { want, rl.rlim_max };
            if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
                break;
            want /= 2;
        }
    }
    return h_nofile_limit();
}

void h_global_init(void)
{
    h_raise_nofile();
    open_pair_listener();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_watchdog;
    sigaction(SIGALRM, &sa, NULL);
}

unsigned long h_sigpipe_count(void)
{
    return (unsigned long)sigpipes;
}

int h_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 256;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
        return INT_MAX;
    return (int)rl.rlim_cur;
}

static int fd_scan_limit(void)
{
    int n = h_nofile_limit();
    return n > 70000 ? 70000 : n;
}

static int take_fd_baseline(void)
{
    /* Not in the parent of forked tests: doing it there (which starts
     * libkqueue's helper thread before every fork) made ASan test processes
     * hang now and then; each child does it for itself instead. */
    if (!isolated() || in_child)
        libkqueue_settle();
    free(fds_at_setup);
    fds_at_setup_n = fd_scan_limit();
    fds_at_setup = calloc((size_t)fds_at_setup_n, 1);
    if (!fds_at_setup)
        return -1;
    for (int fd = 0; fd < fds_at_setup_n; fd++)
        fds_at_setup[fd] = h_fd_is_open(fd);
    return 0;
}

int h_test_setup(void **state)
{
    (void)state;
    if (take_fd_baseline() < 0)
        return -1;
    sigpipes_at_setup = h_sigpipe_count();
    if (!isolated())
        alarm((unsigned)watchdog_seconds());
    return 0;
}

/* After a test: fds it left open (closed here, so the next test starts
 * clean) and SIGPIPEs (clients send with MSG_NOSIGNAL, so a SIGPIPE comes
 * from the library writing to a dead peer). quiet: the test already
 * failed, just clean up. Returns 0 if clean. */
static int post_test_checks(bool quiet)
{
    int leaked = 0, first = -1;
    int limit = fd_scan_limit();
#ifdef VEX_LIBKQUEUE
    libkqueue_drain_pending_close();
#endif
    for (int fd = 0; fd < limit; fd++) {
        bool was_open = fd < fds_at_setup_n && fds_at_setup[fd];
        if (!was_open && h_fd_is_open(fd)) {
            if (first < 0)
                first = fd;
            leaked++;
            close(fd);
        }
    }
    int rc = 0;
    if (leaked && !quiet) {
        print_error("after the test: %d fd(s) left open by the test or the "
                    "library (first: %d)\n", leaked, first);
        rc = -1;
    }
#ifdef H_ASAN
    /* In ASan builds every passing test is also checked for leaks. */
    if (!quiet && __lsan_do_recoverable_leak_check() != 0) {
        print_error("after the test: LeakSanitizer found leaks (above)\n");
        rc = -1;
    }
#endif
    if (h_sigpipe_count() != sigpipes_at_setup && !quiet) {
        print_error("after the test: SIGPIPE raised %lu time(s): the library "
                    "wrote to a closed socket without MSG_NOSIGNAL/SO_NOSIGPIPE\n",
                    h_sigpipe_count() - sigpipes_at_setup);
        rc = -1;
    }
    return rc;
}

static void child_exit(int code)
{
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

int h_test_teardown(void **state)
{
    (void)state;
    if (in_child)                  /* only reached when the test failed */
        child_exit(1);
    alarm(0);
    if (isolated())
        return 0;                  /* the test's process did the checks */
    /* A loop still alive means the test stopped at a failed assertion:
     * clean up quietly, the failure is already reported. */
    return post_test_checks(free_live_loops() > 0);
}

void h_skip(void)
{
    if (in_child)
        child_exit(77);
    skip();
}

/* Reap the test's process within the watchdog time; fail the test (in
 * this, the parent process) if it failed, crashed or hung. */
static void wait_for_test_process(pid_t pid)
{
    uint64_t deadline = h_now_ms() + (uint64_t)watchdog_seconds() * 1000u;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
        if (h_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("timed out after %d s: a library call never returned",
                     watchdog_seconds());
        }
        h_sleep_ms(2);
    }
    if (WIFSIGNALED(status))
        fail_msg("the test's process died of signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGABRT ? ": glibc abort, e.g. double "
                 "free or heap corruption" : "");
    if (WEXITSTATUS(status) == 77)
        skip();
    if (WEXITSTATUS(status) != 0)
        fail_msg("failed in the test's process (exit status %d; see above)",
                 WEXITSTATUS(status));
}

/* Each test runs in a child process (unless VEX_TEST_NOFORK=1), so a crash,
 * heap corruption or hang in the library fails that test only. */
void h_run_isolated(void **state)
{
    const h_case *c = *state;
    if (!isolated()) {
        c->fn(state);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        in_child = true;
#ifdef VEX_LIBKQUEUE
        if (take_fd_baseline() < 0)   /* libkqueue's fds are new here */
            child_exit(1);
#endif
        c->fn(state);
        child_exit(post_test_checks(free_live_loops() > 0) ? 1 : 0);
    }
    wait_for_test_process(pid);
}

/* ---- loop driving ---------------------------------------------------------- */

/* Loops a test created and has not freed: a test that fails part-way
 * leaves them here, and teardown frees them (with their sockets). */
#define MAX_LIVE_LOOPS 16
static vex_loop *live_loops[MAX_LIVE_LOOPS];

vex_loop *h_loop_new(const vex_loop_config *cfg)
{
    char err[256] = "";
    errno = 0;
    vex_loop *l = vex_loop_new(cfg, err, sizeof err);
    if (!l)
        fail_msg("vex_loop_new(%s) failed: errno %d (%s): %s",
                 vex_backend_name(), errno, strerror(errno), err);
    for (int i = 0; i < MAX_LIVE_LOOPS; i++)
        if (!live_loops[i]) {
            live_loops[i] = l;
            break;
        }
    return l;
}

void h_loop_free(vex_loop *l)
{
    for (int i = 0; i < MAX_LIVE_LOOPS; i++)
        if (live_loops[i] == l)
            live_loops[i] = NULL;
    vex_loop_free(l);
}

static int free_live_loops(void)
{
    int n = 0;
    for (int i = 0; i < MAX_LIVE_LOOPS; i++)
        if (live_loops[i]) {
            vex_loop_free(live_loops[i]);
            live_loops[i] = NULL;
            n++;
        }
    return n;
}

static bool run_turn(vex_loop *l, int timeout_ms)
{
    if (vex_loop_run_once(l, timeout_ms) >= 0 || errno == EINTR)
        return true;
    print_error("vex_loop_run_once failed: errno %d (%s)\n", errno,
                strerror(errno));
    return false;
}

bool h_run_until(vex_loop *l, h_cond cond, void *arg, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (!cond(arg)) {
        int left = remaining_ms(deadline);
        if (left == 0 || !run_turn(l, left < 10 ? left : 10))
            return cond(arg);
    }
    return true;
}

bool h_run_for(vex_loop *l, int ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)ms;
    for (int left; (left = remaining_ms(deadline)) > 0;)
        if (!run_turn(l, left < 10 ? left : 10))
            return false;
    return true;
}

/* ---- fds and sockets ---------------------------------------------------------- */

bool h_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

bool h_fd_is_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl != -1 && (fl & O_NONBLOCK);
}

bool h_fd_is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl != -1 && (fl & FD_CLOEXEC);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static int client_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return fd;
}

/* bind(port 0) fails with EADDRINUSE while the ephemeral range is crowded
 * with TIME_WAIT sockets (other load on a shared machine): retry a while. */
static int listen_retrying(int backlog)
{
    uint64_t deadline = h_now_ms() + 3000;
    for (;;) {
        int fd = vex_tcp_listen("127.0.0.1", 0, backlog, 0);
        if (fd >= 0 || errno != EADDRINUSE || h_now_ms() >= deadline)
            return fd;
        h_sleep_ms(50);
    }
}

int h_listen(int backlog, int *port)
{
    int fd = listen_retrying(backlog);
    if (fd < 0)
        fail_msg("vex_tcp_listen(127.0.0.1, 0) failed: %s", strerror(errno));
    int p = vex_local_port(fd);
    if (p <= 0) {
        close(fd);
        fail_msg("vex_local_port(listener) = %d", p);
    }
    if (port)
        *port = p;
    return fd;
}

int h_socket(void)
{
    return client_socket();
}

int h_connect_fd(int fd, int port)
{
    struct sockaddr_in sa = loopback(port);
    return connect(fd, (struct sockaddr *)&sa, sizeof sa);
}

int h_connect(int port)
{
    int fd = client_socket();
    if (fd < 0)
        return -1;
    if (h_connect_fd(fd, port) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int h_connect_start(int port)
{
    int fd = client_socket();
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int h_accept(int listen_fd, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int left = remaining_ms(deadline);
        if (left == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = { listen_fd, POLLIN, 0 };
        poll(&p, 1, left);
    }
}

/* One listener for every h_tcp_pair in the run (opened before the first
 * test, so it is part of every test's fd baseline): thousands of pairs then
 * cost no bind(port 0) each. */
static int pair_listen_fd = -1, pair_port;

static void open_pair_listener(void)
{
    pair_listen_fd = listen_retrying(4096);
    pair_port = pair_listen_fd >= 0 ? vex_local_port(pair_listen_fd) : -1;
}

static int local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

void h_tcp_pair(int *server, int *client)
{
    if (pair_listen_fd < 0)
        fail_msg("no pair listener: vex_tcp_listen failed at start-up");
    int c = h_connect(pair_port);
    if (c < 0)
        fail_msg("loopback connect: %s", strerror(errno));
    /* Skip connections a failed earlier test left in the backlog. */
    int want = local_port(c), s = -1;
    uint64_t deadline = h_now_ms() + 3000;
    while (s < 0 && remaining_ms(deadline) > 0) {
        int a = h_accept(pair_listen_fd, remaining_ms(deadline));
        if (a < 0)
            break;
        if (h_peer_port(a) == want)
            s = a;
        else
            close(a);
    }
    if (s < 0) {
        int e = errno;
        close(c);
        fail_msg("loopback pair: accept: %s", strerror(e));
    }
    *server = s;
    *client = c;
}

void h_set_linger_reset(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

int h_peer_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

static bool wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = { fd, events, 0 };
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r > 0)
            return true;
        if (r == 0 || errno != EINTR)
            return false;
    }
}

size_t h_send_all(int fd, const void *p, size_t n, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, (const char *)p + done, n - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline))
                break;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    return done;
}

/* One recv with a deadline: > 0 bytes, 0 EOF, -1 error or ETIMEDOUT. */
static ssize_t recv_some(int fd, void *p, size_t n, uint64_t deadline)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (!wait_fd(fd, POLLIN, deadline)) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

size_t h_recv_exact(int fd, void *p, size_t n, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv_some(fd, (char *)p + got, n - got, deadline);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

enum h_end h_recv_end(int fd, int timeout_ms)
{
    char tmp[256];
    ssize_t r = recv_some(fd, tmp, sizeof tmp, h_now_ms() + (uint64_t)timeout_ms);
    if (r > 0)
        return H_DATA;
    if (r == 0)
        return H_EOF;
    return errno == ETIMEDOUT ? H_TIMEOUT : H_ERROR;
}

bool h_recv_nothing(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    uint64_t deadline = h_now_ms() + (uint64_t)ms;
    int r;
    do {
        r = poll(&p, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r == 0;
}

/* ---- data pattern -------------------------------------------------------------- */

void h_pattern_fill(void *p, uint64_t off, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = h_pattern(off + i);
}

size_t h_pattern_check(const void *p, uint64_t off, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != h_pattern(off + i))
            return i;
    return n;
}

/* ---- recording data callbacks ---------------------------------------------------- */

static void rec_append(h_rec *r, const char *data, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        unsigned char *nb = realloc(r->buf, cap);
        if (!nb)
            abort();
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
}

static void rec_on_data(vex_loop *l, int fd, const char *data, ssize_t n,
                        void *udata)
{
    h_rec *r = udata;
    if (fd != r->fd)
        r->wrong_fd++;
    if (r->blocked)
        r->calls_while_blocked++;
    if (r->eof_calls || r->err_calls)
        r->calls_after_end++;
    if (n > 0) {
        r->data_calls++;
        rec_append(r, data, (size_t)n);
    } else if (n == 0) {
        r->eof_calls++;
    } else {
        r->err_calls++;
        r->last_err = (int)-n;
    }
    if (r->hook)
        r->hook(l, fd, data, n, r);
}

static void rec_on_drain(vex_loop *l, int fd, void *udata)
{
    h_rec *r = udata;
    if (fd != r->fd)
        r->wrong_fd++;
    if (r->blocked)
        r->calls_while_blocked++;
    r->drains++;
    if (r->drain_hook)
        r->drain_hook(l, fd, NULL, 0, r);
}

const vex_sock_cbs h_rec_cbs = { rec_on_data, rec_on_drain };

void h_rec_init(h_rec *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
}

void h_rec_free(h_rec *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

int h_rec_calls(const h_rec *r)
{
    return r->data_calls + r->eof_calls + r->err_calls + r->drains;
}

void h_assert_pattern(const h_rec *r, size_t total)
{
    if (r->len != total)
        fail_msg("received %zu of %zu bytes", r->len, total);
    size_t bad = h_pattern_check(r->buf, 0, r->len);
    if (bad != r->len)
        fail_msg("byte %zu of %zu differs: data lost, duplicated or reordered",
                 bad, total);
}

bool h_rec_has_ended(void *arg)
{
    const h_rec *r = arg;
    return r->eof_calls > 0 || r->err_calls > 0;
}

bool h_rec_has_expected(void *arg)
{
    const h_rec *r = arg;
    return r->len >= r->expect;
}

void h_pair_open(h_pair *p, const vex_loop_config *cfg)
{
    p->loop = h_loop_new(cfg);
    h_tcp_pair(&p->s, &p->c);
    h_rec_init(&p->rec, p->s);
    if (vex_sock_add(p->loop, p->s, &h_rec_cbs, &p->rec) != 0)
        fail_msg("vex_sock_add(fd %d): %s", p->s, strerror(errno));
}

void h_pair_close(h_pair *p)
{
    h_loop_free(p->loop);
    p->loop = NULL;
    if (p->c >= 0)
        close(p->c);
    p->c = -1;
}

/* ---- client threads ---------------------------------------------------------------- */

/* Small deterministic PRNG for piece sizes (threads must not share rand()). */
static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void *h_sender_main(void *arg)
{
    h_sender *s = arg;
    uint64_t deadline = h_now_ms() + (uint64_t)s->timeout_ms;
    unsigned char *piece = malloc(s->max_piece);
    uint32_t seed = 0x12345u;
    int pieces = 0;
    while (piece && s->sent < s->total && remaining_ms(deadline) > 0) {
        size_t n = 1 + xorshift(&seed) % s->max_piece;
        if (n > s->total - s->sent)
            n = s->total - s->sent;
        h_pattern_fill(piece, s->sent, n);
        size_t w = h_send_all(s->fd, piece, n, remaining_ms(deadline));
        s->sent += w;
        if (w < n)
            break;
        if (s->gap_every > 0 && ++pieces % s->gap_every == 0)
            h_sleep_ms(s->gap_ms);
    }
    free(piece);
    if (s->shut_wr)
        shutdown(s->fd, SHUT_WR);
    return NULL;
}

void *h_reader_main(void *arg)
{
    h_reader *r = arg;
    uint64_t deadline = h_now_ms() + (uint64_t)r->timeout_ms;
    unsigned char *buf = malloc(r->chunk);
    r->got = 0;
    r->mismatch_at = SIZE_MAX;
    r->eof = false;
    r->err = 0;
    if (r->delay_ms > 0)
        h_sleep_ms(r->delay_ms);
    while (buf) {
        ssize_t n = recv_some(r->fd, buf, r->chunk, deadline);
        if (n == 0) {
            r->eof = true;
            break;
        }
        if (n < 0) {
            r->err = errno;
            break;
        }
        size_t bad = h_pattern_check(buf, r->got, (size_t)n);
        if (bad < (size_t)n && r->mismatch_at == SIZE_MAX)
            r->mismatch_at = r->got + bad;
        r->got += (size_t)n;
    }
    free(buf);
    return NULL;
}

/* ---- many clients ------------------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_WAITING, C_DONE, C_FAILED };
#define H_MSG_LEN 32

typedef struct client {
    int fd, state;
    size_t got;
    char msg[H_MSG_LEN], back[H_MSG_LEN];
} client;

static void client_fail(h_clients *hc, client *c, int err)
{
    c->state = C_FAILED;
    hc->failed++;
    if (!hc->first_errno)
        hc->first_errno = err ? err : EPROTO;
}

static void client_send(h_clients *hc, client *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
        client_fail(hc, c, err ? err : errno);
        return;
    }
    hc->connected++;
    ssize_t w = send(c->fd, c->msg, H_MSG_LEN, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w != H_MSG_LEN) {
        client_fail(hc, c, w < 0 ? errno : EMSGSIZE);
        return;
    }
    c->state = C_WAITING;
}

static void client_recv(h_clients *hc, client *c)
{
    ssize_t r = recv(c->fd, c->back + c->got, H_MSG_LEN - c->got, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        client_fail(hc, c, r < 0 ? errno : ECONNRESET);
        return;
    }
    c->got += (size_t)r;
    if (c->got < H_MSG_LEN)
        return;
    if (memcmp(c->msg, c->back, H_MSG_LEN) != 0) {
        client_fail(hc, c, EBADMSG);
        return;
    }
    c->state = C_DONE;
    hc->echoed++;
}

static void clients_start_more(h_clients *hc, client *cs, int *opened,
                               int *connecting)
{
    while (*opened < hc->n && *connecting < hc->max_connecting) {
        client *c = &cs[(*opened)++];
        snprintf(c->msg, sizeof c->msg, "client %07u of %07u",
                 (unsigned)(*opened - 1) % 10000000u, (unsigned)hc->n % 10000000u);
        c->fd = h_connect_start(hc->port);
        if (c->fd < 0) {
            client_fail(hc, c, errno);
            continue;
        }
        c->state = C_CONNECTING;
        (*connecting)++;
    }
}

void *h_clients_main(void *arg)
{
    h_clients *hc = arg;
    client *cs = calloc((size_t)hc->n, sizeof *cs);
    struct pollfd *pfd = calloc((size_t)hc->n, sizeof *pfd);
    int *idx = calloc((size_t)hc->n, sizeof *idx);
    uint64_t deadline = h_now_ms() + (uint64_t)hc->timeout_ms;
    int opened = 0, connecting = 0;
    hc->connected = hc->echoed = hc->failed = hc->first_errno = 0;
    if (!cs || !pfd || !idx) {
        hc->failed = hc->n;
        hc->first_errno = ENOMEM;
        goto out;
    }
    for (int i = 0; i < hc->n; i++)
        cs[i].fd = -1;
    while (hc->echoed + hc->failed < hc->n && remaining_ms(deadline) > 0) {
        clients_start_more(hc, cs, &opened, &connecting);
        int np = 0;
        for (int i = 0; i < opened; i++) {
            if (cs[i].state != C_CONNECTING && cs[i].state != C_WAITING)
                continue;
            pfd[np].fd = cs[i].fd;
            pfd[np].events = cs[i].state == C_CONNECTING ? POLLOUT : POLLIN;
            pfd[np].revents = 0;
            idx[np++] = i;
        }
        int left = remaining_ms(deadline);
        if (poll(pfd, (nfds_t)np, left < 50 ? left : 50) <= 0)
            continue;
        for (int k = 0; k < np; k++) {
            if (!pfd[k].revents)
                continue;
            client *c = &cs[idx[k]];
            if (c->state == C_CONNECTING) {
                connecting--;
                client_send(hc, c);
            } else {
                client_recv(hc, c);
            }
        }
    }
out:
    for (int i = 0; cs && i < hc->n; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    free(pfd);
    free(idx);
    return NULL;
}

/* ---- loop-side echo server ---------------------------------------------------------- */

static void echo_on_data(vex_loop *l, int fd, const char *data, ssize_t n,
                         void *udata)
{
    h_echo *e = udata;
    if (n > 0) {
        if (vex_write(l, fd, data, (size_t)n) != n)
            e->write_failures++;
        return;
    }
    if (fd >= 0 && fd < e->max_fd)
        e->open_fds[fd] = 0;
    if (vex_close(l, fd) == 0)
        e->closed++;
    else
        e->close_failures++;
}

static const vex_sock_cbs echo_cbs = { echo_on_data, NULL };

static void echo_on_accept(vex_loop *l, int listen_fd, int fd,
                           const struct sockaddr *peer, socklen_t peer_len, void *udata)
{
    (void)peer;
    (void)peer_len;
    h_echo *e = udata;
    if (listen_fd != e->listen_fd)
        e->wrong_listener++;
    if (fd < 0) {
        e->accept_errors++;
        e->last_accept_err = -fd;
        return;
    }
    e->accepted++;
    if (!h_fd_is_nonblocking(fd))
        e->not_nonblocking++;
    if (!h_fd_is_cloexec(fd))
        e->not_cloexec++;
    if (fd < e->max_fd) {
        if (e->open_fds[fd])
            e->duplicate_fds++;
        e->open_fds[fd] = 1;
    }
    if (vex_sock_add(l, fd, &echo_cbs, e) != 0) {
        e->add_failures++;
        close(fd);
    }
}

void h_echo_start(vex_loop *l, h_echo *e, int backlog, int *port)
{
    memset(e, 0, sizeof *e);
    e->max_fd = fd_scan_limit();
    e->open_fds = calloc((size_t)e->max_fd, 1);
    assert_non_null(e->open_fds);
    e->listen_fd = h_listen(backlog, port);
    int rc = vex_listen_start(l, e->listen_fd, echo_on_accept, e);
    if (rc != 0) {
        int err = errno;
        close(e->listen_fd);
        fail_msg("vex_listen_start: %s", strerror(err));
    }
}

void h_echo_stop(vex_loop *l, h_echo *e)
{
    if (e->listen_fd < 0)
        return;
    vex_listen_stop(l, e->listen_fd);
    close(e->listen_fd);
    e->listen_fd = -1;
}

void h_echo_free(h_echo *e)
{
    free(e->open_fds);
    e->open_fds = NULL;
}

int h_lowest_free_fd(void)
{
    int fd = fcntl(0, F_DUPFD, 0);
    if (fd < 0)
        fd = dup(2);
    if (fd >= 0)
        close(fd);
    return fd;
}
