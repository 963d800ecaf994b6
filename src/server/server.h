/*
 * server.h — the server's shared types: server (process), worker (one loop
 * and one thread), conn (one client connection), job (a request body or a
 * streamed response in progress).
 *
 * Ownership: a conn and everything it points to belong to its worker's
 * thread. Only the counters (metrics.h), the connection count for the limit
 * and the listener-pause flags are read across threads.
 */
#ifndef VEX_SERVER_H
#define VEX_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vex_net.h"
#include "http/http_parser.h"
#include "config.h"
#include "metrics.h"
#include "response.h"

typedef struct server server;
typedef struct worker worker;
typedef struct conn conn;
typedef struct job job;

/* Connection lifecycle (the seed's states). CS_ACCEPTING lasts from accept
 * until the loop has the socket; CS_PROCESSING while a request is handled. */
enum conn_state {
    CS_CLOSED = 0, CS_ACCEPTING, CS_READING, CS_PROCESSING, CS_WRITING, CS_CLOSING
};

enum conn_flag {
    CF_EOF      = 1u << 0,  /* the peer closed its side (or failed)         */
    CF_PAUSED   = 1u << 1,  /* we paused reading (vex_read_pause)           */
    CF_IN_HEAD  = 1u << 2,  /* part of a request head has arrived            */
    CF_ADMIN    = 1u << 3,  /* on the admin listener: health and metrics only */
    CF_REJECT   = 1u << 4,  /* over-limit connection answered 503            */
    CF_FLUSHCLOSE = 1u << 5,/* close (not linger) once the queue is flushed */
};

/* Streamed work attached to a conn only while it is in progress; allocated
 * from a per-worker free list, so idle connections carry none. */
enum job_kind { JOB_BODY = 1, JOB_BYTES, JOB_FILE, JOB_ECHO_OUT };
enum body_sink { SINK_DISCARD = 0, SINK_ECHO_STREAM, SINK_ECHO_BUFFER };

struct job {
    uint8_t kind;
    uint8_t sink;             /* JOB_BODY: where body bytes go              */
    uint8_t chunked;          /* JOB_BODY: chunked coding                   */
    uint8_t reply;            /* JOB_BODY + SINK_DISCARD: resp_id to send   */
    uint8_t rc;               /* Connection variant of the reply            */
    uint8_t head_only;
    int file_fd;              /* JOB_FILE                                   */
    uint64_t remaining;       /* body octets (length) or response octets   */
    uint64_t off;             /* JOB_FILE offset; JOB_ECHO_OUT sent octets  */
    uint64_t seen_pending;    /* queued octets at the last timeout scan     */
    http_chunked dec;
    char *body;               /* SINK_ECHO_BUFFER: decoded body             */
    size_t body_len, body_cap;
    job *next_free;
};

struct conn {
    worker *w;
    job *job;
    char *in;                 /* unprocessed input; NULL when there is none */
    uint32_t in_len, in_cap;
    uint64_t deadline_ms;     /* loop ms; checked by the 1 s scan           */
    uint64_t t0_ns;           /* start of the request being received        */
    int fd;
    uint32_t next_free;       /* pool free list (index + 1; 0 ends it)      */
    uint8_t state, flags;
};

struct worker {
    server *srv;
    unsigned id;
    vex_loop *loop;
    int lfd;                  /* listening socket, -1 once closed           */
    int admin_lfd;            /* --admin-port listener (worker 0), or -1    */
    bool lpaused;             /* we paused the listener for the limit       */
    _Atomic bool check_limit; /* another worker asks us to re-check         */
    _Atomic(vex_loop *) loop_pub; /* loop, for other workers to wake        */
    vex_timer tick;
    uint64_t tick_period;

    /* Connection pool: virtual memory for the whole limit, touched (and so
     * committed) only up to the high-water mark. */
    conn *pool;
    uint32_t pool_cap, pool_hwm, free_head;
    uint32_t n_conns;         /* open conns of this worker, rejects included */
    uint32_t n_rejects;       /* of which lingering 503 rejects             */
    uint32_t n_admin;         /* of which admin-listener connections        */

    /* Accepted clients waiting for a slot (admit.c), a FIFO ring. */
    int *parked;
    uint32_t park_head, park_len, park_cap;
    vex_timer unpark;
    job *job_free;

    /* Output batch: responses of one on_data call, sent by one vex_write. */
    char *out;
    size_t out_len, out_cap;
    conn *out_conn;           /* whose responses the batch holds */

    uint64_t batch_t0;        /* now_ns() when this callback started        */
    uint64_t batch_n;         /* responses queued in it (latency batch)     */

