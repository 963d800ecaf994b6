/* args.c — vex_loadgen's command line and the request it sends. */
#include "loadgen.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ----------------------------------------------------------- */
void usage(FILE *f)
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

int build_request(run *r)
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

int parse_args(opts *o, int argc, char **argv, int *mode, long *dry_n)
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

