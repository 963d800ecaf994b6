/*
 * access_log.c — see access_log.h. No printf on this path: the fields are
 * appended by hand, the date part of the time is formatted once a second.
 */
#include "access_log.h"
#include "log_json.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

access_log *access_log_new(log_slot *slot)
{
    access_log *a = calloc(1, sizeof *a);
    if (a) {
        a->slot = slot;
        a->sec = -1;
    }
    return a;
}

void access_log_free(access_log *a) { free(a); }

typedef struct lb {
    char *p;
    size_t len, cap;
} lb;

static void put(lb *b, const char *s, size_t n)
{
    if (n > b->cap - b->len)
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

static void put_u64(lb *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(b, tmp + i, sizeof tmp - (size_t)i);
}

/* A JSON string (or null), its escaped form at most limit bytes. */
static void put_str(lb *b, const char *s, size_t n, size_t limit)
{
    if (!s) {
        PUTS(b, "null");
        return;
    }
    PUTS(b, "\"");
    size_t room = b->cap - b->len;
    if (room < 1)
        return;
    room -= 1;                       /* the closing quote */
    if (room > limit)
        room = limit;
    b->len += json_escape(b->p + b->len, room, s, n, NULL);
    PUTS(b, "\"");
}

/* Addresses are ours, not the client's: digits, hex, ':' and '.' need no
 * escaping. */
static void put_peer(access_log *a, lb *b, const h1_peer *p)
{
    PUTS(b, "\"client\":");
    if (!p || !p->family) {
        PUTS(b, "null,\"port\":null");
        return;
    }
    if (p->family != a->peer_family || memcmp(p->addr, a->peer_addr, 16) != 0) {
        char addr[INET6_ADDRSTRLEN] = "";
        static const uint8_t v4map[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(p->addr, v4map, 12))
            inet_ntop(AF_INET, p->addr + 12, addr, sizeof addr);
        else
            inet_ntop(AF_INET6, p->addr, addr, sizeof addr);
        size_t n = strlen(addr);
        a->peer_text[0] = '"';
        memcpy(a->peer_text + 1, addr, n);
        a->peer_text[n + 1] = '"';
        a->peer_len = (uint8_t)(n + 2);
        memcpy(a->peer_addr, p->addr, 16);
        a->peer_family = p->family;
    }
    put(b, a->peer_text, a->peer_len);
    PUTS(b, ",\"port\":");
    put_u64(b, p->port);
}

size_t access_log_format(access_log *a, char *out, size_t cap, const h1_log *l,
                         const struct timespec *now)
{
    if ((long long)now->tv_sec != a->sec) {
        a->sec = (long long)now->tv_sec;
        log_fmt_secs(a->secs, a->sec);
    }
    lb b = { out, 0, cap - 1 };      /* room for the '\n' whatever happens */
    /* Clip the client's strings so the fixed fields always fit. */
    size_t free_room = cap > 768 ? cap - 768 : 0;
    PUTS(&b, "{\"time\":\"");
    put(&b, a->secs, 19);
    char ms[6] = { '.', (char)('0' + now->tv_nsec / 100000000),
                   (char)('0' + now->tv_nsec / 10000000 % 10),
                   (char)('0' + now->tv_nsec / 1000000 % 10), 'Z', '"' };
    put(&b, ms, 6);
    PUTS(&b, ",");
    put_peer(a, &b, l->peer);
    PUTS(&b, ",\"method\":");
    put_str(&b, l->method_str.p, l->method_str.len, 96);
    PUTS(&b, ",\"target\":");
    put_str(&b, l->target.p, l->target.len, free_room / 2);
    PUTS(&b, ",\"status\":");
    put_u64(&b, (uint64_t)(l->status < 0 ? 0 : l->status));
    PUTS(&b, ",\"bytes\":");
    put_u64(&b, l->body_bytes);
    PUTS(&b, ",\"duration_us\":");
    put_u64(&b, l->duration_ns / 1000u);
    PUTS(&b, ",\"user_agent\":");
    put_str(&b, l->user_agent.p, l->user_agent.len, free_room / 4);
    PUTS(&b, ",\"referer\":");
    put_str(&b, l->referer.p, l->referer.len, free_room / 4);
    PUTS(&b, ",\"request_id\":");
    if (l->rid_len) {                /* rid_valid's alphabet: nothing to escape */
        PUTS(&b, "\"");
        put(&b, l->rid, l->rid_len);
        PUTS(&b, "\"");
    } else {
        PUTS(&b, "null");
    }
    PUTS(&b, "}");
    out[b.len++] = '\n';
    return b.len;
}

void access_log_hook(void *ctx, const h1_log *l)
{
    access_log *a = ctx;
    if (!log_access_enabled())
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    size_t cap = log_buffer_bytes();   /* a line must fit in a buffer */
    if (cap > sizeof a->line)
        cap = sizeof a->line;
    size_t n = access_log_format(a, a->line, cap, l, &now);
    log_access_line(a->slot, a->line, n);
}
