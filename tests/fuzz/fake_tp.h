/*
 * fake_tp.h — an in-memory transport for the connection fuzzer: the
 * tp_ops of src/server/transport.h over a byte log instead of a socket.
 *
 * It keeps the promises the real one (transport_tcp.c over the loop) makes
 * and refuses what the loop refuses: a reservation while a file is in
 * flight or once the queue is at the loop's write high-water mark (EAGAIN,
 * and on_drain is owed), and anything at all after shutdown or close —
 * which is a bug of the layer above, so it traps instead of saying EPIPE.
 * "The kernel" takes the queue only when the driver says so (fake_drain).
 */
#ifndef VEX_FUZZ_FAKE_TP_H
#define VEX_FUZZ_FAKE_TP_H

#include <stdbool.h>
#include <stddef.h>

#include "server/transport.h"

#define FAKE_HIGH_WATER (1u << 20)   /* the loop's default write_high_water */

typedef struct fake_tp {
    tp *t;                    /* the connection's, once opened */
    char *out;                /* every byte sent, in order */
    size_t out_len, out_cap;
    size_t pending;           /* sent but not yet taken by "the kernel" */
    size_t max_pending;       /* the most ever queued at once */
    char *win;                /* the open window's memory */
    size_t win_cap;
    bool file_inflight, no_sendfile;
    bool paused, want_drain, shut, closed;
    size_t shut_at;           /* out_len at shutdown */
} fake_tp;

extern const tp_ops fake_tp_ops;
extern fake_tp *fake_tp_current;   /* the one connection of the driver */

void fake_tp_reset(fake_tp *f);
void fake_tp_free(fake_tp *f);

#endif
