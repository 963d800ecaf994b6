/*
 * signals.c — what each signal a service manager or an operator sends does,
 * on the async-signal-safe side.
 *
 * SIGINT, SIGTERM and SIGQUIT drain gracefully: the handler only sets a flag
 * and wakes every loop (vex_loop_wake is one write(2)); each loop's wake
 * callback then starts draining in its own thread. Loop pointers are
 * lock-free atomics so the handler may read them at any moment.
 * SIGHUP (reload, log rotation), SIGUSR1 and SIGUSR2 must never stop a
 * server: until there is a configuration file to reload and log files to
 * reopen, each is logged with one write(2) and otherwise ignored.
 */
#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static _Atomic(vex_loop *) g_loops[SIG_MAX_LOOPS];

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    g_stop = 1;
    for (unsigned i = 0; i < SIG_MAX_LOOPS; i++) {
        vex_loop *l = atomic_load_explicit(&g_loops[i], memory_order_acquire);
        if (l)
            vex_loop_wake(l);
    }
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
    if (sig == SIGHUP)
        say("production_server: SIGHUP: no configuration file to reload; still serving\n");
    else if (sig == SIGUSR1)
        say("production_server: SIGUSR1: no log file to reopen; still serving\n");
    else
        say("production_server: SIGUSR2: not used; still serving\n");
    errno = saved;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGQUIT};
static const int ignored_signals[] = {SIGHUP, SIGUSR1, SIGUSR2};
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

bool sig_stop_requested(void) { return g_stop != 0; }

void sig_block(bool on)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < N_OF(stop_signals); i++)
        sigaddset(&set, stop_signals[i]);
    for (size_t i = 0; i < N_OF(ignored_signals); i++)
        sigaddset(&set, ignored_signals[i]);
    pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
