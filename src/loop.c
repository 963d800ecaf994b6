/*
 * loop.c — the backend-independent core: the fd table, the turn of the loop
 * (flush output, wait, timers, held data), user callbacks, and argument
 * checking so that misuse returns EBADF/EINVAL instead of crashing.
 *
 * Memory rule: a socket's struct is never freed while a callback could still
 * hold it. Closing detaches it (VS_DETACHED) and puts it on the dead list,
 * which is emptied at the start of the next turn; a backend with operations
 * still in flight keeps it until their completions have arrived.
 */
#include "loop_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && !defined(VEX_PORTABLE)   /* else a pipe */
#include <sys/eventfd.h>
#endif

int vex__timers_next_timeout(const vex_loop *l);
int vex__timers_run(vex_loop *l);

#define DEFAULT_RECV_BUF   16384u
#define DEFAULT_RECV_COUNT 1024u
#define DEFAULT_HIGH_WATER (1u << 20)
#define DEFAULT_RING       4096u

const char *vex_backend_name(void) { return vex__backend_name; }

int vex_backend_available(char *why, size_t why_len)
{
    return vex__backend_available(why, why_len);
}

uint64_t vex__core_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t vex_now_ms(const vex_loop *l) { return l ? l->now_ms : 0; }
uint64_t vex_loop_syscalls(const vex_loop *l) { return l ? l->syscalls : 0; }

/* ---- fd table ----------------------------------------------------------- */

vex_sock *vex__core_sock(const vex_loop *l, int fd)
{
    if (fd < 0 || (unsigned)fd >= l->max_fds)
        return NULL;
    return l->socks[fd];
}

/* Grow the table to hold fd: with the default config the process may raise
 * RLIMIT_NOFILE after the loop was created. An explicit max_fds is a cap. */
static int table_reserve(vex_loop *l, int fd)
{
    if ((unsigned)fd < l->max_fds)
        return 0;
    vex_sock **t = vex__fd_table_grow(l->socks, &l->max_fds, sizeof *t, fd, 1024,
                                      l->cfg.max_fds, 0);
    if (!t)
        return -1;
    l->socks = t;
    return 0;
}

static vex_sock *lookup(const vex_loop *l, int fd)
{
    vex_sock *s = l ? vex__core_sock(l, fd) : NULL;
    if (!s)
        errno = EBADF;
    return s;
}

vex_listener *vex__core_listener(vex_loop *l, int fd)
{
    for (unsigned i = 0; i < l->n_listeners; i++)
        if (l->listeners[i].fd == fd)
            return &l->listeners[i];
    return NULL;
}

/* ---- loop lifetime ------------------------------------------------------ */

static int open_wake_fds(vex_loop *l)
{
#if defined(__linux__) && !defined(VEX_PORTABLE)
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    l->wake_rfd = l->wake_wfd = fd;
#else
    int p[2];
    if (pipe(p) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
        vex_set_nonblock(p[i], 1);
    }
    l->wake_rfd = p[0];
    l->wake_wfd = p[1];
#endif
    return 0;
}

static void close_wake_fds(vex_loop *l)
{
    if (l->wake_rfd >= 0)
        close(l->wake_rfd);
    if (l->wake_wfd >= 0 && l->wake_wfd != l->wake_rfd)
        close(l->wake_wfd);
    l->wake_rfd = l->wake_wfd = -1;
}

static void set_err(char *err, size_t len, const char *what)
{
    if (err && len)
        snprintf(err, len, "%s: %s", what, strerror(errno));
}

