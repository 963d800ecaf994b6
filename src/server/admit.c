/*
 * admit.c — which accepted sockets become connections, and when: the
 * connection limit, the queue of clients waiting for a slot, 503s, and the
 * admin listener that answers health and metrics whatever the load.
 *
 * One behaviour at the limit on every backend: at --max-clients each worker
 * pauses its listener, so further clients wait in the kernel's backlog. A
 * socket accepted anyway (io_uring's multishot accept delivers what it took
 * before its cancel landed; with several threads two may cross the limit at
 * once) is a connected client: it is parked, unread, in a FIFO and becomes a
 * connection as soon as a slot frees, before the listener resumes — so
 * clients are served in the order they were accepted. Only when the FIFO is
 * full does a client get 503 with Retry-After and Connection: close. No
 * accepted socket is ever closed without a response.
 */
#include "server.h"
#include "tls_context.h"
#include "access.h"
#include "access_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool at_limit(const worker *w)
{
    return atomic_load_explicit(&w->srv->active, memory_order_relaxed) >= w->cfg->max_clients;
}

/* ---- the listener's pause ------------------------------------------------ */

static void unpark_soon(worker *w);

/* Parked clients go first: no listener resumes while any worker has one
 * (with SO_REUSEPORT each listener has its own backlog, whose clients would
 * otherwise take the slots before them). */
static void limit_check(worker *w)
{
    bool full = at_limit(w);
    if (!full && w->park_len)
        unpark_soon(w);
    bool want_paused = full || atomic_load_explicit(&w->srv->parked, memory_order_relaxed);
    for (unsigned i = 0; i < w->n_ls; i++) {
        wlisten *l = &w->ls[i];
        if (want_paused && !l->paused) {
            if (vex_listen_pause(w->loop, l->fd) == 0)
                l->paused = true;
        } else if (!want_paused && l->paused) {
            if (vex_listen_resume(w->loop, l->fd) == 0)
                l->paused = false;
        }
    }
}

/* The count crossed the limit: re-check here, and ask the other loops to. */
static void limit_crossed(worker *w)
{
    limit_check(w);
    server *s = w->srv;
    for (unsigned i = 0; i < s->n_workers; i++) {
        worker *o = &s->workers[i];
        vex_loop *ol = atomic_load_explicit(&o->loop_pub, memory_order_acquire);
        if (o == w || !ol)
            continue;            /* not started yet: it checks when it starts */
        atomic_store_explicit(&o->check_limit, true, memory_order_release);
        vex_loop_wake(ol);
    }
}

void admit_recheck(worker *w)
{
    limit_check(w);
}

/* h1_ctx.on_gone: a connection of this kind was released. */
void admit_conn_gone(void *owner, enum h1_kind kind)
{
    worker *w = owner;
    if (kind == H1_ADMIN) {
        w->n_admin--;
    } else if (kind == H1_REJECT) {
        w->n_rejects--;
    } else {
        ctr_sub(&w->st->conns_active, 1);
        unsigned prev = atomic_fetch_sub_explicit(&w->srv->active, 1, memory_order_relaxed);
        if (prev >= w->cfg->max_clients || w->park_len)
            limit_crossed(w);
    }
    worker_maybe_done(w);
}

/* ---- 503 ----------------------------------------------------------------- */

/* The answer for a client that cannot be served: 503, Retry-After, then a
 * lingering close from a small reserve of slots; beyond the reserve, the
 * same bytes written straight to the socket (a fresh socket's buffer always
 * takes them) and a FIN. Never a close without a response. */
