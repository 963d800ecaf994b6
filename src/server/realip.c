/* realip.c — see realip.h. Only one header line of each is read (the
 * first), as the parser keeps them; proxies append to one line. */
#include "realip.h"

#include <string.h>
#include <strings.h>

#define trusted_addr realip_trusted

/* One list element into 16 bytes: XFF's bare address, or Forwarded's
 * for=ADDR, for="ADDR:PORT", for="[V6]:PORT". */
static bool element_addr(const char *p, size_t n, bool forwarded, uint8_t out[16])
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (forwarded) {              /* find for= among ;-separated pairs */
        const char *f = NULL;
        for (size_t i = 0; i + 4 <= n; i++)
            if ((i == 0 || p[i - 1] == ';' || p[i - 1] == ' ') && strncasecmp(p + i, "for=", 4) == 0) {
                f = p + i + 4;
                break;
            }
        if (!f)
            return false;
        size_t len = (size_t)(p + n - f);
        const char *semi = memchr(f, ';', len);
        n = semi ? (size_t)(semi - f) : len;
        p = f;
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
            p++, n -= 2;
        if (n && p[0] == '[') {   /* [v6]:port */
            const char *rb = memchr(p, ']', n);
            if (!rb)
                return false;
            p++;
            n = (size_t)(rb - p);
        } else {
            const char *colon = memchr(p, ':', n);
            if (colon)
                n = (size_t)(colon - p);   /* v4:port */
        }
    }
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return cidr_parse_addr(buf, out);
}

bool realip_forwarded(const cidr_m *trusted, unsigned n, const uint8_t peer[16],
                      const http_request *req, uint8_t out[16])
{
    memcpy(out, peer, 16);
    bool fwd = false;
    const http_slice *h = http_find_header(req, "x-forwarded-for");
    if (!h) {
        h = http_find_header(req, "forwarded");
        fwd = true;
    }
    if (!h || !h->len)
        return false;
    size_t end = h->len;
    for (;;) {
        size_t start = end;
        while (start > 0 && h->p[start - 1] != ',')
            start--;
        uint8_t a[16];
        if (!element_addr(h->p + start, end - start, fwd, a))
            break;                /* stop at the trusted address to its right */
        memcpy(out, a, 16);
        if (!trusted_addr(trusted, n, a) || start == 0)
            break;
        end = start - 1;
    }
    return memcmp(out, peer, 16) != 0;
}