    const char *srv_pattern;  /* STREAM_CHUNK bytes of /bytes/N content    */
    char *scratch;            /* file reads, chunk decoding, /metrics       */
    size_t scratch_cap;

    http_limits lim;
    http_request req;
    resp_table resp;
    wstats *st;

    bool draining, idle_closed;
    uint64_t drain_deadline, drain_idle_at;

    pthread_t thread;
    int start_rc;             /* 0 ok, 1 error, 3 backend unavailable       */
    char start_msg[256];
};

struct server {
    server_config cfg;
    const char *backend;
    worker *workers;
    unsigned n_workers;
    _Atomic unsigned active;  /* connections counted against max_clients  */
    _Atomic unsigned parked;  /* accepted clients waiting for a slot, all workers */
    int root_fd;              /* --root, or -1                             */
    int bytes_fd;             /* memfd: BYTES_FILE bytes of /bytes/N content, or -1 */
    uint64_t start_ns;        /* CLOCK_MONOTONIC at start                   */

    pthread_mutex_t mu;       /* start-up and exit handshake with main      */
    pthread_cond_t cv;
    unsigned started, running;
    bool may_free;            /* signals blocked: workers may free loops  */
};

/* Tunables (why: see the functions using them). */
#define OUT_HIGH        (256u * 1024)  /* pause reading above this queue      */
#define STREAM_CHUNK    (64u * 1024)   /* one vex_write of a streamed body    */
#define BYTES_FILE      (1u << 20)     /* /bytes/N pattern memfd (64 | size)  */
#define LINGER_MS       2000u          /* lingering close: wait for peer EOF  */
#define DRAIN_IDLE_MS   500u           /* drain: idle conns closed after this */
#define REJECT_RESERVE  64u            /* pool slots for 503s over the limit  */
#define ADMIN_MAX_CONNS 16u            /* admin-listener connections          */

uint64_t now_ns(void);
/* Deadlines use our own clock reading, not vex_now_ms(): inside I/O
 * callbacks the loop's cached time is from before its wait, so a deadline
 * set there would come early by as long as the loop slept. */
static inline uint64_t mono_ms(void) { return now_ns() / 1000000u; }

/* worker.c */
void *worker_main(void *arg);
void worker_maybe_done(worker *w);       /* draining and nothing left: stop */

/* admit.c: the connection limit, waiting clients, 503s, the admin listener */
int  admit_start(worker *w);             /* start the listeners             */
void admit_stop(worker *w);              /* drain: close them, keep backlog */
void admit_accept(worker *w, int fd);    /* a connection, or wait, or 503   */
void admit_recheck(worker *w);           /* another worker freed a slot     */
void admit_flush_parked(worker *w);      /* shutdown: 503 to those waiting  */
void admit_free(worker *w);
void worker_conn_gone(worker *w, uint8_t kind);   /* kind: CF_ADMIN/CF_REJECT */

/* conn.c: pool and lifecycle */
int  pool_init(worker *w, uint32_t cap);
void pool_free(worker *w);
conn *conn_alloc(worker *w, int fd);
void conn_close(conn *c);                /* abort: vex_close now            */
void conn_close_graceful(conn *c);       /* FIN after output, then linger   */
void conn_close_when_flushed(conn *c);   /* EOF seen: flush, then close     */
void conn_scan_timeouts(worker *w);
void conn_drain_idle(worker *w);         /* shutdown: close idle conns      */
void conn_close_all(worker *w);          /* shutdown timeout reached        */
job *job_get(worker *w, enum job_kind kind);
void job_put(worker *w, job *j);

/* http_conn.c: request handling */
extern const vex_sock_cbs http_cbs;
void http_send_fixed(conn *c, enum resp_id id, enum resp_conn rc, bool head);
bool out_put(conn *c, const void *p, size_t n);
bool out_flush(conn *c);
void http_request_done(conn *c, bool keep_alive);
void http_note_response(conn *c, int status);

/* routes.c */
void route_request(conn *c, const http_request *req, enum resp_conn rc,
                   bool keep_alive);

/* stream.c: bodies and streamed responses */
void stream_start_body(conn *c, const http_request *req, enum body_sink sink,
                       enum resp_id reply, enum resp_conn rc);
size_t stream_feed_body(conn *c, const char *data, size_t len);
void stream_start_bytes(conn *c, uint64_t n, enum resp_conn rc, bool head);
void stream_pump(conn *c);

/* static_files.c */
void static_serve(conn *c, const char *path, size_t len, enum resp_conn rc, bool head);

/* prometheus.c and stats_print.c */
void stats_collect(server *s, stats_snap *out);
size_t prometheus_render(server *s, char *buf, size_t cap);
void stats_print(server *s, double uptime_s, double rate);

#endif
