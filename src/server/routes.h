/*
 * routes.h — the handlers layer: a route table (method set, exact path or
 * prefix, handler, a slot for a per-route policy) from which 404, 405 and
 * Allow follow. Handlers (handlers.h) see a request and the h1_* response
 * calls of http1.h, nothing below.
 */
#ifndef VEX_SERVER_ROUTES_H
#define VEX_SERVER_ROUTES_H

#include "http1.h"

#define M(m) (1u << (m))
#define M_GET_HEAD (M(HTTP_GET) | M(HTTP_HEAD))

enum route_match { ROUTE_EXACT, ROUTE_PREFIX };

typedef struct route {
    const char *path;
    uint16_t len;
    uint8_t match;            /* enum route_match */
    uint16_t methods;         /* M(HTTP_GET) | ...: others get 405 + Allow */
    h1_handler fn;
    const void *policy;       /* per-route rules (rate limits, access): none yet */
} route;

typedef struct route_table {
    const route *routes;
    size_t n;
} route_table;

extern const route_table routes_main;    /* the public listener */
extern const route_table routes_admin;   /* --admin-port: health and metrics */

/* h1_router.dispatch: the first matching route's handler, or 404/405. */
void routes_dispatch(const h1_router *r, h1_ex *x, const http_request *req);

/* Which route serves path? NULL: none (404). For tests and policies. */
const route *routes_match(const route_table *t, const char *path, size_t len);

#endif
