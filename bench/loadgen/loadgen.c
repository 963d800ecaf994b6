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
#include "vex_net.h"
#include "hist.h"
#include "resp.h"
#include "schedule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull
#define MS 1000000ull

struct run;
typedef struct lconn {
    struct run *r;
    int idx;
    int fd;                 /* -1 while disconnected */
    int busy;               /* a request is on the wire, waiting for its response */
    int in_idle;            /* on the idle stack */
    uint64_t *q;            /* intended send times; q[head] is the one in flight if busy */
    size_t qcap, qhead, qlen;
    uint64_t sent_at;       /* when the request in flight was written */
    uint64_t retry_at;      /* reconnect not before (0: now) */
    resp_parser rp;
} lconn;

typedef struct opts {
    char host[64];
    int port;
    int family;
    char path[2048];
    const char *method;
    double rate, duration, timeout;
    int connections;
    sched_kind sched;
    uint64_t seed;
    size_t max_queue;
    int start_on_stdin;
    const char *out;
    const char *label;
    size_t body_bytes;
    char headers[4096];
} opts;

typedef struct stats {
    uint64_t scheduled, sent, completed, status[6];
    uint64_t err_connect, err_read, err_parse, err_timeout, err_dropped, err_unfinished;
    uint64_t reconnects;
    uint64_t queued;        /* due while every connection was busy: waited in a queue */
} stats;

/* The run's state: one instance, owned by main(). */
typedef struct run {
    opts o;
    vex_loop *loop;
    lconn *c;
    int *idle;              /* stack of connection indices */
    int nidle;
    int rr;
    size_t outstanding;     /* queued + in flight, all connections */
    int need_reconnect;
    char *req;
    size_t req_len;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    hist lat, lag;
    stats st;
    /* the pacer thread (see pacer()) */
    pthread_mutex_t pace_mu;
    pthread_cond_t pace_cv;
    uint64_t pace_target;   /* monotonic ns the blocked loop waits for; 0: none */
    int pace_stop;
} run;

static volatile sig_atomic_t g_stop;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ---- per-connection queue ------------------------------------------------ */
static int q_push(lconn *c, uint64_t t)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 16;
        uint64_t *n = malloc(ncap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < c->qlen; i++)
            n[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = n;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = t;
    c->qlen++;
    return 0;
}

static uint64_t q_pop(run *r, lconn *c)
{
    uint64_t t = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    r->outstanding--;
    return t;
}

/* ---- connections --------------------------------------------------------- */
static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *udata);
static const vex_sock_cbs CBS = {on_data, NULL};

static void mark_idle(run *r, int i)
{
    lconn *c = &r->c[i];
    if (c->fd >= 0 && !c->busy && c->qlen == 0 && !c->in_idle) {
        c->in_idle = 1;
        r->idle[r->nidle++] = i;
    }
}

static void send_next(run *r, lconn *c, uint64_t now)
{
    if (c->fd < 0 || c->busy || c->qlen == 0)
        return;
    if (vex_write(r->loop, c->fd, r->req, r->req_len) < 0) {
        return;    /* the failure reaches on_data (EPIPE/ECONNRESET) */
    }
    c->busy = 1;
    c->sent_at = now;
    resp_reset(&c->rp, !strcmp(r->o.method, "HEAD"));
    r->st.sent++;
}

/* Blocking connect with a 1 s limit: loopback and test links connect in
 * microseconds, and a run starts only once every connection is open. */
static int connect_one(run *r)
{
    int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&r->addr, r->addrlen) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 1000) != 1)
            goto fail;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            errno = err ? err : errno;
            goto fail;
        }
    }
    vex_set_nodelay(fd, 1);
    return fd;
fail:
    close(fd);
    return -1;
}

static int open_conn(run *r, int i, uint64_t now)
{
    lconn *c = &r->c[i];
    int fd = connect_one(r);
    if (fd < 0 || vex_sock_add(r->loop, fd, &CBS, c) < 0) {
        if (fd >= 0)
            close(fd);
        r->st.err_connect++;
        c->retry_at = now + 100 * MS;
        return -1;
    }
    c->fd = fd;
    c->busy = 0;
    c->retry_at = 0;
    send_next(r, c, now);
    mark_idle(r, i);
    return 0;
}

/* The connection is unusable: the request in flight (if any) is lost and
 * counted by the caller; queued ones wait for the reconnect. */
