/*
 * config.h — the server's command-line configuration (the seed's defaults).
 */
#ifndef VEX_SERVER_CONFIG_H
#define VEX_SERVER_CONFIG_H

#include <stdint.h>

typedef struct server_config {
    char host[64];                /* numeric IPv4/IPv6 address               */
    int port;                     /* 0: pick a free port (printed at start)  */
    unsigned threads;             /* one loop + listener per thread          */
    unsigned max_clients;         /* total over all threads                  */
    unsigned backlog;             /* listen(2) backlog, and the bound of the
                                     queue of accepted clients waiting at the
                                     limit (admit.c)                         */
    unsigned buffer_size;         /* bytes per receive (the loop's buffers)  */
    uint64_t header_timeout_ms;   /* a request head must arrive within this  */
    uint64_t idle_timeout_ms;     /* keep-alive idle / body / write stall    */
    uint64_t shutdown_timeout_ms; /* drain budget after SIGINT/SIGTERM       */
    uint64_t stats_interval_ms;   /* 0: no periodic statistics block         */
    const char *root;             /* --root for /static/, or NULL            */
    uint64_t max_body;            /* request body limit (413 above)          */
    int admin_port;               /* health/metrics listener; -1: none       */
    char admin_host[64];          /* its address (default 127.0.0.1)         */
} server_config;

/* Parse argv into cfg (defaults first). Returns 0 to run, 1 when --help was
 * printed (exit 0), 2 after printing a message naming the bad flag. */
int config_parse(server_config *cfg, int argc, char **argv);

#endif
