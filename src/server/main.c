/*
 * main.c — vex_net's production HTTP/1.1 server: flags, listeners, threads,
 * the periodic statistics block and the exit code.
 *
 * The main thread runs no loop. It owns the signal handler (workers block
 * SIGINT/SIGTERM), prints statistics every --stats-interval, and after the
 * workers have drained prints the final block and exits 0.
 */
#include "server.h"
#include "platform.h"
#include "signals.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PROG "production_server"

static void raise_nofile(void)
{
    /* 10 000 clients need more than the usual soft limit of 1024. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static char *make_pattern(void)
{
    /* /bytes/N content: a 64-character alphabet repeated, so a client can
     * check any byte: byte i is alphabet[i % 64]. */
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *p = malloc(PATTERN_CHUNK);
    if (p)
        for (size_t i = 0; i < PATTERN_CHUNK; i++)
            p[i] = a[i % 64];
    return p;
}

/* /bytes/N is sent by the loop as pieces of this file (a memfd on Linux:
 * sendfile(2) from its pages, no copy through user space). -1 if there is
 * none: then /bytes/N is copied from the pattern buffer instead. */
static int make_bytes_file(const char *pattern)
{
    int fd = plat_bytes_file();
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < PATTERN_FILE; off += PATTERN_CHUNK) {
        if (pwrite(fd, pattern, PATTERN_CHUNK, (off_t)off) != (ssize_t)PATTERN_CHUNK) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static double secs_since(uint64_t t0) { return (double)(now_ns() - t0) / 1e9; }

static bool numeric_addr(const char *host)
{
    unsigned char addr[16];
    return inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, addr) == 1;
}

static int bad_addr(const char *flag, const char *host)
{
    fprintf(stderr, PROG ": invalid value for --%s: '%s' (a numeric IPv4 or IPv6 address)\n",
            flag, host);
    return 2;
}

static void print_addr(const char *what, const char *host, int port)
{
    bool br = strchr(host, ':') != NULL;
    printf("vex_net production_server %s %s%s%s:%d", what, br ? "[" : "", host, br ? "]" : "", port);
}

