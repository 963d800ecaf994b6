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
