/*
 * kq_unit.c — unit tests of src/backends/kqueue.c alone (no loop core, a
 * stub vex__readiness_event()) against the kqueue emulation in kqshim.c. Built as
 * build/kqueue-kqshim[-san]/test_kqueue_poller by `make BACKEND=kqueue
 * KQSHIM=1`.
 *
 * Besides what poller.h promises, these check kqueue.c's own claims: changes
 * are batched into the waiting kevent() call, a toggle undone within a turn
 * costs nothing, a removal is applied at once, POLLER_CLOSING costs no
 * syscall, failed changes are repaired — and, through kqshim_knote(), that
 * its per-fd state always agrees with the (emulated) kernel's knotes.
 */
#include "backends/poller.h"
#include "kqshim.h"
#include <sys/event.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef EV_RECEIPT
#define DELETE_CALLS(nfilters) 1          /* both deletes in one call */
#else
#define DELETE_CALLS(nfilters) (nfilters) /* one call per filter */
#endif

/* The core's clock, which kqueue.c reads after each wait (vex__core_waited). */
uint64_t vex__core_clock_ms(void)
{
    return 0;
}

/* ---- the vex__readiness_event() stub: records, and may call back in -------- */
#define MAX_REC 4096
static int ev_fd[MAX_REC];
static unsigned ev_mask[MAX_REC];
static int nev;
static void (*on_event)(vex_loop *l, int fd, unsigned mask);

void vex__readiness_event(vex_loop *l, int fd, unsigned mask)
{
    if (nev < MAX_REC) {
        ev_fd[nev] = fd;
        ev_mask[nev] = mask;
        nev++;
    }
    if (on_event)
        on_event(l, fd, mask);
}

/* ---- fixture ---------------------------------------------------------- */
typedef struct fx {
    vex_loop *l;
    int kq;   /* the emulated kqueue kqueue.c created */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->l = calloc(1, sizeof *f->l);
    if (!f->l)
        return -1;
    f->l->max_fds = 64;
    if (vex__poller_init(f->l, NULL, 0) != 0)
        return -1;
    f->kq = kqshim_newest();
    nev = 0;
    on_event = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vex__poller_free(f->l);
    free(f->l);
    free(f);
    on_event = NULL;
    return 0;
}

static int wait_ms(fx *f, int ms)
{
    nev = 0;
    return vex__poller_wait(f->l, ms);
}

static void pair(int *a, int *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    *a = sv[0];
    *b = sv[1];
}

#define RD(f, fd) kqshim_knote((f)->kq, (fd), EVFILT_READ)
#define WR(f, fd) kqshim_knote((f)->kq, (fd), EVFILT_WRITE)

/* ---- tests ------------------------------------------------------------ */

/* Add R, add W, drop W in one turn: a single EV_ADD(READ), in the wait. */
static void test_toggle_undone_within_a_turn_costs_nothing(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    unsigned long ch0 = kqshim_changes;
    uint64_t sys0 = f->l->syscalls;
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, POLLER_READ | POLLER_WRITE), 0);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ | POLLER_WRITE, POLLER_READ), 0);
    assert_int_equal(f->l->syscalls, sys0);        /* nothing until the wait */
    assert_int_equal(RD(f, a), -1);
    assert_int_equal(wait_ms(f, 0), 0);
    assert_int_equal(nev, 0);
    assert_int_equal(kqshim_changes - ch0, 1);
    assert_int_equal(f->l->syscalls - sys0, 1);
    assert_int_equal(RD(f, a), 1);
    assert_int_equal(WR(f, a), -1);
    close(a);
    close(b);
}

static void test_read_is_level_triggered(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    assert_int_equal(write(b, "x", 1), 1);
    for (int round = 0; round < 2; round++) {   /* unread: reported again */
        assert_int_equal(wait_ms(f, 1000), 1);
        assert_int_equal(nev, 1);
        assert_int_equal(ev_fd[0], a);
        assert_int_equal(ev_mask[0], POLLER_READ);
    }
    close(a);
    close(b);
}

