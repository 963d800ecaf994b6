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

/* A host fit for a Location header: a name, an IPv4 address or a bracketed
 * IPv6 one, and an optional :port (dropped). false: nothing safe to send
 * the client to. */
static bool redirect_host(const http_slice *h, size_t *len)
{
    size_t n = h->len, i = 0;
    if (n == 0 || n > 255)
        return false;
    if (h->p[0] == '[') {
        while (i < n && h->p[i] != ']') {
            char c = h->p[i];
            if (i && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                       c == ':' || c == '.'))
                return false;
            i++;
        }
        if (i == n)
            return false;
        i++;                       /* the ']' */
    } else {
        while (i < n && h->p[i] != ':') {
            char c = h->p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.'))
                return false;
            i++;
        }
        if (i == 0)
            return false;
    }
    for (size_t j = i + (i < n); j < n; j++)   /* the port, if any: digits only */
        if (h->p[j] < '0' || h->p[j] > '9')
            return false;
    *len = i;
    return true;
}

/* A plain listener with redirect-https: every request, whatever its route,
 * goes to the same target on HTTPS, as nginx's `return 301 https://$host$request_uri`.
 * 301 for GET and HEAD, 308 otherwise, so a POST stays a POST. */
static void answer_https_redirect(h1_ex *x, const http_request *req)
{
    const http_slice *host = http_find_header(req, "host");
    size_t hl;
    if (!host || !redirect_host(host, &hl)) {
        h1_fixed(x, req, R_E400);
        return;
    }
    int status = M(req->method) & M_GET_HEAD ? 301 : 308;
    unsigned port = x->c->redirect_https;
    char extra[400 + 8192];
    char ps[8] = "";
    if (port != 443)
        snprintf(ps, sizeof ps, ":%u", port);
    /* path and query, not the target as sent: an absolute-form target
     * ("http://host/x") names the old scheme and host */
    if (req->path.len == 0 || req->path.p[0] != '/') {
        h1_fixed(x, req, R_E400);
        return;
    }
    int n = snprintf(extra, sizeof extra, "Location: https://%.*s%s%.*s%s%.*s\r\n", (int)hl,
                     host->p, ps, (int)req->path.len, req->path.p, req->query.len ? "?" : "",
                     (int)req->query.len, req->query.p);
    if (n < 0 || (size_t)n >= sizeof extra) {
        h1_fixed(x, req, R_E400);
        return;
    }
    if (req->body != HTTP_BODY_NONE) {
        /* The body is not ours to read (the HTTPS side will take it): close
         * after the answer, so its bytes are never parsed as a request. */
        x->keep_alive = false;
        x->rc = RC_CLOSE;
    }
    if (h1_head(x, status, "text/plain; charset=utf-8", 0, extra))
        h1_finish(x, status);
}

void routes_dispatch(const h1_router *rt, h1_ex *x, const http_request *req)
{
    /* The configuration's routes come first, so a file can override a
     * built-in one; none on the admin listener. */
    const server_config *cfg = x->ctx->cfg;
    if (x->c->redirect_https) {
        answer_https_redirect(x, req);
        return;
    }
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
