/* output.c — vex_loadgen's JSON document (schema vex-loadgen/1, README.md)
 * and its modes without load (--record-values, --dry-schedule). */
#include "loadgen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

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

void write_result(run *r, FILE *f, uint64_t start_unix, double elapsed)
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
int record_values(void)
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

int dry_schedule(const opts *o, long n)
{
    schedule s;
    schedule_init(&s, o->sched, o->rate, o->seed);
    for (long i = 0; i < n; i++)
        printf("%" PRIu64 "\n", schedule_next(&s));
    return 0;
}

