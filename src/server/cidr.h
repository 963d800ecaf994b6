/*
 * cidr.h — IPv4 and IPv6 address ranges, in the compact form of h1_peer
 * (16 bytes, IPv4 as v4-mapped IPv6), so one comparison serves both
 * families: "10.0.0.0/8" is ::ffff:10.0.0.0/104. Used by allow/deny lists,
 * trusted proxies and the rate limiter's prefix keys.
 */
#ifndef VEX_SERVER_CIDR_H
#define VEX_SERVER_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cidr {
    uint8_t addr[16];         /* host bits cleared */
    uint8_t bits;             /* prefix length over the 16 bytes, 0..128 */
} cidr;

/* Parse "ADDR", "ADDR/N" (IPv4 N 0..32, IPv6 N 0..128) or "all"/"any"
 * (everything). Host bits set below the prefix are an error, as in
 * 10.0.0.1/8, because they usually mean a typo. false with *why set to a
 * static message on error. */
bool cidr_parse(const char *text, cidr *out, const char **why);

/* Parse a bare address (no prefix) into the 16-byte form. */
bool cidr_parse_addr(const char *text, uint8_t out[16]);

bool cidr_contains(const cidr *c, const uint8_t addr[16]);

/* addr with everything below bits cleared: the key of a /64 or a /24. */
void cidr_mask(uint8_t out[16], const uint8_t addr[16], unsigned bits);

/* "10.0.0.0/8" or "2001:db8::/32" into buf (at least 64 bytes). */
void cidr_format(const cidr *c, char *buf, size_t size);

/* true for v4-mapped addresses (::ffff:a.b.c.d). */
static inline bool cidr_is_v4(const uint8_t addr[16])
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    for (int i = 0; i < 12; i++)
        if (addr[i] != pre[i])
            return false;
    return true;
}

#endif
