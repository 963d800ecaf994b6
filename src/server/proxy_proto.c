/*
 * proxy_proto.c — v1: "PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n",
 * at most 107 octets, addresses in their numeric forms and ports without
 * leading zeros (strictly: a lenient parser here is a spoofing surface).
 * v2: a 12-octet signature, version 2 with command LOCAL or PROXY, the
 * family and protocol, a 16-bit length, then the addresses (TLVs after
 * them are skipped).
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static bool port_of(const char *s, uint16_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static long parse_v1(const char *p, size_t n, proxy_addr *out)
{
    const char *end = memchr(p, '\n', n < PROXY_V1_MAX ? n : PROXY_V1_MAX);
    if (!end)
        return n < PROXY_V1_MAX ? 0 : -1;
    size_t len = (size_t)(end - p) + 1;
    if (len < 8 || p[len - 2] != '\r')
        return -1;
    char line[PROXY_V1_MAX + 1];
    memcpy(line, p, len - 2);
    line[len - 2] = '\0';
    char *f[7];
    int nf = 0;
    for (char *s = line; nf < 7;) {
        f[nf++] = s;
        char *sp = strchr(s, ' ');
        if (!sp)
            break;
        *sp = '\0';
        s = sp + 1;
    }
    if (strcmp(f[0], "PROXY") != 0 || nf < 2)
        return -1;
    memset(out, 0, sizeof *out);
    if (strcmp(f[1], "UNKNOWN") == 0) {   /* the rest of the line is ignored */
        out->local = true;
        return (long)len;
    }
    if (nf != 6)
        return -1;
    uint16_t dport;
    if (strcmp(f[1], "TCP4") == 0) {
        struct in_addr a, b;
        if (inet_pton(AF_INET, f[2], &a) != 1 || inet_pton(AF_INET, f[3], &b) != 1)
            return -1;
        out->family = AF_INET;
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &a, 4);
    } else if (strcmp(f[1], "TCP6") == 0) {
        struct in6_addr a, b;
        if (inet_pton(AF_INET6, f[2], &a) != 1 || inet_pton(AF_INET6, f[3], &b) != 1)
            return -1;
        out->family = AF_INET6;
        memcpy(out->addr, &a, 16);
    } else {
        return -1;
    }
    if (!port_of(f[4], &out->port) || !port_of(f[5], &dport))
        return -1;
    return (long)len;
}

static long parse_v2(const unsigned char *p, size_t n, proxy_addr *out)
{
    if (n < 16)
        return 0;
    if ((p[12] >> 4) != 2)
        return -1;
    unsigned cmd = p[12] & 0x0f, fam = p[13] >> 4, proto = p[13] & 0x0f;
    size_t len = (size_t)p[14] << 8 | p[15];
    if (n < 16 + len)
        return 0;
    memset(out, 0, sizeof *out);
    if (cmd == 0) {                       /* LOCAL: the proxy's own connection */
        out->local = true;
        return (long)(16 + len);
    }
    if (cmd != 1)
        return -1;
    if (proto != 1 && proto != 2 && proto != 0)
        return -1;
    if (fam == 1) {                       /* AF_INET: src, dst, sport, dport */
        if (len < 12)
            return -1;
        out->family = AF_INET;
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, p + 16, 4);
        out->port = (uint16_t)(p[24] << 8 | p[25]);
    } else if (fam == 2) {
        if (len < 36)
            return -1;
        out->family = AF_INET6;
        memcpy(out->addr, p + 16, 16);
        out->port = (uint16_t)(p[48] << 8 | p[49]);
    } else if (fam == 0 || fam == 3) {    /* UNSPEC, UNIX: no IP address */
        out->local = true;
    } else {
        return -1;
    }
    return (long)(16 + len);
}

long proxy_parse(const char *p, size_t n, proxy_addr *out)
{
    /* Decide the version on what has arrived, a prefix at a time. */
    size_t k = n < sizeof v2_sig ? n : sizeof v2_sig;
    if (memcmp(p, v2_sig, k) == 0)
        return n < sizeof v2_sig ? 0 : parse_v2((const unsigned char *)p, n, out);
    k = n < 6 ? n : 6;
    if (memcmp(p, "PROXY ", k) != 0)
        return -1;
    return n < 6 ? 0 : parse_v1(p, n, out);
}
