/*
 * limit_policy.h — the request rate limits of the configuration (`limits:`)
 * as a route policy: routes_dispatch asks before any handler runs.
 */
#ifndef VEX_SERVER_LIMIT_POLICY_H
#define VEX_SERVER_LIMIT_POLICY_H

#include <stdbool.h>

#include "http1.h"

/* true: answer the request. false: it was rejected (the limit's status,
 * 429 by default, with Retry-After) or deferred (h1_defer: it is
 * dispatched again after the delay, and then passes). */
bool limit_policy_check(h1_ex *x, const http_request *req);

/* The first limit whose path covers this one, or NULL. */
const cfg_limit *limit_match(const server_config *cfg, const char *path, size_t len);

/* The limit of that name (say one with requests: false, kept for failed
 * authentications), or NULL. */
const cfg_limit *limit_by_name(const server_config *cfg, const char *name);

/* The key a limit counts addr under: its /ipv4-prefix or /ipv6-prefix. */
void limit_key(const cfg_limit *l, const uint8_t addr[16], uint8_t key[16]);

/* For other policies (failed authentications, say): account one event of
 * addr in limit l now; RL_REJECT means over the limit. The limit's
 * counters are updated as for a request; dry-run limits never reject. */
rl_result limit_account(const cfg_limit *l, const uint8_t addr[16], uint64_t now_ms);

#endif
