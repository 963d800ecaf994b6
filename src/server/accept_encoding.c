/*
 * accept_encoding.c — Accept-Encoding: a list of coding[;q=value], where
 * "*" stands for every coding not named and identity is acceptable unless
 * named (or "*") with q=0.
 */
#include "accept_encoding.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* q in thousandths; -1: malformed (the element is ignored). */
static int parse_q(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    if (p[0] == '1') {
        for (size_t i = 1; i < n; i++)
            if ((i == 1 && p[i] != '.') || (i > 1 && p[i] != '0'))
                return -1;
        return 1000;
    }
    if (p[0] != '0')
        return -1;
    if (n == 1)
        return 0;
    if (p[1] != '.')
        return -1;
    int q = 0, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        q += (p[i] - '0') * scale;
    }
    return q;
}

static size_t trim(const char **p, size_t n)
{
    while (n && (**p == ' ' || **p == '\t')) { (*p)++; n--; }
    while (n && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t')) n--;
    return n;
}

/* One field line's elements into q[] and *star (the highest q named wins,
 * over all lines: several lines are one list, RFC 9110 5.3). */
static void parse_line(const char *v, size_t n, int q[ENC_N], int *star)
{
    const char *end = v + n;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        const char *semi = memchr(v, ';', (size_t)(e - v));
        const char *name = v;
        size_t nl = trim(&name, (size_t)((semi ? semi : e) - v));
        int qv = 1000;
        if (semi) {
            const char *par = semi + 1;
            size_t pl = trim(&par, (size_t)(e - par));
            if (pl >= 2 && (par[0] == 'q' || par[0] == 'Q') && par[1] == '=') {
                const char *qs = par + 2;
                qv = parse_q(qs, trim(&qs, pl - 2));
            } else {
                qv = -1;           /* other parameters: not ours to guess */
            }
        }
        v = comma ? comma + 1 : end;
        if (qv < 0 || nl == 0)
            continue;
        if (nl == 1 && name[0] == '*') {
            if (qv > *star)
                *star = qv;
            continue;
        }
        int id = -1;
        if ((nl == 4 && strncasecmp(name, "gzip", 4) == 0) ||
            (nl == 6 && strncasecmp(name, "x-gzip", 6) == 0))
            id = ENC_GZIP;
        else if (nl == 2 && strncasecmp(name, "br", 2) == 0)
            id = ENC_BR;
        else if (nl == 4 && strncasecmp(name, "zstd", 4) == 0)
            id = ENC_ZSTD;
        else if (nl == 8 && strncasecmp(name, "identity", 8) == 0)
            id = ENC_IDENTITY;
        if (id >= 0 && qv > q[id])
            q[id] = qv;
    }
}

size_t ae_rank(const http_request *req, const uint8_t *order, size_t norder,
               uint8_t out[ENC_N])
{
    int q[ENC_N], star = -1;
    for (int i = 0; i < ENC_N; i++)
        q[i] = -1;                 /* not named */
    bool any = false;
    for (unsigned i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (h->name.len == 15 && strncasecmp(h->name.p, "accept-encoding", 15) == 0) {
            parse_line(h->value.p, h->value.len, q, &star);
            any = true;
        }
    }
    if (!any)
        return 0;
    /* identity counts against a coding only where the client named it
     * (or "*"): "gzip;q=0.5" alone still means gzip. */
    int floor_q = q[ENC_IDENTITY] >= 0 ? q[ENC_IDENTITY] : (star >= 0 ? star : 0);
    for (int i = ENC_GZIP; i < ENC_N; i++)
        if (q[i] < 0)
            q[i] = star >= 0 ? star : 0;
    /* Highest q first; a stable insertion keeps the server's order in ties. */
    size_t k = 0;
    for (size_t i = 0; i < norder && k < ENC_N; i++) {
        uint8_t e = order[i];
        if (q[e] <= 0 || q[e] < floor_q)
            continue;
        size_t j = k++;
        while (j > 0 && q[out[j - 1]] < q[e]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = e;
    }
    return k;
}
