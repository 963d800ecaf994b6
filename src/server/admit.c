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
#include "platform.h"

#include <openssl/ssl.h>

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
     * one behind a delayed ACK. The listener has TCP_NODELAY, and on Linux
     * the accepted socket inherits it: no setsockopt per connection. */
    if (!PLAT_NODELAY_INHERITED)
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

/* A TLS client waits with a reference to its listener's SSL_CTX, so a
 * reload that rotates the certificate meanwhile cannot free it under it;
 * it is handshaken with that one when a slot frees (nothing was read yet). */
struct parked_client {
    int fd;
    h1_peer peer;
    SSL_CTX *tls;             /* NULL: plain HTTP */
    bool proxy;               /* a PROXY protocol header comes first */
    uint16_t redirect;        /* its listener's redirect-https port, or 0 */
};

/* A client the server cannot take: plain ones get a 503, TLS ones are
 * closed (a 503 would need a handshake, the cost the limit is there to
 * avoid). */
static void refuse(worker *w, int fd, SSL_CTX *tls)
{
    if (!tls) {
        reject(w, fd);
        return;
    }
    ctr_add(&w->st->rejected, 1);
    close(fd);
}

static bool park(worker *w, int fd, const h1_peer *peer, SSL_CTX *tls, bool proxy,
                 uint16_t redirect)
{
    /* As many may wait here as in the kernel's backlog, which is what an
     * io_uring multishot accept can take over the limit at once. */
    if (w->park_len >= w->cfg->backlog)
        return false;
    if (w->park_len == w->park_cap) {
        uint32_t cap = w->park_cap ? w->park_cap * 2 : 64;
        struct parked_client *q = malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (uint32_t i = 0; i < w->park_len; i++)   /* unwrap the ring */
            q[i] = w->parked[(w->park_head + i) % w->park_cap];
        free(w->parked);
        w->parked = q;
        w->park_head = 0;
        w->park_cap = cap;
    }
    if (tls && SSL_CTX_up_ref(tls) != 1)
        return false;
    struct parked_client *pc = &w->parked[(w->park_head + w->park_len) % w->park_cap];
    pc->fd = fd;
    pc->tls = tls;
    pc->proxy = proxy;
    pc->redirect = redirect;
    if (peer)
        pc->peer = *peer;
    else
        memset(&pc->peer, 0, sizeof pc->peer);
    w->park_len++;
    atomic_fetch_add_explicit(&w->srv->parked, 1, memory_order_relaxed);
    ctr_add(&w->st->parked, 1);
    return true;
}

/* The oldest waiting client; its SSL_CTX reference passes to the caller. */
static struct parked_client unpark_one(worker *w)
{
    struct parked_client pc = w->parked[w->park_head];
    w->park_head = (w->park_head + 1) % w->park_cap;
    w->park_len--;
    /* The last waiting client anywhere: every listener may resume. */
    if (atomic_fetch_sub_explicit(&w->srv->parked, 1, memory_order_relaxed) == 1)
        limit_crossed(w);
    return pc;
}

static bool try_start_client(worker *w, int fd, const h1_peer *peer, SSL_CTX *tls, bool proxy,
                             uint16_t redirect)
{
    if (tls)
        return try_start_on(w, fd, peer, &tp_tls_ops, tls);
    w->h1.open_proxy = proxy;
    w->h1.open_redirect = redirect;
    bool ok = try_start(w, fd, peer);
    w->h1.open_proxy = false;
    w->h1.open_redirect = 0;
    return ok;
}

/* Runs from a timer, never inside a connection's callback: the slot just
 * freed may be reused by the client let in, and the code that freed it is
 * still on the stack. */
static void unpark_now(vex_loop *loop, vex_timer *t)
{
    (void)loop;
    worker *w = t->data;
    while (w->park_len && !at_limit(w)) {
        struct parked_client pc = unpark_one(w);
        /* lost the slot to another worker: back in the queue */
        if (!try_start_client(w, pc.fd, &pc.peer, pc.tls, pc.proxy, pc.redirect) &&
            !park(w, pc.fd, &pc.peer, pc.tls, pc.proxy, pc.redirect))
            refuse(w, pc.fd, pc.tls);
        SSL_CTX_free(pc.tls);     /* the connection or the new entry holds its own */
    }
    limit_check(w);
    worker_maybe_done(w);
}

static void unpark_soon(worker *w)
{
    if (!vex_timer_active(&w->unpark))
        vex_timer_start(w->loop, &w->unpark, 0, 0, unpark_now, w);
}

static void admit_client(worker *w, int fd, const h1_peer *peer, SSL_CTX *tls, bool proxy,
                         uint16_t redirect)
{
    /* Behind parked clients, a newer one waits too, even if a slot is free
     * this instant: order of acceptance is order of service. */
    if (w->park_len == 0 && try_start_client(w, fd, peer, tls, proxy, redirect))
        return;
    if (!park(w, fd, peer, tls, proxy, redirect))
        refuse(w, fd, tls);
    limit_check(w);
}