/* Write interest: EV_ADD, then EV_DISABLE (kept registered), then EV_ENABLE. */
static void test_write_interest_is_disabled_not_deleted(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ | POLLER_WRITE), 0);
    wait_ms(f, 0);
    assert_int_equal(nev, 1);                      /* writable only */
    assert_int_equal(ev_mask[0], POLLER_WRITE);
    assert_int_equal(RD(f, a), 1);
    assert_int_equal(WR(f, a), 1);

    unsigned long ch0 = kqshim_changes;
    assert_int_equal(vex__poller_set(f->l, a, 3, POLLER_READ), 0);
    wait_ms(f, 0);
    assert_int_equal(nev, 0);
    assert_int_equal(kqshim_changes - ch0, 1);
    assert_int_equal(WR(f, a), 0);                 /* registered, disabled */

    ch0 = kqshim_changes;
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 3), 0);
    wait_ms(f, 0);
    assert_int_equal(nev, 1);
    assert_int_equal(ev_mask[0], POLLER_WRITE);
    assert_int_equal(kqshim_changes - ch0, 1);
    assert_int_equal(WR(f, a), 1);
    close(a);
    close(b);
}

/* Removal deletes every registered filter at once, disabled ones too, so
 * the caller may close fd right after; nothing stays queued for it. */
static void test_removal_is_immediate(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, 3), 0);
    wait_ms(f, 0);
    assert_int_equal(vex__poller_set(f->l, a, 3, POLLER_READ), 0);
    wait_ms(f, 0);                                  /* WRITE now disabled */
    assert_int_equal(WR(f, a), 0);

    uint64_t sys0 = f->l->syscalls;
    unsigned long calls0 = kqshim_kevent_calls;
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 0), 0);
    assert_int_equal(f->l->syscalls - sys0, DELETE_CALLS(2));
    assert_int_equal(kqshim_kevent_calls - calls0, DELETE_CALLS(2));
    assert_int_equal(RD(f, a), -1);
    assert_int_equal(WR(f, a), -1);
    close(a);
    unsigned long ch0 = kqshim_changes;
    assert_int_equal(wait_ms(f, 0), 0);
    assert_int_equal(nev, 0);
    assert_int_equal(kqshim_changes, ch0);
    close(b);
}

static void test_add_and_remove_within_a_turn_costs_nothing(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    uint64_t sys0 = f->l->syscalls;
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 0), 0);
    assert_int_equal(f->l->syscalls, sys0);
    close(a);
    unsigned long ch0 = kqshim_changes;
    wait_ms(f, 0);
    assert_int_equal(kqshim_changes, ch0);   /* no EV_ADD for a closed fd */
    close(b);
}

/* POLLER_CLOSING: no syscall, queued changes dropped, and a reused fd
 * number starts from scratch with a fresh EV_ADD. */
static void test_closing_costs_nothing_and_reuse_re_adds(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    wait_ms(f, 0);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 3), 0);   /* queued */
    uint64_t sys0 = f->l->syscalls;
    assert_int_equal(vex__poller_set(f->l, a, 3, POLLER_CLOSING), 0);
    assert_int_equal(f->l->syscalls, sys0);
    int old = a;
    close(a);
    close(b);
    assert_int_equal(RD(f, old), -1);               /* close(2) dropped it */
    unsigned long ch0 = kqshim_changes;
    wait_ms(f, 0);
    assert_int_equal(kqshim_changes, ch0);          /* queued WRITE dropped */

    pair(&a, &b);
    assert_int_equal(a, old);                       /* same number reused */
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    assert_int_equal(write(b, "y", 1), 1);
    assert_int_equal(wait_ms(f, 1000), 1);
    assert_int_equal(nev, 1);
    assert_int_equal(ev_fd[0], a);
    assert_int_equal(RD(f, a), 1);
    assert_int_equal(WR(f, a), -1);
    close(a);
    close(b);
}

/* A change for an fd closed behind the loop's back fails (EV_ERROR, EBADF):
 * reported as READ|WRITE so the owner's own syscall meets the error, and
 * the failed filter is no longer thought registered. */
