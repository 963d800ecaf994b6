/*
 * config_file.c — the YAML configuration file (libyaml), read into a
 * server_config through the same key table as the flags.
 *
 * The whole document is loaded first (libyaml's document API keeps each
 * node's line), then walked; every error names file, line and key. Unknown
 * keys are errors: a misspelt setting silently ignored is the failure an
 * operator finds last.
 */
#include "config_file.h"
#include "tls_context.h"

#include <openssl/ssl.h>
#include "config_keys.h"
#include "access_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct walk {
    yaml_document_t *doc;
    const char *path;
    server_config *cfg;
    file_seen *seen;
    char *err;
    size_t errlen;
    /* The keys of the two ways to say where to listen, for the message
     * when a file has both. */
    const yaml_node_t *listen_kn, *host_port_kn;
    size_t lines;             /* the file's, as error_line counts them */
} walk;

/* A node's line; an empty node at the very end of the file is where
 * libyaml ends the stream, one line past the last: it is on the last. */
static unsigned line_of(const walk *w, const yaml_node_t *n)
{
    size_t line = n->start_mark.line + 1;
    return (unsigned)(line > w->lines ? w->lines : line);
}

static int fail(walk *w, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(w->err, w->errlen, "%s:%u: %s%s%s", w->path, line_of(w, n), key ? key : "",
             key ? ": " : "", msg);
    return 2;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Iterate a mapping's pairs as (key node, value node). */
#define FOR_PAIRS(w, map, kn, vn)                                                   \
    for (yaml_node_pair_t *p_ = (map)->data.mapping.pairs.start;                     \
         p_ < (map)->data.mapping.pairs.top &&                                       \
         ((kn) = yaml_document_get_node((w)->doc, p_->key),                          \
          (vn) = yaml_document_get_node((w)->doc, p_->value), 1);                    \
         p_++)

static int dup_check(walk *w, const yaml_node_t *map, const yaml_node_t *kn, const char *ctx)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *o = yaml_document_get_node(w->doc, p->key);
        if (o == kn)
            return 0;
        const char *a = scalar(o), *b = scalar(kn);
        if (a && b && strcmp(a, b) == 0)
            return fail(w, kn, b, "given twice%s%s (first at line %u)", ctx ? " in " : "",
                        ctx ? ctx : "", line_of(w, o));
    }
    return 0;
}

/* ---- listen: a list of "ADDR:PORT" or {address, port, ipv6-only} ----------- */

/* sni: [{names: [NAME, ...], certificate: PEM, key: PEM}, ...] — each
 * entry's SSL_CTX is owned by the listener's default one. */
static int sni_entry(walk *w, const yaml_node_t *n, SSL_CTX *def)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "listen.sni", "each entry is {names, certificate, key}");
    const char *cert = NULL, *key = NULL;
    const yaml_node_t *names = NULL, *cert_n = NULL, *key_n = NULL;
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn);
        if (k && strcmp(k, "names") == 0 && vn->type == YAML_SEQUENCE_NODE)
            names = vn;
        else if (k && strcmp(k, "certificate") == 0 && scalar(vn))
            cert = scalar(vn), cert_n = vn;
        else if (k && strcmp(k, "key") == 0 && scalar(vn))
            key = scalar(vn), key_n = vn;
        else
            return fail(w, kn, "listen.sni", "an entry has names (a list), certificate and key");
    }
    if (!names || !cert || !key)
        return fail(w, n, "listen.sni", "an entry needs names (a list), certificate and key");
    char why[400];
    SSL_CTX *ctx = tls_ctx_new(cert, key, why, sizeof why);
    if (!ctx)
        return fail(w, strstr(why, "certificate '") ? cert_n : key_n,
                    strstr(why, "certificate '") ? "listen.sni.certificate" : "listen.sni.key", "%s", why);
    unsigned added = 0;
    for (yaml_node_item_t *it = names->data.sequence.items.start; it < names->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        const char *name = scalar(e);
        if (!name || !*name) {
            if (!added)
                tls_ctx_free(ctx);
            return fail(w, e, "listen.sni.names", "each name is a host name");
        }
        if (added)
            SSL_CTX_up_ref(ctx);
        if (tls_ctx_add_sni(def, name, ctx, why, sizeof why)) {
            tls_ctx_free(ctx);
            return fail(w, e, "listen.sni.names", "%s", why);
        }
        added++;
    }
    if (!added) {
        tls_ctx_free(ctx);
        return fail(w, names, "listen.sni.names", "needs at least one name");
    }
    return 0;
}