static void drop_conn(run *r, lconn *c, uint64_t now)
{
    if (c->fd >= 0)
        vex_close(r->loop, c->fd);
    c->fd = -1;
    c->busy = 0;
    c->in_idle = 0;     /* stale stack entries are skipped when popped */
    c->retry_at = now;
    r->need_reconnect++;
}

static void reconnect_all(run *r, uint64_t now)
{
    int still = 0;
    for (int i = 0; i < r->o.connections; i++) {
        lconn *c = &r->c[i];
        if (c->fd >= 0)
            continue;
        if (c->retry_at <= now && open_conn(r, i, now) == 0)
            r->st.reconnects++;
        if (c->fd < 0)
            still++;
    }
    r->need_reconnect = still;
}

static void complete(run *r, lconn *c, uint64_t now)
{
    uint64_t intended = q_pop(r, c);
    c->busy = 0;
    hist_record(&r->lat, now > intended ? now - intended : 0);
    r->st.completed++;
    int cls = c->rp.status / 100;
    r->st.status[cls >= 1 && cls <= 5 ? cls : 0]++;
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *udata)
{
    (void)loop;
    (void)fd;
    lconn *c = udata;
    run *r = c->r;
    uint64_t now = mono_ns();
    if (n <= 0) {              /* closed or failed: the request in flight is lost */
        if (c->busy) {
            q_pop(r, c);
            r->st.err_read++;
        }
        drop_conn(r, c, now);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        if (!c->busy) {        /* bytes nobody asked for */
            r->st.err_parse++;
            drop_conn(r, c, now);
            return;
        }
        size_t used = 0;
        int rc = resp_feed(&c->rp, data + off, (size_t)n - off, &used);
        off += used;
        if (rc == RESP_MORE)
            return;
        if (rc < 0) {
            q_pop(r, c);
            r->st.err_parse++;
            drop_conn(r, c, now);
            return;
        }
        int closing = c->rp.close;
        complete(r, c, now);
        if (closing) {
            drop_conn(r, c, now);
            return;
        }
        send_next(r, c, now);
    }
    mark_idle(r, c->idx);
}

/* A request is due at `intended`: an idle connection takes it now, or it
 * waits behind the next connection's requests in round-robin order. */
static void dispatch(run *r, uint64_t intended, uint64_t now)
{
    r->st.scheduled++;
    if (r->outstanding >= r->o.max_queue) {
        r->st.err_dropped++;
        return;
    }
    lconn *c = NULL;
    while (r->nidle > 0) {
        lconn *k = &r->c[r->idle[--r->nidle]];
        k->in_idle = 0;
        if (k->fd >= 0 && !k->busy && k->qlen == 0) {
            c = k;
            break;
        }
    }
    if (!c) {
        c = &r->c[r->rr];
        r->rr = (r->rr + 1) % r->o.connections;
        r->st.queued++;
    } else {
        /* the generator's own lateness: due at `intended`, written now */
        hist_record(&r->lag, now > intended ? now - intended : 0);
    }
    if (q_push(c, intended) < 0) {
        r->st.err_dropped++;
        return;
    }
    r->outstanding++;
    send_next(r, c, now);
}

/* Requests whose intended time is more than --timeout ago are given up: the
 * one in flight costs its connection (a late response could not be told
 * apart), queued ones are just counted. */
static void expire(run *r, uint64_t now)
{
    uint64_t limit = (uint64_t)(r->o.timeout * 1e9);
    for (int i = 0; i < r->o.connections; i++) {
        lconn *c = &r->c[i];
        int lost_inflight = 0;
        while (c->qlen > 0 && c->q[c->qhead] + limit < now) {
            if (c->busy && !lost_inflight) {
                lost_inflight = 1;
                c->busy = 0;
            }
            q_pop(r, c);
            r->st.err_timeout++;
        }
        if (lost_inflight)
            drop_conn(r, c, now);
    }
}