static void test_failed_change_is_reported_and_forgotten(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    wait_ms(f, 0);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 3), 0);
    close(a);
    assert_int_equal(wait_ms(f, 0), 1);
    assert_int_equal(nev, 1);
    assert_int_equal(ev_fd[0], a);
    assert_int_equal(ev_mask[0], POLLER_READ | POLLER_WRITE);
    /* WRITE is no longer thought registered: dropping it needs no
     * EV_DISABLE (which would fail again). */
    unsigned long ch0 = kqshim_changes;
    assert_int_equal(vex__poller_set(f->l, a, 3, POLLER_READ), 0);
    assert_int_equal(wait_ms(f, 0), 0);
    assert_int_equal(nev, 0);
    assert_int_equal(kqshim_changes, ch0);
    /* READ still is (its delete finds EBADF, harmless): one delete call
     * for one filter, and success. */
    uint64_t sys0 = f->l->syscalls;
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 0), 0);
    assert_int_equal(f->l->syscalls - sys0, 1);
    close(b);
}

/* The knote vanished (fd closed and reopened behind the loop's back): the
 * EV_ENABLE fails with ENOENT and kqueue.c re-adds the filter itself. */
static void test_enable_of_vanished_knote_re_adds(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, 3), 0);
    wait_ms(f, 0);
    assert_int_equal(vex__poller_set(f->l, a, 3, POLLER_READ), 0);
    wait_ms(f, 0);
    assert_int_equal(WR(f, a), 0);
    int old = a;
    close(a);                                       /* not via the poller */
    close(b);
    pair(&a, &b);
    assert_int_equal(a, old);
    assert_int_equal(vex__poller_set(f->l, a, POLLER_READ, 3), 0);  /* EV_ENABLE */
    assert_int_equal(wait_ms(f, 0), 1);             /* the ENOENT entry */
    assert_int_equal(nev, 0);                       /* not reported */
    assert_int_equal(WR(f, a), -1);
    wait_ms(f, 0);                                  /* EV_ADD, writable */
    assert_int_equal(WR(f, a), 1);
    assert_int_equal(nev, 1);
    assert_int_equal(ev_mask[0], POLLER_WRITE);
    close(a);
    close(b);
}

static void test_peer_close_reports_read(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_READ), 0);
    close(b);
    assert_int_equal(wait_ms(f, 1000), 1);
    assert_int_equal(ev_fd[0], a);
    assert_true(ev_mask[0] & POLLER_READ);
    close(a);
}

/* EV_EOF on the write filter: the peer is gone, report both ways. */
static void test_write_eof_reports_read_and_write(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    assert_int_equal(vex__poller_set(f->l, a, 0, POLLER_WRITE), 0);
    close(b);
    assert_int_equal(wait_ms(f, 1000), 1);
    assert_int_equal(ev_fd[0], a);
    assert_int_equal(ev_mask[0], POLLER_READ | POLLER_WRITE);
    close(a);
}

static void test_timeout_is_honoured(void **state)
{
    fx *f = *state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(wait_ms(f, 30), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 25 && ms < 1000);
}

/* 300 fds, beyond max_fds and the initial queue: the arrays grow. */
static void test_many_fds_grow_the_arrays(void **state)
{
    fx *f = *state;
    int a, b;
    pair(&a, &b);
    enum { N = 300 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = dup(a);
        assert_true(fds[i] >= 0);
        assert_int_equal(vex__poller_set(f->l, fds[i], 0, 3), 0);
    }
    int r = wait_ms(f, 0);
    assert_int_equal(r, N);                         /* all writable, one call */
    for (int i = 0; i < N; i++) {
        assert_int_equal(RD(f, fds[i]), 1);
        assert_int_equal(WR(f, fds[i]), 1);
        assert_int_equal(vex__poller_set(f->l, fds[i], 3, POLLER_CLOSING), 0);
        close(fds[i]);
    }
    close(a);
    close(b);
}

/* A callback that queues many new fds grows (moves) the event array while
 * vex__poller_wait() is still walking it: ASan would catch a stale pointer. */
static int grow_fds[400], grow_n, grow_src;
static void grow_on_first_event(vex_loop *l, int fd, unsigned mask)
{
    (void)fd; (void)mask;
    if (grow_n)
        return;
    for (grow_n = 0; grow_n < 400; grow_n++) {
        grow_fds[grow_n] = dup(grow_src);
        assert_true(grow_fds[grow_n] >= 0);
        assert_int_equal(vex__poller_set(l, grow_fds[grow_n], 0, POLLER_READ), 0);
    }
}

