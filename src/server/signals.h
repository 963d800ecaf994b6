/*
 * signals.h — SIGINT/SIGTERM/SIGQUIT → graceful drain; SIGHUP, SIGUSR1 and
 * SIGUSR2 logged and ignored (never fatal). The handler's data (a stop flag
 * and the loops to wake) is the server's only global state.
 */
#ifndef VEX_SERVER_SIGNALS_H
#define VEX_SERVER_SIGNALS_H

#include <stdbool.h>
#include "vex_net.h"

#define SIG_MAX_LOOPS 1024

/* Ignore SIGPIPE, install the handlers. 0 or -1 (errno). */
int  sig_install(void);
/* Publish loop i (or NULL to withdraw it) for the handler to wake. */
void sig_set_loop(unsigned i, vex_loop *loop);
bool sig_stop_requested(void);
/* Block (on=true) or unblock the handled signals in the calling thread. Workers
 * block them so the handler runs only on the main thread, which can then
 * free the loops safely after blocking them again. */
void sig_block(bool on);

#endif
