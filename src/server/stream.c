/*
 * stream.c — request bodies and streamed responses.
 *
 * Bodies: Content-Length bodies to /echo are echoed as they arrive (the
 * response head goes out first, its length known); chunked bodies are
 * decoded and, for /echo, collected up to --max-body before answering,
 * because an invalid chunk must still be answerable with 400. Bodies sent
 * to other routes are read and discarded before the reply, which keeps the
 * connection usable.
 *
 * Responses go to the loop as files with vex_sendfile (sendfile(2), or ring
 * reads on io_uring), after the head: a /static/ file whole, /bytes/N in
 * BYTES_FILE pieces of a memfd holding the pattern, each piece handed over
 * from the previous one's on_drain. Nothing is copied into the socket's
 * queue and nothing is held per connection, whatever the size. Without a
 * memfd (memfd_create refused), /bytes/N is copied in STREAM_CHUNK pieces
 * while the queue is under OUT_HIGH, the rest waiting for on_drain.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void body_done(conn *c)
{
    worker *w = c->w;
    job *j = c->job;
    bool keep = j->rc != RC_CLOSE;
    enum resp_conn rc = (enum resp_conn)j->rc;
    c->job = NULL;
    switch (j->sink) {
    case SINK_DISCARD:
        http_send_fixed(c, (enum resp_id)j->reply, rc, j->head_only);
        break;
    case SINK_ECHO_STREAM:
        http_note_response(c, 200);   /* head and body already queued */
        break;
    case SINK_ECHO_BUFFER: {
        char head[512];
        hb b = {head, 0, sizeof head, 0};
        hb_head(&b, &w->resp, 200, "application/octet-stream",
                (int64_t)j->body_len, rc, NULL);
        if (out_put(c, head, b.len) && out_put(c, j->body, j->body_len))
            http_note_response(c, 200);
        break;
    }
    }
    job_put(w, j);
    if (c->state != CS_CLOSED)
        http_request_done(c, keep);
}

static void body_failed(conn *c, int status)
{
    job_put(c->w, c->job);
    c->job = NULL;
    http_send_fixed(c, resp_error_id(status), RC_CLOSE, false);
    conn_close_graceful(c);
}

void stream_start_body(conn *c, const http_request *req, enum body_sink sink,
                       enum resp_id reply, enum resp_conn rc)
{
    worker *w = c->w;
    job *j = job_get(w, JOB_BODY);
    if (!j) {
        ctr_add(&w->st->errors, 1);
        http_send_fixed(c, R_E500, RC_CLOSE, false);
        conn_close_graceful(c);
        return;
    }
    if (!c->t0_ns)
        c->t0_ns = w->batch_t0;
    j->sink = (uint8_t)sink;
    j->reply = (uint8_t)reply;
    j->rc = (uint8_t)rc;
    j->head_only = req->method == HTTP_HEAD;
    j->chunked = req->body == HTTP_BODY_CHUNKED;
    if (j->chunked)
        http_chunked_init(&j->dec, w->lim.max_body);
    else
        j->remaining = req->content_length;
    c->job = j;
    c->state = CS_READING;

    if (req->expect_continue) {
        if (sink == SINK_DISCARD) {
            /* We do not want the body: answer now and close rather than
             * invite it (RFC 9110 §10.1.1). */
            c->job = NULL;
            job_put(w, j);
            http_send_fixed(c, reply, RC_CLOSE, req->method == HTTP_HEAD);
            conn_close_graceful(c);
            return;
        }
        if (!out_put(c, continue_100, sizeof continue_100 - 1))
            return;
    }
    if (sink == SINK_ECHO_STREAM) {
        char head[512];
        hb b = {head, 0, sizeof head, 0};
        hb_head(&b, &w->resp, 200, "application/octet-stream",
                (int64_t)j->remaining, rc, NULL);
        if (!out_put(c, head, b.len))
            return;
    }
    if (!j->chunked && j->remaining == 0)
        body_done(c);
}

