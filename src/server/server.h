/*
 * server.h — the server's assembly: server (process), worker (one loop and
 * one thread, holding its http1 context), and what main, worker.c and
 * admit.c share. The layers below (http1.h, transport.h) and the handlers
 * (routes.h) know nothing of it.
 *
 * Ownership: a worker and its connections belong to its thread. Only the
 * counters (metrics.h), the connection count for the limit, the count of
 * waiting clients and the configuration pointer are read across threads.
 */
#ifndef VEX_SERVER_H
#define VEX_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vex_net.h"
#include "config.h"
#include "http1.h"
#include "metrics.h"
#include "handlers.h"
#include "routes.h"
#include "listeners.h"
#include "access_log.h"

typedef struct server server;
typedef struct worker worker;

/* One listening socket of a worker. */
typedef struct wlisten {
    int fd;
    unsigned lid;             /* which configured listener (listeners.c)    */
    bool paused;              /* we paused it for the limit                 */
    cfg_listener spec;        /* as configured: TLS or not                  */
} wlisten;

struct worker {
    server *srv;
    unsigned id;
    vex_loop *loop;
    config_ref *cfg_ref;      /* this worker's snapshot ...                 */
    const server_config *cfg; /* ... and its settings                       */
    unsigned cfg_gen;
    h1_ctx h1;                /* connections, responses, the output window */
    h1_router routers[H1_NKINDS];
    /* This worker's SO_REUSEPORT socket of each listener, owned by it;
     * lpending: bound by main for a reload, not yet taken (owned there). */
    wlisten ls[2 * CFG_MAX_LISTENERS];   /* new ones join before old ones go */
    unsigned n_ls;
    wlisten lpending[CFG_MAX_LISTENERS];
    unsigned n_lpending;
    unsigned lwant[CFG_MAX_LISTENERS];   /* listener ids to keep (under srv->mu) */
    unsigned n_lwant;
    int admin_lfd;            /* --admin-port listener (worker 0), or -1    */
    _Atomic bool check_limit; /* another worker asks us to re-check         */
    _Atomic(vex_loop *) loop_pub; /* loop, for other workers to wake        */
    vex_timer tick;
    uint64_t tick_period;
    uint32_t n_rejects;       /* lingering 503 rejects open                 */
    uint32_t n_admin;         /* admin-listener connections open            */

    /* Accepted clients waiting for a slot (admit.c), a FIFO ring. */
    struct parked_client *parked;
    uint32_t park_head, park_len, park_cap;
    vex_timer unpark;

    wstats *st;
    access_log *alog;         /* this thread's access log lines             */
    uint64_t logged_timeouts, logged_rejects;   /* for the debug events    */
    bool draining, idle_closed;
    uint64_t drain_deadline, drain_idle_at;

    pthread_t thread;
    int start_rc;             /* 0 ok, 1 error, 3 backend unavailable       */
    char start_msg[256];
};

struct server {
    config_ref *cfg_ref;      /* the current configuration snapshot        */
    _Atomic unsigned cfg_gen; /* bumped on every swap                       */
    const server_config *cfg; /* = cfg_ref's, for main's own use            */
    const char *backend;
    worker *workers;
    unsigned n_workers;
    _Atomic unsigned active;  /* connections counted against max_clients  */
    _Atomic unsigned parked;  /* accepted clients waiting for a slot, all workers */
    struct cl_table *conn_limits; /* limit-conn's counts, for every worker   */
    app_env app;              /* the handlers' environment                 */
    uint64_t start_ns;        /* CLOCK_MONOTONIC at start                   */
    lregistry lreg;           /* the listeners bound now (main's)           */
    reload_stats reload;      /* SIGHUP results (written by main under mu)  */

    pthread_mutex_t mu;       /* start-up and exit handshake with main      */
    pthread_cond_t cv;
    unsigned started, running;
    bool may_free;            /* signals blocked: workers may free loops  */
};

#define REJECT_RESERVE  64u            /* slots for lingering 503s over the limit */
#define ADMIN_MAX_CONNS 16u            /* admin-listener connections          */
#define DRAIN_IDLE_MS   500u           /* drain: idle conns closed after this */

/* worker.c */
void *worker_main(void *arg);
void worker_maybe_done(worker *w);       /* draining and nothing left: stop */
void worker_config_update(worker *w);    /* at a safe point: take a new snapshot */

/* admit.c: the connection limit, waiting clients, 503s, the admin listener */
int  admit_start(worker *w);             /* start the listeners             */
void admit_stop(worker *w);              /* drain: close them, keep backlog */
void admit_recheck(worker *w);           /* another worker freed a slot     */
void admit_flush_parked(worker *w);      /* shutdown: 503 to those waiting  */
void admit_free(worker *w);
void admit_conn_gone(void *worker, enum h1_kind kind);   /* h1_ctx.on_gone */
void admit_sync_listeners(worker *w);    /* take reload's listeners, drop removed */
void admit_close_listeners(worker *w);   /* after the loop: close what is left */

/* reload.c: SIGHUP on the main thread; listeners_hand_out gives a plan's
 * sockets to the workers (running: through their pending lists, under mu) */
void server_reload(server *s, int argc, char **argv);
void listeners_hand_out(server *s, lplan *p, bool running);

/* prometheus.c and stats_print.c */
void stats_collect(server *s, stats_snap *out);
size_t prometheus_render(void *server, char *buf, size_t cap);
void stats_print(server *s, const stats_snap *st, double uptime_s, double rate);

#endif
