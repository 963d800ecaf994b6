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

/*
 * The line is written through a cursor with no room check per field: the
 * client's strings are clipped to limits that sum to cap - FIXED_ROOM, and
 * everything else (numbers, our own address and id text, the keys) fits
 * in FIXED_ROOM, so the line cannot overrun whatever the request holds.
 */
#define FIXED_ROOM 768
_Static_assert(LOG_BUFFER_MIN >= 2 * FIXED_ROOM, "a line's fixed fields must fit any log buffer");
#define LIT(w, lit) (memcpy((w), (lit), sizeof(lit) - 1), (w) + sizeof(lit) - 1)

static char *put_u64(char *w, uint64_t v)
{
    char tmp[20];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(w, tmp + i, sizeof tmp - (size_t)i);
    return w + sizeof tmp - (size_t)i;
}

/* A JSON string (or null), its escaped form at most limit bytes. */
static char *put_str(char *w, const char *s, size_t n, size_t limit)
{
    if (!s)
        return LIT(w, "null");
    *w++ = '"';
    w += json_escape(w, limit, s, n, NULL);
    *w++ = '"';
    return w;
}

/* Addresses are ours, not the client's: digits, hex, ':' and '.' need no
 * escaping. */
static char *put_peer(access_log *a, char *w, const h1_peer *p)
{
    w = LIT(w, "\"client\":");
    if (!p || !p->family)
        return LIT(w, "null,\"port\":null");
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
    memcpy(w, a->peer_text, a->peer_len);
    w += a->peer_len;
    w = LIT(w, ",\"port\":");
    return put_u64(w, p->port);
}

size_t access_log_format(access_log *a, char *out, size_t cap, const h1_log *l,
                         const struct timespec *now)
{
    if ((long long)now->tv_sec != a->sec) {
        a->sec = (long long)now->tv_sec;
        log_fmt_secs(a->secs, a->sec);
    }
    /* The client's strings share what FIXED_ROOM leaves. */
    size_t free_room = cap > FIXED_ROOM ? cap - FIXED_ROOM : 0;
    char *w = out;
    w = LIT(w, "{\"time\":\"");
    memcpy(w, a->secs, 19);
    w += 19;
    unsigned ms = (unsigned)(now->tv_nsec / 1000000);
    w[0] = '.';
    w[1] = (char)('0' + ms / 100);
    w[2] = (char)('0' + ms / 10 % 10);
    w[3] = (char)('0' + ms % 10);
    w = LIT(w + 4, "Z\",");
    w = put_peer(a, w, l->peer);
    w = LIT(w, ",\"method\":");
    w = put_str(w, l->method_str.p, l->method_str.len, 96);
    w = LIT(w, ",\"target\":");
    w = put_str(w, l->target.p, l->target.len, free_room / 2);
    w = LIT(w, ",\"status\":");
    w = put_u64(w, (uint64_t)(l->status < 0 ? 0 : l->status));
    w = LIT(w, ",\"bytes\":");
    w = put_u64(w, l->body_bytes);
    w = LIT(w, ",\"duration_us\":");
    w = put_u64(w, l->duration_ns / 1000u);
    w = LIT(w, ",\"user_agent\":");
    w = put_str(w, l->user_agent.p, l->user_agent.len, free_room / 4);
    w = LIT(w, ",\"referer\":");
    w = put_str(w, l->referer.p, l->referer.len, free_room / 4);
    w = LIT(w, ",\"request_id\":");
    if (l->rid_len) {                /* rid_valid's alphabet: nothing to escape */
        size_t n = l->rid_len < RID_MAX ? l->rid_len : RID_MAX;
        *w++ = '"';
        memcpy(w, l->rid, n);
        w += n;
        *w++ = '"';
    } else {
        w = LIT(w, "null");
    }
    w = LIT(w, "}\n");
    return (size_t)(w - out);
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