static int sni_list(walk *w, const yaml_node_t *n, SSL_CTX *def)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "listen.sni", "expects a list of {names, certificate, key}");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        int rc = sni_entry(w, yaml_document_get_node(w->doc, *it), def);
        if (rc)
            return rc;
    }
    return 0;
}

_Static_assert(sizeof ((access_config *)0)->listener_acl / sizeof(acl_list) == CFG_MAX_LISTENERS,
               "one allow/deny list per listener");
static access_config *access_of(walk *w);
static int each_scalar(walk *w, const yaml_node_t *n, const char *key,
                       int (*fn)(walk *w, const yaml_node_t *e, const char *v, void *arg),
                       void *arg);
static int acl_item(walk *w, const yaml_node_t *e, const char *v, void *arg);

static int one_listener(walk *w, const yaml_node_t *n, cfg_listener *out)
{
    const char *s = scalar(n);
    if (s) {
        if (cfg_parse_listen(s, out))
            return fail(w, n, "listen", "invalid listener '%s' (ADDR:PORT, [IPv6]:PORT or PORT)", s);
        return 0;
    }
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "listen", "each entry is ADDR:PORT or a mapping");
    memset(out, 0, sizeof *out);
    strcpy(out->host, "0.0.0.0");
    bool have_port = false;
    const yaml_node_t *cert_node = NULL, *key_node = NULL, *sni_node = NULL;
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (!k)
            return fail(w, kn, "listen", "keys are names");
        if (dup_check(w, n, kn, "a listener"))
            return 2;
        if (strcmp(k, "sni") == 0) {
            sni_node = vn;
            continue;
        }
        if (strcmp(k, "access") == 0) {
            access_config *a = access_of(w);
            if (!a)
                return fail(w, vn, "listen.access", "out of memory");
            acl_list *l = &a->listener_acl[out - w->cfg->listeners];
            l->n = 0;
            if (each_scalar(w, vn, "listen.access", acl_item, l))
                return 2;
            continue;
        }
        if (!v)
            return fail(w, vn, k, "expects a single value");
        uint64_t port;
        if (strcmp(k, "address") == 0) {
            if (strlen(v) >= sizeof out->host || !cfg_numeric_addr(v))
                return fail(w, vn, "listen.address", "invalid value '%s' (a numeric IPv4 or IPv6 address)", v);
            strcpy(out->host, v);
        } else if (strcmp(k, "port") == 0) {
            if (cfg_parse_u64(v, 0, 65535, &port))
                return fail(w, vn, "listen.port", "invalid value '%s' (0-65535)", v);
            out->port = (int)port;
            have_port = true;
        } else if (strcmp(k, "ipv6-only") == 0) {
            if (cfg_parse_bool(v, &out->v6only))
                return fail(w, vn, "listen.ipv6-only", "invalid value '%s' (true or false)", v);
        } else if (strcmp(k, "tls") == 0) {
            if (cfg_parse_bool(v, &out->tls))
                return fail(w, vn, "listen.tls", "invalid value '%s' (true or false)", v);
        } else if (strcmp(k, "proxy-protocol") == 0) {
            if (cfg_parse_bool(v, &out->proxy_protocol))
                return fail(w, vn, "listen.proxy-protocol", "invalid value '%s' (true or false)", v);
        } else if (strcmp(k, "redirect-https") == 0) {
            uint64_t rp;
            if (cfg_parse_u64(v, 1, 65535, &rp))
                return fail(w, vn, "listen.redirect-https", "invalid value '%s' (the HTTPS "
                            "port to send clients to, 1-65535)", v);
            out->redirect_https = (uint16_t)rp;
        } else if (strcmp(k, "certificate") == 0 || strcmp(k, "key") == 0) {
            char *dst = k[0] == 'c' ? out->cert : out->key;
            if (!*v || strlen(v) >= CFG_PATH_LEN)
                return fail(w, vn, k[0] == 'c' ? "listen.certificate" : "listen.key",
                            "invalid value '%s' (a PEM file)", v);
            strcpy(dst, v);
            if (k[0] == 'c')
                cert_node = vn;
            else
                key_node = vn;
        } else {
            return fail(w, kn, k, "unknown key in a listener (address, port, ipv6-only, tls, "
                        "certificate, key, sni, proxy-protocol, redirect-https, access)");
        }
    }
    if (!have_port)
        return fail(w, n, "listen", "a listener needs a port");
    if (out->v6only && !strchr(out->host, ':'))
        return fail(w, n, "listen.ipv6-only", "only for an IPv6 address");
    if (out->tls && out->proxy_protocol)
        return fail(w, n, "listen.proxy-protocol", "not on a TLS listener (terminate TLS "
                    "at the proxy, or send PROXY to a plain listener)");
    if (out->tls && out->redirect_https)
        return fail(w, n, "listen.redirect-https", "only for a plain listener (this one "
                    "is already HTTPS)");
    if (out->tls && (!cert_node || !key_node))
        return fail(w, n, "listen.tls", "a TLS listener needs certificate and key");
    if (!out->tls && (cert_node || key_node || sni_node))
        return fail(w, cert_node ? cert_node : key_node ? key_node : sni_node,
                    cert_node ? "listen.certificate" : key_node ? "listen.key" : "listen.sni",
                    "only for a listener with tls: true");
    if (out->tls) {
        char why[400];
        SSL_CTX *ctx = tls_ctx_new(out->cert, out->key, why, sizeof why);
        if (!ctx)
            return fail(w, strstr(why, "certificate '") ? cert_node : key_node,
                        strstr(why, "certificate '") ? "listen.certificate" : "listen.key", "%s", why);
        server_config *c = w->cfg;
        unsigned idx = (unsigned)(out - c->listeners);
        tls_ctx_free(c->tls[idx]);
        c->tls[idx] = ctx;
        if (sni_node)
            return sni_list(w, sni_node, ctx);
    }
    return 0;
}