vex_loop *vex_loop_new(const vex_loop_config *cfg, char *err, size_t err_len)
{
    vex_loop *l = calloc(1, sizeof *l);
    if (!l) {
        set_err(err, err_len, "vex_loop_new");
        return NULL;
    }
    if (cfg)
        l->cfg = *cfg;
    if (!l->cfg.recv_buf_size)
        l->cfg.recv_buf_size = DEFAULT_RECV_BUF;
    if (!l->cfg.recv_buf_count)
        l->cfg.recv_buf_count = DEFAULT_RECV_COUNT;
    if (!l->cfg.write_high_water)
        l->cfg.write_high_water = DEFAULT_HIGH_WATER;
    if (!l->cfg.ring_entries)
        l->cfg.ring_entries = DEFAULT_RING;
    l->wake_rfd = l->wake_wfd = -1;
    l->accepting_fd = -1;
    unsigned max_fds = l->cfg.max_fds;
    if (!max_fds) {
        struct rlimit rl;
        max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                  rl.rlim_cur < (1u << 24) ? (unsigned)rl.rlim_cur : 65536;
    }
    l->now_ms = vex__core_clock_ms();
    if (table_reserve(l, (int)max_fds - 1) < 0 || open_wake_fds(l) < 0) {
        set_err(err, err_len, "vex_loop_new");
        goto fail;
    }
    l->read_buf = malloc(l->cfg.recv_buf_size);
    if (!l->read_buf) {
        errno = ENOMEM;
        set_err(err, err_len, "vex_loop_new");
        goto fail;
    }
    if (vex__backend_init(l, err, err_len) < 0)
        goto fail;
    l->now_ms = vex__core_clock_ms();   /* setting up a ring can take a while */
    return l;
fail:;
    int saved = errno;
    close_wake_fds(l);
    free(l->read_buf);
    free(l->socks);
    free(l);
    errno = saved;
    return NULL;
}

static size_t held_pending(const vex_sock *s)
{
    return s->side ? vex__buf_pending(&s->side->held) : 0;
}

/* s's side part, made now if it had none; NULL: out of memory. */
static vex_sock_side *side_get(vex_sock *s)
{
    if (!s->side)
        s->side = calloc(1, sizeof *s->side);
    return s->side;
}

/* Free the side part once it holds nothing (no held bytes, no file job). */
static void side_drop_if_empty(vex_sock *s)
{
    if (s->side && !s->side->held.data && !(s->flags & VS_FILE)) {
        free(s->side);
        s->side = NULL;
    }
}

static void free_held(vex_sock *s)
{
    if (s->side) {
        vex__buf_free(&s->side->held);
        side_drop_if_empty(s);
    }
}

void vex__core_file_done(vex_sock *s)
{
    s->flags &= (uint16_t)~VS_FILE;
    side_drop_if_empty(s);
}

static void free_dead(vex_loop *l)
{
    while (l->dead_head) {
        vex_sock *s = l->dead_head;
        l->dead_head = s->next_dead;
        vex__buf_free(&s->out);
        if (s->side)       /* a file job here: a backend could not end it */
            vex__buf_free(&s->side->held);
        free(s->side);
        vex__sock_free(l, s);
    }
}

void vex_loop_free(vex_loop *l)
{
    if (!l)
        return;
    for (unsigned fd = 0; fd < l->max_fds; fd++)
        if (l->socks[fd])
            vex_close(l, (int)fd);
    for (unsigned i = 0; i < l->n_listeners; i++)
        if (l->listeners[i].fd >= 0)
            vex_listen_stop(l, l->listeners[i].fd);
    vex__backend_free(l);   /* releases every socket it still held */
    free_dead(l);
    while (l->n_spare > 0)
        vex__buf_free(&l->spare_bufs[--l->n_spare]);
    close_wake_fds(l);
    vex__sock_pool_free(l);
    free(l->heap);
    free(l->ready);
    free(l->read_buf);
    free(l->socks);
    free(l);
}

int vex_loop_wake(vex_loop *l)
{
    if (!l) {
        errno = EINVAL;
        return -1;
    }
    /* Only write(2): async-signal-safe. A full pipe/eventfd already wakes. */
#if defined(__linux__) && !defined(VEX_PORTABLE)
    uint64_t one = 1;
    ssize_t r = write(l->wake_wfd, &one, sizeof one);
#else
    char one = 1;
    ssize_t r = write(l->wake_wfd, &one, 1);
#endif
    return r >= 0 || errno == EAGAIN ? 0 : -1;
}

void vex__core_woken(vex_loop *l)
{
    if (l->cfg.on_wake) {
        l->callbacks++;
        l->cfg.on_wake(l, l->cfg.wake_udata);
    }
}

void vex_loop_stop(vex_loop *l)
{
    if (l)
        l->stop = true;
}

/* ---- the turn ----------------------------------------------------------- */

static void flush_all(vex_loop *l)
{
    while (l->flush_head) {
        vex_sock *s = l->flush_head;
        l->flush_head = s->next_flush;
        s->next_flush = NULL;
        s->flags &= ~VS_IN_FLUSH;
        if (!(s->flags & VS_DETACHED) &&
            (vex__buf_pending(&s->out) > 0 || (s->flags & VS_FILE)))
            vex__backend_sock_flush(l, s);
    }
}

