/*
 * http_conn.c — a connection's request/response cycle: the loop callbacks,
 * request parsing, the output batch and backpressure.
 *
 * Input: the loop's bytes are parsed in place; only an incomplete request
 * (or requests held back by backpressure) is copied into the connection's
 * own buffer, which is freed as soon as it empties, so an idle keep-alive
 * connection holds no buffer.
 *
 * Output: every response of one callback goes into the worker's batch and
 * leaves in one vex_write, so pipelined responses share one send. When the
 * socket's queue passes OUT_HIGH we stop parsing, pause reading and resume
 * from on_drain: a client that does not read cannot make us buffer more.
 */
#include "server.h"
#include "bench_slowdown.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- output batch -------------------------------------------------------- */

static void write_failed(conn *c)
{
    ctr_add(&c->w->st->errors, 1);   /* EPIPE, ECONNRESET, or EAGAIN (a bug) */
    conn_close(c);
}

bool out_flush(conn *c)
{
    worker *w = c->w;
    if (c->state == CS_CLOSED)
        return false;
    if (w->out_len == 0 || w->out_conn != c)
        return true;
    size_t n = w->out_len;
    w->out_len = 0;
    w->out_conn = NULL;
    if (vex_write(w->loop, c->fd, w->out, n) < 0) {
        write_failed(c);
        return false;
    }
    ctr_add(&w->st->bytes_tx, n);
    return true;
}

bool out_put(conn *c, const void *p, size_t n)
{
    worker *w = c->w;
    if (w->out_len && w->out_conn != c)
        out_flush(w->out_conn);       /* not expected: one conn per callback */
    if (w->out_len + n > w->out_cap) {
        if (!out_flush(c))
            return false;
        if (n > w->out_cap) {
            if (vex_write(w->loop, c->fd, p, n) < 0) {
                write_failed(c);
                return false;
            }
            ctr_add(&w->st->bytes_tx, n);
            return true;
        }
    }
    memcpy(w->out + w->out_len, p, n);
    w->out_len += n;
    w->out_conn = c;
    return true;
}

void http_note_response(conn *c, int status)
{
    worker *w = c->w;
    stats_response(w->st, status);
    if (c->t0_ns) {              /* began in an earlier callback */
        stats_latency(w->st, now_ns() - c->t0_ns, 1);
        c->t0_ns = 0;
    } else {
        w->batch_n++;            /* timed once for the whole callback */
    }
}

void http_send_fixed(conn *c, enum resp_id id, enum resp_conn rc, bool head)
{
    const resp_fixed *f = &c->w->resp.r[id][rc];
    if (out_put(c, f->buf, head ? f->head_len : f->len))
        http_note_response(c, f->status);
}

void http_request_done(conn *c, bool keep_alive)
{
    if (c->state == CS_CLOSED || c->state == CS_CLOSING)
        return;
    if (!keep_alive) {
        conn_close_graceful(c);
        return;
    }
    c->state = CS_READING;
}

/* ---- input buffer -------------------------------------------------------- */