static void test_callback_growing_arrays_mid_dispatch(void **state)
{
    fx *f = *state;
    enum { N = 100 };
    int a[N], b[N];
    for (int i = 0; i < N; i++) {
        pair(&a[i], &b[i]);
        assert_int_equal(vex__poller_set(f->l, a[i], 0, POLLER_READ), 0);
        assert_int_equal(write(b[i], "z", 1), 1);
    }
    grow_n = 0;
    grow_src = b[0];
    on_event = grow_on_first_event;
    assert_int_equal(wait_ms(f, 1000), N);
    on_event = NULL;
    assert_int_equal(nev, N);
    for (int e = 0; e < N; e++) {
        int i = 0;
        while (i < N && a[i] != ev_fd[e])
            i++;
        assert_true(i < N);                         /* one of ours, */
        assert_int_equal(ev_mask[e], POLLER_READ);  /* intact */
    }
    assert_int_equal(grow_n, 400);
    for (int i = 0; i < grow_n; i++) {
        assert_int_equal(vex__poller_set(f->l, grow_fds[i], POLLER_READ, POLLER_CLOSING), 0);
        close(grow_fds[i]);
    }
    for (int i = 0; i < N; i++) {
        close(a[i]);
        close(b[i]);
    }
}

/* Random sequences of vex__poller_set() and waits: after every wait each filter
 * is enabled in the "kernel" exactly when wanted, events only come for
 * what is wanted, and a removal leaves no knote behind at once. */
static void test_random_ops_keep_kernel_and_state_in_sync(void **state)
{
    fx *f = *state;
    enum { N = 24, STEPS = 20000 };
    int a[N], b[N];
    unsigned want[N];
    unsigned seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (int i = 0; i < N; i++) {
        pair(&a[i], &b[i]);
        want[i] = 0;
        if (i % 3 == 0)
            assert_int_equal(write(b[i], "r", 1), 1);   /* some readable */
    }
    for (int step = 0; step < STEPS; step++) {
        int i = (int)(RND() % N);
        unsigned op = RND() % 8;
        if (op < 5) {                                   /* change interest */
            unsigned m = RND() % 4;
            if (m == want[i])
                continue;
            assert_int_equal(vex__poller_set(f->l, a[i], want[i], m), 0);
            want[i] = m;
            if (!m) {
                assert_int_equal(RD(f, a[i]), -1);
                assert_int_equal(WR(f, a[i]), -1);
            }
        } else if (op == 5) {                           /* close and reopen */
            if (want[i])
                assert_int_equal(vex__poller_set(f->l, a[i], want[i], POLLER_CLOSING), 0);
            want[i] = 0;
            close(a[i]);
            close(b[i]);
            pair(&a[i], &b[i]);
            if (i % 3 == 0)
                assert_int_equal(write(b[i], "r", 1), 1);
        } else {                                        /* a turn */
            assert_true(wait_ms(f, 0) >= 0);
            for (int e = 0; e < nev; e++) {
                int j = 0;
                while (j < N && a[j] != ev_fd[e])
                    j++;
                assert_true(j < N);
                assert_int_equal(ev_mask[e] & ~want[j], 0);
            }
            for (int j = 0; j < N; j++) {
                assert_int_equal(RD(f, a[j]) == 1, (want[j] & POLLER_READ) != 0);
                assert_int_equal(WR(f, a[j]) == 1, (want[j] & POLLER_WRITE) != 0);
            }
        }
    }
#undef RND
    for (int i = 0; i < N; i++) {
        if (want[i])
            assert_int_equal(vex__poller_set(f->l, a[i], want[i], 0), 0);
        close(a[i]);
        close(b[i]);
    }
}

