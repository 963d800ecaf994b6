/*
 * fake_tp.c — the in-memory transport (fake_tp.h).
 */
#include "fake_tp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fake_tp *fake_tp_current;

static void fail(const char *what)
{
    fprintf(stderr, "fake_tp: %s\n", what);
    __builtin_trap();
}

static void out_add(fake_tp *f, const void *p, size_t n)
{
    if (f->out_len + n > f->out_cap) {
        size_t cap = f->out_cap ? f->out_cap : 4096;
        while (cap < f->out_len + n)
            cap *= 2;
        char *nb = realloc(f->out, cap);
        if (!nb)
            fail("out of memory");
        f->out = nb;
        f->out_cap = cap;
    }
    memcpy(f->out + f->out_len, p, n);
    f->out_len += n;
    f->pending += n;
    if (f->pending > f->max_pending)
        f->max_pending = f->pending;
}

static void usable(const fake_tp *f, const char *op)
{
    if (f->closed || f->shut) {
        fprintf(stderr, "fake_tp: %s after %s\n", op, f->closed ? "close" : "shutdown");
        __builtin_trap();
    }
}

static int f_open(tp *t) { fake_tp_current->t = t; return 0; }

static int f_flush(tp *t)
{
    fake_tp *f = fake_tp_current;
    tp_out *o = &t->env->out;
    if (o->owner != t)
        return 0;
    if (o->used)
        usable(f, "flush");
    out_add(f, o->p, o->used);
    o->owner = NULL;
    o->p = NULL;
    o->used = o->avail = 0;
    return 0;
}

static char *f_reserve(tp *t, size_t min, size_t *avail)
{
    fake_tp *f = fake_tp_current;
    tp_out *o = &t->env->out;
    usable(f, "reserve");
    if (o->owner == t && o->avail - o->used >= min) {
        *avail = o->avail - o->used;
        return o->p + o->used;
    }
    if (o->owner)
        o->owner->ops->flush(o->owner);
    if (f->file_inflight || f->pending >= FAKE_HIGH_WATER) {
        f->want_drain = true;
        errno = EAGAIN;
        return NULL;
    }
    size_t cap = min > 65536 ? min : 65536;
    if (cap > f->win_cap) {
        char *nb = realloc(f->win, cap);
        if (!nb) {
            errno = ENOMEM;
            return NULL;
        }
        f->win = nb;
        f->win_cap = cap;
    }
    o->owner = t;
    o->p = f->win;
    o->used = 0;
    o->avail = cap;
    *avail = cap;
    return o->p;
}

static int f_sendfile(tp *t, int fd, uint64_t off, uint64_t len)
{
    fake_tp *f = fake_tp_current;
    (void)t;
    usable(f, "sendfile");
    if (f->no_sendfile) {
        errno = ENOTSUP;
        return -1;
    }
    char buf[16384];
    while (len > 0) {
        size_t k = len < sizeof buf ? (size_t)len : sizeof buf;
        ssize_t n = pread(fd, buf, k, (off_t)off);
        if (n <= 0)
            fail("sendfile past the end of the file");
        out_add(f, buf, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    close(fd);
    f->file_inflight = true;   /* until "the kernel" has taken it */
    return 0;
}

static size_t f_pending(const tp *t) { (void)t; return fake_tp_current->pending; }
static int f_pause(tp *t, bool on) { (void)t; fake_tp_current->paused = on; return 0; }
static int f_want_drain(tp *t) { (void)t; fake_tp_current->want_drain = true; return 0; }

static int f_shutdown(tp *t)
{
    fake_tp *f = fake_tp_current;
    (void)t;
    usable(f, "shutdown");
    f->shut = true;
    f->shut_at = f->out_len;
    return 0;
}

static void f_close(tp *t)
{
    fake_tp *f = fake_tp_current;
    tp_out *o = &t->env->out;
    if (f->closed)
        fail("close twice");
    if (o->owner == t) {         /* what was not committed is dropped */
        o->owner = NULL;
        o->used = o->avail = 0;
    }
    f->closed = true;
}

const tp_ops fake_tp_ops = {
    .open = f_open, .reserve = f_reserve, .flush = f_flush,
    .sendfile = f_sendfile, .pending = f_pending, .pause = f_pause,
    .want_drain = f_want_drain, .shutdown = f_shutdown, .close = f_close,
};

void fake_tp_reset(fake_tp *f)
{
    char *out = f->out, *win = f->win;
    size_t out_cap = f->out_cap, win_cap = f->win_cap;
    memset(f, 0, sizeof *f);
    f->out = out;
    f->out_cap = out_cap;
    f->win = win;
    f->win_cap = win_cap;
}

void fake_tp_free(fake_tp *f)
{
    free(f->out);
    free(f->win);
    memset(f, 0, sizeof *f);
}
