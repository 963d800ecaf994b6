/*
 * access.c — the per-request access decision. Nothing here runs unless a
 * rule's prefix matches: a server without `access:` pays one NULL check.
 */
#include "access.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "access_config.h"
#include "handlers.h"

/* Connections refused at accept: process-wide, off the request path. The
 * per-request decisions are counted in the worker's wstats (single writer,
 * no locked add), summed when /metrics is read. */
static _Atomic uint64_t refused;

void access_count_refused(void)
{
    atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
}

void access_stats_get(access_stats *o, const stats_snap *st)
{
    o->allowed = st->acc[ACC_ALLOWED];
    o->denied = st->acc[ACC_DENIED];
    o->unauthenticated = st->acc[ACC_UNAUTHENTICATED];
    o->auth_failures = st->acc[ACC_AUTH_FAILURES];
    o->forbidden = st->acc[ACC_FORBIDDEN];
    o->throttled = st->acc[ACC_THROTTLED];
    o->basic_cache_hits = st->acc[ACC_CACHE_HITS];
    o->basic_hashed = st->acc[ACC_HASHED];
    o->refused = atomic_load_explicit(&refused, memory_order_relaxed);
}

#define BUMP(f) ctr_add(&x->ctx->st->acc[f], 1)

/* Short prefixes (the usual "/" or "/admin/") compared in line. */
static inline bool same_prefix(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static const access_rule *rule_for(const access_config *a, const http_request *req)
{
    for (unsigned i = 0; i < a->n_rules; i++) {
        const access_rule *r = &a->rules[i];
        if (req->path.len >= r->len && same_prefix(req->path.p, r->path, r->len))
            return r;
    }
    return NULL;
}

/* The client as the rules see it: behind trusted proxies the forwarded
 * address, after a PROXY header its source (h1_peer_of). */
static void peer_str(const h1_ex *x, char *buf, size_t cap)
{
    const uint8_t *a = h1_peer_of(x)->addr;
    if (cidr_is_v4(a))
        inet_ntop(AF_INET, a + 12, buf, (socklen_t)cap);
    else
        inet_ntop(AF_INET6, a, buf, (socklen_t)cap);
}

static void note(h1_ex *x, int level, const char *what, const char *who, size_t wlen,
                 const http_request *req)
{
    const app_env *env = app_of(x);
    if (!env->log_event)
        return;
    char ip[INET6_ADDRSTRLEN];
    peer_str(x, ip, sizeof ip);
    env->log_event(level, "access: %s client=%s user=%.*s path=%.*s", what, ip,
                   (int)(wlen > 64 ? 64 : wlen), who ? who : "-",
                   (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
}

/* A response with extra header lines; a request body is not read, so the
 * connection closes after it. */
static void answer(h1_ex *x, const http_request *req, int status, const char *extra,
                   const char *body)
{
    if (req->body != HTTP_BODY_NONE) {
        x->keep_alive = false;
        x->rc = RC_CLOSE;
    }
    size_t n = strlen(body);
    if (h1_head(x, status, "text/plain; charset=utf-8", (int64_t)n, extra) &&
        h1_body(x, body, n))
        h1_finish(x, status);
}

static void challenge(h1_ex *x, const http_request *req, const access_config *a, uint8_t auth)
{
    char extra[400];
    int n = 0;
    if (auth == AUTH_BASIC || auth == AUTH_ANY)
        n += snprintf(extra + n, sizeof extra - (size_t)n,
                      "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n", a->realm);
    if (auth == AUTH_BEARER || auth == AUTH_ANY)
        snprintf(extra + n, sizeof extra - (size_t)n, "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
                 a->realm);
    answer(x, req, 401, extra, "Unauthorized\n");
}

enum cred { CRED_NONE, CRED_OK, CRED_BAD };

/* Basic: base64(user:password) decoded by OpenSSL. */
static enum cred check_basic(access_config *a, const char *b64, size_t len, char *who,
                             size_t *wlen, bool *cached)
{
    unsigned char dec[768];
    if (!a->basic || len == 0 || len > 1000 || len % 4)
        return CRED_BAD;
    int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return CRED_BAD;
    if (b64[len - 1] == '=')
        n--;
    if (len >= 2 && b64[len - 2] == '=')
        n--;
    const unsigned char *colon = memchr(dec, ':', (size_t)n);
    enum cred r = CRED_BAD;
    if (colon) {
        size_t ulen = (size_t)(colon - dec);
        *wlen = ulen < ACCESS_NAME_LEN ? ulen : ACCESS_NAME_LEN - 1;
        memcpy(who, dec, *wlen);
        enum basic_result br = auth_basic_check(a->basic, (const char *)dec, ulen,
                                                (const char *)colon + 1,
                                                (size_t)n - ulen - 1, mono_ms());
        *cached = br == BASIC_OK_CACHED;
        r = br == BASIC_BAD ? CRED_BAD : CRED_OK;
    }
    OPENSSL_cleanse(dec, sizeof dec);
    return r;
}

/* Bearer: SHA-256 of the token against every stored digest, each compared
 * in constant time and all of them always, so timing says nothing about
 * which one (or how much of one) matched. */
static enum cred check_bearer(const access_config *a, const char *tok, size_t len, char *who,
                              size_t *wlen)
{
    unsigned char d[32];
    unsigned n = 0;
    if (len == 0 || !EVP_Digest(tok, len, d, &n, EVP_sha256(), NULL) || n != 32)
        return CRED_BAD;
    int found = -1;
    for (unsigned i = 0; i < a->n_tokens; i++)
        if (CRYPTO_memcmp(d, a->tokens[i].digest, 32) == 0)
            found = (int)i;
    if (found < 0)
        return CRED_BAD;
    *wlen = strlen(a->tokens[found].name);
    memcpy(who, a->tokens[found].name, *wlen);
    return CRED_OK;
}

static bool scheme(const http_slice *h, const char *name, size_t nlen, const char **rest,
                   size_t *rlen)
{
    if (h->len <= nlen || strncasecmp(h->p, name, nlen) != 0 || h->p[nlen] != ' ')
        return false;
    size_t i = nlen;
    while (i < h->len && h->p[i] == ' ')
        i++;
    *rest = h->p + i;
    *rlen = h->len - i;
    return true;
}

static bool named(const access_rule *r, const char *who, size_t wlen)
{
    if (r->n_names == 0)
        return true;
    for (unsigned i = 0; i < r->n_names; i++)
        if (strlen(r->names[i]) == wlen && memcmp(r->names[i], who, wlen) == 0)
            return true;
    return false;
}

static bool check_principal(h1_ex *x, const http_request *req, access_config *a,
                            const access_rule *r);

bool access_check(h1_ex *x, const http_request *req)
{
    access_config *a = x->ctx->cfg->access;
    if (!a || a->n_rules == 0)
        return true;
    const access_rule *r = rule_for(a, req);
    if (!r)
        return true;
    if (!acl_allows(&r->acl, h1_peer_of(x)->addr)) {
        BUMP(ACC_DENIED);
        h1_fixed(x, req, R_403);
        return false;
    }
    /* The common rule, an address list alone: decided here, the rest
     * (credentials, methods, names) out of line so this path stays short. */
    if (r->auth == AUTH_NONE && r->n_names == 0 &&
        (!r->methods || (r->methods & (1u << req->method)))) {
        BUMP(ACC_ALLOWED);
        return true;
    }
    return check_principal(x, req, a, r);
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static bool check_principal(h1_ex *x, const http_request *req, access_config *a,
                            const access_rule *r)
{
    char who[ACCESS_NAME_LEN];
    size_t wlen = 0;
    if (r->auth != AUTH_NONE) {
        const http_slice *h = http_find_header(req, "authorization");
        const char *cred = NULL;
        size_t clen = 0;
        bool basic = h && (r->auth == AUTH_BASIC || r->auth == AUTH_ANY) &&
                     scheme(h, "Basic", 5, &cred, &clen);
        bool bearer = h && !basic && (r->auth == AUTH_BEARER || r->auth == AUTH_ANY) &&
                      scheme(h, "Bearer", 6, &cred, &clen);
        if (!basic && !bearer) {
            BUMP(ACC_UNAUTHENTICATED);
            challenge(x, req, a, r->auth);
            return false;
        }
        uint64_t now = mono_ms();
        if (access_fail_blocked(a, h1_peer_of(x)->addr, now)) {
            BUMP(ACC_THROTTLED);
            char extra[64];
            snprintf(extra, sizeof extra, "Retry-After: %llu\r\n",
                     (unsigned long long)(a->fail_window_ms / 1000));
            answer(x, req, 429, extra, "Too Many Requests\n");
            return false;
        }
        bool cached = false;
        enum cred res = basic ? check_basic(a, cred, clen, who, &wlen, &cached)
                              : check_bearer(a, cred, clen, who, &wlen);
        if (basic && res == CRED_OK) {
            if (cached)
                BUMP(ACC_CACHE_HITS);
            else
                BUMP(ACC_HASHED);
        }
        if (res != CRED_OK) {
            BUMP(ACC_AUTH_FAILURES);
            access_fail_note(a, h1_peer_of(x)->addr, now);
            note(x, VLOG_WARN, basic ? "basic authentication failed" : "bearer token rejected",
                 wlen ? who : NULL, wlen ? wlen : 1, req);
            challenge(x, req, a, r->auth);
            return false;
        }
    }
    if ((r->methods && !(r->methods & (1u << req->method))) || !named(r, who, wlen)) {
        BUMP(ACC_FORBIDDEN);
        note(x, VLOG_INFO, "forbidden", wlen ? who : NULL, wlen ? wlen : 1, req);
        h1_fixed(x, req, R_403);
        return false;
    }
    BUMP(ACC_ALLOWED);
    return true;
}
