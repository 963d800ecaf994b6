/*
 * config.h — the server's configuration, as an immutable snapshot: workers
 * hold it by pointer and take a new one at a safe point of their loop, so a
 * reload is only a swap. Settings marked (restart) size or create something
 * at start; a reload that changes one reports it and keeps the old value.
 *
 * Where settings come from, in order: defaults, the --config file, flags.
 * One key table (config_keys.c) names every setting once, for both.
 */
#ifndef VEX_SERVER_CONFIG_H
#define VEX_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "compress.h"
#include "log_config.h"
#include "ratelimit.h"

#define CFG_MAX_LISTENERS 16
#define CFG_MAX_ROUTES    64
#define CFG_ADDR_LEN      64
#define CFG_PATH_LEN      256
#define CFG_MAX_LIMITS    16
#define CFG_MAX_PROXIES   32

/* One listening address; each worker binds its own SO_REUSEPORT socket. */
typedef struct cfg_listener {
    char host[CFG_ADDR_LEN];      /* numeric IPv4/IPv6 address                */
    int port;                     /* 0: pick a free port                      */
    bool v6only;                  /* IPv6 only, not dual-stack                */
    bool tls;                     /* HTTPS: certificate + key below           */
    bool proxy_protocol;          /* a PROXY v1/v2 header precedes HTTP       */
    uint16_t redirect_https;      /* plain listener: every request gets a 301/308
                                     to https://HOST:this port; 0: off         */
    char cert[CFG_PATH_LEN];      /* PEM chain                                */
    char key[CFG_PATH_LEN];       /* PEM private key                          */
} cfg_listener;

/* A route answered from the configuration (a fixed body or a redirect). */
typedef struct cfg_route {
    char *path;                   /* owned by the snapshot                    */
    bool prefix;                  /* path is a prefix, not the whole path     */
    int status;                   /* 200-599                                  */
    char *body;                   /* may be empty                             */
    char *content_type;
    char *location;               /* for 3xx, or NULL                         */
    unsigned line;                /* where it was defined, for messages       */
} cfg_route;

/* A request rate limit (`limits:`), nginx limit_req: see ratelimit.h. */
typedef struct cfg_limit {
    char *name;                   /* the zone's label in /metrics             */
    char *path;                   /* NULL: every request (the default)        */
    size_t path_len;              /* strlen(path), set at load (limit_match)  */
    bool prefix;                  /* path is a prefix                         */
    bool nodelay;                 /* burst passes at once                     */
    bool dry_run;                 /* count and log, never delay or reject     */
    bool requests;                /* applied to requests (false: only for other
                                     policies, by name: limit_by_name)        */
    int status;                   /* of a rejection (429)                     */
    unsigned v4_bits, v6_bits;    /* key: the client address's prefix         */
    rl_params p;
    rl_zone *zone;                /* the table, shared by snapshots (ref)     */
    unsigned line;
} cfg_limit;

typedef struct server_config {
    char host[CFG_ADDR_LEN];      /* --host: the single listener's address    */
    int port;                     /* --port                                   */
    cfg_listener listeners[CFG_MAX_LISTENERS];
    unsigned n_listeners;         /* from `listen:`, or host:port             */
    struct ssl_ctx_st *tls[CFG_MAX_LISTENERS];  /* per TLS listener, owned here */
    unsigned threads;             /* one loop + listeners per thread (restart) */
    unsigned max_clients;         /* total over all threads; sizes the
                                     connection pools (restart)              */
    unsigned backlog;             /* listen(2) backlog, and the bound of the
                                     queue of accepted clients waiting at the
                                     limit (admit.c)                         */
    unsigned buffer_size;         /* bytes per receive: the loop's buffers
                                     (restart)                               */
    uint64_t header_timeout_ms;   /* a request head must arrive within this  */
    uint64_t idle_timeout_ms;     /* keep-alive idle / body / write stall    */
    uint64_t shutdown_timeout_ms; /* drain budget after SIGINT/SIGTERM       */
    uint64_t stats_interval_ms;   /* 0: no periodic statistics block         */
    char *root;                   /* --root for /static/, or NULL            */
    int root_fd;                  /* root opened, owned by the snapshot; -1  */
    uint64_t max_body;            /* request body limit (413 above)          */
    int admin_port;               /* health/metrics listener; -1: none (restart) */
    char admin_host[CFG_ADDR_LEN];/* its address (default 127.0.0.1) (restart) */
    cfg_route routes[CFG_MAX_ROUTES];
    unsigned n_routes;
    cfg_limit limits[CFG_MAX_LIMITS];
    unsigned n_limits;
    cidr trusted[CFG_MAX_PROXIES]; /* X-Forwarded-For/Forwarded from these    */
    cidr_m trusted_m[CFG_MAX_PROXIES];   /* trusted prepared (cidr_prep)  */
    unsigned n_trusted;
    unsigned limit_conn;          /* connections per client address; 0: none */
    struct access_config *access; /* access:/auth: rules (access_config.h), or NULL */
    struct log_settings log;      /* access and event logs (log_config.h)    */
    comp_settings comp;           /* response compression (compress.h)       */
    char *config_path;            /* --config FILE, or NULL                   */
    bool check_only;              /* --check-config                           */
} server_config;

/* Defaults, then --config FILE, then the other flags of argv, then checks
 * that need the file system (root opens). Returns 0 to run, 1 when --help
 * was printed (exit 0), 2 with a message in err naming the flag, or the
 * file, line and key. On any return cfg owns what it holds: config_free. */
int config_load(server_config *cfg, int argc, char **argv, char *err, size_t errlen);
void config_free(server_config *cfg);
void config_usage(void *file);    /* FILE *: --help */

/* Which (restart) settings differ: names them into buf ("threads, ..."),
 * empty if none. */
void config_restart_diff(const server_config *old, const server_config *nu,
                         char *buf, size_t cap);

/* Limits of nu with the name and parameters of one in old share old's
 * table (its counts and clients' state survive the reload). */
void config_keep_zones(const server_config *old, server_config *nu);

/* A reference-counted snapshot. */
typedef struct config_ref config_ref;
/* Takes cfg over (cfg is zeroed); NULL: ENOMEM, cfg untouched. */
config_ref *config_ref_new(server_config *cfg);
const server_config *config_ref_get(const config_ref *r);
config_ref *config_ref_acquire(config_ref *r);          /* one more holder */
void config_ref_release(config_ref *r);                 /* the last frees it */

#endif
