/*
 * access.h — the access-control policy run before a route's handler
 * (routes_dispatch): the first access rule whose path prefix matches
 * decides; its allow/deny list (403), authentication (Basic or Bearer,
 * 401 with WWW-Authenticate), failed-authentication limit (429) and
 * authorization (users/tokens and methods, 403). Rules come from the
 * configuration snapshot (access_config.h), so a reload replaces them.
 */
#ifndef VEX_SERVER_ACCESS_H
#define VEX_SERVER_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "http1.h"

/* true: go on to the handler; false: the request was answered. */
bool access_check(h1_ex *x, const http_request *req);

/* The decision counters for /metrics: per thread (wstats.acc, summed in
 * st), the connections refused at accept process-wide. */
typedef struct access_stats {
    uint64_t allowed;             /* a rule matched and let the request through */
    uint64_t denied;              /* allow/deny list: 403 */
    uint64_t unauthenticated;     /* no credentials: 401 */
    uint64_t auth_failures;       /* wrong credentials: 401 */
    uint64_t forbidden;           /* authenticated, not authorized: 403 */
    uint64_t throttled;           /* too many failures from the address: 429 */
    uint64_t basic_cache_hits;    /* Basic checks answered by the cache */
    uint64_t basic_hashed;        /* Basic checks that ran crypt(3) */
    uint64_t refused;             /* connections closed at accept by a listener's list */
} access_stats;
void access_count_refused(void);  /* from admit.c */
void access_stats_get(access_stats *out, const stats_snap *st);

#endif
