/*
 * prometheus.c — GET /metrics in the Prometheus text format 0.0.4.
 * Not the hot path: snprintf is fine here.
 */
#include "server.h"
#include "signals.h"
#include "log.h"
#include "access.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

void stats_collect(server *s, stats_snap *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < s->n_workers; i++)
        if (s->workers[i].st)
            stats_add_into(out, s->workers[i].st);
}

typedef struct pbuf {
    char *p;
    size_t len, cap;
} pbuf;

static void put(pbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(pbuf *b, const char *fmt, ...)
{
    if (b->len >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

static void metric(pbuf *b, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
        (unsigned long long)v);
}

/* Per rate-limit zone of the current snapshot (a reload that keeps a
 * zone keeps its counters; a changed one starts from zero). */
static void limits_render(server *s, pbuf *b)
{
    pthread_mutex_lock(&s->mu);
    config_ref *ref = config_ref_acquire(s->cfg_ref);
    pthread_mutex_unlock(&s->mu);
    const server_config *cfg = config_ref_get(ref);
    if (cfg->n_limits) {
        rl_counts c[CFG_MAX_LIMITS];
        for (unsigned i = 0; i < cfg->n_limits; i++)
            rl_zone_counts(cfg->limits[i].zone, &c[i]);
        static const char *const res[RLC_N] = {"allowed", "delayed", "rejected", "dry_run"};
        put(b, "# HELP vex_ratelimit_requests_total Requests by rate-limit zone and "
               "decision (dry_run: would have been delayed or rejected).\n"
               "# TYPE vex_ratelimit_requests_total counter\n");
        for (unsigned i = 0; i < cfg->n_limits; i++)
            for (int r = 0; r < RLC_N; r++)
                put(b, "vex_ratelimit_requests_total{zone=\"%s\",result=\"%s\"} %llu\n",
                    cfg->limits[i].name, res[r], (unsigned long long)c[i].n[r]);
        put(b, "# HELP vex_ratelimit_evictions_total Entries evicted (least recently used) "
               "because the zone was full.\n# TYPE vex_ratelimit_evictions_total counter\n");
        for (unsigned i = 0; i < cfg->n_limits; i++)
            put(b, "vex_ratelimit_evictions_total{zone=\"%s\"} %llu\n", cfg->limits[i].name,
                (unsigned long long)c[i].evicted);
        put(b, "# HELP vex_ratelimit_entries Client keys tracked by the zone now.\n"
               "# TYPE vex_ratelimit_entries gauge\n");
        for (unsigned i = 0; i < cfg->n_limits; i++)
            put(b, "vex_ratelimit_entries{zone=\"%s\"} %llu\n", cfg->limits[i].name,
                (unsigned long long)c[i].entries);
        put(b, "# HELP vex_ratelimit_capacity Client keys the zone can hold "
               "(zone-size).\n# TYPE vex_ratelimit_capacity gauge\n");
        for (unsigned i = 0; i < cfg->n_limits; i++)
            put(b, "vex_ratelimit_capacity{zone=\"%s\"} %llu\n", cfg->limits[i].name,
                (unsigned long long)c[i].capacity);
    }
    config_ref_release(ref);
}

size_t prometheus_render(void *server_, char *buf, size_t cap)
{
    server *s = server_;
    stats_snap *st = malloc(sizeof *st);   /* ~3 KiB: keep it off the stack */
    if (!st)
        return 0;
    stats_collect(s, st);
    pbuf b = {buf, 0, cap};
    metric(&b, "vex_connections_total", "counter", "Connections accepted.", st->conns_total);
    metric(&b, "vex_connections_active", "gauge", "Connections open now.", st->conns_active);
    metric(&b, "vex_requests_total", "counter", "Requests answered.", st->requests);
    metric(&b, "vex_bytes_received_total", "counter", "Bytes read from clients.", st->bytes_rx);
    metric(&b, "vex_bytes_sent_total", "counter", "Bytes queued to clients.", st->bytes_tx);
    put(&b, "# HELP vex_responses_total Responses by status class.\n"
            "# TYPE vex_responses_total counter\n");
    static const char *const cls[4] = {"2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 4; i++)
        put(&b, "vex_responses_total{class=\"%s\"} %llu\n", cls[i],
            (unsigned long long)st->resp[i]);
    metric(&b, "vex_errors_total", "counter", "Socket and internal errors.", st->errors);
    metric(&b, "vex_timeouts_total", "counter", "Connections closed by a timeout.", st->timeouts);
    metric(&b, "vex_connections_rejected_total", "counter",
           "Connections answered 503 over the connection limit.", st->rejected);
    metric(&b, "vex_tls_handshakes_total", "counter", "TLS handshakes completed.", st->tls_hs_ok);
    metric(&b, "vex_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed (bad version, garbage, a peer gone mid-way).",
           st->tls_hs_failed);
    metric(&b, "vex_proxy_protocol_errors_total", "counter",
           "Connections closed for a malformed PROXY protocol header.", st->proxy_bad);
    metric(&b, "vex_connections_limited_total", "counter",
           "Requests answered 503 because their client had limit-conn connections.",
           st->conn_limited);
    metric(&b, "vex_tls_resumed_total", "counter",
           "TLS handshakes that resumed a session (ticket or cache).", st->tls_resumed);
    put(&b, "# HELP vex_compressed_responses_total Responses sent with a content coding.\n"
            "# TYPE vex_compressed_responses_total counter\n");
    static const char *const enc[3] = {"gzip", "br", "zstd"};
    for (int i = 0; i < 3; i++)
        put(&b, "vex_compressed_responses_total{encoding=\"%s\"} %llu\n", enc[i],
            (unsigned long long)st->comp_resp[i]);
    metric(&b, "vex_compression_in_bytes_total", "counter",
           "Response body bytes given to a compressor.", st->comp_in);
    metric(&b, "vex_compression_out_bytes_total", "counter",
           "Compressed body bytes the compressors produced.", st->comp_out);
    metric(&b, "vex_connections_queued_total", "counter",
           "Connections accepted at the limit and held, unread, until a slot freed.",
           st->parked);
    metric(&b, "vex_connections_waiting", "gauge",
           "Accepted connections waiting for a slot now.",
           atomic_load_explicit(&s->parked, memory_order_relaxed));
    put(&b, "# HELP vex_connections Open connections by state.\n"
            "# TYPE vex_connections gauge\n");
    for (int i = 1; i < H1_NSTATES; i++)
        put(&b, "vex_connections{state=\"%s\"} %llu\n", h1_state_name[i],
            (unsigned long long)st->conn_state[i]);
    metric(&b, "vex_loop_syscalls_total", "counter",
           "Syscalls made by the event loops.", st->syscalls);
    metric(&b, "vex_log_lines_written_total", "counter",
           "Access log lines written by the log writer.", log_lines_written());
    metric(&b, "vex_log_lines_dropped_total", "counter",
           "Log lines dropped: the writer was behind, or a write failed.", log_lines_dropped());
    limits_render(s, &b);
    access_stats as;
    access_stats_get(&as, st);
    put(&b, "# HELP vex_access_decisions_total Requests matched by an access rule, by decision.\n"
            "# TYPE vex_access_decisions_total counter\n"
            "vex_access_decisions_total{decision=\"allowed\"} %llu\n"
            "vex_access_decisions_total{decision=\"denied\"} %llu\n"
            "vex_access_decisions_total{decision=\"unauthenticated\"} %llu\n"
            "vex_access_decisions_total{decision=\"auth_failed\"} %llu\n"
            "vex_access_decisions_total{decision=\"forbidden\"} %llu\n"
            "vex_access_decisions_total{decision=\"throttled\"} %llu\n",
        (unsigned long long)as.allowed, (unsigned long long)as.denied,
        (unsigned long long)as.unauthenticated, (unsigned long long)as.auth_failures,
        (unsigned long long)as.forbidden, (unsigned long long)as.throttled);
    metric(&b, "vex_access_connections_refused_total", "counter",
           "Connections closed at accept by a listener's allow/deny list.", as.refused);
    metric(&b, "vex_auth_failures_total", "counter",
           "Wrong Basic credentials or bearer tokens (answered 401).", as.auth_failures);
    put(&b, "# HELP vex_auth_basic_checks_total Successful Basic checks, by whether crypt(3) ran.\n"
            "# TYPE vex_auth_basic_checks_total counter\n"
            "vex_auth_basic_checks_total{result=\"cached\"} %llu\n"
            "vex_auth_basic_checks_total{result=\"hashed\"} %llu\n",
        (unsigned long long)as.basic_cache_hits, (unsigned long long)as.basic_hashed);
    metric(&b, "vex_draining", "gauge", "1 while shutting down.", sig_stop_requested());
    pthread_mutex_lock(&s->mu);
    reload_stats rs = s->reload;
    pthread_mutex_unlock(&s->mu);
    put(&b, "# HELP vex_config_reloads_total Configuration reloads (SIGHUP) by result.\n"
            "# TYPE vex_config_reloads_total counter\n"
            "vex_config_reloads_total{result=\"ok\"} %llu\n"
            "vex_config_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)rs.ok, (unsigned long long)rs.failed);
    put(&b, "# HELP vex_config_last_reload_timestamp_seconds Unix time of the last reload "
            "attempt (0: none).\n"
            "# TYPE vex_config_last_reload_timestamp_seconds gauge\n"
            "vex_config_last_reload_timestamp_seconds %.3f\n", rs.last_unix);
    metric(&b, "vex_config_last_reload_success", "gauge",
           "1 if the last reload applied (or none was tried), 0 if it failed.",
           rs.last_unix == 0 || rs.last_ok);
    metric(&b, "vex_config_generation", "gauge", "Configurations applied since start.",
           atomic_load_explicit(&s->cfg_gen, memory_order_relaxed));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double up = ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)s->start_ns) / 1e9;
    put(&b, "# HELP vex_uptime_seconds Seconds since start.\n"
            "# TYPE vex_uptime_seconds gauge\nvex_uptime_seconds %.3f\n", up);
    put(&b, "# HELP vex_request_duration_seconds Time from a request's first "
            "byte to its response being queued.\n"
            "# TYPE vex_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < PROM_BUCKETS; i++) {
        cum += st->prom[i];
        put(&b, "vex_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
            prom_le_str[i], (unsigned long long)cum);
    }
    put(&b, "vex_request_duration_seconds_sum %.9f\n", (double)st->lat_sum_ns / 1e9);
    put(&b, "vex_request_duration_seconds_count %llu\n", (unsigned long long)cum);
    free(st);
    return b.len;
}