/* Shutdown: parked clients that never got a slot are told so. */
void admit_flush_parked(worker *w)
{
    while (w->park_len) {
        struct parked_client pc = unpark_one(w);
        refuse(w, pc.fd, pc.tls);
        SSL_CTX_free(pc.tls);
    }
    vex_timer_stop(w->loop, &w->unpark);
}

void admit_free(worker *w)
{
    free(w->parked);   /* empty: admit_flush_parked ran before the loop ended */
    w->parked = NULL;
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
 * reload that changed the certificate, new connections take the new one.
 * NULL for a plain listener, or a TLS one the configuration no longer has. */
static SSL_CTX *tls_ctx_for(const worker *w, const wlisten *l)
{
    if (!l->spec.tls)
        return NULL;
    const server_config *c = w->cfg;
    for (unsigned j = 0; j < c->n_listeners; j++)
        if (c->tls[j] && lspec_same(&l->spec, &c->listeners[j]))
            return c->tls[j];
    return NULL;
}

/* The current configuration's redirect-https for listener l (a reload may
 * change it without rebinding). */
static uint16_t redirect_for(const worker *w, const wlisten *l)
{
    if (!l)
        return 0;
    const server_config *c = w->cfg;
    for (unsigned j = 0; j < c->n_listeners; j++)
        if (lspec_same(&l->spec, &c->listeners[j]))
            return c->listeners[j].redirect_https;
    return 0;
}

static const wlisten *listener_of(const worker *w, int lfd)
{
    for (unsigned i = 0; i < w->n_ls; i++)
        if (w->ls[i].fd == lfd)
            return &w->ls[i];
    return NULL;
}

/* The listener's own allow/deny list (listen: ... access:), checked before
 * a slot is taken: a denied client is closed unread. On a PROXY listener
 * this is the proxy's address; the routes' rules see the real one. */
static bool listener_allows(const worker *w, const wlisten *l, const h1_peer *peer)
{
    const server_config *c = w->cfg;
    if (!c->access || !l)
        return true;
    for (unsigned j = 0; j < c->n_listeners; j++)
        if (c->access->listener_acl[j].n && lspec_same(&l->spec, &c->listeners[j]))
            return acl_allows(&c->access->listener_acl[j], peer->addr);
    return true;
}

/* A client of listener l (NULL: a plain one). */
static void admit_from(worker *w, const wlisten *l, int fd, const h1_peer *peer)
{
    if (!listener_allows(w, l, peer)) {
        access_count_refused();
        close(fd);
        return;
    }
    if (!l || !l->spec.tls) {
        admit_client(w, fd, peer, NULL, l && l->spec.proxy_protocol, redirect_for(w, l));
        return;
    }
    SSL_CTX *ctx = tls_ctx_for(w, l);
    if (ctx) {
        admit_client(w, fd, peer, ctx, false, 0);   /* PROXY over TLS: refused by the config */
    } else {                      /* its listener left the configuration */
        ctr_add(&w->st->rejected, 1);
        close(fd);
    }
}

/* A listener's allow/deny list (listen: access:), checked before a slot is
 * taken: a denied client is closed unread (no 403: nothing of it is parsed,
 * and an address scan learns only that the port closes). */
static void on_accept(vex_loop *loop, int lfd, int fd,
                      const struct sockaddr *sa, socklen_t sa_len, void *udata)
{
    (void)loop;
    worker *w = udata;
    if (fd < 0) {
        /* EMFILE/ENFILE/ENOBUFS/ENOMEM: the loop backs off by itself */
        ctr_add(&w->st->errors, 1);
        return;
    }
    h1_peer peer;
    h1_peer_set(&peer, sa, sa_len);
    admit_from(w, listener_of(w, lfd), fd, &peer);
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
    if (!PLAT_NODELAY_INHERITED)
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

/* The backlog, accepted by hand at shutdown, with each client's address;
 * l: the listener it belongs to (NULL: the admin listener). */
static void accept_backlog(worker *w, int lfd, const wlisten *l)
{
    int fds[VEX_ACCEPT_BATCH], n;
    struct sockaddr_storage ss[VEX_ACCEPT_BATCH];
    socklen_t lens[VEX_ACCEPT_BATCH];
    while ((n = vex_accept_batch_addr(lfd, fds, ss, lens, VEX_ACCEPT_BATCH)) > 0) {
        for (int i = 0; i < n; i++) {
            h1_peer peer;
            h1_peer_set(&peer, (const struct sockaddr *)&ss[i], lens[i]);
            if (l)
                admit_from(w, l, fds[i], &peer);
            else
                admin_accept(w, fds[i], &peer);
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
    accept_backlog(w, l->fd, l);
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
        accept_backlog(w, afd, NULL);
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