/* Held data goes out as live data would: at most recv_buf_size bytes per
 * call, and not one byte more once the owner pauses again, so an owner's
 * input bound holds however much was held (io_uring: what a multishot recv
 * completed before its cancel took effect). EOF or the error comes last. */
static void deliver_held(vex_loop *l, vex_sock *s)
{
    size_t piece = l->cfg.recv_buf_size;
    while (held_pending(s) > 0 && !(s->flags & (VS_DETACHED | VS_PAUSED))) {
        vex_buf *held = &s->side->held;
        size_t n = vex__buf_pending(held) < piece ? vex__buf_pending(held) : piece;
        /* Consume before the call: the owner may close the socket, or a
         * write failure may free held, from inside it. */
        const char *p = held->data + held->off;
        held->off += n;
        l->callbacks++;
        s->cbs->on_data(l, s->fd, p, (ssize_t)n, s->udata);
        if (held_pending(s) == 0)   /* (a write failure may have freed it) */
            free_held(s);
    }
    if (held_pending(s) > 0 || (s->flags & (VS_DETACHED | VS_PAUSED)))
        return;
    free_held(s);
    int end = s->held_end;
    s->held_end = 0;
    if (end != 0) {
        s->flags |= VS_EOF;
        l->callbacks++;
        s->cbs->on_data(l, s->fd, NULL, end > 0 ? 0 : end, s->udata);
    }
}

static void ready_deliver(vex_loop *l, vex_sock *s)
{
    s->flags &= (uint16_t)~VS_HELD_READY;
    if (!(s->flags & (VS_DETACHED | VS_PAUSED)))
        deliver_held(l, s);
}

static void run_ready(vex_loop *l)
{
    /* An owner's callback may resume another socket, appending to the
     * array: it is read to its current end each time round. */
    for (unsigned i = 0; i < l->n_ready; i++)
        ready_deliver(l, l->ready[i]);
    l->n_ready = 0;
    if (l->ready_overflow) {     /* rare: out of memory in vex_read_resume */
        l->ready_overflow = false;
        for (unsigned fd = 0; fd < l->max_fds; fd++) {
            vex_sock *s = l->socks[fd];
            if (s && (s->flags & VS_HELD_READY))
                ready_deliver(l, s);
        }
    }
}

int vex_loop_run_once(vex_loop *l, int timeout_ms)
{
    if (!l) {
        errno = EINVAL;
        return -1;
    }
    l->callbacks = 0;
    l->now_ms = vex__core_clock_ms();
    l->reserved = NULL;
    flush_all(l);
    free_dead(l);
    int t = vex__timers_next_timeout(l);
    if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
        t = timeout_ms;
    if (l->n_ready || l->ready_overflow)
        t = 0;
    if (vex__backend_wait(l, t) < 0)   /* it refreshed now_ms after waiting (vex__core_waited) */
        return -1;
    l->callbacks += vex__timers_run(l);
    run_ready(l);
    return l->callbacks;
}

int vex_loop_run(vex_loop *l)
{
    if (!l) {
        errno = EINVAL;
        return -1;
    }
    l->stop = false;
    while (!l->stop)
        if (vex_loop_run_once(l, -1) < 0)
            return -1;
    flush_all(l);   /* what the last turn queued still goes out */
    return 0;
}

/* ---- data and write completions (from backends) -------------------------- */

void vex__core_deliver(vex_loop *l, vex_sock *s, const char *data, ssize_t n)
{
    if (s->flags & (VS_DETACHED | VS_EOF) || s->held_end)
        return;
    if ((s->flags & VS_PAUSED) || held_pending(s) > 0) {
        /* Completed while paused (io_uring): keep it, in order, for resume. */
        if (n > 0) {
            if (!side_get(s) || vex__buf_append(&s->side->held, data, (size_t)n) < 0)
                s->held_end = -ENOMEM;
        } else {
            s->held_end = (int16_t)(n == 0 ? 1 : n);   /* -errno fits */
        }
        return;
    }
    if (n <= 0)
        s->flags |= VS_EOF;
    l->callbacks++;
    s->cbs->on_data(l, s->fd, data, n, s->udata);
}

