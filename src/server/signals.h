/*
 * signals.h — SIGINT/SIGTERM/SIGQUIT → graceful drain; SIGHUP → reload on
 * the main thread; SIGUSR1 and SIGUSR2 logged and ignored (never fatal).
 * The handler's data (a stop flag, a reload count, the loops to wake and
 * main's wake-up pipe) is the server's only global state.
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
/* SIGHUPs received since the last call. */
unsigned sig_take_reloads(void);
unsigned sig_take_reopens(void);   /* SIGUSR1s since the last call */
/* Main's wait: until a signal or sig_notify_main, at most timeout_ms
 * (-1: no limit). */
void sig_wait_main(int timeout_ms);
void sig_notify_main(void);       /* from any thread: main, look again */
void sig_close(void);             /* at exit, after the workers */
/* Block (on=true) or unblock the handled signals in the calling thread. Workers
 * block them so the handler runs only on the main thread, which can then
 * free the loops safely after blocking them again. */
void sig_block(bool on);

#endif
