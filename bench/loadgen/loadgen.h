/*
 * loadgen.h — the state of one vex_loadgen run, shared by its parts:
 * conn.c (connections, dispatch, timeouts), pacer.c (waking the loop on
 * time), args.c (command line, the request), output.c (the JSON document,
 * modes without load) and loadgen.c (main: the run's loop).
 */
#ifndef VEX_LOADGEN_H
#define VEX_LOADGEN_H

#include "vex_net.h"
#include "hist.h"
#include "resp.h"
#include "schedule.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#define NS 1000000000ull
#define MS 1000000ull

struct run;
typedef struct lconn {
    struct run *r;
    int idx;
    int fd;                 /* -1 while disconnected */
    int busy;               /* a request is on the wire, waiting for its response */
    int in_idle;            /* on the idle stack */
    uint64_t *q;            /* intended send times; q[head] is the one in flight if busy */
    size_t qcap, qhead, qlen;
    uint64_t sent_at;       /* when the request in flight was written */
    uint64_t retry_at;      /* reconnect not before (0: now) */
    resp_parser rp;
} lconn;

typedef struct opts {
    char host[64];
    int port;
    int family;
    char path[2048];
    const char *method;
    double rate, duration, timeout;
    int connections;
    sched_kind sched;
    uint64_t seed;
    size_t max_queue;
    int start_on_stdin;
    const char *out;
    const char *label;
    size_t body_bytes;
    char headers[4096];
} opts;

typedef struct stats {
    uint64_t scheduled, sent, completed, status[6];
    uint64_t err_connect, err_read, err_parse, err_timeout, err_dropped, err_unfinished;
    uint64_t reconnects;
    uint64_t queued;        /* due while every connection was busy: waited in a queue */
} stats;

/* The run's state: one instance, owned by main(). */
typedef struct run {
    opts o;
    vex_loop *loop;
    lconn *c;
    int *idle;              /* stack of connection indices */
    int nidle;
    int rr;
    size_t outstanding;     /* queued + in flight, all connections */
    int need_reconnect;
    char *req;
    size_t req_len;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    hist lat, lag;
    stats st;
    /* the pacer thread (see pacer()) */
    pthread_mutex_t pace_mu;
    pthread_cond_t pace_cv;
    uint64_t pace_target;   /* monotonic ns the blocked loop waits for; 0: none */
    int pace_stop;
} run;


static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static inline uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* conn.c */
int open_conn(run *r, int i, uint64_t now);
void reconnect_all(run *r, uint64_t now);
void dispatch(run *r, uint64_t intended, uint64_t now);
void expire(run *r, uint64_t now);
/* pacer.c */
#define SPIN_NS 50000ull
void *pacer(void *arg);
void pace_set(run *r, uint64_t target);
void on_wake(vex_loop *loop, void *udata);
/* args.c */
void usage(FILE *f);
int parse_args(opts *o, int argc, char **argv, int *mode, long *dry_n);
int build_request(run *r);
/* output.c */
void write_result(run *r, FILE *f, uint64_t start_unix, double elapsed);
int record_values(void);
int dry_schedule(const opts *o, long n);

#endif
