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
bool realip_resolve(const cidr_m *trusted, unsigned n, const uint8_t peer[16],
                    const http_request *req, uint8_t out[16]);

#endif