size_t stream_feed_body(conn *c, const char *data, size_t len)
{
    worker *w = c->w;
    job *j = c->job;
    if (!j->chunked) {
        size_t k = len < j->remaining ? len : (size_t)j->remaining;
        if (j->sink == SINK_ECHO_STREAM && !out_put(c, data, k))
            return len;
        j->remaining -= k;
        if (j->remaining == 0)
            body_done(c);
        return k;
    }
    /* The decoder works in place, and the loop's bytes are read-only:
     * decode a copy, piece by piece. */
    size_t used_total = 0;
    while (used_total < len) {
        size_t piece = len - used_total;
        if (piece > w->scratch_cap)
            piece = w->scratch_cap;
        memcpy(w->scratch, data + used_total, piece);
        size_t out = piece, used = 0;
        int r = http_chunked_decode(&j->dec, w->scratch, &out, &used);
        if (r < 0) {
            body_failed(c, -r);
            return len;
        }
        if (j->sink == SINK_ECHO_BUFFER && out) {
            if (j->body_len + out > j->body_cap) {
                size_t cap = j->body_cap ? j->body_cap * 2 : 4096;
                while (cap < j->body_len + out)
                    cap *= 2;
                char *nb = realloc(j->body, cap);
                if (!nb) {
                    ctr_add(&w->st->errors, 1);
                    body_failed(c, 500);
                    return len;
                }
                j->body = nb;
                j->body_cap = cap;
            }
            memcpy(j->body + j->body_len, w->scratch, out);
            j->body_len += out;
        }
        used_total += used;
        if (r == 1) {
            body_done(c);
            return used_total;
        }
        if (used == 0)
            break;               /* keep the rest for the next delivery */
    }
    return used_total;
}

void stream_start_bytes(conn *c, uint64_t n, enum resp_conn rc, bool head)
{
    worker *w = c->w;
    char hbuf[512];
    hb b = {hbuf, 0, sizeof hbuf, 0};
    hb_head(&b, &w->resp, 200, "application/octet-stream", (int64_t)n, rc, NULL);
    if (!out_put(c, hbuf, b.len))
        return;
    if (head || n == 0) {
        http_note_response(c, 200);
        http_request_done(c, rc != RC_CLOSE);
        return;
    }
    job *j = job_get(w, JOB_BYTES);
    if (!j) {
        ctr_add(&w->st->errors, 1);
        conn_close(c);           /* the head is out: we cannot answer 500 */
        return;
    }
    j->remaining = n;
    j->rc = (uint8_t)rc;
    c->job = j;
    c->state = CS_WRITING;
    if (!c->t0_ns)
        c->t0_ns = w->batch_t0;
    stream_pump(c);
}

/* Hand the loop the next piece of a file-backed response: a /static/ file
 * whole, or the next BYTES_FILE piece of /bytes/N from the server's pattern
 * memfd. One file job at a time: the next piece waits for on_drain.
 * Returns false if the connection was closed. */
static bool hand_file_piece(conn *c, job *j)
{
    worker *w = c->w;
    int fd = j->file_fd;
    uint64_t off = j->off, len = j->remaining;
    if (j->kind == JOB_BYTES) {
        fd = fcntl(w->srv->bytes_fd, F_DUPFD_CLOEXEC, 0);   /* the loop takes it */
        off = 0;
        if (len > BYTES_FILE)
            len = BYTES_FILE;
    }
    /* If the file shrinks or fails under the loop, the socket fails (on_data
     * -EIO) and the connection ends: the promised length cannot be kept. */
    if (fd < 0 || vex_sendfile(w->loop, c->fd, fd, off, len) < 0) {
        if (fd >= 0 && j->kind == JOB_BYTES)
            close(fd);
        ctr_add(&w->st->errors, 1);
        conn_close(c);           /* job_put closes a /static/ file: still ours */
        return false;
    }
    if (j->kind == JOB_FILE)
        j->file_fd = -1;         /* the loop's now */
    ctr_add(&w->st->bytes_tx, len);
    j->remaining -= len;
    return true;
}

static bool by_file(const conn *c, const job *j)
{
    return j->kind == JOB_FILE || (j->kind == JOB_BYTES && c->w->srv->bytes_fd >= 0);
}

void stream_pump(conn *c)
{
    worker *w = c->w;
    job *j = c->job;
    if (!out_flush(c))
        return;
    if (by_file(c, j)) {
        /* on_drain brings us back once the piece is out; no vex_write
         * may come while a file is in flight */
        if (j->remaining > 0 && !hand_file_piece(c, j))
            return;
        if (vex_write_pending(w->loop, c->fd) > 0) {
            c->state = CS_WRITING;
            return;
        }
    }
    while (j->remaining > 0 && vex_write_pending(w->loop, c->fd) < OUT_HIGH) {
        size_t k = j->remaining < STREAM_CHUNK ? (size_t)j->remaining : STREAM_CHUNK;
        const char *p = w->srv_pattern;
        if (vex_write(w->loop, c->fd, p, k) < 0) {
            ctr_add(&w->st->errors, 1);
            conn_close(c);
            return;
        }
        ctr_add(&w->st->bytes_tx, k);
        j->remaining -= k;
    }
    if (j->remaining > 0) {
        c->state = CS_WRITING;   /* finish_turn pauses reading, waits for drain */
        return;
    }
    bool keep = j->rc != RC_CLOSE;
    c->job = NULL;
    job_put(w, j);
    c->state = CS_READING;
    http_note_response(c, 200);
    http_request_done(c, keep);
}