/* ---- output -------------------------------------------------------------- */
static void write_pcts(FILE *f, const hist *h, double scale)
{
    static const double qs[] = {50, 75, 90, 99, 99.9, 99.99};
    static const char *names[] = {"p50", "p75", "p90", "p99", "p99.9", "p99.99"};
    fputc('{', f);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        fprintf(f, "\"%s\":%.3f,", names[i], hist_percentile(h, qs[i]) / scale);
    fprintf(f, "\"min\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
            h->total ? (double)h->min / scale : 0.0, (double)h->max / scale,
            h->total ? h->sum / (double)h->total / scale : 0.0);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void write_result(run *r, FILE *f, uint64_t start_unix, double elapsed)
{
    const opts *o = &r->o;
    const stats *st = &r->st;
    uint64_t non2xx = st->status[0] + st->status[1] + st->status[3] + st->status[4] +
                      st->status[5];
    fprintf(f, "{\"schema\":\"vex-loadgen/1\",\"tool\":\"vex_loadgen\",\"backend\":\"%s\",",
            vex_backend_name());
    fputs("\"label\":", f);
    json_str(f, o->label ? o->label : "");
    fprintf(f, ",\"target\":{\"host\":");
    json_str(f, o->host);
    fprintf(f, ",\"port\":%d,\"path\":", o->port);
    json_str(f, o->path);
    fprintf(f, ",\"method\":");
    json_str(f, o->method);
    fprintf(f, "},\"rate_rps\":%.3f,\"schedule\":\"%s\",\"seed\":%" PRIu64
               ",\"connections\":%d,\"duration_s\":%.3f,\"timeout_s\":%.3f,"
               "\"start_unix_ns\":%" PRIu64 ",\"elapsed_s\":%.6f,",
            o->rate, o->sched == SCHED_POISSON ? "poisson" : "constant", o->seed,
            o->connections, o->duration, o->timeout, start_unix, elapsed);
    fprintf(f, "\"scheduled\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"completed\":%" PRIu64
               ",\"achieved_rps\":%.3f,",
            st->scheduled, st->sent, st->completed,
            o->duration > 0 ? (double)st->completed / o->duration : 0.0);
    fprintf(f, "\"status\":{\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64
               ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 ",\"other\":%" PRIu64 "},"
               "\"non_2xx\":%" PRIu64 ",",
            st->status[1], st->status[2], st->status[3], st->status[4], st->status[5],
            st->status[0], non2xx);
    fprintf(f, "\"errors\":{\"connect\":%" PRIu64 ",\"read\":%" PRIu64 ",\"parse\":%" PRIu64
               ",\"timeout\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"unfinished\":%" PRIu64
               "},\"reconnects\":%" PRIu64 ",\"queued\":%" PRIu64 ",",
            st->err_connect, st->err_read, st->err_parse, st->err_timeout, st->err_dropped,
            st->err_unfinished, st->reconnects, st->queued);
    fprintf(f, "\"loop_syscalls\":%" PRIu64 ",", vex_loop_syscalls(r->loop));
    fputs("\"latency_us\":", f);
    write_pcts(f, &r->lat, 1e3);
    fputs(",\"send_lag_us\":", f);
    write_pcts(f, &r->lag, 1e3);
    fputs(",\"histogram\":", f);
    hist_write_json(&r->lat, f);
    fputs(",\"send_lag_histogram\":", f);
    hist_write_json(&r->lag, f);
    fputs("}\n", f);
}

/* ---- modes without load -------------------------------------------------- */
/* --record-values: ns values on stdin, one per line -> histogram JSON. */
static int record_values(void)
{
    static hist h;
    hist_init(&h);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        char *e;
        errno = 0;
        unsigned long long v = strtoull(line, &e, 10);
        if (errno || e == line || (*e && *e != '\n')) {
            fprintf(stderr, "vex_loadgen: --record-values: bad value %s", line);
            return 2;
        }
        hist_record(&h, v);
    }
    fputs("{\"latency_ns\":", stdout);
    write_pcts(stdout, &h, 1.0);
    fputs(",\"histogram\":", stdout);
    hist_write_json(&h, stdout);
    fputs("}\n", stdout);
    return 0;
}

static int dry_schedule(const opts *o, long n)
{
    schedule s;
    schedule_init(&s, o->sched, o->rate, o->seed);
    for (long i = 0; i < n; i++)
        printf("%" PRIu64 "\n", schedule_next(&s));
    return 0;
}

