/*
 * log.c — the logger: worker slots, the writer thread, destinations. See
 * log.h for the design. Everything here is the one process-wide logger
 * object `g`; its queue, the slots' free lists and in-flight counts are
 * guarded by g.mu, which nobody holds across a write(2).
 *
 * Files are opened O_NONBLOCK: a regular file ignores it, but a FIFO or a
 * pipe nobody reads then makes write(2) return EAGAIN instead of hanging
 * the writer, which then waits in poll(2) in 100 ms steps so that a
 * reopen, a reload or the shutdown still get through (dropping what was
 * stuck). Otherwise it sleeps until signalled: nothing here wakes on a
 * timer while idle.
 */
#include "log.h"
#include "log_json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define EVENT_QUEUE_MAX 1024     /* event lines waiting for the writer */
#define WAIT_STEP_MS    100

typedef struct lbuf {
    struct lbuf *next;
    log_slot *slot;              /* NULL: an event line */
    size_t len, cap;
    uint32_t lines;
    int level;                   /* events: VLOG_*, for syslog */
    size_t msg_off, msg_len;     /* events: the bare message, for syslog */
    char data[];
} lbuf;

struct log_slot {
    lbuf *cur;                   /* the worker's own; only it touches it */
    uint64_t cur_since_ms;       /* when cur got its first line */
    lbuf *free;                  /* returned by the writer (g.mu) */
    unsigned inflight;           /* queued or being written (g.mu) */
};

/* What the writer writes to (owned by the writer once it runs). */
typedef struct dest {
    enum log_dest_kind kind;
    int fd;                      /* LOGD_FILE: ours; LOGD_STDERR: 2 */
    char path[LOG_PATH_MAX];
} dest;

static struct {
    bool started, running;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    lbuf *q_head, *q_tail;       /* access buffers and event lines, in order */
    unsigned n_events;
    bool stop;
    dest access, error;
    /* a reload's new destinations, opened, waiting for the writer */
    bool apply_pending;
    dest new_access, new_error;
    unsigned apply_gen, applied_gen;
    bool syslog_open;
    log_slot *slots;
    unsigned n_slots;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
        .done_cv = PTHREAD_COND_INITIALIZER };

/* Read without g.mu, from workers and the signal handler. */
static _Atomic int g_level = VLOG_INFO;
static _Atomic bool g_access_on;
static _Atomic uint32_t g_buf_bytes = LOG_BUFFER_DEFAULT;
static _Atomic uint64_t g_flush_ms = 1000;
static _Atomic bool g_reopen;
static _Atomic uint64_t g_written, g_dropped;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drop(uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(&g_dropped, n, memory_order_relaxed);
}

size_t log_buffer_bytes(void) { return atomic_load_explicit(&g_buf_bytes, memory_order_relaxed); }
uint64_t log_lines_written(void) { return atomic_load_explicit(&g_written, memory_order_relaxed); }
uint64_t log_lines_dropped(void) { return atomic_load_explicit(&g_dropped, memory_order_relaxed); }
bool log_level_enabled(int level) { return level >= atomic_load_explicit(&g_level, memory_order_relaxed); }
bool log_access_enabled(void) { return atomic_load_explicit(&g_access_on, memory_order_relaxed); }

void log_fmt_secs(char *out, long long sec)
{
    struct tm tm;
    time_t t = (time_t)sec;
    gmtime_r(&t, &tm);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 19);
}

/* ---- destinations ---------------------------------------------------------- */

static int dest_open(dest *d, const struct log_dest *ld, const char *flag, char *err, size_t errlen)
{
    d->kind = ld->kind;
    d->fd = ld->kind == LOGD_STDERR ? STDERR_FILENO : -1;
    snprintf(d->path, sizeof d->path, "%s", ld->path);
    if (ld->kind != LOGD_FILE)
        return 0;
    d->fd = log_open_file(ld->path);
    if (d->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "invalid value for --%s: '%s' (cannot open for writing: %s)",
                 flag, ld->path, strerror(e));
        return -1;
    }
    return 0;
}

