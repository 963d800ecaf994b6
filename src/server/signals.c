/*
 * signals.c — the async-signal-safe side of shutdown.
 *
 * The handler only sets a flag and wakes every loop (vex_loop_wake is one
 * write(2)); each loop's wake callback then starts draining in its own
 * thread. Loop pointers are lock-free atomics so the handler may read them
 * at any moment.
 */
#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

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

int sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
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
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
