/*
 * realip.h — the client address behind trusted proxies: X-Forwarded-For,
 * or else Forwarded's for=, honoured only when the connection's peer is in
 * the configured trusted-proxies ranges.
 */
#ifndef VEX_SERVER_REALIP_H
#define VEX_SERVER_REALIP_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "http/http_parser.h"

/* From the right, the first address that is not itself a trusted proxy
 * (nginx's real_ip_recursive): a client cannot forge its way past the
 * proxies, whatever it puts on the left. If every listed address is
 * trusted, the leftmost; an unparsable entry stops the walk at the trusted
 * address to its right. true when out differs from peer; when false, out
 * may not have been written (the caller goes on with peer). */
static inline bool realip_trusted(const cidr_m *t, unsigned n, const uint8_t a[16])
{
    uint64_t hi = cidr_be64(a), lo = cidr_be64(a + 8);
    for (unsigned i = 0; i < n; i++)
        if (cidr_m_contains(&t[i], hi, lo))
            return true;
    return false;
}
/* realip_resolve past the check that the peer is a trusted proxy. */
bool realip_forwarded(const cidr_m *trusted, unsigned n, const uint8_t peer[16],
                      const http_request *req, uint8_t out[16]);
/* Inline: a peer that is no trusted proxy (every direct client) costs a
 * range test or two, no call. */
static inline bool realip_resolve(const cidr_m *trusted, unsigned n, const uint8_t peer[16],
                                  const http_request *req, uint8_t out[16])
{
    if (!n || !realip_trusted(trusted, n, peer))
        return false;            /* out untouched: the caller goes on with peer */
    return realip_forwarded(trusted, n, peer, req, out);
}

#endif