static bool in_append(conn *c, const char *p, size_t n)
{
    worker *w = c->w;
    size_t need = (size_t)c->in_len + n;
    /* Heads are capped by the parser (431); more than this can only pile up
     * if reading was not paused, which would be a bug: refuse to grow. */
    if (need > w->lim.max_head + 4 * (size_t)w->srv->cfg.buffer_size + 65536) {
        ctr_add(&w->st->errors, 1);
        conn_close(c);
        return false;
    }
    if (need > c->in_cap) {
        size_t cap = c->in_cap ? (size_t)c->in_cap * 2 : w->srv->cfg.buffer_size;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(c->in, cap);
        if (!nb) {
            ctr_add(&w->st->errors, 1);
            conn_close(c);
            return false;
        }
        c->in = nb;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len = (uint32_t)need;
    return true;
}

static void in_consume(conn *c, size_t used)
{
    if (!c->in)
        return;
    if (used >= c->in_len) {     /* empty: give the memory back */
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        return;
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= (uint32_t)used;
}

/* ---- requests ------------------------------------------------------------ */

static void handle_request(conn *c, const http_request *req)
{
    worker *w = c->w;
    bool ka = req->keep_alive && !w->draining;
    enum resp_conn rc = !ka ? RC_CLOSE : req->minor_version == 0 ? RC_KA10 : RC_KA11;
    bench_slowdown();   /* nothing unless built with BENCH_SLOWDOWN=N */
    route_request(c, req, rc, ka);
}

/* Parse and answer what buf holds. Returns the octets used; the rest (an
 * incomplete request, or requests held back by backpressure) is the
 * caller's to keep. */
static size_t conn_process(conn *c, const char *buf, size_t len)
{
    worker *w = c->w;
    size_t off = 0;
    while (off < len && c->state != CS_CLOSED) {
        if (vex_write_pending(w->loop, c->fd) + w->out_len > OUT_HIGH)
            break;
        if (c->job && c->job->kind == JOB_BODY) {
            off += stream_feed_body(c, buf + off, len - off);
            if (c->state == CS_CLOSED || c->state == CS_CLOSING)
                return len;
            if (c->job && c->job->kind == JOB_BODY)
                break;           /* the body needs more bytes */
            continue;
        }
        if (c->state != CS_READING)
            break;               /* streaming a response, or closing */
        c->state = CS_PROCESSING;
        int r = http_parse_request(buf + off, len - off, &w->lim, &w->req);
        if (r == 0) {
            c->state = CS_READING;
            if (!(c->flags & CF_IN_HEAD)) {
                /* The header timeout runs from a request's first byte and is
                 * not extended by later ones: a slowloris client that sends
                 * a byte now and then is still cut off. */
                c->flags |= CF_IN_HEAD;
                c->t0_ns = w->batch_t0;
                c->deadline_ms = w->batch_t0 / 1000000u + w->srv->cfg.header_timeout_ms;
            }
            break;
        }
        c->flags &= (uint8_t)~CF_IN_HEAD;
        if (r < 0) {
            /* Malformed or smuggling-prone: answer and close; nothing after
             * it on this connection can be trusted to be framed right. */
            http_send_fixed(c, resp_error_id(-r), RC_CLOSE, false);
            conn_close_graceful(c);
            return len;
        }
        off += (size_t)r;
        handle_request(c, &w->req);
    }
    return off;
}

/* The peer closed its side: answer what is complete, then close. */
static void eof_settle(conn *c)
{
    if (c->state == CS_WRITING)
        return;                  /* finish the streamed response first */
    if (c->job || (c->flags & CF_IN_HEAD)) {
        conn_close(c);           /* an incomplete request: nothing to answer */
        return;
    }
    if (c->in_len)
        return;                  /* requests held back; on_drain goes on */
    conn_close_when_flushed(c);
}

/* After a callback: send the batch, time it, and decide what the
 * connection waits for next. */
static void finish_turn(conn *c)
{
    worker *w = c->w;
    bool open = out_flush(c);
    if (w->batch_n) {
        stats_latency(w->st, now_ns() - w->batch_t0, w->batch_n);
        w->batch_n = 0;
    }
    if (!open || c->state == CS_CLOSED || c->state == CS_CLOSING)
        return;
    uint64_t now = w->batch_t0 / 1000000u;
    bool held = c->state == CS_READING && c->in_len && !(c->flags & CF_IN_HEAD) && !c->job;
    if (c->state == CS_WRITING || held || vex_write_pending(w->loop, c->fd) > OUT_HIGH) {
        if (!(c->flags & CF_PAUSED)) {
            vex_read_pause(w->loop, c->fd);
            c->flags |= CF_PAUSED;
        }
        vex_want_drain(w->loop, c->fd);
        c->deadline_ms = now + w->srv->cfg.idle_timeout_ms;  /* write stall */
        return;
    }
    if (c->flags & CF_PAUSED) {
        vex_read_resume(w->loop, c->fd);
        c->flags &= (uint8_t)~CF_PAUSED;
    }
    if (c->flags & CF_EOF) {
        eof_settle(c);
        return;
    }
    if (!(c->flags & CF_IN_HEAD))
        c->deadline_ms = now + w->srv->cfg.idle_timeout_ms;  /* idle or body */
}

/* ---- loop callbacks ------------------------------------------------------ */

static void on_eof(conn *c, ssize_t n)
{
    if (n < 0) {                 /* ECONNRESET & co.: nobody to answer */
        if (c->state != CS_CLOSING)
            ctr_add(&c->w->st->errors, 1);
        conn_close(c);
        return;
    }
    c->flags |= CF_EOF;
    if (c->state == CS_CLOSING) {
        conn_close_when_flushed(c);   /* the lingering close is over */
        return;
    }
    if (!(c->flags & CF_PAUSED))
        eof_settle(c);
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *ud)
{
    (void)loop;
    (void)fd;
    conn *c = ud;
    worker *w = c->w;
    if (n <= 0) {
        on_eof(c, n);
        return;
    }
    ctr_add(&w->st->bytes_rx, (uint64_t)n);
    if (c->state == CS_CLOSING)
        return;                  /* lingering close: discard */
    w->batch_t0 = now_ns();
    if (c->in_len == 0) {
        size_t used = conn_process(c, data, (size_t)n);
        if (c->state == CS_CLOSED)
            return;
        if (used < (size_t)n && c->state != CS_CLOSING
            && !in_append(c, data + used, (size_t)n - used))
            return;
    } else {
        if (!in_append(c, data, (size_t)n))
            return;
        size_t used = conn_process(c, c->in, c->in_len);
        if (c->state == CS_CLOSED)
            return;
        in_consume(c, used);
    }
    finish_turn(c);
}

static void on_drain(vex_loop *loop, int fd, void *ud)
{
    (void)loop;
    (void)fd;
    conn *c = ud;
    worker *w = c->w;
    if (c->state == CS_CLOSED)
        return;
    if (c->flags & CF_FLUSHCLOSE) {
        conn_close(c);
        return;
    }
    if (c->state == CS_CLOSING)
        return;
    w->batch_t0 = now_ns();
    if (c->state == CS_WRITING && c->job) {
        stream_pump(c);
        if (c->state == CS_CLOSED)
            return;
    }
    if (c->state == CS_READING && c->in_len) {
        size_t used = conn_process(c, c->in, c->in_len);
        if (c->state == CS_CLOSED)
            return;
        in_consume(c, used);
    }
    finish_turn(c);
}

const vex_sock_cbs http_cbs = { on_data, on_drain };
