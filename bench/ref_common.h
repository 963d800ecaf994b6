/* What the two minimal reference servers (ref_epoll.c, ref_uring.c) share:
 * flags, the listening socket, the canned plaintext response and the count of
 * complete requests in a byte stream. They are the floor the benchmark
 * compares production_server against, so nothing here may cost per request
 * more than the kernel interface itself does. */
#ifndef REF_COMMON_H
#define REF_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit status when the kernel interface is refused (the harness's "skipped"). */
#define REF_EXIT_UNAVAILABLE 3
#define REF_EXIT_BAD_FLAGS 2

/* Copies of the response kept back to back, so one write/send covers a
 * pipelined batch of up to this many. */
#define REF_BATCH 64

typedef struct {
    const char *host;
    int port;
} ref_args;

/* --host H --port P (both required, --help prints usage): 0, or exit status. */
int ref_parse_args(int argc, char **argv, const char *prog, ref_args *out);

/* Non-blocking listening TCP socket on host:port, or -1 (message printed). */
int ref_listen(const ref_args *a);

/* Raise the descriptor limit to its hard maximum; the number of descriptors
 * (and so connection slots) to size the table for, at most 2^20. */
size_t ref_fd_limit(void);

/* SIGTERM/SIGINT set the flag returned by ref_stop_flag() and interrupt the
 * wait (no SA_RESTART); SIGPIPE is ignored. */
int ref_signals(void);
volatile sig_atomic_t *ref_stop_flag(void);

/* The plaintext response of production_server's GET /: same status line,
 * headers (Server, Date, Content-Type, Content-Length, an X-Request-Id of
 * the same length) and body, so the
 * bytes on the wire match. REF_BATCH copies back to back. */
typedef struct {
    char *buf;          /* the current copy: REF_BATCH * len bytes */
    char *spare;        /* the other one: a new second is written there, then
                         * swapped, so a send still in flight from the old
                         * copy never sees a half-written Date */
    size_t len;         /* one response */
    time_t second;      /* the Date in buf */
} ref_response;

int ref_response_init(ref_response *r);
/* Rewrite the Date fields if the wall-clock second changed (vDSO clock: no
 * syscall). */
void ref_response_tick(ref_response *r);
void ref_response_free(ref_response *r);

/* Complete requests ("\r\n\r\n" terminators) in data[0..n). *state carries a
 * partial terminator (0-3 bytes matched) from one read to the next. */
static inline unsigned ref_count_requests(const char *data, size_t n, uint8_t *state)
{
    unsigned count = 0;
    unsigned m = *state;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == "\r\n\r\n"[m]) {
            if (++m == 4) {
                count++;
                m = 0;
            }
        } else {
            m = c == '\r';
        }
    }
    *state = (uint8_t)m;
    return count;
}

#endif
