/*
 * transport_tls.c — HTTPS over the same loop I/O as transport_tcp.c.
 *
 * OpenSSL never touches the socket: it reads through one BIO of ours (tls_bio)
 * straight from the buffer the loop delivered, and the records it writes go
 * straight into the socket's own queue, so every backend (epoll, poll,
 * kqueue, io_uring) runs this unchanged. Bytes are copied only where OpenSSL
 * must (into its record buffer, and its records into the queue): input left
 * unread when a callback ends, and records refused by a queue above its high
 * water, are kept in the connection's spill buffers until the next delivery
 * or drain. The window is a plaintext buffer of the
 * thread (tp_env.tls_pt); flush encrypts all of it in one SSL_write
 * (records of up to 16 KiB) and queues the records for the loop's one send per turn, so a
 * pipelined burst of responses becomes few records and one send.
 * sendfile says ENOTSUP: the layer above reads the file and writes it in
 * pieces under backpressure.
 */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TLS_READ_CHUNK 16384
#define TLS_PT_KEEP (256u * 1024)

typedef struct spill {
    char *p;
    size_t off, len, cap;    /* bytes p[off, off+len) are held               */
} spill;

typedef struct tls_conn {
    SSL *ssl;
    const char *in;          /* unread input: the loop's buffer or in_keep's */
    size_t in_n;
    bool in_kept;            /* in points into in_keep                       */
    spill in_keep, out_keep; /* input left at a callback's end; records the
                                queue refused (EAGAIN above its high water)  */
    unsigned busy;           /* inside our callback: close only marks        */
    bool handshaken, closed, paused, failed;
    vex_timer kick;          /* deliver what was decrypted before a pause    */
    tp *t;
} tls_conn;

static void tc_free(tls_conn *tc)
{
    SSL_free(tc->ssl);       /* frees the BIO */
    free(tc->in_keep.p);
    free(tc->out_keep.p);
    free(tc);
}

static int spill_add(spill *s, const char *p, size_t n)
{
    if (s->len == 0)
        s->off = 0;
    if (s->off + s->len + n > s->cap) {
        if (s->off) {
            memmove(s->p, s->p + s->off, s->len);
            s->off = 0;
        }
        if (s->len + n > s->cap) {
            size_t cap = s->cap ? s->cap : 4096;
            while (cap < s->len + n)
                cap *= 2;
            char *q = realloc(s->p, cap);
            if (!q)
                return -1;
            s->p = q;
            s->cap = cap;
        }
    }
    memcpy(s->p + s->off + s->len, p, n);
    s->len += n;
    return 0;
}

/* Copy bytes into the socket queue; 0 when all went, 1 when the queue is
 * above its high water (EAGAIN: the rest waits for on_drain), -1 on error. */
static int queue_bytes(tls_conn *tc, const char *p, size_t n, size_t *done)
{
    tp *t = tc->t;
    *done = 0;
    while (*done < n) {
        size_t room = 0;
        char *q = vex_write_reserve(t->env->loop, t->fd, n - *done, &room);
        if (!q)
            return errno == EAGAIN ? 1 : -1;
        size_t k = n - *done < room ? n - *done : room;
        memcpy(q, p + *done, k);
        if (vex_write_commit(t->env->loop, t->fd, k) < 0)
            return -1;
        *done += k;
    }
    return 0;
}

/* Move records the queue refused before into it, now that it may take them. */
static int push_records(tls_conn *tc)
{
    spill *s = &tc->out_keep;
    if (s->len == 0 || tc->closed)
        return 0;
    size_t done = 0;
    int r = queue_bytes(tc, s->p + s->off, s->len, &done);
    s->off += done;
    s->len -= done;
    return r < 0 ? -1 : 0;
}

/* ---- the BIO OpenSSL reads and writes through -------------------------- */

static int bio_write(BIO *b, const char *p, int n)
{
    tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    if (tc->closed)
        return -1;
    size_t done = 0;
    if (tc->out_keep.len == 0) {   /* else keep the order: after the held ones */
        int r = queue_bytes(tc, p, (size_t)n, &done);
        if (r < 0)
            return -1;
    }
    if (done < (size_t)n && spill_add(&tc->out_keep, p + done, (size_t)n - done) < 0)
        return -1;
    return n;
}

