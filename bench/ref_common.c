/* Flags, listening socket, canned response: see ref_common.h. */
#include "ref_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Byte for byte what production_server sends for GET / (src/server/response.c). */
#define HEAD1 "HTTP/1.1 200 OK\r\nServer: vex_net\r\nDate: "
#define DATE_LEN 29   /* "Wed, 02 Dec 2026 18:38:00 GMT" */
#define HEAD2 "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nX-Request-Id: 0000000000000000\r\n\r\nHello, World!"

int ref_parse_args(int argc, char **argv, const char *prog, ref_args *out)
{
    out->host = NULL;
    out->port = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: %s --host ADDR --port PORT\n"
                   "Minimal reference server: answers every HTTP request (each \\r\\n\\r\\n)\n"
                   "with production_server's plaintext response, single-threaded.\n", prog);
            exit(0);
        }
        if (i + 1 < argc && !strcmp(argv[i], "--host")) {
            out->host = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--port")) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 0 || p > 65535)
                goto bad;
            out->port = (int)p;
        } else {
            goto bad;
        }
    }
    if (out->host && out->port >= 0)
        return 0;
bad:
    fprintf(stderr, "usage: %s --host ADDR --port PORT\n", prog);
    return REF_EXIT_BAD_FLAGS;
}

int ref_listen(const ref_args *a)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)a->port);
    if (inet_pton(AF_INET, a->host, &sin.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address %s\n", a->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "listen %s:%d: %s\n", a->host, a->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The one piece of mutable global state: a signal handler can reach nothing else. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *ref_stop_flag(void)
{
    return &stop_requested;
}

int ref_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;      /* no SA_RESTART: the wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static void write_date(ref_response *r, time_t now)
{
    struct tm tm;
    char date[DATE_LEN + 1];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    for (int i = 0; i < REF_BATCH; i++)
        memcpy(r->spare + (size_t)i * r->len + sizeof HEAD1 - 1, date, DATE_LEN);
    char *t = r->buf;
    r->buf = r->spare;
    r->spare = t;
    r->second = now;
}

int ref_response_init(ref_response *r)
{
    r->len = sizeof HEAD1 - 1 + DATE_LEN + sizeof HEAD2 - 1;
    r->buf = malloc(r->len * REF_BATCH);
    r->spare = malloc(r->len * REF_BATCH);
    if (!r->buf || !r->spare)
        return -1;
    for (int i = 0; i < 2 * REF_BATCH; i++) {
        char *p = (i < REF_BATCH ? r->buf : r->spare) + (size_t)(i % REF_BATCH) * r->len;
        memcpy(p, HEAD1, sizeof HEAD1 - 1);
        memcpy(p + sizeof HEAD1 - 1 + DATE_LEN, HEAD2, sizeof HEAD2 - 1);
    }
    write_date(r, time(NULL));
    write_date(r, r->second);
    return 0;
}

void ref_response_tick(ref_response *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != r->second)
        write_date(r, ts.tv_sec);
}

void ref_response_free(ref_response *r)
{
    free(r->buf);
    free(r->spare);
    r->buf = r->spare = NULL;
}

size_t ref_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur > (1u << 20) ? (1u << 20) : (size_t)rl.rlim_cur;
}
