/*
 * access_config.h — access-control rules of a configuration snapshot:
 * allow/deny lists (CIDR, first match wins), which authentication a route
 * prefix needs (Basic, Bearer), who may use it and with which methods.
 * Parsed from the file's `access:` and `auth:` sections (config_file.c),
 * owned by the snapshot and replaced whole by a reload. The request-time
 * checks are in access.c; Basic's password file and cache in auth_basic.c.
 */
#ifndef VEX_SERVER_ACCESS_CONFIG_H
#define VEX_SERVER_ACCESS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_basic.h"
#include "cidr.h"

#define ACCESS_MAX_RULES  64
#define ACCESS_MAX_ACL    64     /* allow/deny entries per list */
#define ACCESS_MAX_NAMES  32     /* users/tokens per rule */
#define ACCESS_MAX_TOKENS 64
#define ACCESS_NAME_LEN   64

typedef struct acl_entry {
    cidr net;
    cidr_m m;                     /* net prepared (cidr_prep), for acl_allows */
    bool allow;
} acl_entry;

/* Ordered: the first entry containing the address decides; none: allowed. */
typedef struct acl_list {
    acl_entry e[ACCESS_MAX_ACL];
    unsigned n;
} acl_list;

enum access_auth { AUTH_NONE = 0, AUTH_BASIC, AUTH_BEARER, AUTH_ANY };

typedef struct access_rule {
    char path[256];               /* a prefix of the request path */
    size_t len;
    acl_list acl;
    uint8_t auth;                 /* enum access_auth */
    uint16_t methods;             /* 1 << http_method; 0: any */
    unsigned n_names;             /* 0: any authenticated principal */
    char names[ACCESS_MAX_NAMES][ACCESS_NAME_LEN];
    unsigned line;
} access_rule;

typedef struct bearer_token {
    char name[ACCESS_NAME_LEN];
    unsigned char digest[32];     /* SHA-256 of the token; the token is never stored */
} bearer_token;

typedef struct access_config {
    access_rule rules[ACCESS_MAX_RULES];
    unsigned n_rules;
    char realm[128];
    bearer_token tokens[ACCESS_MAX_TOKENS];
    unsigned n_tokens;
    unsigned fail_limit;          /* failed authentications per client per window */
    uint64_t fail_window_ms;
    auth_basic *basic;            /* the password file and its cache, or NULL */
    char *password_file;
    unsigned cache_size;
    uint64_t cache_ttl_ms;
    struct fail_table *fails;     /* the failed-authentication limiter */
    /* Per listener (the index in server_config.listeners): checked at
     * accept, a denied client is closed before any byte is read. */
    acl_list listener_acl[16];
} access_config;

access_config *access_config_new(void);        /* defaults; NULL: ENOMEM */
void access_config_free(access_config *a);

/* "allow CIDR" / "deny CIDR" (CIDR may be "all") appended to l. */
bool acl_add(acl_list *l, const char *text, const char **why);
/* true: allowed (also when no entry matches). */
static inline bool acl_allows(const acl_list *l, const uint8_t addr[16])
{
    uint64_t hi = cidr_be64(addr), lo = cidr_be64(addr + 8);
    for (unsigned i = 0; i < l->n; i++)
        if (cidr_m_contains(&l->e[i].m, hi, lo))
            return l->e[i].allow;
    return true;
}

/* "GET" ... "TRACE" into its bit; 0: unknown. */
uint16_t access_method_bit(const char *name);
/* 64 hex digits into 32 bytes. */
bool access_parse_digest(const char *hex, unsigned char out[32]);

/* After parsing: open the password file, set up the limiter. false with
 * err set. */
bool access_config_finish(access_config *a, char *err, size_t errlen);

/* The failed-authentication limiter: a small fixed table (least recently
 * used replaced) of addresses and their failures in the current window.
 * Isolated here so it can later be served by the rate-limit module. */
bool access_fail_blocked(access_config *a, const uint8_t addr[16], uint64_t now_ms);
void access_fail_note(access_config *a, const uint8_t addr[16], uint64_t now_ms);

#endif
