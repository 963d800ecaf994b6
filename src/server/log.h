/*
 * log.h — the access and event logs: workers format lines into their own
 * buffer (a log_slot), full buffers and those older than the flush interval
 * go to ONE writer thread, which does every write(2) and syslog(3). A
 * worker never waits on a disk: with LOG_INFLIGHT buffers already queued
 * for the writer, its new lines are dropped and counted instead.
 *
 * The logger is one process-wide object owned by log.c (started once by
 * main, stopped once after the workers). The event log may be used from
 * any thread; a slot only from its worker's thread.
 */
#ifndef VEX_SERVER_LOG_H
#define VEX_SERVER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log_config.h"

#define LOG_INFLIGHT 3           /* buffers per worker queued for the writer */

typedef struct log_slot log_slot;

/* Open the destinations and start the writer with n_slots worker slots.
 * -1: err says what (naming the flag and the path); nothing is left open. */
int  log_start(const struct log_settings *ls, unsigned n_slots, char *err, size_t errlen);
/* Hand over every slot's buffer, write everything, stop the writer, close,
 * free. The workers must be gone. Idempotent. */
void log_stop(void);
/* Switch destinations, level, buffer size and flush interval live (from a
 * configuration reload). The new files are opened first: on failure
 * nothing changes and err names the path. Returns once the writer uses
 * the new destinations. */
int  log_apply(const struct log_settings *ls, char *err, size_t errlen);
/* Ask the writer to reopen the log files (logrotate). Not for a signal
 * handler (it takes the logger's mutex): the SIGUSR1 handler tells main. */
int  log_reopen(void);

void log_event(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vevent(int level, const char *fmt, va_list ap);
bool log_level_enabled(int level);

/* ---- workers ---- */
log_slot *log_slot_of(unsigned i);       /* NULL if no such slot */
bool log_access_enabled(void);
/* Room for one line of at most max bytes in s's buffer, for the caller to
 * format it in place (no copy); then log_commit with the length used. A
 * buffer without that room is handed to the writer first (so it goes a
 * little before it is full: by what the line could need, not what it
 * does). NULL: the line is dropped and counted (the writer already holds
 * LOG_INFLIGHT of s's buffers, no memory, or max exceeds a buffer). */
char *log_reserve(log_slot *s, size_t max);
/* The line of n <= max bytes written where log_reserve pointed. */
void log_commit(log_slot *s, size_t n);
/* Append one line (with its '\n') through log_reserve and log_commit. */
void log_access_line(log_slot *s, const char *line, size_t n);
/* From the worker's tick: hand over a buffer older than the interval. */
void log_slot_tick(log_slot *s);

/* "YYYY-MM-DDTHH:MM:SS" for a second (19 characters, no NUL). */
void log_fmt_secs(char *out, long long sec);

size_t log_buffer_bytes(void);       /* the current per-worker buffer size */
uint64_t log_lines_written(void);
uint64_t log_lines_dropped(void);

#endif