void vex__core_wrote(vex_loop *l, vex_sock *s, ssize_t n)
{
    l->reserved = NULL;   /* a queue may have moved: no room outlives this */
    if (s->flags & VS_DETACHED)
        return;
    if (n < 0) {
        /* Nothing more can be sent (the peer is gone, or a file job
         * failed): drop the queue, make later writes fail, and tell the
         * owner through on_data now, even while reading is paused — an
         * owner waiting for on_drain would otherwise wait forever. Input
         * held back by the pause goes with it. */
        s->err = (n == -ECONNRESET) ? ECONNRESET : EPIPE;
        vex__buf_consume(&s->out, vex__buf_pending(&s->out));
        if (s->flags & VS_EOF)
            return;
        free_held(s);
        s->held_end = 0;
        s->flags |= VS_EOF;
        l->callbacks++;
        s->cbs->on_data(l, s->fd, NULL, n, s->udata);
        return;
    }
    if (!vex__sock_idle_output(s))
        return;
    vex__core_buf_release(l, &s->out);
    if ((s->flags & (VS_SHUT_WANTED | VS_SHUT_DONE)) == VS_SHUT_WANTED) {
        s->flags |= VS_SHUT_DONE;
        shutdown(s->fd, SHUT_WR);
        vex__core_syscall(l);
    }
    if ((s->flags & VS_WANT_DRAIN) && s->cbs->on_drain) {
        s->flags &= ~VS_WANT_DRAIN;
        l->callbacks++;
        s->cbs->on_drain(l, s->fd, s->udata);
    }
}

void vex__core_buf_release(vex_loop *l, vex_buf *b)
{
    if (!b->data || b->len > b->off)
        return;
    if (l->n_spare < sizeof l->spare_bufs / sizeof l->spare_bufs[0] && b->cap <= 65536) {
        l->spare_bufs[l->n_spare++] = *b;
        memset(b, 0, sizeof *b);
    } else {
        vex__buf_free(b);
    }
}

void vex__core_buf_ready(vex_loop *l, vex_buf *b)
{
    if (!b->data && l->n_spare > 0) {
        *b = l->spare_bufs[--l->n_spare];
        b->off = b->len = 0;
    }
}

void vex__core_sock_release(vex_loop *l, vex_sock *s)
{
    s->next_dead = l->dead_head;
    l->dead_head = s;
}

/* ---- connected sockets --------------------------------------------------- */

int vex_sock_add(vex_loop *l, int fd, const vex_sock_cbs *cbs, void *udata)
{
    if (!l || !cbs || !cbs->on_data) {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (vex__core_sock(l, fd) || vex__core_listener(l, fd) || fd == l->wake_rfd) {
        errno = EEXIST;
        return -1;
    }
    if (table_reserve(l, fd) < 0)
        return -1;
    /* A socket the loop is handing to its accept callback right now came
     * from accept4 (or its portable stand-in, or io_uring's accept) with
     * O_NONBLOCK and is open: one fcntl per connection saved. Any other fd
     * is checked, which also proves it is open (EBADF). */
    if (fd != l->accepting_fd) {
        vex__core_syscall(l);
        if (vex_set_nonblock(fd, 1) < 0)
            return -1;
    }
    vex_sock *s = vex__sock_alloc(l);
    if (!s) {
        errno = ENOMEM;
        return -1;
    }
    s->fd = fd;
    s->cbs = cbs;
    s->udata = udata;
    l->socks[fd] = s;
    if (vex__backend_sock_add(l, s) < 0) {
        int saved = errno;
        l->socks[fd] = NULL;
        vex__sock_free(l, s);
        errno = saved;
        return -1;
    }
    return 0;
}

int vex_sock_registered(const vex_loop *l, int fd)
{
    return l && vex__core_sock(l, fd) != NULL;
}

static int detach(vex_loop *l, int fd, bool close_fd)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    l->socks[fd] = NULL;
    if (l->reserved == s)
        l->reserved = NULL;
    s->flags |= VS_DETACHED;
    vex__buf_consume(&s->out, vex__buf_pending(&s->out));
    vex__core_buf_release(l, &s->out);
    if (vex__backend_sock_detach(l, s, close_fd))
        vex__core_sock_release(l, s);
    return 0;
}

int vex_sock_remove(vex_loop *l, int fd) { return detach(l, fd, false); }
int vex_close(vex_loop *l, int fd) { return detach(l, fd, true); }

