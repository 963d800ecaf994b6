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
#include <string.h>

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

/* The two halves of an address as big-endian numbers, so a prefix is a
 * shift: every request of a policy-checked route goes through these
 * (compilers make each a load and a byte swap). */
static inline uint64_t cidr_be64(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
#else
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
#endif
}

/* true for v4-mapped addresses (::ffff:a.b.c.d). */
static inline bool cidr_is_v4(const uint8_t addr[16])
{
    return cidr_be64(addr) == 0 && (cidr_be64(addr + 8) >> 32) == 0xffffu;
}

#endif