int main(int argc, char **argv)
{
    server s;
    memset(&s, 0, sizeof s);
    server_config cfg;
    int rc = config_parse(&cfg, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!numeric_addr(cfg.host))
        return bad_addr("host", cfg.host);
    if (cfg.admin_port >= 0 && !numeric_addr(cfg.admin_host))
        return bad_addr("admin-host", cfg.admin_host);

    s.backend = vex_backend_name();
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        fprintf(stderr, PROG ": backend %s cannot run here: %s\n", s.backend,
                why[0] ? why : "unavailable");
        return 3;
    }

    s.app.root_fd = -1;
    if (cfg.root) {
        s.app.root_fd = plat_open_root(cfg.root);
        if (s.app.root_fd < 0) {
            fprintf(stderr, PROG ": invalid value for --root: '%s' (%s)\n", cfg.root,
                    strerror(errno));
            return 2;
        }
    }
    s.cfg_ref = config_ref_new(&cfg);
    if (!s.cfg_ref) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    s.cfg = config_ref_get(s.cfg_ref);

    if (sig_install() < 0) {
        fprintf(stderr, PROG ": sigaction: %s\n", strerror(errno));
        return 1;
    }
    raise_nofile();

    char *pattern = make_pattern();
    s.n_workers = s.cfg->threads;
    s.workers = calloc(s.n_workers, sizeof(worker));
    if (!pattern || !s.workers) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    s.app.bytes_fd = make_bytes_file(pattern);
    s.app.pattern = pattern;
    s.app.render_metrics = prometheus_render;
    s.app.metrics_src = &s;

    /* One SO_REUSEPORT listener per loop; with --port 0 the first picks the
     * port and the others join it. */
    int port = s.cfg->port;
    for (unsigned i = 0; i < s.n_workers; i++) {
        int fd = vex_tcp_listen(s.cfg->host, port, (int)s.cfg->backlog, VEX_LISTEN_REUSEPORT);
        if (fd < 0) {
            fprintf(stderr, PROG ": cannot listen on %s:%d: %s\n", s.cfg->host, port,
                    strerror(errno));
            return 1;
        }
        if (port == 0)
            port = vex_local_port(fd);
        worker *w = &s.workers[i];
        w->srv = &s;
        w->id = i;
        w->lfd = fd;
        w->admin_lfd = -1;
        w->st = stats_new();
        if (!w->st) {
            fprintf(stderr, PROG ": out of memory\n");
            return 1;
        }
    }

    /* The admin listener lives on the first loop: a handful of monitoring
     * connections need no spreading, and it must never share the main
     * listeners' pause at --max-clients. */
    int admin_port = -1;
    if (s.cfg->admin_port >= 0) {
        int fd = vex_tcp_listen(s.cfg->admin_host, s.cfg->admin_port, 64, 0);
        if (fd < 0) {
            fprintf(stderr, PROG ": cannot listen on %s:%d (--admin-port): %s\n",
                    s.cfg->admin_host, s.cfg->admin_port, strerror(errno));
            return 1;
        }
        s.workers[0].admin_lfd = fd;
        admin_port = vex_local_port(fd);
    }

    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.start_ns = now_ns();
    s.running = s.n_workers;

    sig_block(true);              /* workers inherit the blocked mask */
    for (unsigned i = 0; i < s.n_workers; i++) {
        if (pthread_create(&s.workers[i].thread, NULL, worker_main, &s.workers[i]) != 0) {
            fprintf(stderr, PROG ": pthread_create: %s\n", strerror(errno));
            return 1;
        }
    }
    pthread_mutex_lock(&s.mu);
    while (s.started < s.n_workers)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    for (unsigned i = 0; i < s.n_workers; i++) {
        if (s.workers[i].start_rc) {
            fprintf(stderr, PROG ": %s\n", s.workers[i].start_msg);
            fflush(stderr);
            _exit(s.workers[i].start_rc);   /* other workers may be running */
        }
    }

    print_addr("listening on", s.cfg->host, port);
    printf(" backend=%s threads=%u pid=%ld\n", s.backend, s.n_workers, (long)getpid());
    if (admin_port >= 0) {
        print_addr("admin on", s.cfg->admin_host, admin_port);
        printf(" (/healthz /readyz /metrics)\n");
    }
    fflush(stdout);
    sig_block(false);             /* signals now go to this thread */

    /* Periodic statistics until every worker has drained. */
    uint64_t interval_ns = s.cfg->stats_interval_ms * 1000000u;
    uint64_t last_t = s.start_ns, next = s.start_ns + interval_ns, last_req = 0;
    pthread_mutex_lock(&s.mu);
    while (s.running > 0) {
        if (!interval_ns) {
            pthread_cond_wait(&s.cv, &s.mu);
            continue;
        }
        /* pthread condvars time out on CLOCK_REALTIME: convert */
        uint64_t now = now_ns();
        if (now < next) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait = next - now;
            ts.tv_sec += (time_t)(wait / 1000000000u);
            ts.tv_nsec += (long)(wait % 1000000000u);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s.cv, &s.mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s.mu);
        stats_snap *snap = malloc(sizeof *snap);
        if (snap) {
            stats_collect(&s, snap);
            double dt = (double)(now - last_t) / 1e9;
            double rate = dt > 0 ? (double)(snap->requests - last_req) / dt : 0;
            last_req = snap->requests;
            last_t = now;
            stats_print(&s, snap, secs_since(s.start_ns), rate);
            free(snap);
        }
        next += interval_ns;
        if (next <= now)
            next = now + interval_ns;
        pthread_mutex_lock(&s.mu);
    }
    pthread_mutex_unlock(&s.mu);

    /* No handler may touch a loop while it is freed: block, then let the
     * workers free their loops and finish. */
    sig_block(true);
    pthread_mutex_lock(&s.mu);
    s.may_free = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    int exit_rc = 0;
    for (unsigned i = 0; i < s.n_workers; i++) {
        pthread_join(s.workers[i].thread, NULL);
        if (s.workers[i].start_rc)
            exit_rc = s.workers[i].start_rc;
    }

    double up = secs_since(s.start_ns);
    stats_snap *snap = malloc(sizeof *snap);
    double rate = 0;
    if (snap) {
        stats_collect(&s, snap);
        rate = up > 0 ? (double)snap->requests / up : 0;
        stats_print(&s, snap, up, rate);
        free(snap);
    }

    for (unsigned i = 0; i < s.n_workers; i++) {
        worker *w = &s.workers[i];
        if (w->lfd >= 0)
            close(w->lfd);
        if (w->admin_lfd >= 0)
            close(w->admin_lfd);
        admit_free(w);
        h1_ctx_free(&w->h1);
        config_ref_release(w->cfg_ref);
        free(w->st);
    }
    if (s.app.root_fd >= 0)
        close(s.app.root_fd);
    if (s.app.bytes_fd >= 0)
        close(s.app.bytes_fd);
    config_ref_release(s.cfg_ref);
    free(s.workers);
    free(pattern);
    return exit_rc;
}
