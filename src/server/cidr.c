/* cidr.c — address ranges over the 16-byte v4-mapped form (cidr.h). */
#define _POSIX_C_SOURCE 200809L
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cidr_parse_addr(const char *text, uint8_t out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

/* The mask of the first `bits` of a 64-bit half (0..64). */
static uint64_t half_mask(unsigned bits)
{
    return bits >= 64 ? ~(uint64_t)0 : bits ? ~(uint64_t)0 << (64 - bits) : 0;
}

static void store_be64(uint8_t *p, uint64_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
#endif
}

void cidr_mask(uint8_t out[16], const uint8_t addr[16], unsigned bits)
{
    if (bits > 128)
        bits = 128;
    uint64_t hi = cidr_be64(addr) & half_mask(bits);
    uint64_t lo = cidr_be64(addr + 8) & half_mask(bits > 64 ? bits - 64 : 0);
    store_be64(out, hi);
    store_be64(out + 8, lo);
}

bool cidr_contains(const cidr *c, const uint8_t addr[16])
{
    unsigned bits = c->bits > 128 ? 128 : c->bits;
    uint64_t mh = half_mask(bits), ml = half_mask(bits > 64 ? bits - 64 : 0);
    return ((cidr_be64(addr) ^ cidr_be64(c->addr)) & mh) == 0 &&
           ((cidr_be64(addr + 8) ^ cidr_be64(c->addr + 8)) & ml) == 0;
}

bool cidr_parse(const char *text, cidr *out, const char **why)
{
    if (!strcmp(text, "all") || !strcmp(text, "any")) {
        memset(out, 0, sizeof *out);
        return true;
    }
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof host) {
        *why = "not an IPv4 or IPv6 address";
        return false;
    }
    memcpy(host, text, hl);
    host[hl] = '\0';
    if (!cidr_parse_addr(host, out->addr)) {
        *why = "not an IPv4 or IPv6 address";
        return false;
    }
    bool v4 = strchr(host, ':') == NULL;
    unsigned max = v4 ? 32 : 128, n = max;
    if (slash) {
        char *end;
        const char *p = slash + 1;
        if (*p < '0' || *p > '9') {
            *why = "prefix length is not a number";
            return false;
        }
        unsigned long v = strtoul(p, &end, 10);
        if (*end || v > max) {
            *why = v4 ? "IPv4 prefix length must be 0..32" : "IPv6 prefix length must be 0..128";
            return false;
        }
        n = (unsigned)v;
    }
    out->bits = (uint8_t)(v4 ? n + 96 : n);
    uint8_t masked[16];
    cidr_mask(masked, out->addr, out->bits);
    if (memcmp(masked, out->addr, 16) != 0) {
        *why = "host bits set below the prefix length";
        return false;
    }
    return true;
}

void cidr_format(const cidr *c, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    if (cidr_is_v4(c->addr) && c->bits >= 96) {
        inet_ntop(AF_INET, c->addr + 12, a, sizeof a);
        snprintf(buf, size, "%s/%u", a, c->bits - 96u);
    } else {
        inet_ntop(AF_INET6, c->addr, a, sizeof a);
        snprintf(buf, size, "%s/%u", a, (unsigned)c->bits);
    }
}
