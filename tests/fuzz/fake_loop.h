/* fake_loop.h — an in-memory stand-in for the loop calls of transport_tls.c
 * (fake_loop.c), for fuzz_tls.c: one socket, no kernel. */
#ifndef VEX_FUZZ_FAKE_LOOP_H
#define VEX_FUZZ_FAKE_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "vex_net.h"

typedef struct fake_loop {
    bool registered;          /* vex_sock_add, until vex_close */
    int fd;
    const vex_sock_cbs *cbs;
    void *ud;
    char *out;                /* every byte the transport sent, in order */
    size_t out_len, out_cap;
    size_t reserved;          /* room of the open reservation, 0: none */
    bool paused, want_drain, shut;
    vex_timer *timer;         /* the one armed timer (TLS: the kick), or NULL */
    unsigned misuse;          /* refused calls: writes after shutdown, bad commits */
    bool count_pending;       /* vex_write_pending: bytes since `drained` (else 0) */
    size_t drained;           /* out_len when "the kernel" last took the queue */
} fake_loop;

extern fake_loop fake_loop_the;

void fake_loop_reset(void);
void fake_loop_fire_timer(void);   /* run the armed timer, if any */

#endif
