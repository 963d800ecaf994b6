/* conn.c — vex_loadgen's connections: the per-connection queues of intended
 * send times, dispatch of due requests, responses, reconnects, timeouts. */
#include "loadgen.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- per-connection queue ------------------------------------------------ */
static int q_push(lconn *c, uint64_t t)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 16;
        uint64_t *n = malloc(ncap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < c->qlen; i++)
            n[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = n;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = t;
    c->qlen++;
    return 0;
}

static uint64_t q_pop(run *r, lconn *c)
{
    uint64_t t = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    r->outstanding--;
    return t;
}

/* ---- connections --------------------------------------------------------- */
static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *udata);
static const vex_sock_cbs CBS = {on_data, NULL};

static void mark_idle(run *r, int i)
{
    lconn *c = &r->c[i];
    if (c->fd >= 0 && !c->busy && c->qlen == 0 && !c->in_idle) {
        c->in_idle = 1;
        r->idle[r->nidle++] = i;
    }
}

static void send_next(run *r, lconn *c, uint64_t now)
{
    if (c->fd < 0 || c->busy || c->qlen == 0)
        return;
    if (vex_write(r->loop, c->fd, r->req, r->req_len) < 0) {
        return;    /* the failure reaches on_data (EPIPE/ECONNRESET) */
    }
    c->busy = 1;
    c->sent_at = now;
    resp_reset(&c->rp, !strcmp(r->o.method, "HEAD"));
    r->st.sent++;
}

/* Blocking connect with a 1 s limit: loopback and test links connect in
 * microseconds, and a run starts only once every connection is open. */
static int connect_one(run *r)
{
    int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&r->addr, r->addrlen) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 1000) != 1)
            goto fail;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            errno = err ? err : errno;
            goto fail;
        }
    }
    vex_set_nodelay(fd, 1);
    return fd;
fail:
    close(fd);
    return -1;
}

int open_conn(run *r, int i, uint64_t now)
{
    lconn *c = &r->c[i];
    int fd = connect_one(r);
    if (fd < 0 || vex_sock_add(r->loop, fd, &CBS, c) < 0) {
        if (fd >= 0)
            close(fd);
        r->st.err_connect++;
        c->retry_at = now + 100 * MS;
        return -1;
    }
    c->fd = fd;
    c->busy = 0;
    c->retry_at = 0;
    send_next(r, c, now);
    mark_idle(r, i);
    return 0;
}

/* The connection is unusable: the request in flight (if any) is lost and
 * counted by the caller; queued ones wait for the reconnect. */
static void drop_conn(run *r, lconn *c, uint64_t now)
{
    if (c->fd >= 0)
        vex_close(r->loop, c->fd);
    c->fd = -1;
    c->busy = 0;
    c->in_idle = 0;     /* stale stack entries are skipped when popped */
    c->retry_at = now;
    r->need_reconnect++;
}

void reconnect_all(run *r, uint64_t now)
{
    int still = 0;
    for (int i = 0; i < r->o.connections; i++) {
        lconn *c = &r->c[i];
        if (c->fd >= 0)
            continue;
        if (c->retry_at <= now && open_conn(r, i, now) == 0)
            r->st.reconnects++;
        if (c->fd < 0)
            still++;
    }
    r->need_reconnect = still;
}

static void complete(run *r, lconn *c, uint64_t now)
{
    uint64_t intended = q_pop(r, c);
    c->busy = 0;
    hist_record(&r->lat, now > intended ? now - intended : 0);
    r->st.completed++;
    int cls = c->rp.status / 100;
    r->st.status[cls >= 1 && cls <= 5 ? cls : 0]++;
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *udata)
{
    (void)loop;
    (void)fd;
    lconn *c = udata;
    run *r = c->r;
    uint64_t now = mono_ns();
    if (n <= 0) {              /* closed or failed: the request in flight is lost */
        if (c->busy) {
            q_pop(r, c);
            r->st.err_read++;
        }
        drop_conn(r, c, now);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        if (!c->busy) {        /* bytes nobody asked for */
            r->st.err_parse++;
            drop_conn(r, c, now);
            return;
        }
        size_t used = 0;
        int rc = resp_feed(&c->rp, data + off, (size_t)n - off, &used);
        off += used;
        if (rc == RESP_MORE)
            return;
        if (rc < 0) {
            q_pop(r, c);
            r->st.err_parse++;
            drop_conn(r, c, now);
            return;
        }
        int closing = c->rp.close;
        complete(r, c, now);
        if (closing) {
            drop_conn(r, c, now);
            return;
        }
        send_next(r, c, now);
    }
    mark_idle(r, c->idx);
}

/* A request is due at `intended`: an idle connection takes it now, or it
 * waits behind the next connection's requests in round-robin order. */
void dispatch(run *r, uint64_t intended, uint64_t now)
{
    r->st.scheduled++;
    if (r->outstanding >= r->o.max_queue) {
        r->st.err_dropped++;
        return;
    }
    lconn *c = NULL;
    while (r->nidle > 0) {
        lconn *k = &r->c[r->idle[--r->nidle]];
        k->in_idle = 0;
        if (k->fd >= 0 && !k->busy && k->qlen == 0) {
            c = k;
            break;
        }
    }
    if (!c) {
        c = &r->c[r->rr];
        r->rr = (r->rr + 1) % r->o.connections;
        r->st.queued++;
    } else {
        /* the generator's own lateness: due at `intended`, written now */
        hist_record(&r->lag, now > intended ? now - intended : 0);
    }
    if (q_push(c, intended) < 0) {
        r->st.err_dropped++;
        return;
    }
    r->outstanding++;
    send_next(r, c, now);
}

/* Requests whose intended time is more than --timeout ago are given up: the
 * one in flight costs its connection (a late response could not be told
 * apart), queued ones are just counted. */
void expire(run *r, uint64_t now)
{
    uint64_t limit = (uint64_t)(r->o.timeout * 1e9);
    for (int i = 0; i < r->o.connections; i++) {
        lconn *c = &r->c[i];
        int lost_inflight = 0;
        while (c->qlen > 0 && c->q[c->qhead] + limit < now) {
            if (c->busy && !lost_inflight) {
                lost_inflight = 1;
                c->busy = 0;
            }
            q_pop(r, c);
            r->st.err_timeout++;
        }
        if (lost_inflight)
            drop_conn(r, c, now);
    }
}