int vex_read_pause(vex_loop *l, int fd)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    if (s->flags & VS_PAUSED)
        return 0;
    s->flags |= VS_PAUSED;
    return s->flags & VS_EOF ? 0 : vex__backend_sock_read(l, s, false);
}

int vex_read_resume(vex_loop *l, int fd)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    if (!(s->flags & VS_PAUSED))
        return 0;
    if ((held_pending(s) > 0 || s->held_end) && !(s->flags & VS_HELD_READY)) {
        if (l->n_ready == l->ready_cap) {
            unsigned cap = l->ready_cap ? l->ready_cap * 2 : 16;
            vex_sock **r = cap > l->ready_cap ? realloc(l->ready, cap * sizeof *r) : NULL;
            if (r) {
                l->ready = r;
                l->ready_cap = cap;
            }
        }
        s->flags |= VS_HELD_READY;
        if (l->n_ready < l->ready_cap)
            l->ready[l->n_ready++] = s;
        else                      /* never fail a resume: found by a scan */
            l->ready_overflow = true;
    }
    s->flags &= (uint16_t)~VS_PAUSED;
    if (s->flags & VS_EOF || s->held_end)
        return 0;
    return vex__backend_sock_read(l, s, true);
}

static void mark_dirty(vex_loop *l, vex_sock *s)
{
    if (!(s->flags & VS_IN_FLUSH)) {
        s->flags |= VS_IN_FLUSH;
        s->next_flush = l->flush_head;
        l->flush_head = s;
    }
}

void vex__core_flush_later(vex_loop *l, vex_sock *s)
{
    mark_dirty(l, s);
}

/* Why nothing more may be queued on s now (0: it may): the peer is gone
 * (s->err), the write side is shut (EPIPE), or it must wait for on_drain
 * (EAGAIN, which asks for one) behind a file job or a queue at
 * high_water bytes. */
static int queue_refusal(vex_sock *s, size_t high_water)
{
    if (s->err)
        return s->err;
    if (s->flags & VS_SHUT_WANTED)
        return EPIPE;
    if ((s->flags & VS_FILE) || vex__buf_pending(&s->out) + s->inflight >= high_water) {
        s->flags |= VS_WANT_DRAIN;
        return EAGAIN;
    }
    return 0;
}

ssize_t vex_write(vex_loop *l, int fd, const void *data, size_t len)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    if (!data && len) {
        errno = EINVAL;
        return -1;
    }
    if (l->reserved == s)
        l->reserved = NULL;
    int refused = queue_refusal(s, l->cfg.write_high_water);
    if (refused) {
        errno = refused;
        return -1;
    }
    vex__core_buf_ready(l, &s->out);
    if (vex__buf_append(&s->out, data, len) < 0)
        return -1;
    if (len)
        mark_dirty(l, s);
    return (ssize_t)len;
}

void *vex_write_reserve(vex_loop *l, int fd, size_t min, size_t *avail)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return NULL;
    l->reserved = NULL;
    int refused = queue_refusal(s, l->cfg.write_high_water);
    if (refused) {
        errno = refused;
        return NULL;
    }
    vex__core_buf_ready(l, &s->out);
    if (vex__buf_reserve(&s->out, min ? min : 1) < 0)
        return NULL;
    l->reserved = s;
    if (avail)
        *avail = s->out.cap - s->out.len;
    return s->out.data + s->out.len;
}

int vex_write_commit(vex_loop *l, int fd, size_t n)
{
    /* The open room names its socket: no table lookup on this path. */
    vex_sock *s = l ? l->reserved : NULL;
    if (l)
        l->reserved = NULL;
    if (!s || s->fd != fd || n > s->out.cap - s->out.len) {
        errno = EINVAL;
        return -1;
    }
    if (n) {
        s->out.len += (uint32_t)n;
        mark_dirty(l, s);
    }
    return 0;
}

size_t vex_write_pending(const vex_loop *l, int fd)
{
    const vex_sock *s = l ? vex__core_sock(l, fd) : NULL;
    if (!s)
        return 0;
    return vex__buf_pending(&s->out) + s->inflight + ((s->flags & VS_FILE) ? s->side->file.left : 0);
}