static int listeners(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "listen", "expects a list of listeners");
    server_config *c = w->cfg;
    c->n_listeners = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        if (c->n_listeners == CFG_MAX_LISTENERS)
            return fail(w, e, "listen", "at most %d listeners", CFG_MAX_LISTENERS);
        cfg_listener *l = &c->listeners[c->n_listeners];
        if (one_listener(w, e, l))
            return 2;
        for (unsigned i = 0; i < c->n_listeners; i++)
            if (c->listeners[i].port == l->port && l->port != 0 &&
                strcmp(c->listeners[i].host, l->host) == 0)
                return fail(w, e, "listen", "%s port %d is listed twice", l->host, l->port);
        c->n_listeners++;
    }
    if (c->n_listeners == 0)
        return fail(w, n, "listen", "expects at least one listener");
    w->seen->listen = true;
    return 0;
}

/* ---- routes: fixed responses and redirects --------------------------------- */

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int set_str(walk *w, const yaml_node_t *vn, const char *key, char **slot, size_t max)
{
    const char *v = scalar(vn);
    if (!v)
        return fail(w, vn, key, "expects a single value");
    if (strlen(v) > max)
        return fail(w, vn, key, "longer than %zu bytes", max);
    free(*slot);
    *slot = strdup(v);
    return *slot ? 0 : fail(w, vn, key, "out of memory");
}

static int one_route(walk *w, const yaml_node_t *n, cfg_route *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "routes", "each route is a mapping (path, status, body, ...)");
    r->line = line_of(w, n);
    r->status = 0;
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (!k)
            return fail(w, kn, "routes", "keys are names");
        if (dup_check(w, n, kn, "a route"))
            return 2;
        uint64_t u;
        if (strcmp(k, "path") == 0) {
            if (set_str(w, vn, "routes.path", &r->path, 1024))
                return 2;
            if (r->path[0] != '/' || !header_safe(r->path) || strchr(r->path, ' '))
                return fail(w, vn, "routes.path", "invalid value '%s' (an absolute path)", r->path);
        } else if (strcmp(k, "prefix") == 0) {
            if (!v || cfg_parse_bool(v, &r->prefix))
                return fail(w, vn, "routes.prefix", "invalid value '%s' (true or false)", v ? v : "");
        } else if (strcmp(k, "status") == 0) {
            if (!v || cfg_parse_u64(v, 200, 599, &u))
                return fail(w, vn, "routes.status", "invalid value '%s' (200-599)", v ? v : "");
            r->status = (int)u;
        } else if (strcmp(k, "body") == 0) {
            if (set_str(w, vn, "routes.body", &r->body, 65536))
                return 2;
        } else if (strcmp(k, "content-type") == 0) {
            if (set_str(w, vn, "routes.content-type", &r->content_type, 200))
                return 2;
            if (!header_safe(r->content_type) || !r->content_type[0])
                return fail(w, vn, "routes.content-type", "invalid value (no control characters)");
        } else if (strcmp(k, "location") == 0) {
            if (set_str(w, vn, "routes.location", &r->location, 2048))
                return 2;
            if (!header_safe(r->location) || !r->location[0])
                return fail(w, vn, "routes.location", "invalid value (no control characters)");
        } else {
            return fail(w, kn, k, "unknown key in a route (path, prefix, status, body, "
                                  "content-type, location)");
        }
    }
    if (!r->path)
        return fail(w, n, "routes", "a route needs a path");
    if (!r->status)
        r->status = r->location ? 302 : 200;
    bool redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                    r->status == 307 || r->status == 308;
    if (redirect != (r->location != NULL))
        return fail(w, n, "routes.location", redirect ? "a %d redirect needs a location"
                                                      : "location is only for 301-308 (status %d)",
                    r->status);
    if (r->status == 204 || r->status == 205 || r->status == 304)
        return fail(w, n, "routes.status", "%d is not supported (a route always has a body length)",
                    r->status);
    return 0;
}

