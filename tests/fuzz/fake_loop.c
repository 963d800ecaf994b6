/*
 * fake_loop.c — the part of the vex_ loop API transport_tls.c uses, in
 * memory, for fuzz_tls.c: one socket, its callbacks, a write queue that
 * keeps every byte sent, the read pause, the half-close and one-shot
 * timers the driver fires. It refuses what the real loop refuses (a commit
 * without a reservation or of more than was reserved, a write after
 * vex_shutdown_write or vex_close: EPIPE/EBADF) and counts those refusals,
 * which the driver treats as bugs of the transport.
 */
#include "fake_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

fake_loop fake_loop_the;

void fake_loop_reset(void)
{
    free(fake_loop_the.out);
    memset(&fake_loop_the, 0, sizeof fake_loop_the);
}

int vex_sock_add(vex_loop *loop, int fd, const vex_sock_cbs *cbs, void *udata)
{
    (void)loop;
    fake_loop *f = &fake_loop_the;
    CHECK(!f->registered && cbs && cbs->on_data);
    f->registered = true;
    f->fd = fd;
    f->cbs = cbs;
    f->ud = udata;
    return 0;
}

void *vex_write_reserve(vex_loop *loop, int fd, size_t min, size_t *avail)
{
    (void)loop;
    fake_loop *f = &fake_loop_the;
    if (!f->registered || fd != f->fd) {
        f->misuse++;
        errno = EBADF;
        return NULL;
    }
    if (f->shut) {
        f->misuse++;
        errno = EPIPE;
        return NULL;
    }
    if (f->out_len + min > f->out_cap) {
        size_t cap = f->out_cap ? f->out_cap : 4096;
        while (cap < f->out_len + min)
            cap *= 2;
        char *p = realloc(f->out, cap);
        CHECK(p);
        f->out = p;
        f->out_cap = cap;
    }
    f->reserved = f->out_cap - f->out_len;
    *avail = f->reserved;
    return f->out + f->out_len;
}

int vex_write_commit(vex_loop *loop, int fd, size_t n)
{
    (void)loop;
    fake_loop *f = &fake_loop_the;
    if (!f->registered || fd != f->fd || n > f->reserved) {
        f->misuse++;
        errno = EINVAL;
        return -1;
    }
    f->out_len += n;
    f->reserved = 0;
    return 0;
}

size_t vex_write_pending(const vex_loop *loop, int fd)
{
    (void)loop;
    (void)fd;
    /* "the kernel" takes every byte at once, unless the driver drains itself
     * (fuzz_tls's http1 mode: so a long response waits for on_drain) */
    return fake_loop_the.count_pending ? fake_loop_the.out_len - fake_loop_the.drained : 0;
}

int vex_read_pause(vex_loop *loop, int fd)
{
    (void)loop;
    (void)fd;
    fake_loop_the.paused = true;
    return 0;
}

int vex_read_resume(vex_loop *loop, int fd)
{
    (void)loop;
    (void)fd;
    fake_loop_the.paused = false;
    return 0;
}

int vex_want_drain(vex_loop *loop, int fd)
{
    (void)loop;
    (void)fd;
    fake_loop_the.want_drain = true;
    return 0;
}

int vex_shutdown_write(vex_loop *loop, int fd)
{
    (void)loop;
    (void)fd;
    fake_loop_the.shut = true;
    return 0;
}

int vex_close(vex_loop *loop, int fd)
{
    (void)loop;
    fake_loop *f = &fake_loop_the;
    if (!f->registered || fd != f->fd) {
        f->misuse++;
        errno = EBADF;
        return -1;
    }
    f->registered = false;
    f->shut = true;
    f->timer = NULL;   /* a closed socket's timers are the owner's to stop */
    return 0;
}

int vex_timer_start(vex_loop *loop, vex_timer *t, uint64_t after_ms, uint64_t period_ms,
                    vex_timer_cb cb, void *data)
{
    (void)loop;
    (void)after_ms;
    CHECK(period_ms == 0);
    t->cb = cb;
    t->data = data;
    t->heap_index = 1;
    fake_loop_the.timer = t;
    return 0;
}

void vex_timer_stop(vex_loop *loop, vex_timer *t)
{
    (void)loop;
    t->heap_index = 0;
    if (fake_loop_the.timer == t)
        fake_loop_the.timer = NULL;
}

void fake_loop_fire_timer(void)
{
    vex_timer *t = fake_loop_the.timer;
    if (!t)
        return;
    fake_loop_the.timer = NULL;
    t->heap_index = 0;
    t->cb(NULL, t);
}
