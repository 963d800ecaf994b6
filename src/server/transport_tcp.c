/*
 * transport_tcp.c — plain TCP: the only place the server calls vex_* I/O
 * for a connection.
 *
 * The window is room reserved at the end of the socket's own queue
 * (vex_write_reserve), so responses are formatted or copied there once and
 * leave with the loop's one send per turn. Every loop callback ends with
 * the window committed: a reservation must not outlive the callback.
 */
#include "transport.h"

#include <errno.h>
#include <string.h>


static void out_end(tp_out *o)
{
    if (o->owner)
        o->owner->ops->flush(o->owner);
}

static void on_data(vex_loop *loop, int fd, const char *data, ssize_t n, void *ud)
{
    (void)loop;
    (void)fd;
    tp *t = ud;
    tp_env *e = t->env;
    e->up->on_input(t, data, n);
    out_end(&e->out);
}

static void on_drain(vex_loop *loop, int fd, void *ud)
{
    (void)loop;
    (void)fd;
    tp *t = ud;
    tp_env *e = t->env;
    e->up->on_drain(t);
    out_end(&e->out);
}

static const vex_sock_cbs tcp_cbs = { on_data, on_drain };

static int tcp_open(tp *t)
{
    return vex_sock_add(t->env->loop, t->fd, &tcp_cbs, t);
}

static char *tcp_reserve(tp *t, size_t min, size_t *avail)
{
    tp_out *o = &t->env->out;
    if (o->owner == t && o->avail - o->used >= min) {
        *avail = o->avail - o->used;
        return o->p + o->used;
    }
    out_end(o);
    size_t room = 0;
    /* Only what is asked for: the queue grows by doubling (a spare queue
     * from the loop usually has room already), and a larger reservation
     * would be memory held by every connection with a response in flight. */
    char *p = vex_write_reserve(t->env->loop, t->fd, min, &room);
    if (!p)
        return NULL;
    o->owner = t;
    o->p = p;
    o->used = 0;
    o->avail = room;
    *avail = room;
    return p;
}

static int tcp_flush(tp *t)
{
    size_t n;
    if (!tp_out_take(t, &n))
        return 0;
    if (vex_write_commit(t->env->loop, t->fd, n) < 0)
        return -1;
    return 0;
}

static int tcp_sendfile(tp *t, int fd, uint64_t off, uint64_t len)
{
    return vex_sendfile(t->env->loop, t->fd, fd, off, len);
}

static size_t tcp_pending(const tp *t)
{
    return vex_write_pending(t->env->loop, t->fd);
}

static int tcp_pause(tp *t, bool on)
{
    return on ? vex_read_pause(t->env->loop, t->fd) : vex_read_resume(t->env->loop, t->fd);
}

static int tcp_want_drain(tp *t) { return vex_want_drain(t->env->loop, t->fd); }
static int tcp_shutdown(tp *t) { return vex_shutdown_write(t->env->loop, t->fd); }
/* The loop delivers all it reads (held data only exists while paused,
 * which the layer above checks); whether the last read filled its buffer
 * http1 sees itself (its n is this transport's read). */
static bool tcp_input_quiet(const tp *t) { (void)t; return true; }

static void tcp_close(tp *t)
{
    tp_out *o = &t->env->out;
    if (o->owner == t) {   /* what was not committed is dropped */
        o->owner = NULL;
        o->used = o->avail = 0;
    }
    vex_close(t->env->loop, t->fd);
}

const tp_ops tp_tcp_ops = {
    .open = tcp_open, .reserve = tcp_reserve,
    .flush = tcp_flush, .sendfile = tcp_sendfile, .pending = tcp_pending,
    .pause = tcp_pause, .want_drain = tcp_want_drain, .shutdown = tcp_shutdown,
    .input_quiet = tcp_input_quiet, .close = tcp_close,
};
