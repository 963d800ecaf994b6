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
#include "log.h"
#include "request_id.h"
#include "connlimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

static void print_addr(const char *what, const char *host, int port)
{
    char a[96];
    lformat(a, sizeof a, host, port);
    printf("vex_net production_server %s %s", what, a);
}

int main(int argc, char **argv)
{
    server s;
    memset(&s, 0, sizeof s);
    server_config cfg;
    char err[512];
    int rc = config_load(&cfg, argc, argv, err, sizeof err);
    if (rc) {
        if (rc == 2)
            fprintf(stderr, PROG ": %s\n", err);
        config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    if (cfg.check_only) {
        printf(PROG ": configuration %s%s is valid\n", cfg.config_path ? "file " : "",
               cfg.config_path ? cfg.config_path : "(flags only)");
        config_free(&cfg);
        return 0;
    }

    s.backend = vex_backend_name();
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        fprintf(stderr, PROG ": backend %s cannot run here: %s\n", s.backend,
                why[0] ? why : "unavailable");
        config_free(&cfg);
        return 3;
    }

    /* Logs before anything else is set up: the files were checked by
     * config_load, so a failure here is a race (exit 2 all the same). */
    rid_init();
    char lerr[LOG_PATH_MAX + 128];
    if (log_start(&cfg.log, cfg.threads, lerr, sizeof lerr) < 0) {
        fprintf(stderr, PROG ": %s\n", lerr);
        config_free(&cfg);
        return 2;
    }
    atexit(log_stop);            /* the early exits below; idempotent */
    s.cfg_ref = config_ref_new(&cfg);
    if (!s.cfg_ref) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    s.cfg = config_ref_get(s.cfg_ref);
    /* connections outlive reloads, so their per-client counts live here;
     * never full: it holds every connection the limit allows */
    s.conn_limits = cl_table_new(s.cfg->max_clients + REJECT_RESERVE);
    if (!s.conn_limits) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }

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
    s.app.log_event = log_event;
    s.app.metrics_src = &s;
    s.app.log_event = log_event;

    for (unsigned i = 0; i < s.n_workers; i++) {
        worker *w = &s.workers[i];
        w->srv = &s;
        w->id = i;
        w->admin_lfd = -1;
        w->st = stats_new();
        if (!w->st) {
            fprintf(stderr, PROG ": out of memory\n");
            return 1;
        }
    }
    /* One SO_REUSEPORT socket per listener per loop; with port 0 the first
     * picks the port and the others join it. */
    lplan plan;
    if (lplan_make(&s.lreg, s.cfg, s.n_workers, s.cfg->backlog, &plan, err, sizeof err) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    listeners_hand_out(&s, &plan, false);

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
        vex_set_nodelay(fd, 1);   /* inherited by its connections (platform.h) */
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

    print_addr("listening on", s.lreg.r[0].spec.host, s.lreg.r[0].port);
    printf(" backend=%s threads=%u pid=%ld\n", s.backend, s.n_workers, (long)getpid());
    for (unsigned i = 1; i < s.lreg.n; i++) {
        print_addr("also listening on", s.lreg.r[i].spec.host, s.lreg.r[i].port);
        printf("%s\n", s.lreg.r[i].spec.v6only ? " (ipv6-only)" : "");
    }
    if (admin_port >= 0) {
        print_addr("admin on", s.cfg->admin_host, admin_port);
        printf(" (/healthz /readyz /metrics)\n");
    }
    fflush(stdout);
    for (unsigned i = 0; i < s.lreg.n; i++) {
        char a[96];
        lformat(a, sizeof a, s.lreg.r[i].spec.host, s.lreg.r[i].port);
        log_event(VLOG_INFO, "listening on %s backend=%s threads=%u pid=%ld", a, s.backend,
                  s.n_workers, (long)getpid());
    }
    sig_block(false);             /* signals now go to this thread */

    /* Periodic statistics and reloads until every worker has drained. */
    uint64_t last_t = s.start_ns, next = 0, last_req = 0;
    for (;;) {
        pthread_mutex_lock(&s.mu);
        unsigned running = s.running;
        pthread_mutex_unlock(&s.mu);
        if (running == 0)
            break;
        if (sig_take_reopens())
            log_reopen();
        for (unsigned n = sig_take_reloads(); n > 0; n--)
            server_reload(&s, argc, argv);
        uint64_t interval_ns = s.cfg->stats_interval_ms * 1000000u;
        uint64_t now = now_ns();
        /* No timer: signals and finishing workers write to main's pipe. */
        if (!interval_ns) {
            sig_wait_main(-1);
            continue;
        }
        if (!next)
            next = last_t + interval_ns;
        if (now < next) {
            uint64_t wait_ms = (next - now + 999999) / 1000000;
            sig_wait_main(wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
            continue;
        }
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
    }

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
    log_event(VLOG_INFO, "stopped after %.3f s", up);
    log_stop();                  /* every worker is gone: write what they left */

    for (unsigned i = 0; i < s.n_workers; i++) {
        worker *w = &s.workers[i];
        admit_close_listeners(w);
        admit_free(w);
        h1_ctx_free(&w->h1);
        access_log_free(w->alog);
        config_ref_release(w->cfg_ref);
        free(w->st);
    }
    if (s.app.bytes_fd >= 0)
        close(s.app.bytes_fd);
    config_ref_release(s.cfg_ref);
    cl_table_free(s.conn_limits);
    free(s.workers);
    free(pattern);
    sig_close();
    return exit_rc;
}