static int routes(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "routes", "expects a list of routes");
    server_config *c = w->cfg;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        if (c->n_routes == CFG_MAX_ROUTES)
            return fail(w, e, "routes", "at most %d routes", CFG_MAX_ROUTES);
        cfg_route *r = &c->routes[c->n_routes++];
        memset(r, 0, sizeof *r);
        if (one_route(w, e, r))
            return 2;
    }
    return 0;
}

/* ---- limits: request rate limits (nginx limit_req) ------------------------- */

/* "10r/s" or "30r/m" into thousandths of a request per second. */
static int parse_rate(const char *v, uint64_t *milli)
{
    size_t n = strlen(v);
    if (n < 4 || v[n - 2] != '/' || v[n - 3] != 'r' || (v[n - 1] != 's' && v[n - 1] != 'm'))
        return -1;
    char num[32];
    if (n - 3 >= sizeof num)
        return -1;
    memcpy(num, v, n - 3);
    num[n - 3] = '\0';
    uint64_t r;
    if (cfg_parse_u64(num, 1, 1000000, &r))
        return -1;
    *milli = v[n - 1] == 's' ? r * 1000 : r * 1000 / 60;
    return *milli ? 0 : -1;
}

/* Bytes, with an optional k or m suffix (powers of 1024). */
static int parse_size(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char num[32];
    size_t n = strlen(v);
    uint64_t mul = 1;
    if (n && (v[n - 1] == 'k' || v[n - 1] == 'K' || v[n - 1] == 'm' || v[n - 1] == 'M')) {
        mul = (v[n - 1] | 0x20) == 'k' ? 1024 : 1024 * 1024;
        n--;
    }
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, v, n);
    num[n] = '\0';
    uint64_t u;
    if (cfg_parse_u64(num, 0, hi, &u) || u * mul < lo || u * mul > hi)
        return -1;
    *out = u * mul;
    return 0;
}

#define LIMIT_KEYS "name, path, prefix, rate, burst, delay, nodelay, status, dry-run, " \
                   "ipv4-prefix, ipv6-prefix, zone-size, requests"

