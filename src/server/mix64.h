/* mix64.h — the 64-bit finaliser of MurmurHash3: spreads every input bit
 * over the output, for table shards keyed on client addresses and for
 * seeds made from the clock. Not a keyed or cryptographic hash: the tables
 * seed it from /dev/urandom so that keys cannot be chosen to collide. */
#ifndef VEX_SERVER_MIX64_H
#define VEX_SERVER_MIX64_H

#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

#endif