static void reject(worker *w, int fd)
{
    ctr_add(&w->st->rejected, 1);
    if (w->n_rejects < REJECT_RESERVE) {
        w->n_rejects++;
        if (h1_conn_reject(&w->h1, &tp_tcp_ops, fd, R_E503))
            return;
        w->n_rejects--;
    }
    const resp_fixed *f = &w->h1.resp.r[R_E503][RC_CLOSE];
    ssize_t n = send(fd, f->buf, f->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
        ctr_add(&w->st->bytes_tx, (uint64_t)n);
    shutdown(fd, SHUT_WR);
    close(fd);
}

/* ---- connections ----------------------------------------------------------- */

/* fd becomes a connection if a slot is free; false if none is. */
static bool try_start_on(worker *w, int fd, const h1_peer *peer, const tp_ops *ops, void *arg)
{
    server *s = w->srv;
    unsigned prev = atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
    if (prev >= w->cfg->max_clients) {
        atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
        return false;
    }
    ctr_add(&w->st->conns_total, 1);
    ctr_add(&w->st->conns_active, 1);
    /* Each response leaves in one send; Nagle would only delay the next
     * one behind a delayed ACK. */
    vex_set_nodelay(fd, 1);
    w->h1.env.open_arg = arg;
    bool opened = h1_conn_open(&w->h1, ops, fd, peer, H1_CLIENT);
    w->h1.env.open_arg = NULL;
    if (!opened) {
        /* cannot happen: the pool covers the limit */
        ctr_sub(&w->st->conns_active, 1);
        atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
        reject(w, fd);
        return true;
    }
    if (prev + 1 >= w->cfg->max_clients)
        limit_crossed(w);
    return true;
}

static bool try_start(worker *w, int fd, const h1_peer *peer)
{
    return try_start_on(w, fd, peer, &tp_tcp_ops, NULL);
}

/* ---- the queue of clients waiting for a slot ------------------------------- */

static bool park(worker *w, int fd, const h1_peer *peer)
{
    /* As many may wait here as in the kernel's backlog, which is what an
     * io_uring multishot accept can take over the limit at once. */
    if (w->park_len >= w->cfg->backlog)
        return false;
    if (w->park_len == w->park_cap) {
        uint32_t cap = w->park_cap ? w->park_cap * 2 : 64;
        int *q = malloc(cap * sizeof *q);
        h1_peer *qp = malloc(cap * sizeof *qp);
        if (!q || !qp) {
            free(q);
            free(qp);
            return false;
        }
        for (uint32_t i = 0; i < w->park_len; i++) {   /* unwrap the ring */
            q[i] = w->parked[(w->park_head + i) % w->park_cap];
            qp[i] = w->parked_peer[(w->park_head + i) % w->park_cap];
        }
        free(w->parked);
        free(w->parked_peer);
        w->parked = q;
        w->parked_peer = qp;
        w->park_head = 0;
        w->park_cap = cap;
    }
    uint32_t at = (w->park_head + w->park_len) % w->park_cap;
    w->parked[at] = fd;
    if (peer)
        w->parked_peer[at] = *peer;
    else
        memset(&w->parked_peer[at], 0, sizeof w->parked_peer[at]);
    w->park_len++;
    atomic_fetch_add_explicit(&w->srv->parked, 1, memory_order_relaxed);
    ctr_add(&w->st->parked, 1);
    return true;
}

static int unpark_one(worker *w, h1_peer *peer)
{
    int fd = w->parked[w->park_head];
    *peer = w->parked_peer[w->park_head];
    w->park_head = (w->park_head + 1) % w->park_cap;
    w->park_len--;
    /* The last waiting client anywhere: every listener may resume. */
    if (atomic_fetch_sub_explicit(&w->srv->parked, 1, memory_order_relaxed) == 1)
        limit_crossed(w);
    return fd;
}

/* Runs from a timer, never inside a connection's callback: the slot just
 * freed may be reused by the client let in, and the code that freed it is
 * still on the stack. */
static void unpark_now(vex_loop *loop, vex_timer *t)
{
    (void)loop;
    worker *w = t->data;
    while (w->park_len && !at_limit(w)) {
        h1_peer peer;
        int fd = unpark_one(w, &peer);
        if (!try_start(w, fd, &peer) && !park(w, fd, &peer))   /* lost the slot to another worker */
            reject(w, fd);
    }
    limit_check(w);
    worker_maybe_done(w);
}

static void unpark_soon(worker *w)
{
    if (!vex_timer_active(&w->unpark))
        vex_timer_start(w->loop, &w->unpark, 0, 0, unpark_now, w);
}

static void admit_accept(worker *w, int fd, const h1_peer *peer)
{
    /* Behind parked clients, a newer one waits too, even if a slot is free
     * this instant: order of acceptance is order of service. */
    if (w->park_len == 0 && try_start(w, fd, peer))
        return;
    if (!park(w, fd, peer))
        reject(w, fd);
    limit_check(w);
}

/* Shutdown: parked clients that never got a slot are told so. */
void admit_flush_parked(worker *w)
{
    h1_peer peer;
    while (w->park_len)
        reject(w, unpark_one(w, &peer));
    vex_timer_stop(w->loop, &w->unpark);
}

void admit_free(worker *w)
{
    free(w->parked);   /* empty: admit_flush_parked ran before the loop ended */
    free(w->parked_peer);
    w->parked = NULL;
    w->parked_peer = NULL;
    w->park_len = w->park_cap = w->park_head = 0;
}

/* What both listeners' callbacks do with the loop's report. */
static void accepted(worker *w, int fd, const struct sockaddr *sa, socklen_t sa_len,
                     void (*take)(worker *, int, const h1_peer *))
{
    if (fd < 0) {
        /* EMFILE/ENFILE/ENOBUFS/ENOMEM: the loop backs off by itself */
        ctr_add(&w->st->errors, 1);
        return;
    }
    h1_peer peer;
    h1_peer_set(&peer, sa, sa_len);
    take(w, fd, &peer);
}

/* The SSL_CTX of the current configuration for a TLS listener: after a
 * reload that changed the certificate, new connections take the new one. */
static SSL_CTX *tls_ctx_of(const worker *w, int lfd, bool *is_tls)
{
    *is_tls = false;
    for (unsigned i = 0; i < w->n_ls; i++) {
        if (w->ls[i].fd != lfd)
            continue;
        if (!w->ls[i].spec.tls)
            return NULL;
        *is_tls = true;
        const server_config *c = w->cfg;
        for (unsigned j = 0; j < c->n_listeners; j++)
            if (c->tls[j] && lspec_same(&w->ls[i].spec, &c->listeners[j]))
                return c->tls[j];
        return NULL;
    }
    return NULL;
}

/* A TLS client is not parked (a parked socket carries no SSL_CTX): it gets
 * a slot now or is closed. */
static void admit_tls(worker *w, int fd, const h1_peer *peer, SSL_CTX *ctx)
{
    if (ctx && w->park_len == 0 && try_start_on(w, fd, peer, &tp_tls_ops, ctx))
        return;
    ctr_add(&w->st->rejected, 1);
    close(fd);
    limit_check(w);
}

/* A listener's allow/deny list (listen: access:), checked before a slot is
 * taken: a denied client is closed unread (no 403: nothing of it is parsed,
 * and an address scan learns only that the port closes). */
static bool listener_allows(const worker *w, int lfd, const struct sockaddr *sa, socklen_t len)
{
    const server_config *c = w->cfg;
    if (!c->access)
        return true;
    for (unsigned i = 0; i < w->n_ls; i++) {
        if (w->ls[i].fd != lfd)
            continue;
        for (unsigned j = 0; j < c->n_listeners; j++)
            if (c->access->listener_acl[j].n && lspec_same(&w->ls[i].spec, &c->listeners[j])) {
                h1_peer peer;
                h1_peer_set(&peer, sa, len);
                return acl_allows(&c->access->listener_acl[j], peer.addr);
            }
        return true;
    }
    return true;
}

static void on_accept(vex_loop *loop, int lfd, int fd,
                      const struct sockaddr *sa, socklen_t sa_len, void *udata)
{
    (void)loop;
    worker *w = udata;
    if (fd >= 0 && !listener_allows(w, lfd, sa, sa_len)) {
        access_count_refused();
        close(fd);
        return;
    }
    bool is_tls;
    SSL_CTX *ctx = fd >= 0 ? tls_ctx_of(w, lfd, &is_tls) : NULL;
    if (fd >= 0 && is_tls) {
        h1_peer peer;
        h1_peer_set(&peer, sa, sa_len);
        admit_tls(w, fd, &peer, ctx);
        return;
    }
    accepted(w, fd, sa, sa_len, admit_accept);
}

/* ---- the admin listener ------------------------------------------------------ */

/* Its own few slots, not counted against --max-clients and never paused by
 * it, so monitoring can tell a full server from a dead one. */
static void admin_accept(worker *w, int fd, const h1_peer *peer)
{
    if (w->n_admin >= ADMIN_MAX_CONNS) {
        reject(w, fd);
        return;
    }
    vex_set_nodelay(fd, 1);
    w->n_admin++;
    if (!h1_conn_open(&w->h1, &tp_tcp_ops, fd, peer, H1_ADMIN)) {
        w->n_admin--;
        reject(w, fd);
    }
}

static void on_admin_accept(vex_loop *loop, int lfd, int fd,
                            const struct sockaddr *sa, socklen_t sa_len, void *udata)
{
    (void)loop;
    (void)lfd;
    accepted(udata, fd, sa, sa_len, admin_accept);
}

/* The backlog, accepted by hand at shutdown, with each client's address. */
static void accept_backlog(worker *w, int lfd, void (*take)(worker *, int, const h1_peer *))
{
    int fds[VEX_ACCEPT_BATCH], n;
    struct sockaddr_storage ss[VEX_ACCEPT_BATCH];
    socklen_t lens[VEX_ACCEPT_BATCH];
    while ((n = vex_accept_batch_addr(lfd, fds, ss, lens, VEX_ACCEPT_BATCH)) > 0) {
        for (int i = 0; i < n; i++) {
            h1_peer peer;
            h1_peer_set(&peer, (const struct sockaddr *)&ss[i], lens[i]);
            take(w, fds[i], &peer);
        }
    }
}

int admit_start(worker *w)
{
    for (unsigned i = 0; i < w->n_ls; i++)
        if (vex_listen_start(w->loop, w->ls[i].fd, on_accept, w) < 0)
            return -1;
    if (w->admin_lfd >= 0 && vex_listen_start(w->loop, w->admin_lfd, on_admin_accept, w) < 0)
        return -1;
    limit_check(w);               /* the limit may have been reached already */
    return 0;
}

/* Stop accepting on one socket, taking what its backlog already holds:
 * those clients connected and are served like any other. */
static void listener_close(worker *w, wlisten *l)
{
    vex_listen_stop(w->loop, l->fd);
    accept_backlog(w, l->fd, admit_accept);
    close(l->fd);
    l->fd = -1;
}

/* Drain: stop accepting, taking what the backlogs already hold. */
void admit_stop(worker *w)
{
    int afd = w->admin_lfd;
    w->admin_lfd = -1;            /* nothing may pause or resume them now */
    if (afd >= 0) {
        vex_listen_stop(w->loop, afd);
        accept_backlog(w, afd, admin_accept);
        close(afd);
    }
    unsigned n = w->n_ls;
    w->n_ls = 0;
    for (unsigned i = 0; i < n; i++)
        listener_close(w, &w->ls[i]);
}

/* A reload's listeners: the new sockets first (bound by main, listening
 * already, so clients queue in their backlogs meanwhile), then the ones no
 * longer configured are closed. */
void admit_sync_listeners(worker *w)
{
    server *s = w->srv;
    if (w->draining)
        return;                   /* main closes what stays pending */
    wlisten add[CFG_MAX_LISTENERS];
    unsigned want[CFG_MAX_LISTENERS], n_add, n_want;
    pthread_mutex_lock(&s->mu);
    n_add = w->n_lpending;
    memcpy(add, w->lpending, n_add * sizeof add[0]);
    w->n_lpending = 0;
    n_want = w->n_lwant;
    memcpy(want, w->lwant, n_want * sizeof want[0]);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < n_add; i++) {
        wlisten *l = &w->ls[w->n_ls++];   /* the registry keeps n_ls within bounds */
        *l = add[i];
        l->paused = false;
        if (vex_listen_start(w->loop, l->fd, on_accept, w) < 0) {
            ctr_add(&w->st->errors, 1);
            close(l->fd);
            w->n_ls--;
        }
    }
    unsigned kept = 0;
    for (unsigned i = 0; i < w->n_ls; i++) {
        bool keep = false;
        for (unsigned j = 0; j < n_want && !keep; j++)
            keep = want[j] == w->ls[i].lid;
        if (keep)
            w->ls[kept++] = w->ls[i];
        else
            listener_close(w, &w->ls[i]);
    }
    w->n_ls = kept;
    limit_check(w);               /* new sockets share the pause at the limit */
}

/* After the loop ended (main, after the join): nothing is listening now. */
void admit_close_listeners(worker *w)
{
    for (unsigned i = 0; i < w->n_ls; i++)
        close(w->ls[i].fd);
    for (unsigned i = 0; i < w->n_lpending; i++)
        close(w->lpending[i].fd);
    w->n_ls = w->n_lpending = 0;
    if (w->admin_lfd >= 0)
        close(w->admin_lfd);
    w->admin_lfd = -1;
}
