/*
 * access_config.c — the rules' data, their small parsers, and the
 * failed-authentication limiter's table.
 */
#include "access_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAIL_SLOTS 256

typedef struct fail_ent {
    uint8_t addr[16];
    uint32_t count;
    uint64_t window_start_ms;     /* 0: empty */
} fail_ent;

struct fail_table {
    pthread_mutex_t mu;
    fail_ent e[FAIL_SLOTS];
};

access_config *access_config_new(void)
{
    access_config *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    strcpy(a->realm, "vex_net");
    a->fail_limit = 10;
    a->fail_window_ms = 60000;
    a->cache_size = 256;
    a->cache_ttl_ms = 60000;
    return a;
}

void access_config_free(access_config *a)
{
    if (!a)
        return;
    auth_basic_free(a->basic);
    free(a->password_file);
    if (a->fails) {
        pthread_mutex_destroy(&a->fails->mu);
        free(a->fails);
    }
    free(a);
}

bool acl_add(acl_list *l, const char *text, const char **why)
{
    bool allow;
    if (strncmp(text, "allow ", 6) == 0)
        allow = true;
    else if (strncmp(text, "deny ", 5) == 0)
        allow = false;
    else {
        *why = "each entry is 'allow CIDR' or 'deny CIDR' (CIDR may be 'all')";
        return false;
    }
    if (l->n == ACCESS_MAX_ACL) {
        *why = "too many entries (64 at most)";
        return false;
    }
    const char *net = text + (allow ? 6 : 5);
    while (*net == ' ')
        net++;
    if (!cidr_parse(net, &l->e[l->n].net, why))
        return false;
    l->e[l->n].m = cidr_prep(&l->e[l->n].net);
    l->e[l->n++].allow = allow;
    return true;
}

uint16_t access_method_bit(const char *name)
{
    /* The order of http_method (http_parser.h), from HTTP_GET = 1. */
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                        "OPTIONS", "PATCH", "CONNECT", "TRACE"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (uint16_t)(1u << (i + 1));
    return 0;
}

bool access_parse_digest(const char *hex, unsigned char out[32])
{
    if (strlen(hex) != 64)
        return false;
    for (unsigned i = 0; i < 32; i++) {
        unsigned v = 0;
        for (unsigned j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                       : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
            if (d == 16)
                return false;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

bool access_config_finish(access_config *a, char *err, size_t errlen)
{
    a->fails = calloc(1, sizeof *a->fails);
    if (!a->fails || pthread_mutex_init(&a->fails->mu, NULL)) {
        free(a->fails);
        a->fails = NULL;
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (a->password_file) {
        a->basic = auth_basic_load(a->password_file, a->cache_size, a->cache_ttl_ms, err, errlen);
        if (!a->basic)
            return false;
    }
    for (unsigned i = 0; i < a->n_rules; i++) {
        const access_rule *r = &a->rules[i];
        if (r->auth == AUTH_BASIC && !a->basic) {
            snprintf(err, errlen, "line %u: auth: basic needs auth.password-file", r->line);
            return false;
        }
        if (r->auth == AUTH_ANY && !a->basic && a->n_tokens == 0) {
            snprintf(err, errlen, "line %u: auth: any needs auth.password-file or auth.tokens",
                     r->line);
            return false;
        }
        if (r->auth == AUTH_BEARER && a->n_tokens == 0) {
            snprintf(err, errlen, "line %u: auth: bearer needs auth.tokens", r->line);
            return false;
        }
    }
    return true;
}

static fail_ent *fail_find(struct fail_table *t, const uint8_t addr[16])
{
    for (unsigned i = 0; i < FAIL_SLOTS; i++)
        if (t->e[i].window_start_ms && memcmp(t->e[i].addr, addr, 16) == 0)
            return &t->e[i];
    return NULL;
}

bool access_fail_blocked(access_config *a, const uint8_t addr[16], uint64_t now_ms)
{
    if (!a->fails || a->fail_limit == 0)
        return false;
    pthread_mutex_lock(&a->fails->mu);
    fail_ent *e = fail_find(a->fails, addr);
    bool blocked = e && now_ms - e->window_start_ms < a->fail_window_ms &&
                   e->count >= a->fail_limit;
    pthread_mutex_unlock(&a->fails->mu);
    return blocked;
}

void access_fail_note(access_config *a, const uint8_t addr[16], uint64_t now_ms)
{
    if (!a->fails || a->fail_limit == 0)
        return;
    struct fail_table *t = a->fails;
    pthread_mutex_lock(&t->mu);
    fail_ent *e = fail_find(t, addr);
    if (!e) {
        /* A new address takes an empty slot or the oldest window: a spray
         * of addresses can only push out other addresses' counts. */
        e = &t->e[0];
        for (unsigned i = 0; i < FAIL_SLOTS; i++) {
            if (!t->e[i].window_start_ms) { e = &t->e[i]; break; }
            if (t->e[i].window_start_ms < e->window_start_ms)
                e = &t->e[i];
        }
        memcpy(e->addr, addr, 16);
        e->count = 0;
        e->window_start_ms = now_ms ? now_ms : 1;
    } else if (now_ms - e->window_start_ms >= a->fail_window_ms) {
        e->count = 0;
        e->window_start_ms = now_ms ? now_ms : 1;
    }
    e->count++;
    pthread_mutex_unlock(&t->mu);
}