static int one_limit(walk *w, const yaml_node_t *n, cfg_limit *l)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "limits", "each limit is a mapping (" LIMIT_KEYS ")");
    l->line = line_of(w, n);
    l->status = 429;
    l->v4_bits = 32;
    l->v6_bits = 64;
    l->p.size_bytes = 1024 * 1024;
    l->requests = true;
    bool have_delay = false;
    const yaml_node_t *delay_n = NULL;
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (!k)
            return fail(w, kn, "limits", "keys are names");
        if (dup_check(w, n, kn, "a limit"))
            return 2;
        uint64_t u;
        char key[40];
        snprintf(key, sizeof key, "limits.%s", k);
        if (!v)
            return fail(w, vn, key, "expects a single value");
        if (strcmp(k, "name") == 0) {
            if (set_str(w, vn, key, &l->name, 64))
                return 2;
            if (!l->name[0])   /* the zone's label in /metrics, and how policies name it */
                return fail(w, vn, key, "invalid value '' (letters, digits, _ and -)");
            for (const char *c = l->name; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
                    return fail(w, vn, key, "invalid value '%s' (letters, digits, _ and -)", v);
        } else if (strcmp(k, "path") == 0) {
            if (set_str(w, vn, key, &l->path, 1024))
                return 2;
            if (l->path[0] != '/' || !header_safe(l->path) || strchr(l->path, ' '))
                return fail(w, vn, key, "invalid value '%s' (an absolute path)", v);
        } else if (strcmp(k, "prefix") == 0 || strcmp(k, "nodelay") == 0 ||
                   strcmp(k, "dry-run") == 0 || strcmp(k, "requests") == 0) {
            bool *b = k[0] == 'p' ? &l->prefix : k[0] == 'n' ? &l->nodelay
                    : k[0] == 'r' ? &l->requests : &l->dry_run;
            if (cfg_parse_bool(v, b))
                return fail(w, vn, key, "invalid value '%s' (true or false)", v);
        } else if (strcmp(k, "rate") == 0) {
            if (parse_rate(v, &l->p.rate_milli))
                return fail(w, vn, key, "invalid value '%s' (N r/s or N r/m, as 10r/s, "
                                        "1-1000000)", v);
        } else if (strcmp(k, "burst") == 0) {
            if (cfg_parse_u64(v, 0, 1000000, &l->p.burst))
                return fail(w, vn, key, "invalid value '%s' (0-1000000 requests)", v);
        } else if (strcmp(k, "delay") == 0) {
            if (cfg_parse_u64(v, 0, 1000000, &l->p.delay))
                return fail(w, vn, key, "invalid value '%s' (0-1000000 requests)", v);
            have_delay = true;
            delay_n = vn;
        } else if (strcmp(k, "status") == 0) {
            if (cfg_parse_u64(v, 400, 599, &u))
                return fail(w, vn, key, "invalid value '%s' (400-599)", v);
            l->status = (int)u;
        } else if (strcmp(k, "ipv4-prefix") == 0) {
            if (cfg_parse_u64(v, 1, 32, &u))
                return fail(w, vn, key, "invalid value '%s' (1-32)", v);
            l->v4_bits = (unsigned)u;
        } else if (strcmp(k, "ipv6-prefix") == 0) {
            if (cfg_parse_u64(v, 1, 128, &u))
                return fail(w, vn, key, "invalid value '%s' (1-128)", v);
            l->v6_bits = (unsigned)u;
        } else if (strcmp(k, "zone-size") == 0) {
            if (parse_size(v, 16384, (uint64_t)1 << 34, &u))
                return fail(w, vn, key, "invalid value '%s' (bytes, 16384 to 16g; k and m "
                                        "suffixes)", v);
            l->p.size_bytes = (size_t)u;
        } else {
            return fail(w, kn, key, "unknown key in a limit (" LIMIT_KEYS ")");
        }
    }
    if (!l->p.rate_milli)
        return fail(w, n, "limits.rate", "a limit needs a rate (as 10r/s)");
    if (!l->name)
        return fail(w, n, "limits.name", "a limit needs a name");
    if (l->prefix && !l->path)
        return fail(w, n, "limits.prefix", "only with a path");
    l->path_len = l->path ? strlen(l->path) : 0;
    if (!l->requests && l->path)
        return fail(w, n, "limits.requests", "a limit with requests: false has no path "
                    "(other policies use it by name)");
    if (have_delay && l->nodelay)
        return fail(w, delay_n, "limits.delay", "either delay or nodelay, not both");
    if (l->p.delay > l->p.burst)
        return fail(w, delay_n, "limits.delay", "%llu is above burst (%llu)",
                    (unsigned long long)l->p.delay, (unsigned long long)l->p.burst);
    if (l->nodelay)
        l->p.delay = l->p.burst;
    l->zone = rl_zone_new(&l->p);
    if (!l->zone)
        return fail(w, n, "limits.zone-size", "cannot allocate %zu bytes", l->p.size_bytes);
    return 0;
}

static int limits(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "limits", "expects a list of limits");
    server_config *c = w->cfg;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        if (c->n_limits == CFG_MAX_LIMITS)
            return fail(w, e, "limits", "at most %d limits", CFG_MAX_LIMITS);
        cfg_limit *l = &c->limits[c->n_limits++];
        memset(l, 0, sizeof *l);
        if (one_limit(w, e, l))
            return 2;
        for (unsigned i = 0; i + 1 < c->n_limits; i++)
            if (strcmp(c->limits[i].name, l->name) == 0)
                return fail(w, e, "limits.name", "'%s' is used twice (first at line %u)",
                            l->name, c->limits[i].line);
    }
    return 0;
}

/* trusted-proxies: [CIDR, ...] — whose X-Forwarded-For / Forwarded count. */
static int trusted_proxies(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "trusted-proxies", "expects a list of addresses or CIDR ranges");
    server_config *c = w->cfg;
    c->n_trusted = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        const char *v = scalar(e), *why = "expects an address or CIDR range";
        if (c->n_trusted == CFG_MAX_PROXIES)
            return fail(w, e, "trusted-proxies", "at most %d ranges", CFG_MAX_PROXIES);
        if (!v || !cidr_parse(v, &c->trusted[c->n_trusted], &why))
            return fail(w, e, "trusted-proxies", "invalid value '%s' (%s)", v ? v : "", why);
        c->trusted_m[c->n_trusted] = cidr_prep(&c->trusted[c->n_trusted]);
        c->n_trusted++;
    }
    return 0;
}

/* ---- access: and auth: (access_config.h) ------------------------------------ */

static access_config *access_of(walk *w)
{
    if (!w->cfg->access)
        w->cfg->access = access_config_new();
    return w->cfg->access;
}

