/*
 * access_log.c — see access_log.h. No printf on this path: the fields are
 * appended by hand straight into the worker's log buffer, the line's time
 * and "client" key come from a prefix made once a millisecond, and the
 * numbers are written two digits at a time.
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
        a->ms_key = -1;
    }
    return a;
}

void access_log_free(access_log *a) { free(a); }

/*
 * The line is written through a cursor with no room check per field: the
 * client's strings are clipped to limits that sum to cap - FIXED_ROOM, and
 * everything else (numbers, our own address and id text, the keys) fits
 * in FIXED_ROOM, so the line cannot overrun whatever the request holds.
 * Within FIXED_ROOM a few pieces are copied at a fixed size larger than
 * what they use (the address), which the room covers too.
 */
#define FIXED_ROOM 768
#define METHOD_ROOM 96
#define PREFIX_LEN 44            /* {"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","client": */
_Static_assert(LOG_BUFFER_MIN >= 2 * FIXED_ROOM, "a line's fixed fields must fit any log buffer");
#define LIT(w, lit) (memcpy((w), (lit), sizeof(lit) - 1), (w) + sizeof(lit) - 1)

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal, no leading zeros, two digits at a time; the digits counted
 * by comparisons, in 32 bits when the value fits (every field but a huge
 * body or duration). */
static unsigned digits32(uint32_t v)
{
    if (v < 100)
        return v < 10 ? 1 : 2;
    if (v < 10000)
        return v < 1000 ? 3 : 4;
    if (v < 1000000)
        return v < 100000 ? 5 : 6;
    if (v < 100000000)
        return v < 10000000 ? 7 : 8;
    return v < 1000000000 ? 9 : 10;
}

