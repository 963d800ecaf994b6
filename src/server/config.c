/*
 * config.c — flags, defaults and strict value checking.
 *
 * Values are checked strictly (digits only, ranges) because a typo such as
 * "--max-clients 10k" silently becoming 10 would be worse than refusing.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "production_server"

static void usage(FILE *f)
{
    fprintf(f,
"usage: " PROG " [options]\n"
"  --host ADDR              numeric IPv4/IPv6 address to bind (default 0.0.0.0)\n"
"  --port N                 TCP port, 0 picks a free one (default 8080)\n"
"  --threads N              event loops, one SO_REUSEPORT listener each\n"
"                           (default: online CPUs)\n"
"  --max-clients N          open connections, all threads (default 10000)\n"
"  --backlog N              listen backlog per thread; also how many accepted\n"
"                           clients may wait for a slot (default 4096)\n"
"  --buffer-size N          bytes per receive buffer (default 8192)\n"
"  --header-timeout S       seconds for a request head to arrive (default 30)\n"
"  --idle-timeout S         keep-alive idle, body and write stall seconds (default 60)\n"
"  --shutdown-timeout S     seconds to drain after SIGINT/SIGTERM (default 5)\n"
"  --stats-interval S       seconds between statistics blocks, 0: off (default 10)\n"
"  --root DIR               directory served under GET /static/ (default: none)\n"
"  --max-body N             request body limit in bytes (default 8388608)\n"
"  --admin-port N           also listen here for /healthz, /readyz and /metrics\n"
"                           only, with its own 16 connections outside\n"
"                           --max-clients (0 picks a port; default: off)\n"
"  --admin-host ADDR        address of the admin listener (default 127.0.0.1)\n"
"  --help                   this text\n"
"Seconds may have decimals (0.5). Exit codes: 0 after a graceful shutdown,\n"
"1 on a runtime error, 2 for bad flags, 3 when the backend cannot run here.\n");
}

static int bad(const char *flag, const char *val, const char *want)
{
    fprintf(stderr, PROG ": invalid value for --%s: '%s' (%s)\n", flag, val, want);
    return 2;
}

/* Digits only: strtoull alone would accept "-1", " 5" and "0x10". */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Seconds with optional decimals, returned in milliseconds. */
static int parse_secs(const char *s, double lo, double hi, uint64_t *ms)
{
    if (*s == '\0' || strspn(s, "0123456789.") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -1;
    *ms = (uint64_t)(v * 1000.0 + 0.5);   /* no -lm for llround */
    return 0;
}

int config_parse(server_config *cfg, int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (server_config){
        .host = "0.0.0.0", .port = 8080,
        .threads = cpus > 0 ? (unsigned)cpus : 1,
        .max_clients = 10000, .backlog = 4096, .buffer_size = 8192,
        .header_timeout_ms = 30000, .idle_timeout_ms = 60000,
        .shutdown_timeout_ms = 5000, .stats_interval_ms = 10000,
        .root = NULL, .max_body = 8u << 20,
        .admin_port = -1, .admin_host = "127.0.0.1",
    };
    enum { O_HOST = 1, O_PORT, O_THREADS, O_MAXCL, O_BUF, O_HDR, O_IDLE,
           O_SHUT, O_STATS, O_ROOT, O_BODY, O_APORT, O_AHOST, O_BACKLOG, O_HELP };
    static const struct option opts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"threads", required_argument, NULL, O_THREADS},
        {"max-clients", required_argument, NULL, O_MAXCL},
        {"buffer-size", required_argument, NULL, O_BUF},
        {"header-timeout", required_argument, NULL, O_HDR},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"shutdown-timeout", required_argument, NULL, O_SHUT},
        {"stats-interval", required_argument, NULL, O_STATS},
        {"root", required_argument, NULL, O_ROOT},
        {"max-body", required_argument, NULL, O_BODY},
        {"admin-port", required_argument, NULL, O_APORT},
        {"backlog", required_argument, NULL, O_BACKLOG},
        {"admin-host", required_argument, NULL, O_AHOST},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;   /* our own messages name the flag */
    optind = 1;
    int c, idx;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":", opts, &idx)) != -1) {
        const char *a = optarg;
        switch (c) {
        case O_HOST:
            if (strlen(a) == 0 || strlen(a) >= sizeof cfg->host)
                return bad("host", a, "a numeric IPv4 or IPv6 address");
            strcpy(cfg->host, a);
            break;
        case O_PORT:
            if (parse_u64(a, 0, 65535, &v)) return bad("port", a, "0-65535");
            cfg->port = (int)v;
            break;
        case O_THREADS:
            if (parse_u64(a, 1, 1024, &v)) return bad("threads", a, "1-1024");
            cfg->threads = (unsigned)v;
            break;
        case O_MAXCL:
            if (parse_u64(a, 1, 10000000, &v)) return bad("max-clients", a, "1-10000000");
            cfg->max_clients = (unsigned)v;
            break;
        case O_BUF:
            if (parse_u64(a, 1024, 1u << 20, &v)) return bad("buffer-size", a, "1024-1048576 bytes");
            cfg->buffer_size = (unsigned)v;
            break;
        case O_HDR:
            if (parse_secs(a, 0.001, 86400, &cfg->header_timeout_ms))
                return bad("header-timeout", a, "seconds, 0.001-86400");
            break;
        case O_IDLE:
            if (parse_secs(a, 0.001, 86400, &cfg->idle_timeout_ms))
                return bad("idle-timeout", a, "seconds, 0.001-86400");
            break;
        case O_SHUT:
            if (parse_secs(a, 0, 86400, &cfg->shutdown_timeout_ms))
                return bad("shutdown-timeout", a, "seconds, 0-86400");
            break;
        case O_STATS:
            if (parse_secs(a, 0, 86400, &cfg->stats_interval_ms))
                return bad("stats-interval", a, "seconds, 0-86400 (0 disables)");
            break;
        case O_ROOT:
            if (*a == '\0') return bad("root", a, "a directory");
            cfg->root = a;
            break;
        case O_BODY:
            if (parse_u64(a, 0, (uint64_t)1 << 40, &v)) return bad("max-body", a, "0-1099511627776 bytes");
            cfg->max_body = v;
            break;
        case O_BACKLOG:
            if (parse_u64(a, 1, 65535, &v)) return bad("backlog", a, "1-65535");
            cfg->backlog = (unsigned)v;
            break;
        case O_APORT:
            if (parse_u64(a, 0, 65535, &v)) return bad("admin-port", a, "0-65535");
            cfg->admin_port = (int)v;
            break;
        case O_AHOST:
            if (strlen(a) == 0 || strlen(a) >= sizeof cfg->admin_host)
                return bad("admin-host", a, "a numeric IPv4 or IPv6 address");
            strcpy(cfg->admin_host, a);
            break;
        case O_HELP:
            usage(stdout);
            return 1;
        case ':':
            fprintf(stderr, PROG ": option '%s' needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* ---- snapshots ---------------------------------------------------------------- */

struct config_ref {
    _Atomic unsigned refs;
    server_config cfg;
};

config_ref *config_ref_new(const server_config *cfg)
{
    config_ref *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->cfg = *cfg;
    return r;
}

const server_config *config_ref_get(const config_ref *r) { return &r->cfg; }

config_ref *config_ref_acquire(config_ref *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void config_ref_release(config_ref *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        free(r);
}
