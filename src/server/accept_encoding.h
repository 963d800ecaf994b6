/*
 * accept_encoding.h — which content coding to answer with, from a request's
 * Accept-Encoding (RFC 9110 12.5.3) and the server's preference.
 */
#ifndef VEX_SERVER_ACCEPT_ENCODING_H
#define VEX_SERVER_ACCEPT_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "http/http_parser.h"

/* The acceptable codings (never identity), best first: highest q, ties in
 * the order of order[0..norder). Codings below identity's q are left out.
 * Every Accept-Encoding line of req counts. No header: treated as identity only (as nginx does; RFC
 * 9110 allows any coding, but old clients send none and cannot decode).
 * An empty value or one excluding everything also means identity: RFC
 * 9110 says SHOULD send an unencoded response rather than 406. Returns
 * the count written to out. */
size_t ae_rank(const http_request *req, const uint8_t *order, size_t norder,
               uint8_t out[ENC_N]);

#endif