static void dest_close(dest *d)
{
    if (d->kind == LOGD_FILE && d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->kind = LOGD_OFF;
}

static void syslog_maybe_open(void)
{
    if (!g.syslog_open && (g.access.kind == LOGD_SYSLOG || g.error.kind == LOGD_SYSLOG)) {
        openlog("production_server", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        g.syslog_open = true;
    }
}

/* The writer's reopen of one file: the new one first, so a failure keeps
 * the old. */
static int dest_reopen(dest *d)
{
    if (d->kind != LOGD_FILE)
        return 0;
    int fd = log_open_file(d->path);
    if (fd < 0)
        return -1;
    close(d->fd);
    d->fd = fd;
    return 0;
}

static bool give_up_waiting(void)
{
    pthread_mutex_lock(&g.mu);
    bool give_up = g.stop || g.apply_pending;
    pthread_mutex_unlock(&g.mu);
    return give_up || atomic_load(&g_reopen);
}

/* false: given up (an error, or a stuck pipe while something else waits).
 * stderr is not ours to make non-blocking (the description is shared with
 * whoever started us), so there we wait for room with poll(2) and write at
 * most PIPE_BUF at a time, which a pipe with room takes without blocking. */
static bool write_all(int fd, const char *p, size_t n, bool shared_fd)
{
    while (n) {
        if (shared_fd) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            int pr = poll(&pf, 1, WAIT_STEP_MS);
            if (pr == 0 || (pr < 0 && errno == EINTR)) {
                if (give_up_waiting())
                    return false;
                continue;
            }
            if (pr < 0 || (pf.revents & (POLLERR | POLLNVAL)))
                return false;
        }
        ssize_t r = write(fd, p, shared_fd && n > PIPE_BUF ? PIPE_BUF : n);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            if (give_up_waiting())
                return false;
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            poll(&pf, 1, WAIT_STEP_MS);
            continue;
        }
        return false;
    }
    return true;
}

static const int syslog_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

static void write_buf(lbuf *b)
{
    dest *d = b->slot ? &g.access : &g.error;
    bool ok = true;
    switch (d->kind) {
    case LOGD_OFF:
        ok = b->slot == NULL;    /* an access buffer after the log was turned off */
        break;
    case LOGD_STDERR:
    case LOGD_FILE:
        ok = write_all(d->fd, b->data, b->len, d->kind == LOGD_STDERR);
        break;
    case LOGD_SYSLOG:
        if (!b->slot) {
            syslog(syslog_prio[b->level], "%.*s", (int)b->msg_len, b->data + b->msg_off);
        } else {
            for (size_t i = 0; i < b->len;) {
                const char *nl = memchr(b->data + i, '\n', b->len - i);
                size_t e = nl ? (size_t)(nl - b->data) : b->len;
                syslog(LOG_INFO, "%.*s", (int)(e - i), b->data + i);
                i = e + 1;
            }
        }
        break;
    }
    if (b->slot) {
        if (ok)
            atomic_fetch_add_explicit(&g_written, b->lines, memory_order_relaxed);
        else
            drop(b->lines);
    }
}

/* ---- the writer thread ------------------------------------------------------ */

static void event_direct(const char *line, size_t n)
{
    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r;
}