/* A list of scalars, each given to fn. */
static int each_scalar(walk *w, const yaml_node_t *n, const char *key,
                       int (*fn)(walk *w, const yaml_node_t *e, const char *v, void *arg),
                       void *arg)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, key, "expects a list");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        const char *v = scalar(e);
        if (!v)
            return fail(w, e, key, "each entry is a single value");
        int rc = fn(w, e, v, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static int acl_item(walk *w, const yaml_node_t *e, const char *v, void *arg)
{
    const char *why = NULL;
    access_config *a = w->cfg->access;
    bool listener = a && (const char *)arg >= (const char *)a->listener_acl &&
                    (const char *)arg < (const char *)(a->listener_acl + 16);
    if (!acl_add(arg, v, &why))
        return fail(w, e, listener ? "listen.access" : "access.rules", "invalid entry '%s' (%s)",
                    v, why);
    return 0;
}

static int name_item(walk *w, const yaml_node_t *e, const char *v, void *arg)
{
    access_rule *r = arg;
    if (r->n_names == ACCESS_MAX_NAMES)
        return fail(w, e, "access.users", "at most %d names", ACCESS_MAX_NAMES);
    if (!*v || strlen(v) >= ACCESS_NAME_LEN)
        return fail(w, e, "access.users", "invalid name '%s'", v);
    strcpy(r->names[r->n_names++], v);
    return 0;
}

static int method_item(walk *w, const yaml_node_t *e, const char *v, void *arg)
{
    uint16_t bit = access_method_bit(v);
    if (!bit)
        return fail(w, e, "access.methods", "invalid method '%s' (GET, HEAD, POST, ...)", v);
    *(uint16_t *)arg |= bit;
    return 0;
}

static int access_rule_parse(walk *w, const yaml_node_t *n, access_rule *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "access", "each entry is a mapping (path, rules, auth, users, methods)");
    r->line = line_of(w, n);
    yaml_node_t *kn, *vn;
    bool have_path = false;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (!k)
            return fail(w, kn, "access", "keys are names");
        if (dup_check(w, n, kn, "an access rule"))
            return 2;
        if (strcmp(k, "path") == 0) {
            if (!v || v[0] != '/' || strlen(v) >= sizeof r->path)
                return fail(w, vn, "access.path", "invalid value '%s' (a path prefix)", v ? v : "");
            strcpy(r->path, v);
            r->len = strlen(v);
            have_path = true;
        } else if (strcmp(k, "rules") == 0) {
            if (each_scalar(w, vn, "access.rules", acl_item, &r->acl))
                return 2;
        } else if (strcmp(k, "auth") == 0) {
            static const char *const kinds[] = {"none", "basic", "bearer", "any"};
            unsigned i = 0;
            while (i < 4 && !(v && strcmp(v, kinds[i]) == 0))
                i++;
            if (i == 4)
                return fail(w, vn, "access.auth", "invalid value '%s' (none, basic, bearer or any)",
                            v ? v : "");
            r->auth = (uint8_t)i;
        } else if (strcmp(k, "users") == 0) {
            if (each_scalar(w, vn, "access.users", name_item, r))
                return 2;
        } else if (strcmp(k, "methods") == 0) {
            if (each_scalar(w, vn, "access.methods", method_item, &r->methods))
                return 2;
        } else {
            return fail(w, kn, k, "unknown key in an access rule (path, rules, auth, users, methods)");
        }
    }
    if (!have_path)
        return fail(w, n, "access", "a rule needs a path");
    if (r->n_names && r->auth == AUTH_NONE)
        return fail(w, n, "access.users", "users need auth: basic, bearer or any");
    return 0;
}

static int access_rules(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(w, n, "access", "expects a list of rules");
    access_config *a = access_of(w);
    if (!a)
        return fail(w, n, "access", "out of memory");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, *it);
        if (a->n_rules == ACCESS_MAX_RULES)
            return fail(w, e, "access", "at most %d rules", ACCESS_MAX_RULES);
        access_rule *r = &a->rules[a->n_rules++];
        memset(r, 0, sizeof *r);
        if (access_rule_parse(w, e, r))
            return 2;
    }
    return 0;
}

