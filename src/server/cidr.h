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

static inline void cidr_store_be64(uint8_t *p, uint64_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
#endif
}

/* The mask of the first `bits` of a 64-bit half (0..64). */
static inline uint64_t cidr_half_mask(unsigned bits)
{
    return bits >= 64 ? ~(uint64_t)0 : bits ? ~(uint64_t)0 << (64 - bits) : 0;
}

/* Inline: every request of a policy-checked route tests a few of these
 * (trusted proxies, allow/deny lists), a call each was a third of it. */
static inline bool cidr_contains(const cidr *c, const uint8_t addr[16])
{
    unsigned bits = c->bits > 128 ? 128 : c->bits;
    uint64_t mh = cidr_half_mask(bits), ml = cidr_half_mask(bits > 64 ? bits - 64 : 0);
    return ((cidr_be64(addr) ^ cidr_be64(c->addr)) & mh) == 0 &&
           ((cidr_be64(addr + 8) ^ cidr_be64(c->addr + 8)) & ml) == 0;
}

/* addr with everything below bits cleared: the key of a /64 or a /24. */
static inline void cidr_mask(uint8_t out[16], const uint8_t addr[16], unsigned bits)
{
    if (bits > 128)
        bits = 128;
    uint64_t hi = cidr_be64(addr) & cidr_half_mask(bits);
    uint64_t lo = cidr_be64(addr + 8) & cidr_half_mask(bits > 64 ? bits - 64 : 0);
    cidr_store_be64(out, hi);
    cidr_store_be64(out + 8, lo);
}

/* A range prepared for testing many addresses against it: the halves and
 * masks computed once (at configuration load), so a test is two xors, two
 * ands and a compare. */
typedef struct cidr_m {
    uint64_t hi, lo, mh, ml;
} cidr_m;

static inline cidr_m cidr_prep(const cidr *c)
{
    unsigned bits = c->bits > 128 ? 128 : c->bits;
    cidr_m m;
    m.mh = cidr_half_mask(bits);
    m.ml = cidr_half_mask(bits > 64 ? bits - 64 : 0);
    m.hi = cidr_be64(c->addr) & m.mh;
    m.lo = cidr_be64(c->addr + 8) & m.ml;
    return m;
}

/* ahi, alo: the address's halves (cidr_be64 of addr and addr + 8). */
static inline bool cidr_m_contains(const cidr_m *m, uint64_t ahi, uint64_t alo)
{
    return (((ahi ^ m->hi) & m->mh) | ((alo ^ m->lo) & m->ml)) == 0;
}

/* true for v4-mapped addresses (::ffff:a.b.c.d). */
static inline bool cidr_is_v4(const uint8_t addr[16])
{
    return cidr_be64(addr) == 0 && (cidr_be64(addr + 8) >> 32) == 0xffffu;
}

#endif
