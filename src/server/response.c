/*
 * response.c — the fixed response table and the dynamic head builder.
 */
#include "response.h"

#include "http/http_parser.h"   /* http_reason: the one table of reason phrases */

#include <stdlib.h>
#include <string.h>

static const char *const conn_hdr[RC_COUNT] = {
    "", "Connection: keep-alive\r\n", "Connection: close\r\n",
};

void hb_mem(hb *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void hb_str(hb *b, const char *s) { hb_mem(b, s, strlen(s)); }

void hb_u64(hb *b, uint64_t v)
{
    char tmp[20];
    int i = 20;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hb_mem(b, tmp + i, (size_t)(20 - i));
}

void hb_head(hb *b, const resp_table *t, int status, const char *ctype,
             int64_t clen, enum resp_conn rc, const char *extra)
{
    hb_str(b, "HTTP/1.1 ");
    hb_u64(b, (uint64_t)status);
    hb_str(b, " ");
    hb_str(b, http_reason(status));
    hb_str(b, "\r\nServer: " SERVER_NAME "\r\nDate: ");
    hb_mem(b, t->date, DATE_LEN);
    hb_str(b, "\r\nContent-Type: ");
    hb_str(b, ctype);
    hb_str(b, "\r\n");
    if (clen >= 0) {
        hb_str(b, "Content-Length: ");
        hb_u64(b, (uint64_t)clen);
        hb_str(b, "\r\n");
    }
    hb_str(b, conn_hdr[rc]);
    if (extra)
        hb_str(b, extra);
    hb_str(b, "\r\n");
}

/* ---- fixed table -------------------------------------------------------- */

struct fixed_def {
    int status;
    const char *ctype;
    const char *body;
    const char *extra;
};

static const struct fixed_def defs[R_COUNT] = {
    [R_PLAIN]     = {200, "text/plain", "Hello, World!", NULL},
    [R_JSON]      = {200, "application/json", "{\"message\":\"Hello, World!\"}", NULL},
    [R_HEALTHZ]   = {200, "text/plain", "ok\n", NULL},
    [R_READY]     = {200, "text/plain", "ready\n", NULL},
    [R_NOT_READY] = {503, "text/plain", "draining\n", NULL},
    [R_404]       = {404, "text/plain", "Not Found\n", NULL},
    [R_405_GET]   = {405, "text/plain", "Method Not Allowed\n", "Allow: GET, HEAD\r\n"},
    [R_405_POST]  = {405, "text/plain", "Method Not Allowed\n", "Allow: POST\r\n"},
    [R_403]       = {403, "text/plain", "Forbidden\n", NULL},
    [R_E400]      = {400, "text/plain", "Bad Request\n", NULL},
    [R_E408]      = {408, "text/plain", "Request Timeout\n", NULL},
    [R_E413]      = {413, "text/plain", "Content Too Large\n", NULL},
    [R_E414]      = {414, "text/plain", "URI Too Long\n", NULL},
    [R_E431]      = {431, "text/plain", "Request Header Fields Too Large\n", NULL},
    [R_E500]      = {500, "text/plain", "Internal Server Error\n", NULL},
    [R_E501]      = {501, "text/plain", "Not Implemented\n", NULL},
    [R_E503]      = {503, "text/plain", "Service Unavailable\n", "Retry-After: 1\r\n"},
    [R_E505]      = {505, "text/plain", "HTTP Version Not Supported\n", NULL},
};

enum resp_id resp_error_id(int status)
{
    switch (status) {
    case 408: return R_E408;
    case 413: return R_E413;
    case 414: return R_E414;
    case 431: return R_E431;
    case 501: return R_E501;
    case 503: return R_E503;
    case 505: return R_E505;
    case 500: return R_E500;
    default:  return R_E400;
    }
}

static void format_date(char out[DATE_LEN + 1], time_t sec)
{
    static const char wd[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mo[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* IMF-fixdate by hand: strftime would depend on the locale. */
    char *p = out;
    memcpy(p, wd[tm.tm_wday], 3); p += 3;
    *p++ = ','; *p++ = ' ';
    *p++ = (char)('0' + tm.tm_mday / 10); *p++ = (char)('0' + tm.tm_mday % 10);
    *p++ = ' ';
    memcpy(p, mo[tm.tm_mon], 3); p += 3;
    *p++ = ' ';
    int y = tm.tm_year + 1900;
    *p++ = (char)('0' + y / 1000 % 10); *p++ = (char)('0' + y / 100 % 10);
    *p++ = (char)('0' + y / 10 % 10); *p++ = (char)('0' + y % 10);
    *p++ = ' ';
    *p++ = (char)('0' + tm.tm_hour / 10); *p++ = (char)('0' + tm.tm_hour % 10);
    *p++ = ':';
    *p++ = (char)('0' + tm.tm_min / 10); *p++ = (char)('0' + tm.tm_min % 10);
    *p++ = ':';
    *p++ = (char)('0' + tm.tm_sec / 10); *p++ = (char)('0' + tm.tm_sec % 10);
    memcpy(p, " GMT", 4); p += 4;
    *p = '\0';
}

#define FIXED_MAX 512

int resp_table_init(resp_table *t)
{
    memset(t, 0, sizeof *t);
    t->arena = malloc((size_t)R_COUNT * RC_COUNT * FIXED_MAX);
    if (!t->arena)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->date_sec = ts.tv_sec;
    format_date(t->date, ts.tv_sec);
    for (int id = 0; id < R_COUNT; id++) {
        for (int rc = 0; rc < RC_COUNT; rc++) {
            const struct fixed_def *d = &defs[id];
            resp_fixed *f = &t->r[id][rc];
            f->buf = t->arena + ((size_t)id * RC_COUNT + (size_t)rc) * FIXED_MAX;
            hb b = {f->buf, 0, FIXED_MAX, 0};
            size_t blen = strlen(d->body);
            hb_head(&b, t, d->status, d->ctype, (int64_t)blen, (enum resp_conn)rc, d->extra);
            f->head_len = (uint32_t)b.len;
            hb_mem(&b, d->body, blen);
            f->len = (uint32_t)b.len;
            f->status = d->status;
            char *dp = memmem(f->buf, f->head_len, "\r\nDate: ", 8);
            f->date_off = (uint32_t)(dp - f->buf) + 8;
        }
    }
    return 0;
}

void resp_table_free(resp_table *t)
{
    free(t->arena);
    t->arena = NULL;
}

void resp_table_tick(resp_table *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec == t->date_sec)
        return;
    t->date_sec = ts.tv_sec;
    format_date(t->date, ts.tv_sec);
    for (int id = 0; id < R_COUNT; id++)
        for (int rc = 0; rc < RC_COUNT; rc++)
            memcpy(t->r[id][rc].buf + t->r[id][rc].date_off, t->date, DATE_LEN);
}