static int token_entry(walk *w, const yaml_node_t *n, access_config *a)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "auth.tokens", "each entry is {name, sha256}");
    if (a->n_tokens == ACCESS_MAX_TOKENS)
        return fail(w, n, "auth.tokens", "at most %d tokens", ACCESS_MAX_TOKENS);
    bearer_token *t = &a->tokens[a->n_tokens];
    memset(t, 0, sizeof *t);
    bool have_digest = false;
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (k && strcmp(k, "name") == 0 && v) {
            if (!*v || strlen(v) >= ACCESS_NAME_LEN)
                return fail(w, vn, "auth.tokens.name", "invalid name '%s'", v);
            strcpy(t->name, v);
        } else if (k && strcmp(k, "sha256") == 0 && v) {
            if (!access_parse_digest(v, t->digest))
                return fail(w, vn, "auth.tokens.sha256",
                            "invalid value (the token's SHA-256 as 64 hex digits)");
            have_digest = true;
        } else {
            return fail(w, kn, k ? k : "auth.tokens", "unknown key in a token (name, sha256)");
        }
    }
    if (!t->name[0] || !have_digest)
        return fail(w, n, "auth.tokens", "a token needs name and sha256");
    a->n_tokens++;
    return 0;
}

static int auth_section(walk *w, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(w, n, "auth", "expects a mapping (realm, password-file, tokens, ...)");
    access_config *a = access_of(w);
    if (!a)
        return fail(w, n, "auth", "out of memory");
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, n, kn, vn) {
        const char *k = scalar(kn), *v = scalar(vn);
        if (!k)
            return fail(w, kn, "auth", "keys are names");
        if (dup_check(w, n, kn, "auth"))
            return 2;
        uint64_t u;
        if (strcmp(k, "tokens") == 0) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return fail(w, vn, "auth.tokens", "expects a list of {name, sha256}");
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++)
                if (token_entry(w, yaml_document_get_node(w->doc, *it), a))
                    return 2;
            continue;
        }
        if (!v)
            return fail(w, vn, k, "expects a single value");
        if (strcmp(k, "realm") == 0) {
            if (!*v || strlen(v) >= sizeof a->realm || strpbrk(v, "\"\\") || !header_safe(v))
                return fail(w, vn, "auth.realm", "invalid value (no quotes, backslashes or control "
                                                 "characters, under 128 bytes)");
            strcpy(a->realm, v);
        } else if (strcmp(k, "password-file") == 0) {
            if (set_str(w, vn, "auth.password-file", &a->password_file, CFG_PATH_LEN))
                return 2;
            char why[512];
            auth_basic *b = auth_basic_load(v, 0, 0, why, sizeof why);
            if (!b)
                return fail(w, vn, "auth.password-file", "%s", why);
            auth_basic_free(b);
        } else if (strcmp(k, "cache-size") == 0) {
            if (cfg_parse_u64(v, 0, 65536, &u))
                return fail(w, vn, "auth.cache-size", "invalid value '%s' (0-65536 entries)", v);
            a->cache_size = (unsigned)u;
        } else if (strcmp(k, "cache-ttl") == 0) {
            if (cfg_parse_u64(v, 1, 86400, &u))
                return fail(w, vn, "auth.cache-ttl", "invalid value '%s' (1-86400 seconds)", v);
            a->cache_ttl_ms = u * 1000;
        } else if (strcmp(k, "failure-limit") == 0) {
            if (cfg_parse_u64(v, 0, 1000000, &u))
                return fail(w, vn, "auth.failure-limit", "invalid value '%s' (0-1000000, 0: off)", v);
            a->fail_limit = (unsigned)u;
        } else if (strcmp(k, "failure-window") == 0) {
            if (cfg_parse_u64(v, 1, 86400, &u))
                return fail(w, vn, "auth.failure-window", "invalid value '%s' (1-86400 seconds)", v);
            a->fail_window_ms = u * 1000;
        } else {
            return fail(w, kn, k, "unknown key in auth (realm, password-file, tokens, cache-size, "
                                  "cache-ttl, failure-limit, failure-window)");
        }
    }
    return 0;
}

/* ---- the top level ---------------------------------------------------------- */

