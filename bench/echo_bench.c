/*
 * echo_bench.c — the smallest HTTP "hello" server on the public vex_net API,
 * used by scripts/echo_bench.py to compare backends (requests/s, syscalls
 * per request, CPU per request). It is a benchmark harness, not a server:
 * there is no HTTP parser. Every "\r\n\r\n" seen on a connection counts as
 * one request and is answered with the same keep-alive response; the match
 * state is kept across reads, so pipelined and split requests both work.
 *
 *   echo_bench [--port N] [--max-seconds S]
 *
 * Listens on 127.0.0.1 only. Prints "ready port=P backend=B" once listening
 * (port 0 picks a free port) and, on SIGTERM/SIGINT, one line:
 *   requests=N syscalls=M cpu_us=U backend=B
 * Exit codes: 0 done, 1 error, 2 usage, 3 backend unavailable here.
 */
#include "vex_net.h"
#include "bench_slowdown.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "Connection: keep-alive\r\n"
    "\r\n"
    "Hello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)

typedef struct conn {
    unsigned match;   /* bytes of "\r\n\r\n" matched so far (0..3) */
    uint64_t owed;    /* requests seen but not yet answered (backpressure) */
    int paused;
    struct conn *prev, *next;   /* open connections, freed at exit */
} conn;

static conn g_conns;   /* list head */

static vex_loop *g_loop;
static volatile sig_atomic_t g_signalled;
static uint64_t g_requests;


/* Count request terminators in data, carrying a partial match across reads. */
static uint64_t count_requests(conn *c, const char *data, size_t n)
{
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    uint64_t found = 0;
    unsigned m = c->match;
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == term[m]) {
            if (++m == 4) {
                found++;
                m = 0;
            }
        } else {
            /* Only "\r" can restart a match ("\r\n\r\r" -> "\r"). */
            m = ch == '\r' ? 1 : 0;
        }
    }
    c->match = m;
    return found;
}

/* Answer what is owed; on EAGAIN stop reading until the queue drains, so a
 * client that pipelines without reading cannot grow our memory. */
static void answer(vex_loop *loop, int fd, conn *c)
{
    while (c->owed > 0) {
        if (vex_write(loop, fd, RESPONSE, RESPONSE_LEN) < 0) {
            if (errno == EAGAIN) {
                if (!c->paused && vex_read_pause(loop, fd) == 0)
                    c->paused = 1;
                vex_want_drain(loop, fd);
                return;
            }
            c->owed = 0;   /* EPIPE/ECONNRESET: on_data reports the end */
            return;
        }
        c->owed--;
        g_requests++;
        bench_slowdown();
    }
    if (c->paused && vex_read_resume(loop, fd) == 0)
        c->paused = 0;
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n,
                    void *udata)
{
    conn *c = udata;
    if (n <= 0) {   /* EOF or error: this client is done */
        vex_close(loop, fd);
        c->prev->next = c->next;
        c->next->prev = c->prev;
        free(c);
        return;
    }
    c->owed += count_requests(c, data, (size_t)n);
    answer(loop, fd, c);
}

static void on_drain(vex_loop *loop, int fd, void *udata)
{
    answer(loop, fd, udata);
}

static const vex_sock_cbs CBS = {on_data, on_drain};

static void on_accept(vex_loop *loop, int listen_fd, int fd,
                      const struct sockaddr *peer, socklen_t peer_len, void *udata)
{
    (void)peer;
    (void)peer_len;
    (void)listen_fd;
    (void)udata;
    if (fd < 0)
        return;   /* the loop already backs off on EMFILE & co. */
    conn *c = calloc(1, sizeof *c);
    vex_set_nodelay(fd, 1);
    if (!c || vex_sock_add(loop, fd, &CBS, c) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->next = g_conns.next;
    c->prev = &g_conns;
    g_conns.next->prev = c;
    g_conns.next = c;
}

/* Runs in the loop thread after the signal handler's vex_loop_wake(). */
static void on_wake(vex_loop *loop, void *udata)
{
    (void)udata;
    if (g_signalled)
        vex_loop_stop(loop);
}

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
    vex_loop_wake(g_loop);   /* async-signal-safe: one write(2) */
}

/* A forgotten server must not run forever. */
static void on_deadline(vex_loop *loop, vex_timer *t)
{
    (void)t;
    fprintf(stderr, "echo_bench: --max-seconds reached, stopping\n");
    vex_loop_stop(loop);
}

static uint64_t cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_bench [--port N] [--max-seconds S]\n"
               "  HTTP hello server on 127.0.0.1 (backend: %s). Prints\n"
               "  'ready port=P backend=B', then on SIGTERM/SIGINT\n"
               "  'requests=N syscalls=M cpu_us=U backend=B'.\n"
               "  Exit 3: backend unavailable here.\n",
            vex_backend_name());
}

static int parse_uint(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long port = 8080, max_seconds = 600;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (parse_uint(argv[++i], 65535, &port) < 0)
                goto bad;
        } else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc) {
            if (parse_uint(argv[++i], 86400, &max_seconds) < 0 || max_seconds == 0)
                goto bad;
        } else {
            goto bad;
        }
    }

    g_conns.next = g_conns.prev = &g_conns;
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        fprintf(stderr, "echo_bench: backend %s unavailable: %s\n",
                vex_backend_name(), why);
        return 3;
    }
    vex_loop_config cfg = {0};
    cfg.on_wake = on_wake;
    char err[256] = "";
    g_loop = vex_loop_new(&cfg, err, sizeof err);
    if (!g_loop) {
        fprintf(stderr, "echo_bench: %s\n", err);
        /* A sandbox refusing the backend is "unavailable", not a failure. */
        return errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP ? 3 : 1;
    }
    int lfd = vex_tcp_listen("127.0.0.1", (int)port, 1024, 0);
    if (lfd < 0 || vex_listen_start(g_loop, lfd, on_accept, NULL) < 0) {
        fprintf(stderr, "echo_bench: listen on 127.0.0.1:%ld: %s\n", port,
                strerror(errno));
        return 1;
    }
    vex_timer deadline = VEX_TIMER_INIT;
    vex_timer_start(g_loop, &deadline, (uint64_t)max_seconds * 1000u, 0,
                    on_deadline, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("ready port=%d backend=%s\n", vex_local_port(lfd), vex_backend_name());
    fflush(stdout);

    int rc = vex_loop_run(g_loop);
    int saved = errno;
    printf("requests=%llu syscalls=%llu cpu_us=%llu backend=%s\n",
           (unsigned long long)g_requests,
           (unsigned long long)vex_loop_syscalls(g_loop),
           (unsigned long long)cpu_us(), vex_backend_name());
    fflush(stdout);
    if (rc < 0)
        fprintf(stderr, "echo_bench: vex_loop_run: %s\n", strerror(saved));
    vex_timer_stop(g_loop, &deadline);
    vex_listen_stop(g_loop, lfd);
    close(lfd);
    vex_loop_free(g_loop);   /* closes the sockets still open, no callbacks */
    while (g_conns.next != &g_conns) {
        conn *c = g_conns.next;
        g_conns.next = c->next;
        free(c);
    }
    return rc < 0 ? 1 : 0;

bad:
    usage(stderr);
    return 2;
}