static int bio_read(BIO *b, char *p, int n)
{
    tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (tc->in_n == 0) {
        BIO_set_retry_read(b);     /* empty: "retry", never EOF */
        return -1;
    }
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > tc->in_n)
        k = tc->in_n;
    memcpy(p, tc->in, k);
    tc->in += k;
    tc->in_n -= k;
    return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tls_conn *tc = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return tc && tc->in_n < LONG_MAX ? (long)tc->in_n : 0;
    case BIO_CTRL_WPENDING:
        return tc ? (long)tc->out_keep.len : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    int type = BIO_get_new_index();
    BIO_METHOD *m = type < 0 ? NULL : BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "vex_tls");
    if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
        bio_method = m;
    else
        BIO_meth_free(m);
}

/* Input left unread at the end of a callback (the layer above paused or
 * closed, or a partial record): the loop's buffer is gone after it. */
static int keep_input(tls_conn *tc)
{
    spill *s = &tc->in_keep;
    if (tc->in_n == 0 || tc->closed) {
        s->len = 0;
        tc->in_n = 0;
        tc->in_kept = false;
        return 0;
    }
    if (tc->in_kept) {   /* already ours */
        s->off = (size_t)(tc->in - s->p);
        s->len = tc->in_n;
        return 0;
    }
    s->len = 0;
    if (spill_add(s, tc->in, tc->in_n) < 0) {
        tc->in_n = 0;
        return -1;
    }
    tc->in = s->p + s->off;
    tc->in_kept = true;
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
    } else {
        if (!tc->in_kept) {
            tc->in = data;
            tc->in_n = (size_t)n;
        } else {   /* after input kept from before: append, in order */
            spill *s = &tc->in_keep;
            s->off = (size_t)(tc->in - s->p);
            s->len = tc->in_n;
            if (spill_add(s, data, (size_t)n) < 0) {
                fail_conn(tc, ENOMEM);
                cb_end(tc);
                return;
            }
            tc->in = s->p + s->off;
            tc->in_n = s->len;
        }
        deliver(tc);
        if (keep_input(tc) < 0)
            fail_conn(tc, ENOMEM);
    }
    cb_end(tc);
}

static void on_drain(vex_loop *loop, int fd, void *ud)
{
    (void)loop;
    (void)fd;
    tls_conn *tc = ud;
    tc->busy++;
    if (push_records(tc) < 0)   /* records the queue refused before */
        fail_conn(tc, EPIPE);
    else if (tc->out_keep.len == 0)
        tc->t->env->up->on_drain(tc->t);
    cb_end(tc);
}

static void on_kick(vex_loop *loop, vex_timer *timer)
{
    (void)loop;
    tls_conn *tc = timer->data;
    tc->busy++;
    deliver(tc);
    keep_input(tc);   /* what is left is in in_keep already: no copy */
    cb_end(tc);
}

static const vex_sock_cbs tls_cbs = { on_data, on_drain };

static int tls_open(tp *t)
{
    SSL_CTX *ctx = t->env->open_arg;
    pthread_once(&bio_once, bio_method_init);
    tls_conn *tc = calloc(1, sizeof *tc);
    if (!tc || !ctx || !bio_method)
        goto fail;
    tc->t = t;
    tc->ssl = SSL_new(ctx);
    BIO *bio = BIO_new(bio_method);
    if (!tc->ssl || !bio) {
        BIO_free(bio);
        SSL_free(tc->ssl);
        goto fail;
    }
    BIO_set_data(bio, tc);
    SSL_set_bio(tc->ssl, bio, bio);   /* one BIO both ways, one reference */
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
    return vex_write_pending(t->env->loop, t->fd) + tc->out_keep.len;
}

static int tls_pause(tp *t, bool on)
{
    tls_conn *tc = t->x;
    tc->paused = on;
    if (on)
        return vex_read_pause(t->env->loop, t->fd);
    /* Records already decrypted (or buffered) are delivered from a timer,
     * not from inside the caller's callback. */
    if (SSL_pending(tc->ssl) > 0 || tc->in_n > 0)
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
    return !t->rx_full && tc->in_n == 0 && SSL_pending(tc->ssl) == 0;
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
