/*
 * transport_tls.c — HTTPS over the same loop I/O as transport_tcp.c.
 *
 * OpenSSL never touches the socket: what the loop delivers goes into a
 * memory BIO, and the records OpenSSL writes into the other memory BIO are
 * copied into the socket's own queue, so every backend (epoll, poll, kqueue,
 * io_uring) runs this unchanged. The window is a plaintext buffer of the
 * thread (tp_env.tls_pt); flush encrypts all of it in one SSL_write
 * (records of up to 16 KiB) and queues the records for the loop's one send per turn, so a
 * pipelined burst of responses becomes few records and one send.
 * sendfile says ENOTSUP: the layer above reads the file and writes it in
 * pieces under backpressure.
 */
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TLS_READ_CHUNK 16384
#define TLS_PT_KEEP (256u * 1024)

typedef struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio;        /* network side: in from the socket, out to it  */
    unsigned busy;           /* inside our callback: close only marks        */
    bool handshaken, closed, paused, failed;
    vex_timer kick;          /* deliver what was decrypted before a pause    */
    tp *t;
} tls_conn;

static void tc_free(tls_conn *tc)
{
    SSL_free(tc->ssl);       /* frees both BIOs */
    free(tc);
}

/* Move OpenSSL's output records into the socket queue. */
static int push_records(tls_conn *tc)
{
    tp *t = tc->t;
    size_t n;
    while ((n = BIO_ctrl_pending(tc->wbio)) > 0) {
        size_t room = 0;
        char *p = vex_write_reserve(t->env->loop, t->fd, n, &room);
        if (!p)
            return -1;
        int got = BIO_read(tc->wbio, p, (int)(n < room ? n : room));
        if (vex_write_commit(t->env->loop, t->fd, got > 0 ? (size_t)got : 0) < 0)
            return -1;
    }
    return 0;
}

static void out_end(tp_out *o)
{
    if (o->owner)
        o->owner->ops->flush(o->owner);
}

static void fail_conn(tls_conn *tc, int err)
{
    tp *t = tc->t;
    ERR_clear_error();
    if (tc->failed)
        return;
    tc->failed = true;
    t->env->up->on_input(t, NULL, -err);
}

static void hs_failed(tls_conn *tc)
{
    ctr_add(&tc->t->env->st->tls_hs_failed, 1);
    fail_conn(tc, EPROTO);
}

/* Decrypt and deliver until OpenSSL has nothing or the layer above
 * paused or closed us. */
static void deliver(tls_conn *tc)
{
    tp *t = tc->t;
    if (!tc->handshaken) {
        int r = SSL_do_handshake(tc->ssl);
        if (r != 1) {
            int e = SSL_get_error(tc->ssl, r);
            push_records(tc);   /* an alert, or the next flight */
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                hs_failed(tc);
            return;
        }
        tc->handshaken = true;
        ctr_add(&t->env->st->tls_hs_ok, 1);
        if (SSL_session_reused(tc->ssl))
            ctr_add(&t->env->st->tls_resumed, 1);
    }
    char buf[TLS_READ_CHUNK];
    while (!tc->closed && !tc->paused && !tc->failed) {
        int r = SSL_read(tc->ssl, buf, sizeof buf);
        if (r > 0) {
            t->env->up->on_input(t, buf, r);
            out_end(&t->env->out);
            continue;
        }
        int e = SSL_get_error(tc->ssl, r);
        push_records(tc);   /* TLS 1.3 tickets, alerts */
        if (e == SSL_ERROR_WANT_READ)
            return;
        if (e == SSL_ERROR_ZERO_RETURN) {   /* close_notify: an orderly EOF */
            ERR_clear_error();
            t->env->up->on_input(t, buf, 0);
            return;
        }
        fail_conn(tc, EPROTO);
        return;
    }
}

static void cb_end(tls_conn *tc)
{
    out_end(&tc->t->env->out);
    if (--tc->busy == 0 && tc->closed)
        tc_free(tc);
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *ud)
{
    (void)loop;
    (void)fd;
    tls_conn *tc = ud;
    tc->busy++;
    tp_note_read(tc->t, n);
    if (n <= 0) {
        if (!tc->handshaken && !tc->failed) {
            tc->failed = true;
            ctr_add(&tc->t->env->st->tls_hs_failed, 1);
        }
        tc->t->env->up->on_input(tc->t, data, n);
    } else if (BIO_write(tc->rbio, data, (int)n) != (int)n) {
        fail_conn(tc, ENOMEM);
    } else {
        deliver(tc);
    }
    cb_end(tc);
}

static void on_drain(vex_loop *loop, int fd, void *ud)
{
    (void)loop;
    (void)fd;
    tls_conn *tc = ud;
    tc->busy++;
    tc->t->env->up->on_drain(tc->t);
    cb_end(tc);
}

static void on_kick(vex_loop *loop, vex_timer *timer)
{
    (void)loop;
    tls_conn *tc = timer->data;
    tc->busy++;
    deliver(tc);
    cb_end(tc);
}

static const vex_sock_cbs tls_cbs = { on_data, on_drain };