/* The emulation itself, against our reading of kevent(2). */
static void test_shim_follows_our_reading_of_the_manual(void **state)
{
    (void)state;
    int kq = kqueue(), a, b;
    assert_true(kq >= 0);
    pair(&a, &b);
    struct kevent ch[2], ev[4];
    const struct timespec zero = {0, 0}, one_s = {1, 0};

    /* EV_ADD|EV_DISABLE: registered, disabled, reports nothing. */
    EV_SET(&ch[0], (uintptr_t)a, EVFILT_WRITE, EV_ADD | EV_DISABLE, 0, 0, 0);
    assert_int_equal(kevent(kq, ch, 1, ev, 4, &zero), 0);
    assert_int_equal(kqshim_knote(kq, a, EVFILT_WRITE), 0);
    /* Failures come back as EV_ERROR entries while there is room ... */
    EV_SET(&ch[0], (uintptr_t)a, EVFILT_READ, EV_DELETE, 0, 0, 0);
    EV_SET(&ch[1], (uintptr_t)a, EVFILT_WRITE, EV_ENABLE, 0, 0, 0);
    assert_int_equal(kevent(kq, ch, 2, ev, 4, &zero), 1);
    assert_true(ev[0].flags & EV_ERROR);
    assert_int_equal(ev[0].data, ENOENT);
    assert_int_equal(ev[0].filter, EVFILT_READ);
    assert_int_equal(kqshim_knote(kq, a, EVFILT_WRITE), 1);   /* 2nd applied */
    /* ... else as -1/errno; nevents == 0 never waits. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    assert_int_equal(kevent(kq, ch, 1, NULL, 0, &one_s), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(kevent(kq, NULL, 0, NULL, 0, &one_s), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 1);
#ifdef EV_RECEIPT
    /* EV_RECEIPT: an entry for every change, data 0 on success. */
    EV_SET(&ch[0], (uintptr_t)a, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, 0);
    assert_int_equal(kevent(kq, ch, 1, ev, 4, &zero), 1);
    assert_true(ev[0].flags & EV_ERROR);
    assert_int_equal(ev[0].data, 0);
#else
    EV_SET(&ch[0], (uintptr_t)a, EVFILT_READ, EV_ADD, 0, 0, 0);
    assert_int_equal(kevent(kq, ch, 1, NULL, 0, NULL), 0);
#endif
    /* Ready events: writable, udata passed through. */
    int tag;
    EV_SET(&ch[0], (uintptr_t)a, EVFILT_WRITE, EV_ADD, 0, 0, &tag);
    assert_int_equal(kevent(kq, ch, 1, ev, 4, &zero), 1);
    assert_int_equal(ev[0].filter, EVFILT_WRITE);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_false(ev[0].flags & (EV_ERROR | EV_EOF));
    /* Closed descriptor: EBADF; unknown filter: EINVAL. */
    int c = dup(a);
    close(c);
    EV_SET(&ch[0], (uintptr_t)c, EVFILT_READ, EV_ADD, 0, 0, 0);
    EV_SET(&ch[1], (uintptr_t)a, (short)(EVFILT_READ + EVFILT_WRITE), EV_ADD, 0, 0, 0);
    assert_int_equal(kevent(kq, ch, 2, ev, 4, NULL), 2);
    assert_int_equal(ev[0].data, EBADF);
    assert_int_equal(ev[1].data, EINVAL);
    /* Not inherited by a fork()ed child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(kevent(kq, NULL, 0, NULL, 0, &zero) == -1 && errno == EBADF ? 0 : 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(kqshim_knote(kq, a, EVFILT_READ), 1);    /* parent: kept */
    /* close(2) drops the descriptor's knotes, and the queue's. */
    close(a);
    assert_int_equal(kqshim_knote(kq, a, EVFILT_READ), -1);
    close(kq);
    assert_int_equal(kevent(kq, NULL, 0, NULL, 0, &zero), -1);
    assert_int_equal(errno, EBADF);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_toggle_undone_within_a_turn_costs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_is_level_triggered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_interest_is_disabled_not_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_is_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_remove_within_a_turn_costs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_costs_nothing_and_reuse_re_adds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_change_is_reported_and_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_of_vanished_knote_re_adds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_close_reports_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_eof_reports_read_and_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_fds_grow_the_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_growing_arrays_mid_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_ops_keep_kernel_and_state_in_sync, setup, teardown),
        cmocka_unit_test(test_shim_follows_our_reading_of_the_manual),
    };
#ifdef EV_RECEIPT
    const char *name = "kqueue poller (kqshim, EV_RECEIPT)";
#else
    const char *name = "kqueue poller (kqshim, no EV_RECEIPT)";
#endif
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