int vex_sendfile(vex_loop *l, int fd, int file_fd, uint64_t offset, uint64_t len)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    if (l->reserved == s)
        l->reserved = NULL;
    if (file_fd < 0 || file_fd == fd) {
        errno = EINVAL;
        return -1;
    }
    int refused = queue_refusal(s, SIZE_MAX);   /* queued bytes go first */
    if (refused) {
        errno = refused;
        return -1;
    }
    if (len == 0) {   /* nothing to send, but the file is ours now */
        close(file_fd);
        vex__core_syscall(l);
        return 0;
    }
    if (!side_get(s)) {
        errno = ENOMEM;
        return -1;
    }
    s->side->file = (vex_file_job){ .fd = file_fd, .off = offset, .left = len };
    s->flags |= VS_FILE;
    mark_dirty(l, s);
    return 0;
}

int vex_want_drain(vex_loop *l, int fd)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    s->flags |= VS_WANT_DRAIN;
    if (vex__sock_idle_output(s))
        vex__core_wrote(l, s, 0);
    return 0;
}

int vex_shutdown_write(vex_loop *l, int fd)
{
    vex_sock *s = lookup(l, fd);
    if (!s)
        return -1;
    s->flags |= VS_SHUT_WANTED;
    if (vex__sock_idle_output(s))
        vex__core_wrote(l, s, 0);
    return 0;
}

/* ---- listeners ------------------------------------------------------------ */

static void accept_backoff_done(vex_loop *l, vex_timer *t)
{
    vex_listener *ls = t->data;
    if (ls->active && !ls->armed)
        vex__backend_listen(l, ls, true);
}

void vex__core_accepted(vex_loop *l, vex_listener *ls, int fd,
                        const struct sockaddr *peer, socklen_t peer_len)
{
    if (fd < 0 && (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)) {
        /* Out of descriptors or memory: accepting again at once would spin. */
        if (ls->armed)
            vex__backend_listen(l, ls, false);
        vex_timer_start(l, &ls->backoff, VEX_ACCEPT_BACKOFF_MS, 0,
                        accept_backoff_done, ls);
    }
    l->callbacks++;
    int outer = l->accepting_fd;   /* no nesting today; restore, do not assume */
    l->accepting_fd = fd;
    ls->cb(l, ls->fd, fd, peer, peer_len, ls->udata);
    l->accepting_fd = outer;
}

int vex_listen_start(vex_loop *l, int listen_fd, vex_accept_cb cb, void *udata)
{
    if (!l || !cb) {
        errno = EINVAL;
        return -1;
    }
    if (listen_fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (vex__core_listener(l, listen_fd) || vex__core_sock(l, listen_fd)) {
        errno = EEXIST;
        return -1;
    }
    vex_listener *ls = NULL;
    for (unsigned i = 0; i < l->n_listeners && !ls; i++)
        if (l->listeners[i].fd < 0)
            ls = &l->listeners[i];
    if (!ls) {
        if (l->n_listeners == VEX_MAX_LISTENERS) {
            errno = ENOSPC;
            return -1;
        }
        ls = &l->listeners[l->n_listeners++];
    }
    memset(ls, 0, sizeof *ls);
    ls->fd = listen_fd;
    ls->cb = cb;
    ls->udata = udata;
    ls->active = true;
    if (vex_set_nonblock(listen_fd, 1) < 0 || vex__backend_listen(l, ls, true) < 0) {
        ls->fd = -1;
        return -1;
    }
    return 0;
}

static vex_listener *lookup_listener(vex_loop *l, int fd)
{
    vex_listener *ls = l ? vex__core_listener(l, fd) : NULL;
    if (!ls)
        errno = EBADF;
    return ls;
}

int vex_listen_pause(vex_loop *l, int fd)
{
    vex_listener *ls = lookup_listener(l, fd);
    if (!ls)
        return -1;
    ls->active = false;
    vex_timer_stop(l, &ls->backoff);
    return ls->armed ? vex__backend_listen(l, ls, false) : 0;
}

int vex_listen_resume(vex_loop *l, int fd)
{
    vex_listener *ls = lookup_listener(l, fd);
    if (!ls)
        return -1;
    ls->active = true;
    if (ls->armed || vex_timer_active(&ls->backoff))
        return 0;
    return vex__backend_listen(l, ls, true);
}

int vex_listen_stop(vex_loop *l, int fd)
{
    if (vex_listen_pause(l, fd) < 0)
        return -1;
    vex__core_listener(l, fd)->fd = -1;
    return 0;
}
