/*
 * stats_print.c — the seed's SERVER STATISTICS block on stdout.
 * Written as one fwrite and flushed: stdout is often a pipe to a harness.
 */
#include "server.h"

#include <stdio.h>

void stats_print(server *s, const stats_snap *st, double uptime_s, double rate)
{
    char buf[2048], reloads[96];
    pthread_mutex_lock(&s->mu);
    reload_stats rs = s->reload;
    pthread_mutex_unlock(&s->mu);
    snprintf(reloads, sizeof reloads, "%llu ok, %llu failed%s",
             (unsigned long long)rs.ok, (unsigned long long)rs.failed,
             rs.last_unix == 0 ? "" : rs.last_ok ? " (last: ok)" : " (last: failed)");
    int n = snprintf(buf, sizeof buf,
        "=== SERVER STATISTICS ===\n"
        "%-22s%s\n" "%-22s%u\n" "%-22s%.1f s\n"
        "%-22s%llu\n" "%-22s%llu\n" "%-22s%llu\n" "%-22s%.1f\n"
        "%-22s%llu\n" "%-22s%llu\n"
        "%-22s%llu\n" "%-22s%llu\n" "%-22s%llu\n" "%-22s%llu\n"
        "%-22s%llu\n" "%-22s%llu\n" "%-22s%llu\n" "%-22s%s\n" "%-22s%llu\n"
        "%-22s%.3f ms\n" "%-22s%.3f ms\n"
        "=========================\n",
        "Backend:", s->backend, "Threads:", s->n_workers, "Uptime:", uptime_s,
        "Connections total:", (unsigned long long)st->conns_total,
        "Connections active:", (unsigned long long)st->conns_active,
        "Requests total:", (unsigned long long)st->requests,
        "Requests/sec:", rate,
        "Bytes received:", (unsigned long long)st->bytes_rx,
        "Bytes sent:", (unsigned long long)st->bytes_tx,
        "Responses 2xx:", (unsigned long long)st->resp[0],
        "Responses 3xx:", (unsigned long long)st->resp[1],
        "Responses 4xx:", (unsigned long long)st->resp[2],
        "Responses 5xx:", (unsigned long long)st->resp[3],
        "Errors:", (unsigned long long)st->errors,
        "Timeouts:", (unsigned long long)st->timeouts,
        "Rejected connections:", (unsigned long long)st->rejected,
        "Config reloads:", reloads,
        "Syscalls:", (unsigned long long)st->syscalls,
        "Latency p50:", stats_quantile_ns(st, 0.50) / 1e6,
        "Latency p99:", stats_quantile_ns(st, 0.99) / 1e6);
    if (n > 0) {
        fwrite(buf, 1, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, stdout);
        fflush(stdout);
    }
}
