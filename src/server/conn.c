/*
 * conn.c — the connection pool and the end of a connection's life.
 *
 * The pool is one calloc'd array per worker sized for the whole limit; the
 * kernel commits its pages only as the high-water mark reaches them, so a
 * 10 000-slot pool costs nothing until used. Slots are recycled through an
 * index free list (O(1)); the loop hands the conn pointer back as udata on
 * every callback, so finding a connection is O(1) without a second table.
 */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pool_init(worker *w, uint32_t cap)
{
    w->pool = calloc(cap, sizeof(conn));
    if (!w->pool)
        return -1;
    w->pool_cap = cap;
    w->pool_hwm = 0;
    w->free_head = 0;
    return 0;
}

void pool_free(worker *w)
{
    free(w->pool);
    w->pool = NULL;
    while (w->job_free) {
        job *j = w->job_free;
        w->job_free = j->next_free;
        free(j);
    }
}

conn *conn_alloc(worker *w, int fd)
{
    conn *c;
    if (w->free_head) {
        c = &w->pool[w->free_head - 1];
        w->free_head = c->next_free;
    } else if (w->pool_hwm < w->pool_cap) {
        c = &w->pool[w->pool_hwm++];
    } else {
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->w = w;
    c->fd = fd;
    c->state = CS_ACCEPTING;
    w->n_conns++;
    return c;
}

job *job_get(worker *w, enum job_kind kind)
{
    job *j = w->job_free;
    if (j)
        w->job_free = j->next_free;
    else if (!(j = malloc(sizeof *j)))
        return NULL;
    memset(j, 0, sizeof *j);
    j->kind = (uint8_t)kind;
    j->file_fd = -1;
    return j;
}

void job_put(worker *w, job *j)
{
    if (!j)
        return;
    if (j->file_fd >= 0)
        close(j->file_fd);
    free(j->body);
    j->body = NULL;
    j->next_free = w->job_free;
    w->job_free = j;
}

/* Give the slot back; the fd is already closed or handed back. */
static void conn_release(conn *c)
{
    worker *w = c->w;
    uint8_t kind = c->flags & (CF_REJECT | CF_ADMIN);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    job_put(w, c->job);
    c->job = NULL;
    c->state = CS_CLOSED;
    c->fd = -1;
    c->next_free = w->free_head;
    w->free_head = (uint32_t)(c - w->pool) + 1;
    worker_conn_gone(w, kind);
}

void conn_close(conn *c)
{
    if (c->state == CS_CLOSED)
        return;
    worker *w = c->w;
    if (w->out_conn == c)
        w->out_len = 0;              /* the batch was for this socket */
    vex_close(w->loop, c->fd);
    conn_release(c);
}

void conn_close_when_flushed(conn *c)
{
    if (c->state == CS_CLOSED)
        return;
    if (!out_flush(c))
        return;
    worker *w = c->w;
    if (vex_write_pending(w->loop, c->fd) == 0) {
        conn_close(c);
        return;
    }
    c->flags |= CF_FLUSHCLOSE;
    c->state = CS_CLOSING;
    c->deadline_ms = mono_ms() + w->srv->cfg.idle_timeout_ms;
    vex_want_drain(w->loop, c->fd);
}

/* Lingering close: send what is queued, then FIN, and keep reading (and
 * discarding) until the peer's EOF or LINGER_MS. Closing at once with
 * unread input would make the kernel send RST, which can destroy the
 * response (a 400 or a "Connection: close" reply) before the peer reads it. */
void conn_close_graceful(conn *c)
{
    if (c->state == CS_CLOSED || c->state == CS_CLOSING)
        return;
    worker *w = c->w;
    if (c->flags & CF_EOF) {
        conn_close_when_flushed(c);
        return;
    }
    if (!out_flush(c))
        return;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    job_put(w, c->job);
    c->job = NULL;
    c->flags &= (uint8_t)~CF_IN_HEAD;
    if (c->flags & CF_PAUSED) {
        vex_read_resume(w->loop, c->fd);   /* we must see the peer's EOF */
        c->flags &= (uint8_t)~CF_PAUSED;
    }
    if (vex_shutdown_write(w->loop, c->fd) < 0) {
        conn_close(c);
        return;
    }
    c->state = CS_CLOSING;
    uint64_t now = mono_ms();
    c->deadline_ms = now + LINGER_MS;
    if (w->draining && c->deadline_ms > w->drain_deadline)
        c->deadline_ms = w->drain_deadline;
}

static bool conn_is_idle(const conn *c)
{
    return c->state == CS_READING && !(c->flags & CF_IN_HEAD) && c->in_len == 0
        && !c->job && vex_write_pending(c->w->loop, c->fd) == 0;
}

static void conn_timeout(conn *c)
{
    worker *w = c->w;
    switch (c->state) {
    case CS_CLOSING:            /* linger over, or a flush that never ends */
        conn_close(c);
        return;
    case CS_READING:
        ctr_add(&w->st->timeouts, 1);
        if (c->job && c->job->sink == SINK_ECHO_STREAM) {
            conn_close(c);        /* a 200 head is out: only an abort is honest */
        } else if ((c->flags & CF_IN_HEAD) || c->job) {
            /* slow head (slowloris) or a stalled body: say so, then close */
            job_put(w, c->job);
            c->job = NULL;
            http_send_fixed(c, R_E408, RC_CLOSE, false);
            conn_close_graceful(c);
        } else {
            conn_close_graceful(c);   /* idle keep-alive */
        }
        return;
    default:                    /* writing to a peer that stopped reading */
        ctr_add(&w->st->timeouts, 1);
        conn_close(c);
        return;
    }
}

void conn_scan_timeouts(worker *w)
{
    uint64_t now = mono_ms();
    for (uint32_t i = 0; i < w->pool_hwm; i++) {
        conn *c = &w->pool[i];
        if (c->state == CS_WRITING && c->job) {
            /* A write stall is no progress for the idle timeout, not a
             * response that takes longer (a large file has one on_drain). */
            uint64_t pending = vex_write_pending(w->loop, c->fd);
            if (pending < c->job->seen_pending)
                c->deadline_ms = now + w->srv->cfg.idle_timeout_ms;
            c->job->seen_pending = pending;
        }
        if (c->state >= CS_READING && now >= c->deadline_ms)
            conn_timeout(c);
    }
}

void conn_drain_idle(worker *w)
{
    for (uint32_t i = 0; i < w->pool_hwm; i++) {
        conn *c = &w->pool[i];
        if (conn_is_idle(c))
            conn_close_graceful(c);
    }
}

void conn_close_all(worker *w)
{
    for (uint32_t i = 0; i < w->pool_hwm; i++) {
        conn *c = &w->pool[i];
        if (c->state == CS_CLOSED)
            continue;
        if (c->state != CS_CLOSING && !conn_is_idle(c))
            ctr_add(&w->st->timeouts, 1);   /* cut off by the shutdown timeout */
        conn_close(c);
    }
}
