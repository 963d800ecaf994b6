/*
 * limit_policy.c — nginx limit_req over the configured limits. The first
 * limit whose path matches applies (put specific ones first and a limit
 * without a path last, as the default). A delayed request is deferred on
 * its connection (h1_defer) and passes when dispatched again; its
 * accounting happened when it arrived, as in nginx.
 */
#include "limit_policy.h"
#include "handlers.h"

#include <stdio.h>
#include <string.h>

/* Short paths (the usual "/" or "/api/") compared in line, no memcmp call. */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static inline const cfg_limit *match(const server_config *cfg, const char *path, size_t len)
{
    for (unsigned i = 0; i < cfg->n_limits; i++) {
        const cfg_limit *l = &cfg->limits[i];
        if (!l->requests)
            continue;
        if (!l->path)
            return l;
        size_t n = l->path_len;
        if (l->prefix ? len >= n && same_bytes(path, l->path, n)
                      : len == n && same_bytes(path, l->path, n))
            return l;
    }
    return NULL;
}

const cfg_limit *limit_match(const server_config *cfg, const char *path, size_t len)
{
    return match(cfg, path, len);
}

const cfg_limit *limit_by_name(const server_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_limits; i++)
        if (strcmp(cfg->limits[i].name, name) == 0)
            return &cfg->limits[i];
    return NULL;
}

static inline void key_of(const cfg_limit *l, const uint8_t addr[16], uint8_t key[16])
{
    cidr_mask(key, addr, cidr_is_v4(addr) ? 96 + l->v4_bits : l->v6_bits);
}

void limit_key(const cfg_limit *l, const uint8_t addr[16], uint8_t key[16])
{
    key_of(l, addr, key);
}

/* rl_check, and the would-be verdict of a dry run in *dry. */
static inline rl_result account(const cfg_limit *l, const uint8_t addr[16], uint64_t now_ms,
                                rl_result *dry)
{
    uint8_t key[16];
    key_of(l, addr, key);
    uint64_t ka, kb;
    memcpy(&ka, key, 8);
    memcpy(&kb, key + 8, 8);
    rl_result r = rl_check_words(l->zone, ka, kb, now_ms, true);   /* counts a pass itself */
    *dry = r;
    if (r.verdict == RL_PASS)
        return r;
    if (l->dry_run) {
        rl_zone_note(l->zone, RLC_DRY_RUN);
        rl_zone_note(l->zone, RLC_ALLOWED);
        r.verdict = RL_PASS;
    } else {
        rl_zone_note(l->zone, r.verdict == RL_DELAY ? RLC_DELAYED : RLC_REJECTED);
    }
    return r;
}

rl_result limit_account(const cfg_limit *l, const uint8_t addr[16], uint64_t now_ms)
{
    rl_result dry;
    return account(l, addr, now_ms, &dry);
}

static void reject(h1_ex *x, const http_request *req, const cfg_limit *l, uint64_t retry_s)
{
    if (req->body != HTTP_BODY_NONE) {
        /* the body is not read: the connection cannot go on after it */
        x->keep_alive = false;
        x->rc = RC_CLOSE;
    }
    static const char body[] = "Too Many Requests\n";
    char extra[64];
    snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)retry_s);
    if (h1_head(x, l->status, "text/plain; charset=utf-8", (int64_t)(sizeof body - 1), extra) &&
        h1_body(x, body, sizeof body - 1))
        h1_finish(x, l->status);
}

/* As nginx's "limiting requests" line: rejections at info (warn would let
 * a flood crowd out everything else), delays at debug, dry-run at info. */
static void note(h1_ex *x, const cfg_limit *l, const char *what, const rl_result *r)
{
    const app_env *env = app_of(x);
    if (!env || !env->log_event)
        return;
    char addr[64];
    cidr c = { {0}, 128 };
    memcpy(c.addr, h1_peer_of(x)->addr, 16);
    cidr_format(&c, addr, sizeof addr);
    char *slash = strrchr(addr, '/');
    if (slash)
        *slash = '\0';
    env->log_event(r->verdict == RL_DELAY && !l->dry_run ? VLOG_DEBUG : VLOG_INFO,
                   "limiting requests%s: %s by zone \"%s\", client %s, delay %llu ms",
                   l->dry_run ? " (dry run)" : "", what, l->name, addr,
                   (unsigned long long)r->delay_ms);
}

bool limit_policy_check(h1_ex *x, const http_request *req)
{
    const server_config *cfg = x->ctx->cfg;
    if (x->resumed || x->c->kind != H1_CLIENT)
        return true;
    const cfg_limit *l = match(cfg, req->path.p, req->path.len);
    if (!l)
        return true;
    rl_result dry;
    rl_result r = account(l, h1_peer_of(x)->addr, x->ctx->batch_t0 / 1000000u, &dry);
    if (dry.verdict != RL_PASS)
        note(x, l, dry.verdict == RL_DELAY ? "delaying" : "rejecting", &dry);
    switch (r.verdict) {
    case RL_PASS:
        return true;
    case RL_DELAY:
        return !h1_defer(x, r.delay_ms);   /* cannot hold it: answer now */
    default:
        reject(x, req, l, r.retry_after_s);
        return false;
    }
}
