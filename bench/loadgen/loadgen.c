/*
 * loadgen.c — vex_loadgen, an open-loop HTTP/1.1 load generator on vex_net.
 *
 * Requests follow a schedule (constant rate or Poisson, schedule.h) that does
 * not wait for responses: each request has an intended send time, and its
 * latency is measured from that time, so a server stall is charged to every
 * request that should have been sent during it (no coordinated omission).
 * Keep-alive connections carry one request at a time; a due request goes to
 * an idle connection, or, when all are busy, waits in one connection's queue
 * (round-robin) and its wait counts in its latency. Latencies go into a
 * log-linear histogram (hist.h) written out whole, so histograms of several
 * clients merge exactly. Output: one JSON document (schema vex-loadgen/1,
 * bench/loadgen/README.md).
 *
 * Exit codes: 0 the run completed (errors are counted in the output, not
 * fatal); 1 could not run (no connection at all, I/O error); 2 usage;
 * 3 backend unavailable here.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Wait for "go UNIX_NS" on stdin, then until that wall-clock moment. */
static int barrier(const opts *o)
{
    fprintf(stderr, "ready connections=%d\n", o->connections);
    fflush(stderr);
    char line[128];
    if (!fgets(line, sizeof line, stdin))
        return -1;
    unsigned long long at;
    if (sscanf(line, "go %llu", &at) != 1)
        return -1;
    uint64_t now = real_ns();
    if (at > now) {
        struct timespec ts = {(time_t)(at / NS), (long)(at % NS)};
        while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop)
            ;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static run R;   /* large (two histograms): not on the stack */
    run *r = &R;
    opts *o = &r->o;
    o->method = "GET";
    o->connections = 16;
    o->timeout = 10;
    o->seed = 1;
    o->max_queue = 1000000;
    int mode = 0;
    long dry_n = 0;
    if (parse_args(o, argc, argv, &mode, &dry_n) < 0) {
        usage(stderr);
        return 2;
    }
    if (mode == 'h') {
        usage(stdout);
        return 0;
    }
    if (mode == 'v')
        return record_values();
    if (mode == 'd')
        return dry_schedule(o, dry_n);

    memset(&r->addr, 0, sizeof r->addr);
    if (o->family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) != 1)
            goto badhost;
        r->addrlen = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&r->addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, o->host, &a4->sin_addr) != 1)
            goto badhost;
        r->addrlen = sizeof *a4;
    }
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        fprintf(stderr, "vex_loadgen: backend %s unavailable: %s\n", vex_backend_name(), why);
        return 3;
    }
    char err[256] = "";
    vex_loop_config cfg = {0};
    cfg.on_wake = on_wake;
    cfg.wake_udata = r;
    r->loop = vex_loop_new(&cfg, err, sizeof err);
    if (!r->loop) {
        fprintf(stderr, "vex_loadgen: %s\n", err);
        return errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP ? 3 : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    hist_init(&r->lat);
    hist_init(&r->lag);
    if (build_request(r) < 0)
        return 1;
    r->c = calloc((size_t)o->connections, sizeof *r->c);
    r->idle = calloc((size_t)o->connections, sizeof *r->idle);
    if (!r->c || !r->idle)
        return 1;
    uint64_t now = mono_ns();
    int open = 0;
    for (int i = 0; i < o->connections; i++) {
        r->c[i].r = r;
        r->c[i].idx = i;
        r->c[i].fd = -1;
        if (open_conn(r, i, now) == 0)
            open++;
        else
            r->need_reconnect++;
    }
    if (open == 0) {
        fprintf(stderr, "vex_loadgen: cannot connect to %s:%d: %s\n", o->host, o->port,
                strerror(errno));
        return 1;
    }
    r->st.err_connect = 0;   /* failures before the start are not the run's */
    if (o->start_on_stdin && barrier(o) < 0) {
        fprintf(stderr, "vex_loadgen: --start-on-stdin: expected 'go UNIX_NS' on stdin\n");
        return 2;
    }

    schedule s;
    schedule_init(&s, o->sched, o->rate, o->seed);
    uint64_t start = mono_ns(), start_unix = real_ns();
    uint64_t end = start + (uint64_t)(o->duration * 1e9);
    uint64_t grace_end = end + (uint64_t)(o->timeout * 1e9) + NS;
    uint64_t next = start + schedule_next(&s);
    int active = next < end;
    pthread_t pacer_thread;
    pthread_mutex_init(&r->pace_mu, NULL);
    pthread_cond_init(&r->pace_cv, NULL);
    int pacing = pthread_create(&pacer_thread, NULL, pacer, r) == 0;
    if (!pacing)
        fprintf(stderr, "vex_loadgen: no pacer thread (%s): polling instead\n", strerror(errno));
    uint64_t next_expire = start + 10 * MS, last_done = start;
    while (!g_stop) {
        now = mono_ns();
        while (active && next <= now) {
            dispatch(r, next, now);
            next = start + schedule_next(&s);
            active = next < end;
        }
        if (r->need_reconnect)
            reconnect_all(r, now);
        if (now >= next_expire) {
            expire(r, now);
            next_expire = now + 10 * MS;
        }
        if (r->outstanding)
            last_done = now;
        if (!active && r->outstanding == 0)
            break;
        if (!active && now >= grace_end)
            break;
        /* The pacer wakes the wait at the next send time; the timeout is only
         * a backstop (and the tick of expire/reconnect). */
        int wait_ms = 10, paced = 0;
        if (active) {
            uint64_t gap = next > now ? next - now : 0;
            if (gap > 3 * MS)
                wait_ms = (int)((gap - 2 * MS) / MS);   /* ms timer, then look again */
            else if (gap > 2 * SPIN_NS && pacing)
                wait_ms = 4, paced = 1;                 /* the pacer wakes it on time */
            else
                wait_ms = 0;
            if (wait_ms > 10)
                wait_ms = 10;
        }
        if (paced)
            pace_set(r, next);
        int rc = vex_loop_run_once(r->loop, wait_ms);
        if (paced)
            pace_set(r, 0);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "vex_loadgen: loop: %s\n", strerror(errno));
            return 1;
        }
    }
    pthread_mutex_lock(&r->pace_mu);
    r->pace_stop = 1;
    pthread_cond_signal(&r->pace_cv);
    pthread_mutex_unlock(&r->pace_mu);
    if (pacing)
        pthread_join(pacer_thread, NULL);   /* at most one sleep (< 3 ms) away */
    now = mono_ns();
    r->st.err_unfinished = r->outstanding;
    double elapsed = (double)((r->outstanding ? now : last_done) - start) / 1e9;
    FILE *f = stdout;
    if (o->out && !(f = fopen(o->out, "w"))) {
        fprintf(stderr, "vex_loadgen: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    write_result(r, f, start_unix, elapsed);
    if (f != stdout)
        fclose(f);
    vex_loop_free(r->loop);
    for (int i = 0; i < o->connections; i++)
        free(r->c[i].q);
    free(r->c);
    free(r->idle);
    free(r->req);
    return 0;

badhost:
    fprintf(stderr, "vex_loadgen: %s is not a numeric address\n", o->host);
    return 2;
}

