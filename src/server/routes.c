/*
 * routes.c — route tables and dispatch. Matching is a length check plus
 * memcmp over a short table, first match wins: no allocation, no regex.
 * The hot routes come first.
 */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "handlers.h"
#include "limit_policy.h"

#define EXACT(p, m, f) { p, sizeof(p) - 1, ROUTE_EXACT, m, f, NULL }
#define PREFIX(p, m, f) { p, sizeof(p) - 1, ROUTE_PREFIX, m, f, NULL }

static const route main_routes[] = {
    EXACT("/", M_GET_HEAD, h_plaintext),
    EXACT("/json", M_GET_HEAD, h_json),
    EXACT("/healthz", M_GET_HEAD, h_healthz),
    EXACT("/readyz", M_GET_HEAD, h_readyz),
    EXACT("/metrics", M_GET_HEAD, h_metrics),
    EXACT("/echo", M(HTTP_POST), h_echo),
    PREFIX("/bytes/", M_GET_HEAD, h_bytes),
    PREFIX("/text/", M_GET_HEAD, h_text),
    PREFIX("/static/", M_GET_HEAD, h_static),
};
static const route admin_routes[] = {
    EXACT("/healthz", M_GET_HEAD, h_healthz),
    EXACT("/readyz", M_GET_HEAD, h_readyz),
    EXACT("/metrics", M_GET_HEAD, h_metrics),
};

const route_table routes_main = { main_routes, sizeof main_routes / sizeof main_routes[0] };
const route_table routes_admin = { admin_routes, sizeof admin_routes / sizeof admin_routes[0] };

const route *routes_match(const route_table *t, const char *path, size_t len)
{
    for (size_t i = 0; i < t->n; i++) {
        const route *r = &t->routes[i];
        if (r->match == ROUTE_EXACT ? len == r->len && memcmp(path, r->path, len) == 0
                                    : len >= r->len && memcmp(path, r->path, r->len) == 0)
            return r;
    }
    return NULL;
}

/* 405 names what the route allows; the tables hold these two method sets. */
static enum resp_id not_allowed(const route *r)
{
    return (r->methods & M(HTTP_GET)) ? R_405_GET : R_405_POST;
}

/* A route of the configuration file: its fixed body, or a redirect. */
static void answer_configured(h1_ex *x, const http_request *req, const cfg_route *cr)
{
    if (!(M(req->method) & M_GET_HEAD)) {
        h1_fixed(x, req, R_405_GET);
        return;
    }
    if (req->body != HTTP_BODY_NONE) {
        h1_fixed(x, req, R_E400);
        return;
    }
    char extra[2100];
    if (cr->location)
        snprintf(extra, sizeof extra, "Location: %s\r\n", cr->location);
    size_t n = cr->body ? strlen(cr->body) : 0;
    const char *ctype = cr->content_type ? cr->content_type : "text/plain; charset=utf-8";
    if (h1_head(x, cr->status, ctype, (int64_t)n, cr->location ? extra : NULL) &&
        (n == 0 || h1_body(x, cr->body, n)))
        h1_finish(x, cr->status);
}

static const cfg_route *match_configured(const server_config *cfg, const http_request *req)
{
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        const cfg_route *cr = &cfg->routes[i];
        size_t len = strlen(cr->path);
        if (cr->prefix ? req->path.len >= len && memcmp(req->path.p, cr->path, len) == 0
                       : req->path.len == len && memcmp(req->path.p, cr->path, len) == 0)
            return cr;
    }
    return NULL;
}

void routes_dispatch(const h1_router *rt, h1_ex *x, const http_request *req)
{
    /* The configuration's routes come first, so a file can override a
     * built-in one; none on the admin listener. */
    const server_config *cfg = x->ctx->cfg;
    if (cfg->n_limits && !limit_policy_check(x, req))
        return;                  /* rejected, or held for its delay */
    if (cfg->access && x->c->kind != H1_REJECT && !access_check(x, req))
        return;
    if (cfg->n_routes && x->c->kind == H1_CLIENT) {
        const cfg_route *cr = match_configured(cfg, req);
        if (cr) {
            answer_configured(x, req, cr);
            return;
        }
    }
    const route *r = routes_match(rt->table, req->path.p, req->path.len);
    if (!r)
        h1_fixed(x, req, R_404);   /* a body is read and dropped first */
    else if (!(r->methods & M(req->method)))
        h1_fixed(x, req, not_allowed(r));
    else
        r->fn(x, req);
}