/* ---- arguments ----------------------------------------------------------- */
static void usage(FILE *f)
{
    fprintf(f,
        "usage: vex_loadgen --url http://HOST:PORT/PATH --rate R --duration S [options]\n"
        "Open-loop HTTP/1.1 load at R requests/s (backend %s); latency is measured from\n"
        "each request's intended send time. Writes one JSON document (vex-loadgen/1).\n"
        "  --connections N     keep-alive connections (default 16)\n"
        "  --schedule K        constant | poisson (default constant)\n"
        "  --seed N            Poisson seed (default 1)\n"
        "  --timeout S         give a request up S after its intended time (default 10)\n"
        "  --method M          GET | HEAD | POST ... (default GET)\n"
        "  --header 'K: V'     extra request header (repeatable)\n"
        "  --body-bytes N      request body of N 'x' bytes (with Content-Length)\n"
        "  --max-queue N       requests waiting at once; beyond: counted as dropped (1000000)\n"
        "  --out FILE          write the JSON there (default stdout)\n"
        "  --label TEXT        recorded in the output\n"
        "  --start-on-stdin    connect, print 'ready' on stderr, then wait for a line\n"
        "                      'go UNIX_NS' on stdin and start at that wall-clock moment\n"
        "  --dry-schedule N    print the first N intended offsets (ns) and exit\n"
        "  --record-values     read ns values from stdin, print their histogram, exit\n"
        "HOST is a numeric IPv4 or [IPv6] address. Exit: 0 ran, 1 could not run,\n"
        "2 usage, 3 backend unavailable here.\n",
        vex_backend_name());
}

static int parse_url(opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend || hend[1] != ':')
            return -1;
        p++;
        o->family = AF_INET6;
    } else {
        hend = strchr(p, ':');
        if (!hend)
            return -1;
        o->family = AF_INET;
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof o->host)
        return -1;
    memcpy(o->host, p, hl);
    o->host[hl] = '\0';
    const char *port = hend + (o->family == AF_INET6 ? 2 : 1);
    char *e;
    long v = strtol(port, &e, 10);
    if (e == port || v < 1 || v > 65535 || (*e && *e != '/'))
        return -1;
    o->port = (int)v;
    const char *path = *e ? e : "/";
    if (strlen(path) >= sizeof o->path || strpbrk(path, " \r\n"))
        return -1;
    strcpy(o->path, path);
    return 0;
}

static int num_arg(const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int build_request(run *r)
{
    const opts *o = &r->o;
    char hosthdr[96];
    if (o->family == AF_INET6)
        snprintf(hosthdr, sizeof hosthdr, "[%s]:%d", o->host, o->port);
    else
        snprintf(hosthdr, sizeof hosthdr, "%s:%d", o->host, o->port);
    char clen[48] = "";
    if (o->body_bytes)
        snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", o->body_bytes);
    size_t head = strlen(o->method) + strlen(o->path) + strlen(hosthdr) + strlen(o->headers) +
                  strlen(clen) + 64;
    r->req = malloc(head + o->body_bytes);
    if (!r->req)
        return -1;
    int n = snprintf(r->req, head, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vex_loadgen\r\n"
                     "%s%s\r\n", o->method, o->path, hosthdr, o->headers, clen);
    memset(r->req + n, 'x', o->body_bytes);
    r->req_len = (size_t)n + o->body_bytes;
    return 0;
}

static int parse_args(opts *o, int argc, char **argv, int *mode, long *dry_n)
{
    double v;
    int have_url = 0, have_rate = 0, have_dur = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!val) return -1; i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *mode = 'h';
            return 0;
        } else if (!strcmp(a, "--record-values")) {
            *mode = 'v';
            return 0;
        } else if (!strcmp(a, "--url")) {
            NEED();
            if (parse_url(o, val) < 0) {
                fprintf(stderr, "vex_loadgen: bad --url %s (http://NUMERIC-HOST:PORT/PATH)\n", val);
                return -1;
            }
            have_url = 1;
        } else if (!strcmp(a, "--rate")) {
            NEED();
            if (num_arg(val, 1e-3, 1e8, &o->rate) < 0)
                return -1;
            have_rate = 1;
        } else if (!strcmp(a, "--duration")) {
            NEED();
            if (num_arg(val, 1e-3, 86400, &o->duration) < 0)
                return -1;
            have_dur = 1;
        } else if (!strcmp(a, "--connections")) {
            NEED();
            if (num_arg(val, 1, 100000, &v) < 0 || v != floor(v))
                return -1;
            o->connections = (int)v;
        } else if (!strcmp(a, "--schedule")) {
            NEED();
            if (!strcmp(val, "constant"))
                o->sched = SCHED_CONSTANT;
            else if (!strcmp(val, "poisson"))
                o->sched = SCHED_POISSON;
            else
                return -1;
        } else if (!strcmp(a, "--seed")) {
            NEED();
            char *e;
            errno = 0;
            o->seed = strtoull(val, &e, 10);
            if (errno || *e || e == val)
                return -1;
        } else if (!strcmp(a, "--timeout")) {
            NEED();
            if (num_arg(val, 1e-3, 3600, &o->timeout) < 0)
                return -1;
        } else if (!strcmp(a, "--method")) {
            NEED();
            if (!*val || strlen(val) > 16 || strpbrk(val, " \r\n"))
                return -1;
            o->method = val;
        } else if (!strcmp(a, "--header")) {
            NEED();
            if (!strchr(val, ':') || strpbrk(val, "\r\n") ||
                strlen(o->headers) + strlen(val) + 3 > sizeof o->headers)
                return -1;
            strcat(o->headers, val);
            strcat(o->headers, "\r\n");
        } else if (!strcmp(a, "--body-bytes")) {
            NEED();
            if (num_arg(val, 0, 64 << 20, &v) < 0 || v != floor(v))
                return -1;
            o->body_bytes = (size_t)v;
        } else if (!strcmp(a, "--max-queue")) {
            NEED();
            if (num_arg(val, 1, 1e9, &v) < 0 || v != floor(v))
                return -1;
            o->max_queue = (size_t)v;
        } else if (!strcmp(a, "--out")) {
            NEED();
            o->out = val;
        } else if (!strcmp(a, "--label")) {
            NEED();
            o->label = val;
        } else if (!strcmp(a, "--start-on-stdin")) {
            o->start_on_stdin = 1;
        } else if (!strcmp(a, "--dry-schedule")) {
            NEED();
            if (num_arg(val, 1, 1e8, &v) < 0 || v != floor(v))
                return -1;
            *dry_n = (long)v;
            *mode = 'd';
        } else {
            fprintf(stderr, "vex_loadgen: unknown argument %s\n", a);
            return -1;
        }