static void writer_reopen(void)
{
    int a = dest_reopen(&g.access), e = dest_reopen(&g.error);
    if (a < 0 || e < 0)
        log_event(VLOG_ERROR, "log reopen failed for %s: %s", a < 0 ? g.access.path : g.error.path,
                  strerror(errno));
    else
        log_event(VLOG_INFO, "log files reopened");
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    for (;;) {
        if (g.apply_pending) {
            dest oa = g.access, oe = g.error;
            g.access = g.new_access;
            g.error = g.new_error;
            g.apply_pending = false;
            g.applied_gen = g.apply_gen;
            pthread_cond_broadcast(&g.done_cv);
            pthread_mutex_unlock(&g.mu);
            dest_close(&oa);
            dest_close(&oe);
            syslog_maybe_open();
            pthread_mutex_lock(&g.mu);
            continue;
        }
        if (atomic_exchange(&g_reopen, false)) {
            pthread_mutex_unlock(&g.mu);
            writer_reopen();
            pthread_mutex_lock(&g.mu);
            continue;
        }
        if (!g.q_head) {
            if (g.stop)
                break;
            pthread_cond_wait(&g.cv, &g.mu);
            continue;
        }
        lbuf *b = g.q_head;
        g.q_head = b->next;
        if (!g.q_head)
            g.q_tail = NULL;
        if (!b->slot)
            g.n_events--;
        pthread_mutex_unlock(&g.mu);
        write_buf(b);
        pthread_mutex_lock(&g.mu);
        if (b->slot) {
            log_slot *s = b->slot;
            s->inflight--;
            b->next = s->free;
            s->free = b;
        } else {
            free(b);
        }
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

static void enqueue_locked(lbuf *b)
{
    b->next = NULL;
    if (g.q_tail)
        g.q_tail->next = b;
    else
        g.q_head = b;
    g.q_tail = b;
    pthread_cond_signal(&g.cv);
}

/* ---- events ------------------------------------------------------------------- */

void log_vevent(int level, const char *fmt, va_list ap)
{
    if (!log_level_enabled(level))
        return;
    char msg[1024];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    size_t cap = 80 + 6 * mlen + 2 + mlen;
    lbuf *b = malloc(sizeof *b + cap);
    if (!b) {
        drop(1);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *p = b->data;
    size_t o = 0;
    memcpy(p, "{\"time\":\"", 9);
    o = 9;
    log_fmt_secs(p + o, (long long)ts.tv_sec);
    o += 19;
    o += (size_t)snprintf(p + o, cap - o, ".%03dZ\",\"level\":\"%s\",\"msg\":\"",
                          (int)(ts.tv_nsec / 1000000), log_level_name(level));
    o += json_escape(p + o, 6 * mlen, msg, mlen, NULL);
    memcpy(p + o, "\"}\n", 3);
    o += 3;
    b->len = o;
    b->cap = cap;
    b->lines = 1;
    b->slot = NULL;
    b->level = level;
    b->msg_off = o;
    b->msg_len = mlen;
    memcpy(p + o, msg, mlen);

    pthread_mutex_lock(&g.mu);
    if (!g.running) {            /* before the start, after the stop */
        pthread_mutex_unlock(&g.mu);
        event_direct(b->data, b->len);
        free(b);
        return;
    }
    if (g.n_events >= EVENT_QUEUE_MAX) {
        pthread_mutex_unlock(&g.mu);
        free(b);
        drop(1);
        return;
    }
    g.n_events++;
    enqueue_locked(b);
    pthread_mutex_unlock(&g.mu);
}

void log_event(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vevent(level, fmt, ap);
    va_end(ap);
}

/* ---- worker slots --------------------------------------------------------------- */

log_slot *log_slot_of(unsigned i) { return i < g.n_slots ? &g.slots[i] : NULL; }

static lbuf *buf_new(void)
{
    size_t cap = atomic_load_explicit(&g_buf_bytes, memory_order_relaxed);
    lbuf *b = malloc(sizeof *b + cap);
    if (b) {
        b->cap = cap;
        b->len = 0;
        b->lines = 0;
    }
    return b;
}

/* Queue s->cur for the writer and take an empty buffer. false: the writer
 * already holds LOG_INFLIGHT of ours (unless forced). */
static bool handoff(log_slot *s, bool force)
{
    pthread_mutex_lock(&g.mu);
    if (s->inflight >= LOG_INFLIGHT && !force) {
        pthread_mutex_unlock(&g.mu);
        return false;
    }
    lbuf *b = s->cur;
    b->slot = s;
    s->inflight++;
    enqueue_locked(b);
    lbuf *f = s->free;
    if (f)
        s->free = f->next;
    pthread_mutex_unlock(&g.mu);
    if (f && f->cap != atomic_load_explicit(&g_buf_bytes, memory_order_relaxed)) {
        free(f);                 /* the buffer size was changed by a reload */
        f = NULL;
    }
    if (!f)
        f = buf_new();
    else
        f->len = 0, f->lines = 0;
    s->cur = f;
    return true;
}

char *log_reserve(log_slot *s, size_t max)
{
    lbuf *b = s->cur;
    if (b && b->cap - b->len >= max)
        return b->data + b->len;           /* the common case */
    if (b && !b->lines && b->cap != log_buffer_bytes()) {
        free(b);                           /* an empty one of a size a reload changed */
        s->cur = b = NULL;
    }
    if (!b && !(s->cur = b = buf_new())) {
        drop(1);
        return NULL;
    }
    if (b->cap - b->len < max) {
        /* (a reload may make the new buffer smaller than the old) */
        if (max > b->cap || !b->lines || !handoff(s, false) || !(b = s->cur) ||
            max > b->cap) {
            drop(1);
            return NULL;
        }
    }
    return b->data + b->len;
}

void log_commit(log_slot *s, size_t n)
{
    lbuf *b = s->cur;
    if (!b->lines)
        s->cur_since_ms = mono_ms();
    b->len += n;
    b->lines++;
}

void log_access_line(log_slot *s, const char *line, size_t n)
{
    char *w = log_reserve(s, n);
    if (w) {
        memcpy(w, line, n);
        log_commit(s, n);
    }
}

void log_slot_tick(log_slot *s)
{
    if (s->cur && s->cur->lines &&
        mono_ms() - s->cur_since_ms >= atomic_load_explicit(&g_flush_ms, memory_order_relaxed))
        handoff(s, false);
}

/* ---- start, apply, reopen, stop ------------------------------------------------- */

static void settings_publish(const struct log_settings *ls)
{
    atomic_store(&g_level, ls->level);
    atomic_store(&g_buf_bytes, ls->buffer_bytes);
    atomic_store(&g_flush_ms, ls->flush_ms);
    atomic_store(&g_access_on, ls->access.kind != LOGD_OFF);
}

static int open_both(const struct log_settings *ls, dest *a, dest *e, char *err, size_t errlen)
{
    if (dest_open(a, &ls->access, "access-log", err, errlen) < 0)
        return -1;
    if (dest_open(e, &ls->error, "error-log", err, errlen) < 0) {
        dest_close(a);
        return -1;
    }
    return 0;
}

int log_start(const struct log_settings *ls, unsigned n_slots, char *err, size_t errlen)
{
    if (g.started) {
        snprintf(err, errlen, "the logger is already running");
        return -1;
    }
    dest a, e;
    if (open_both(ls, &a, &e, err, errlen) < 0)
        return -1;
    g.slots = calloc(n_slots ? n_slots : 1, sizeof *g.slots);
    if (!g.slots) {
        dest_close(&a);
        dest_close(&e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g.n_slots = n_slots;
    g.access = a;
    g.error = e;
    syslog_maybe_open();
    settings_publish(ls);
    /* The writer must never run the signal handlers (main frees the loops
     * they wake once it has blocked them in its own thread). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&g.thread, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        dest_close(&g.access);
        dest_close(&g.error);
        free(g.slots);
        g.slots = NULL;
        g.n_slots = 0;
        snprintf(err, errlen, "cannot start the log writer: %s", strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&g.mu);
    g.started = g.running = true;
    pthread_mutex_unlock(&g.mu);
    return 0;
}

int log_apply(const struct log_settings *ls, char *err, size_t errlen)
{
    dest a, e;
    if (open_both(ls, &a, &e, err, errlen) < 0)
        return -1;
    pthread_mutex_lock(&g.mu);
    if (!g.running) {
        pthread_mutex_unlock(&g.mu);
        dest_close(&a);
        dest_close(&e);
        snprintf(err, errlen, "the logger is not running");
        return -1;
    }
    if (g.apply_pending) {       /* an earlier apply not yet taken: replace it */
        dest_close(&g.new_access);
        dest_close(&g.new_error);
    }
    g.new_access = a;
    g.new_error = e;
    g.apply_pending = true;
    unsigned gen = ++g.apply_gen;
    pthread_cond_signal(&g.cv);
    while (g.applied_gen - gen > (1u << 31) && g.running)   /* applied_gen < gen */
        pthread_cond_wait(&g.done_cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    settings_publish(ls);
    return 0;
}

int log_reopen(void)
{
    pthread_mutex_lock(&g.mu);
    atomic_store(&g_reopen, true);
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    return 0;
}

static void buf_list_free(lbuf *b)
{
    while (b) {
        lbuf *n = b->next;
        free(b);
        b = n;
    }
}

void log_stop(void)
{
    if (!g.started)
        return;
    for (unsigned i = 0; i < g.n_slots; i++) {
        log_slot *s = &g.slots[i];
        if (s->cur && s->cur->lines)
            handoff(s, true);
    }
    pthread_mutex_lock(&g.mu);
    g.stop = true;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.thread, NULL);
    pthread_mutex_lock(&g.mu);
    g.running = false;           /* later events go straight to stderr */
    lbuf *late = g.q_head;       /* queued while the writer was ending */
    g.q_head = g.q_tail = NULL;
    g.n_events = 0;
    pthread_mutex_unlock(&g.mu);
    while (late) {
        lbuf *n = late->next;
        write_buf(late);
        if (late->slot) {
            late->next = late->slot->free;
            late->slot->free = late;
        } else {
            free(late);
        }
        late = n;
    }
    pthread_mutex_lock(&g.mu);
    if (g.apply_pending) {
        dest_close(&g.new_access);
        dest_close(&g.new_error);
        g.apply_pending = false;
    }
    pthread_cond_broadcast(&g.done_cv);
    pthread_mutex_unlock(&g.mu);
    for (unsigned i = 0; i < g.n_slots; i++) {
        buf_list_free(g.slots[i].free);
        free(g.slots[i].cur);
    }
    free(g.slots);
    g.slots = NULL;
    g.n_slots = 0;
    dest_close(&g.access);
    dest_close(&g.error);
    if (g.syslog_open)
        closelog();
    g.syslog_open = false;
    g.started = false;
    g.stop = false;
}
