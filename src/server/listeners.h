/*
 * listeners.h — which listening addresses are bound, and the plan of a
 * change: every listener a new configuration adds is bound (one
 * SO_REUSEPORT socket per worker) before any removed one is closed, so no
 * connection attempt is refused while a reload swaps them (the failure
 * haproxy documents for listeners closed and reopened).
 */
#ifndef VEX_SERVER_LISTENERS_H
#define VEX_SERVER_LISTENERS_H

#include "config.h"

typedef struct lrecord {
    cfg_listener spec;        /* as configured (port 0 stays 0)             */
    int port;                 /* the port bound                             */
    unsigned lid;             /* identity across reloads                    */
} lrecord;

typedef struct lregistry {
    lrecord r[CFG_MAX_LISTENERS];
    unsigned n, next_lid;
} lregistry;

typedef struct lplan {
    lregistry next;           /* the registry once the change is made       */
    unsigned n_new;
    unsigned new_idx[CFG_MAX_LISTENERS];   /* in next.r                     */
    int *fds;                 /* [i * n_workers + w]: new socket i, worker w */
    unsigned n_workers;
    char added[512], removed[512];         /* "ADDR:PORT, ..." for the log   */
} lplan;

/* What SIGHUP's results are, for /metrics and the statistics block. */
typedef struct reload_stats {
    uint64_t ok, failed;
    double last_unix;         /* time of the last attempt, 0: none          */
    bool last_ok;
} reload_stats;

/* Bind what cfg lists and cur lacks. 0, or -1 with err (nothing left
 * bound). */
int  lplan_make(const lregistry *cur, const server_config *cfg, unsigned n_workers,
                unsigned backlog, lplan *p, char *err, size_t errlen);
void lplan_abort(lplan *p);   /* close every socket it bound */
void lplan_done(lplan *p);    /* its sockets were handed out */
/* The same listener, as configured (certificate files may differ: the
 * socket is kept and new connections take the new SSL_CTX). */
bool lspec_same(const cfg_listener *a, const cfg_listener *b);
/* "ADDR:PORT" with brackets for IPv6. */
void lformat(char *buf, size_t cap, const char *host, int port);

#endif
