/*
 * proxy_proto.h — the PROXY protocol header (haproxy's spec, v1 text and v2
 * binary) that a load balancer sends before the client's bytes, so the
 * server learns the real client address. Pure parsing, no I/O.
 */
#ifndef VEX_SERVER_PROXY_PROTO_H
#define VEX_SERVER_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX 107          /* the spec's longest v1 line, CRLF included */
#define PROXY_V2_MAX (16 + 65535) /* header + the longest address block */

typedef struct proxy_addr {
    bool local;               /* v2 LOCAL or v1 UNKNOWN: keep the socket's peer */
    uint8_t family;           /* AF_INET or AF_INET6 when !local */
    uint8_t addr[16];         /* source, IPv4 v4-mapped */
    uint16_t port;
} proxy_addr;

/* > 0: a whole header of that many octets was parsed into out; 0: more
 * octets are needed; < 0: not a valid PROXY header. */
long proxy_parse(const char *p, size_t n, proxy_addr *out);

#endif