static int top(walk *w, const yaml_node_t *root)
{
    if (!root)
        return 0;                 /* an empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return fail(w, root, NULL, "the file must be a mapping of settings (key: value)");
    yaml_node_t *kn, *vn;
    FOR_PAIRS(w, root, kn, vn) {
        const char *k = scalar(kn);
        if (!k)
            return fail(w, kn, NULL, "keys are names");
        if (dup_check(w, root, kn, NULL))
            return 2;
        if (strcmp(k, "listen") == 0) {
            if (listeners(w, vn))
                return 2;
            w->listen_kn = kn;
            continue;
        }
        if (strcmp(k, "routes") == 0) {
            if (routes(w, vn))
                return 2;
            continue;
        }
        if (strcmp(k, "limits") == 0) {
            if (limits(w, vn))
                return 2;
            continue;
        }
        if (strcmp(k, "trusted-proxies") == 0) {
            if (trusted_proxies(w, vn))
                return 2;
            continue;
        }
        if (strcmp(k, "access") == 0 || strcmp(k, "auth") == 0) {
            if (k[1] == 'c' ? access_rules(w, vn) : auth_section(w, vn))
                return 2;
            continue;
        }
        const cfg_key *key = cfg_key_find(k);
        if (!key || !key->file)
            return fail(w, kn, k, "unknown key (see the README's key reference)");
        const char *v = scalar(vn);
        if (!v)
            return fail(w, vn, k, "expects a single value");
        if (cfg_key_set(key, w->cfg, v))
            return fail(w, vn, k, "invalid value '%s' (%s)", v, key->want);
        if (strcmp(k, "host") == 0 || strcmp(k, "port") == 0) {
            w->seen->host_port = true;
            if (!w->host_port_kn)
                w->host_port_kn = kn;
        }
    }
    if (w->listen_kn && w->host_port_kn) {
        /* Named at the later of the two, pointing back at the other. */
        bool listen_last = w->listen_kn->start_mark.index > w->host_port_kn->start_mark.index;
        const yaml_node_t *last = listen_last ? w->listen_kn : w->host_port_kn;
        const yaml_node_t *first = listen_last ? w->host_port_kn : w->listen_kn;
        return fail(w, last, scalar(last), "use either listen or host/port, not both (%s at "
                    "line %u)", scalar(first), line_of(w, first));
    }
    return 0;
}

/* The whole file in memory (a configuration is small): libyaml then parses
 * a string, and an error's line can be checked against the text. */
#define FILE_MAX (64u << 20)
static char *slurp(FILE *f, size_t *n)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *nb = cap < FILE_MAX ? realloc(buf, cap * 2) : NULL;
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    *n = len;
    return buf;
}

/* The length of the line break at b[0..n), 0 if none: YAML's breaks (CR LF,
 * CR, LF, and in UTF-8 NEL, LS and PS), the ones libyaml counts lines by. */
static size_t yaml_break(const unsigned char *b, size_t n)
{
    if (b[0] == '\r')
        return n > 1 && b[1] == '\n' ? 2 : 1;
    if (b[0] == '\n')
        return 1;
    if (n > 1 && b[0] == 0xc2 && b[1] == 0x85)
        return 2;
    if (n > 2 && b[0] == 0xe2 && b[1] == 0x80 && (b[2] == 0xa8 || b[2] == 0xa9))
        return 3;
    return 0;
}

/* Lines in b[0..upto) of n: breaks, plus the line after the last break if
 * anything follows it. */
static size_t count_lines(const char *buf, size_t upto, size_t n, bool *ends_in_break)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t breaks = 0;
    bool last = false;
    for (size_t i = 0; i < upto;) {
        size_t k = yaml_break(b + i, n - i);
        breaks += k != 0;
        i += k ? k : 1;
        last = k && i == n;
    }
    *ends_in_break = last;
    return breaks;
}

/* The line of a YAML error. libyaml counts one past the last line when the
 * problem is the end of the input (it ends the stream with a line break),
 * and gives only a byte offset for a reader error (bad UTF-8, a control
 * character): both are turned into a line of the file. */
static size_t error_line(const yaml_parser_t *p, const char *buf, size_t n, size_t lines)
{
    bool last;
    if (p->error == YAML_READER_ERROR)
        return count_lines(buf, p->problem_offset < n ? p->problem_offset : n, n, &last) + 1;
    size_t line = p->problem_mark.line + 1;
    return line > lines ? lines : line;
}

int config_file_read(const char *path, server_config *cfg, file_seen *seen, char *err,
                     size_t errlen)
{
    memset(seen, 0, sizeof *seen);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return 2;
    }
    size_t n;
    int read_errno = 0;
    char *buf = slurp(f, &n);
    if (!buf)
        read_errno = ferror(f) ? errno : ENOMEM;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read: %s", path,
                 read_errno == ENOMEM ? "out of memory, or larger than 64 MiB" : strerror(read_errno));
        return 2;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return 2;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
    bool last;
    size_t lines = count_lines(buf, n, n, &last);
    lines += !last || lines == 0;
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu: %s%s%s", path, error_line(&parser, buf, n, lines),
                 parser.problem ? parser.problem : "YAML error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        rc = 2;
    } else {
        walk w = { &doc, path, cfg, seen, err, errlen, NULL, NULL, lines };
        rc = top(&w, yaml_document_get_root_node(&doc));
        if (rc == 0 && cfg->access) {
            char why[512];
            if (!access_config_finish(cfg->access, why, sizeof why)) {
                snprintf(err, errlen, "%s:%s%s", path, strncmp(why, "line ", 5) == 0 ? "" : " ",
                         strncmp(why, "line ", 5) == 0 ? why + 5 : why);
                rc = 2;
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    free(buf);
    return rc;
}
