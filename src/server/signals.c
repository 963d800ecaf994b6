/*
 * signals.c — what each signal a service manager or an operator sends does,
 * on the async-signal-safe side.
 *
 * SIGINT, SIGTERM and SIGQUIT drain gracefully: the handler only sets a flag
 * and wakes every loop (vex_loop_wake is one write(2)); each loop's wake
 * callback then starts draining in its own thread. Loop pointers are
 * lock-free atomics so the handler may read them at any moment.
 * SIGHUP asks the main thread to reload the configuration: the handler
 * counts it and writes a byte to a pipe main waits on (workers write there
 * too when they finish). SIGUSR1 is counted the same way and main asks
 * the log writer to reopen the log files (a mutex and a condition
 * variable, which a handler may not touch). So nothing here or in main
 * wakes on a timer. SIGUSR1 and SIGUSR2 must never stop a server: each is
 * logged with one write(2).
 */
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Set by the handler (in whichever thread took the signal), read by every
 * worker: a lock-free atomic, not volatile sig_atomic_t, which is only safe
 * within one thread (a data race otherwise; ThreadSanitizer reports it). */
static atomic_int g_stop;
static _Atomic unsigned g_hups;
static _Atomic unsigned g_reopens;
static int g_pipe[2] = {-1, -1};
static _Atomic(vex_loop *) g_loops[SIG_MAX_LOOPS];

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_store_explicit(&g_stop, 1, memory_order_release);
    for (unsigned i = 0; i < SIG_MAX_LOOPS; i++) {
        vex_loop *l = atomic_load_explicit(&g_loops[i], memory_order_acquire);
        if (l)
            vex_loop_wake(l);
    }
    errno = saved;
}

static void poke_main(void)
{
    if (g_pipe[1] >= 0) {
        ssize_t r = write(g_pipe[1], "x", 1);
        (void)r;   /* full: main has a wake-up pending anyway */
    }
}

static void on_hup(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_fetch_add_explicit(&g_hups, 1, memory_order_relaxed);
    poke_main();
    errno = saved;
}

static void say(const char *msg)
{
    ssize_t r = write(STDERR_FILENO, msg, strlen(msg));
    (void)r;   /* nothing to do if stderr is gone */
}

static void on_ignored(int sig)
{
    int saved = errno;
    if (sig == SIGUSR1) {
        atomic_fetch_add_explicit(&g_reopens, 1, memory_order_relaxed);
        poke_main();
        say("production_server: SIGUSR1: reopening the log files; still serving\n");
    } else {
        say("production_server: SIGUSR2: not used; still serving\n");
    }
    errno = saved;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGQUIT};
static const int ignored_signals[] = {SIGUSR1, SIGUSR2};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

int sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_signal;
    for (size_t i = 0; i < N_OF(stop_signals); i++)
        if (sigaction(stop_signals[i], &sa, NULL) < 0)
            return -1;
    if (g_pipe[0] < 0) {
        if (pipe(g_pipe) < 0)
            return -1;
        for (int i = 0; i < 2; i++) {
            fcntl(g_pipe[i], F_SETFL, O_NONBLOCK);
            fcntl(g_pipe[i], F_SETFD, FD_CLOEXEC);
        }
    }
    sa.sa_handler = on_hup;
    if (sigaction(SIGHUP, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = on_ignored;
    for (size_t i = 0; i < N_OF(ignored_signals); i++)
        if (sigaction(ignored_signals[i], &sa, NULL) < 0)
            return -1;
    return 0;
}

void sig_set_loop(unsigned i, vex_loop *loop)
{
    if (i < SIG_MAX_LOOPS)
        atomic_store_explicit(&g_loops[i], loop, memory_order_release);
}

bool sig_stop_requested(void) { return atomic_load_explicit(&g_stop, memory_order_acquire) != 0; }

unsigned sig_take_reopens(void) { return atomic_exchange_explicit(&g_reopens, 0, memory_order_relaxed); }
unsigned sig_take_reloads(void) { return atomic_exchange_explicit(&g_hups, 0, memory_order_relaxed); }

void sig_notify_main(void) { poke_main(); }

void sig_wait_main(int timeout_ms)
{
    struct pollfd p = { .fd = g_pipe[0], .events = POLLIN };
    if (poll(&p, 1, timeout_ms) > 0) {
        char buf[64];
        while (read(g_pipe[0], buf, sizeof buf) > 0)
            ;
    }
}

void sig_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (g_pipe[i] >= 0)
            close(g_pipe[i]);
        g_pipe[i] = -1;
    }
}

void sig_block(bool on)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < N_OF(stop_signals); i++)
        sigaddset(&set, stop_signals[i]);
    for (size_t i = 0; i < N_OF(ignored_signals); i++)
        sigaddset(&set, ignored_signals[i]);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