#undef NEED
    }
    if (*mode == 'd')
        return have_rate ? 0 : -1;
    if (!have_url || !have_rate || !have_dur) {
        fprintf(stderr, "vex_loadgen: --url, --rate and --duration are required\n");
        return -1;
    }
    return 0;
}

/* The loop's waits have millisecond timeouts, and polling without blocking
 * while idle is unfair to a shared CPU (the scheduler then preempts the
 * spinner for whole time slices). So when the next send is due within 2 ms,
 * the loop publishes that moment and blocks; this thread sleeps until it
 * (1 ns timer slack) and wakes the loop with vex_loop_wake(), the one call
 * allowed from another thread, SPIN_NS early; the loop polls without
 * blocking for the last SPIN_NS, as it does whenever it is that busy. */
#define SPIN_NS 50000ull

static void *pacer(void *arg)
{
    run *r = arg;
#ifdef PR_SET_TIMERSLACK
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
    uint64_t done = 0;
    pthread_mutex_lock(&r->pace_mu);
    while (!r->pace_stop) {
        if (r->pace_target == 0 || r->pace_target == done) {
            pthread_cond_wait(&r->pace_cv, &r->pace_mu);
            continue;
        }
        uint64_t t = r->pace_target;
        pthread_mutex_unlock(&r->pace_mu);
        /* early by the spin window: waking takes tens of µs, the loop polls the rest */
        uint64_t at = t - SPIN_NS;
        struct timespec ts = {(time_t)(at / NS), (long)(at % NS)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        pthread_mutex_lock(&r->pace_mu);
        if (r->pace_target == t)      /* the loop still waits for this moment */
            vex_loop_wake(r->loop);
        done = t;
    }
    pthread_mutex_unlock(&r->pace_mu);
    return NULL;
}

static void pace_set(run *r, uint64_t target)
{
    pthread_mutex_lock(&r->pace_mu);
    r->pace_target = target;
    if (target)
        pthread_cond_signal(&r->pace_cv);
    pthread_mutex_unlock(&r->pace_mu);
}

static void on_wake(vex_loop *loop, void *udata)
{
    (void)loop;
    (void)udata;             /* the wake-up itself is the message */
}

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
