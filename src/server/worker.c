/*
 * worker.c — one thread, one loop, one SO_REUSEPORT listener (admit.c
 * decides what becomes a connection): the 1 s tick (Date, timeouts) and the
 * drain.
 */
#include "server.h"
#include "signals.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Draining and nothing left, no client waiting for a slot either: stop. */
void worker_maybe_done(worker *w)
{
    if (w->draining && w->h1.n_conns == 0 && w->park_len == 0)
        vex_loop_stop(w->loop);
}

/* ---- the configuration snapshot ------------------------------------------ */

/* A safe point (the tick, a wake-up): nothing of this loop is mid-request,
 * so take the server's current snapshot if it changed, and drop ours. */
void worker_config_update(worker *w)
{
    server *s = w->srv;
    if (atomic_load_explicit(&s->cfg_gen, memory_order_acquire) == w->cfg_gen)
        return;
    pthread_mutex_lock(&s->mu);
    config_ref *old = w->cfg_ref;
    w->cfg_ref = config_ref_acquire(s->cfg_ref);
    w->cfg_gen = atomic_load_explicit(&s->cfg_gen, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    w->cfg = config_ref_get(w->cfg_ref);
    w->h1.cfg = w->cfg;
    w->h1.lim.max_body = w->cfg->max_body;
    config_ref_release(old);
    admit_sync_listeners(w);
}

/* ---- logs ------------------------------------------------------------------ */

/* The access log may be switched on or off by a reload; timeouts and 503s
 * are logged per second from the counters, not per connection. */
static void worker_log_tick(worker *w)
{
    w->h1.on_response = log_access_enabled() ? access_log_hook : NULL;
    if (w->alog)
        log_slot_tick(w->alog->slot);
    uint64_t to = atomic_load_explicit(&w->st->timeouts, memory_order_relaxed);
    uint64_t rj = atomic_load_explicit(&w->st->rejected, memory_order_relaxed);
    if (log_level_enabled(VLOG_DEBUG)) {
        if (to != w->logged_timeouts)
            log_event(VLOG_DEBUG, "thread %u: %llu connection(s) closed by a timeout",
                      w->id, (unsigned long long)(to - w->logged_timeouts));
        if (rj != w->logged_rejects)
            log_event(VLOG_DEBUG, "thread %u: %llu connection(s) refused with 503 at the limit",
                      w->id, (unsigned long long)(rj - w->logged_rejects));
    }
    w->logged_timeouts = to;
    w->logged_rejects = rj;
}

/* ---- tick and drain ------------------------------------------------------ */

static void tick(vex_loop *loop, vex_timer *t)
{
    worker *w = t->data;
    h1_tick(&w->h1);
    ctr_set(&w->st->syscalls, vex_loop_syscalls(loop));
    worker_config_update(w);
    if (w->draining) {
        uint64_t now = mono_ms();
        if (now >= w->drain_deadline) {
            h1_close_all(&w->h1);
            admit_flush_parked(w);   /* after: their 503s must not be cut */
        } else if (!w->idle_closed && now >= w->drain_idle_at) {
            w->idle_closed = true;
            h1_drain_idle(&w->h1);
        }
    }
    h1_scan_timeouts(&w->h1);
    worker_log_tick(w);
    worker_maybe_done(w);
}

static void tick_start(worker *w, uint64_t period)
{
    /* Fire just after each wall-clock second so Date changes on time. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t first = period;
    if (period == 1000)
        first = 1000 - (uint64_t)ts.tv_nsec / 1000000 + 1;
    w->tick_period = period;
    vex_timer_start(w->loop, &w->tick, first, period, tick, w);
}

/* SIGINT/SIGTERM: stop accepting (taking what the backlog already holds),
 * answer in-flight requests with "Connection: close", close idle
 * keep-alive connections after DRAIN_IDLE_MS, and whatever remains at the
 * shutdown timeout. Idle ones are not closed at once: a client may have a
 * request on the wire, and closing under it would fail that request. */
static void drain_start(worker *w)
{
    w->draining = true;
    if (w->id == 0)
        log_event(VLOG_INFO, "stopping: draining connections (up to %.3f s)",
                  (double)w->cfg->shutdown_timeout_ms / 1000.0);
    admit_stop(w);
    uint64_t now = mono_ms();
    uint64_t grace = w->cfg->shutdown_timeout_ms / 2;
    if (grace > DRAIN_IDLE_MS)
        grace = DRAIN_IDLE_MS;
    w->drain_deadline = now + w->cfg->shutdown_timeout_ms;
    w->drain_idle_at = now + grace;
    h1_drain_start(&w->h1, w->drain_deadline);
    tick_start(w, 50);
    worker_maybe_done(w);
}

static void on_wake(vex_loop *loop, void *udata)
{
    (void)loop;
    worker *w = udata;
    if (sig_stop_requested() && !w->draining)
        drain_start(w);
    if (atomic_exchange_explicit(&w->check_limit, false, memory_order_acquire))
        admit_recheck(w);
    worker_config_update(w);
}

/* ---- thread -------------------------------------------------------------- */

static void started(worker *w, int rc)
{
    server *s = w->srv;
    w->start_rc = rc;
    pthread_mutex_lock(&s->mu);
    s->started++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void *worker_main(void *arg)
{
    worker *w = arg;
    server *s = w->srv;
    char err[200] = "";

    /* The loop is created on the thread that runs it: io_uring rings set up
     * with SINGLE_ISSUER belong to their creating thread. */
    w->cfg_ref = config_ref_acquire(s->cfg_ref);
    w->cfg_gen = atomic_load_explicit(&s->cfg_gen, memory_order_relaxed);
    w->cfg = config_ref_get(w->cfg_ref);
    vex_loop_config lc = {
        .recv_buf_size = w->cfg->buffer_size,
        .on_wake = on_wake,
        .wake_udata = w,
    };
    w->loop = vex_loop_new(&lc, err, sizeof err);
    if (!w->loop) {
        int e = errno;
        snprintf(w->start_msg, sizeof w->start_msg, "cannot create the %s loop: %s",
                 s->backend, err[0] ? err : strerror(e));
        started(w, (e == EPERM || e == ENOSYS || e == EOPNOTSUPP) ? 3 : 1);
        return NULL;
    }
    /* Request ids: the thread in the top bits, a counter below. */
    if (h1_ctx_init(&w->h1, w->loop, w->cfg, w->st,
                    w->cfg->max_clients + REJECT_RESERVE + ADMIN_MAX_CONNS,
                    (uint64_t)w->id << 48) < 0) {
        snprintf(w->start_msg, sizeof w->start_msg, "out of memory");
        started(w, 1);
        return NULL;
    }
    for (int k = 0; k < H1_NKINDS; k++)
        w->routers[k] = (h1_router){ routes_dispatch,
                                     k == H1_ADMIN ? &routes_admin : &routes_main, &s->app };
    for (int k = 0; k < H1_NKINDS; k++)
        w->h1.routers[k] = &w->routers[k];
    w->h1.on_gone = admit_conn_gone;
    w->h1.conns = s->conn_limits;
    w->h1.owner = w;
    if (log_slot_of(w->id) && !(w->alog = access_log_new(log_slot_of(w->id)))) {
        snprintf(w->start_msg, sizeof w->start_msg, "out of memory");
        started(w, 1);
        return NULL;
    }
    w->h1.hook_ctx = w->alog;
    if (w->alog && log_access_enabled())
        w->h1.on_response = access_log_hook;
    tick_start(w, 1000);
    sig_set_loop(w->id, w->loop);
    atomic_store_explicit(&w->loop_pub, w->loop, memory_order_release);
    if (admit_start(w) < 0) {
        snprintf(w->start_msg, sizeof w->start_msg, "vex_listen_start: %s", strerror(errno));
        started(w, 1);
        return NULL;
    }
    started(w, 0);
    if (sig_stop_requested())     /* a signal before we were published */
        drain_start(w);

    if (!(w->draining && w->h1.n_conns == 0 && w->park_len == 0) && vex_loop_run(w->loop) < 0) {
        fprintf(stderr, "production_server: loop %u failed: %s\n", w->id, strerror(errno));
        w->start_rc = 1;
        h1_close_all(&w->h1);
        admit_flush_parked(w);
    }
    ctr_set(&w->st->syscalls, vex_loop_syscalls(w->loop));

    /* Free the loop on its own thread (an io_uring ring belongs to it), but
     * only once main has blocked the signals: until then the handler may be
     * about to wake this loop. */
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_cond_broadcast(&s->cv);
    sig_notify_main();
    while (!s->may_free)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    sig_set_loop(w->id, NULL);
    vex_loop_free(w->loop);
    w->loop = NULL;
    return NULL;
}