static inline char *put_u32(char *w, uint32_t v)
{
    char *e = w + digits32(v), *p = e;
    while (v >= 100) {
        p -= 2;
        memcpy(p, digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(p - 2, digits2 + 2 * v, 2);
    else
        p[-1] = (char)('0' + v);
    return e;
}

static inline char *put_u64(char *w, uint64_t v)
{
    if (v <= UINT32_MAX)
        return put_u32(w, (uint32_t)v);
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
    if (!p || !p->family)
        return LIT(w, "null,\"port\":null");
    if (p->family != a->peer_family || p->port != a->peer_port ||
        memcmp(p->addr, a->peer_addr, 16) != 0) {
        char addr[INET6_ADDRSTRLEN] = "";
        static const uint8_t v4map[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(p->addr, v4map, 12))
            inet_ntop(AF_INET, p->addr + 12, addr, sizeof addr);
        else
            inet_ntop(AF_INET6, p->addr, addr, sizeof addr);
        size_t n = strlen(addr);
        memset(a->peer_text, 0, sizeof a->peer_text);
        char *t = a->peer_text;
        *t++ = '"';
        memcpy(t, addr, n);
        t += n;
        *t++ = '"';
        t = LIT(t, ",\"port\":");
        t = put_u32(t, p->port);
        a->peer_len = (uint8_t)(t - a->peer_text);
        memcpy(a->peer_addr, p->addr, 16);
        a->peer_family = p->family;
        a->peer_port = p->port;
    }
    memcpy(w, a->peer_text, sizeof a->peer_text);   /* whole: a fixed-size copy */
    return w + a->peer_len;
}

/* The method: a known one (the parser matched its token exactly, case and
 * all) from a table with its quotes, anything else escaped. */
static char *put_method(char *w, const h1_log *l)
{
    static const struct { char q[12]; uint8_t len; } tab[] = {
        [HTTP_GET] = {"\"GET\"", 3},         [HTTP_HEAD] = {"\"HEAD\"", 4},
        [HTTP_POST] = {"\"POST\"", 4},       [HTTP_PUT] = {"\"PUT\"", 3},
        [HTTP_DELETE] = {"\"DELETE\"", 6},   [HTTP_OPTIONS] = {"\"OPTIONS\"", 7},
        [HTTP_PATCH] = {"\"PATCH\"", 5},     [HTTP_CONNECT] = {"\"CONNECT\"", 7},
        [HTTP_TRACE] = {"\"TRACE\"", 5},
    };
    unsigned m = (unsigned)l->method;
    if (m != HTTP_OTHER && m < sizeof tab / sizeof tab[0] && l->method_str.p &&
        l->method_str.len == tab[m].len) {
        memcpy(w, tab[m].q, sizeof tab[m].q);     /* whole: a fixed-size copy */
        return w + tab[m].len + 2;
    }
    return put_str(w, l->method_str.p, l->method_str.len, METHOD_ROOM);
}

/* A status: three digits, as nearly always. */
static char *put_status(char *w, int status)
{
    if (status >= 100 && status <= 999) {
        w[0] = (char)('0' + status / 100);
        memcpy(w + 1, digits2 + 2 * (status % 100), 2);
        return w + 3;
    }
    return put_u32(w, (uint32_t)(status < 0 ? 0 : status));
}

static void make_prefix(access_log *a, const struct timespec *now)
{
    if ((long long)now->tv_sec != a->sec) {
        a->sec = (long long)now->tv_sec;
        memcpy(a->prefix, "{\"time\":\"", 9);
        log_fmt_secs(a->prefix + 9, a->sec);
        memcpy(a->prefix + 28, ".000Z\",\"client\":", 16);
    }
    unsigned ms = (unsigned)(now->tv_nsec / 1000000);
    a->prefix[29] = (char)('0' + ms / 100);
    memcpy(a->prefix + 30, digits2 + 2 * (ms % 100), 2);
    a->ms_key = (long long)now->tv_sec * 1000 + ms;
}

static size_t clip(size_t n, size_t limit)
{
    return n <= limit / 6 ? 6 * n : limit;   /* an escape is at most 6 bytes */
}

size_t access_log_bound(const h1_log *l, size_t cap)
{
    size_t free_room = cap > FIXED_ROOM ? cap - FIXED_ROOM : 0;
    /* Short strings (all of them, nearly always) are not clipped: each
     * under free_room/24 is under every limit's sixth below. */
    size_t small = free_room / 24;
    if (l->target.len <= small && l->user_agent.len <= small && l->referer.len <= small) {
        size_t b = FIXED_ROOM + 6 * (l->target.len + l->user_agent.len + l->referer.len);
        return b < cap ? b : cap;
    }
    size_t b = FIXED_ROOM + clip(l->target.len, free_room / 2) +
               clip(l->user_agent.len, free_room / 4) + clip(l->referer.len, free_room / 4);
    return b < cap ? b : cap;
}

size_t access_log_format(access_log *a, char *out, size_t cap, const h1_log *l,
                         const struct timespec *now)
{
    if ((long long)now->tv_sec * 1000 + now->tv_nsec / 1000000 != a->ms_key)
        make_prefix(a, now);
    /* The client's strings share what FIXED_ROOM leaves. */
    size_t free_room = cap > FIXED_ROOM ? cap - FIXED_ROOM : 0;
    char *w = out;
    memcpy(w, a->prefix, PREFIX_LEN);
    w += PREFIX_LEN;
    w = put_peer(a, w, l->peer);
    w = LIT(w, ",\"method\":");
    w = put_method(w, l);
    w = LIT(w, ",\"target\":");
    w = put_str(w, l->target.p, l->target.len, free_room / 2);
    w = LIT(w, ",\"status\":");
    w = put_status(w, l->status);
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
        if (n == RID_GEN_LEN)
            memcpy(w, l->rid, RID_GEN_LEN);   /* ours: a fixed-size copy */
        else
            memcpy(w, l->rid, n);
        w += n;
        *w++ = '"';
    } else {
        w = LIT(w, "null");
    }
    w = LIT(w, "}\n");
    return (size_t)(w - out);
}

/* The wall clock at the monotonic instant mono (see access_log.h). */
static void wall_time(access_log *a, uint64_t mono, struct timespec *out)
{
    if (!a->wall_mono_ns || mono - a->wall_mono_ns >= 1000000000u) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        a->wall_off_ns = (int64_t)((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec - mono);
        a->wall_mono_ns = mono;
    }
    uint64_t t = mono + (uint64_t)a->wall_off_ns;
    out->tv_sec = (time_t)(t / 1000000000u);
    out->tv_nsec = (long)(t % 1000000000u);
}

void access_log_hook(void *ctx, const h1_log *l)
{
    access_log *a = ctx;
    if (!log_access_enabled())
        return;
    struct timespec now;
    wall_time(a, l->done_ns, &now);
    size_t cap = log_buffer_bytes();   /* a line must fit in a buffer */
    if (cap > ACCESS_LINE_MAX)
        cap = ACCESS_LINE_MAX;
    char *w = log_reserve(a->slot, access_log_bound(l, cap));
    if (w)                             /* else dropped and counted */
        log_commit(a->slot, access_log_format(a, w, cap, l, &now));
}