static int tls_open(tp *t)
{
    SSL_CTX *ctx = t->env->open_arg;
    tls_conn *tc = calloc(1, sizeof *tc);
    if (!tc || !ctx)
        goto fail;
    tc->t = t;
    tc->ssl = SSL_new(ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (!tc->ssl || !tc->rbio || !tc->wbio) {
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        SSL_free(tc->ssl);
        goto fail;
    }
    /* An empty read BIO says "retry", not EOF. */
    BIO_set_mem_eof_return(tc->rbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_accept_state(tc->ssl);
    t->x = tc;
    if (vex_sock_add(t->env->loop, t->fd, &tls_cbs, tc) < 0) {
        t->x = NULL;
        tc_free(tc);
        return -1;
    }
    return 0;
fail:
    free(tc);
    ERR_clear_error();
    errno = ENOMEM;
    return -1;
}

static char *tls_reserve(tp *t, size_t min, size_t *avail)
{
    tp_out *o = &t->env->out;
    if (o->owner == t && o->avail - o->used >= min) {
        *avail = o->avail - o->used;
        return o->p + o->used;
    }
    if (o->owner != t)
        out_end(o);
    size_t used = o->owner == t ? o->used : 0;
    tp_env *e = t->env;
    if (used + min > e->tls_pt_cap) {
        size_t cap = e->tls_pt_cap ? e->tls_pt_cap : 4096;
        while (cap < used + min)
            cap *= 2;
        char *p = realloc(e->tls_pt, cap);
        if (!p)
            return NULL;
        e->tls_pt = p;
        e->tls_pt_cap = cap;
    }
    o->owner = t;
    o->p = e->tls_pt;
    o->used = used;
    o->avail = e->tls_pt_cap;
    *avail = o->avail - o->used;
    return o->p + o->used;
}

static int tls_flush(tp *t)
{
    tls_conn *tc = t->x;
    size_t n;
    if (!tp_out_take(t, &n))
        return 0;
    if (tc->failed || !tc->handshaken) {
        errno = EPIPE;
        return -1;
    }
    if (n) {
        size_t done = 0;
        if (SSL_write_ex(tc->ssl, t->env->tls_pt, n, &done) != 1 || done != n) {
            ERR_clear_error();
            errno = EPIPE;
            return -1;
        }
    }
    /* The thread keeps its window up to the size of a file piece and its
     * head (64 KiB + a few); an unusually large one is given back. */
    if (t->env->tls_pt_cap > TLS_PT_KEEP)
        tp_env_free(t->env);
    return push_records(tc);
}

static int tls_sendfile(tp *t, int fd, uint64_t off, uint64_t len)
{
    (void)t;
    (void)fd;
    (void)off;
    (void)len;
    errno = ENOTSUP;
    return -1;
}

static size_t tls_pending(const tp *t)
{
    const tls_conn *tc = t->x;
    return vex_write_pending(t->env->loop, t->fd) + BIO_ctrl_pending(tc->wbio);
}

static int tls_pause(tp *t, bool on)
{
    tls_conn *tc = t->x;
    tc->paused = on;
    if (on)
        return vex_read_pause(t->env->loop, t->fd);
    /* Records already decrypted (or buffered) are delivered from a timer,
     * not from inside the caller's callback. */
    if (SSL_pending(tc->ssl) > 0 || BIO_ctrl_pending(tc->rbio) > 0)
        vex_timer_start(t->env->loop, &tc->kick, 0, 0, on_kick, tc);
    return vex_read_resume(t->env->loop, t->fd);
}

static int tls_want_drain(tp *t) { return vex_want_drain(t->env->loop, t->fd); }

/* close_notify after what is queued (the FIN comes with the shutdown or
 * the close). */
static int tls_finish(tp *t)
{
    tls_conn *tc = t->x;
    if (tc->handshaken && !tc->failed) {
        SSL_shutdown(tc->ssl);
        ERR_clear_error();
        return push_records(tc);
    }
    return 0;
}

static int tls_shutdown(tp *t)
{
    tls_finish(t);
    return vex_shutdown_write(t->env->loop, t->fd);
}

/* Records received but not yet decrypted and delivered are input the
 * peer sent after what was answered (pipelined requests): not quiet. */
static bool tls_input_quiet(const tp *t)
{
    const tls_conn *tc = t->x;
    return !t->rx_full && BIO_ctrl_pending(tc->rbio) == 0 && SSL_pending(tc->ssl) == 0;
}

static void tls_close(tp *t)
{
    tls_conn *tc = t->x;
    tp_out *o = &t->env->out;
    if (o->owner == t) {
        o->owner = NULL;
        o->used = o->avail = 0;
    }
    vex_timer_stop(t->env->loop, &tc->kick);
    vex_close(t->env->loop, t->fd);
    t->x = NULL;
    tc->closed = true;
    if (tc->busy == 0)
        tc_free(tc);
}

const tp_ops tp_tls_ops = {
    .open = tls_open, .reserve = tls_reserve,
    .flush = tls_flush, .sendfile = tls_sendfile, .pending = tls_pending,
    .pause = tls_pause, .want_drain = tls_want_drain, .shutdown = tls_shutdown,
    .finish = tls_finish, .input_quiet = tls_input_quiet, .close = tls_close,
};
