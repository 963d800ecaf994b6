/*
 * config.h — the server's configuration (the seed's defaults), as an
 * immutable snapshot: workers hold it by pointer and take a new one at a
 * safe point of their loop, so a reload is only a swap. Settings marked
 * (restart) size or bind something at start and take effect only then.
 */
#ifndef VEX_SERVER_CONFIG_H
#define VEX_SERVER_CONFIG_H

#include <stdint.h>

typedef struct server_config {
    char host[64];                /* numeric IPv4/IPv6 address (restart)     */
    int port;                     /* 0: pick a free port (restart)           */
    unsigned threads;             /* one loop + listener per thread (restart) */
    unsigned max_clients;         /* total over all threads; sizes the
                                     connection pools (restart)              */
    unsigned backlog;             /* listen(2) backlog, and the bound of the
                                     queue of accepted clients waiting at the
                                     limit (admit.c) (restart)               */
    unsigned buffer_size;         /* bytes per receive: the loop's buffers
                                     (restart)                               */
    uint64_t header_timeout_ms;   /* a request head must arrive within this  */
    uint64_t idle_timeout_ms;     /* keep-alive idle / body / write stall    */
    uint64_t shutdown_timeout_ms; /* drain budget after SIGINT/SIGTERM       */
    uint64_t stats_interval_ms;   /* 0: no periodic statistics block         */
    const char *root;             /* --root for /static/, or NULL (restart)  */
    uint64_t max_body;            /* request body limit (413 above)          */
    int admin_port;               /* health/metrics listener; -1: none (restart) */
    char admin_host[64];          /* its address (default 127.0.0.1) (restart) */
} server_config;

/* A reference-counted snapshot. */
typedef struct config_ref config_ref;
config_ref *config_ref_new(const server_config *cfg);   /* copies; NULL: ENOMEM */
const server_config *config_ref_get(const config_ref *r);
config_ref *config_ref_acquire(config_ref *r);          /* one more holder */
void config_ref_release(config_ref *r);                 /* the last frees it */

/* Parse argv into cfg (defaults first). Returns 0 to run, 1 when --help was
 * printed (exit 0), 2 after printing a message naming the bad flag. */
int config_parse(server_config *cfg, int argc, char **argv);

#endif
