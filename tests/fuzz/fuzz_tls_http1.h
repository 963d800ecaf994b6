/* fuzz_tls_http1.h — included once by fuzz_tls.c: its mode with the real
 * http1 layer, route table and handlers above the TLS transport (flags bit
 * 4), as the server runs a TLS listener: h1_conn_open over tp_tls_ops with
 * the SSL_CTX as the open argument (admit.c does the same). The client's
 * bytes are the same as for the other mode, so the recorded post_hs* seeds
 * reach http1 with their requests. Checked, beyond check_records(): no
 * state violation of http1, nothing written after the close, the
 * connection gone after the end, no leak; the output is bounded by
 * draining only up to OUT_BUDGET (no client reads it: it is encrypted). */
#include <stdatomic.h>

#include "server/handlers.h"
#include "server/http1.h"
#include "server/routes.h"

#define OUT_BUDGET (5u << 19)   /* 2.5 MiB of records per input */

static struct {
    h1_ctx ctx;
    server_config cfg;
    wstats *st;
    h1_router router;
    app_env app;
    char pattern[PATTERN_CHUNK];
} H;

/* The route table reads this through h1_ex: vex_loop_syscalls of no loop. */
uint64_t vex_loop_syscalls(const vex_loop *loop)
{
    (void)loop;
    return 0;
}

static size_t h_fake_metrics(void *src, char *buf, size_t cap)
{
    (void)src;
    return (size_t)snprintf(buf, cap, "# fuzz\nvex_up 1\n");
}

static void h_on_gone(void *owner, enum h1_kind kind)
{
    (void)owner;
    (void)kind;
}

static void h1_setup(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (!H.st) {
        H.st = stats_new();
        CHECK(H.st);
        for (size_t i = 0; i < sizeof H.pattern; i++)
            H.pattern[i] = alphabet[i % 64];
    }
    memset(H.st, 0, sizeof *H.st);
    H.cfg = (server_config){ .max_clients = 1, .buffer_size = 8192, .header_timeout_ms = 30000,
                             .idle_timeout_ms = 60000, .max_body = 1u << 20, .root_fd = -1 };
    H.app = (app_env){ .bytes_fd = -1, .pattern = H.pattern, .render_metrics = h_fake_metrics };
    H.router = (h1_router){ routes_dispatch, &routes_main, &H.app };
    CHECK(h1_ctx_init(&H.ctx, NULL, &H.cfg, H.st, 1, 1) == 0);
    for (int k = 0; k < H1_NKINDS; k++)
        H.ctx.routers[k] = &H.router;
    H.ctx.on_gone = h_on_gone;
    H.ctx.env.open_arg = ctx;
    fake_loop_the.count_pending = true;
    CHECK(h1_conn_open(&H.ctx, &tp_tls_ops, FD, NULL, H1_CLIENT));
    CHECK(fake_loop_the.registered);
}

/* After a callback: whole records, the kick timer (held plaintext), and
 * "the kernel" taking the queue while there is budget. */
static void h1_after(void)
{
    for (int round = 0; round < 4096 && fake_loop_the.registered; round++) {
        check_records();
        CHECK(H.ctx.state_violations == 0);
        if (H.ctx.env.out.owner)   /* a window left open past a callback */
            CHECK(0);
        if (fake_loop_the.timer) {
            fake_loop_fire_timer();
            continue;
        }
        if (fake_loop_the.out_len >= OUT_BUDGET)
            return;
        fake_loop_the.drained = fake_loop_the.out_len;
        if (!fake_loop_the.want_drain)
            return;
        fake_loop_the.want_drain = false;
        if (fake_loop_the.cbs->on_drain)
            fake_loop_the.cbs->on_drain(NULL, FD, fake_loop_the.ud);
    }
    check_records();
}

/* The end the flags ask for, then the close and the context freed. */
static void h1_end(unsigned flags)
{
    if (fake_loop_the.registered && !fake_loop_the.paused) {
        switch ((flags >> F_END_SHIFT) & 3) {
        case END_EOF:
            fake_loop_the.cbs->on_data(NULL, FD, NULL, 0, fake_loop_the.ud);
            break;
        case END_RESET:
            fake_loop_the.cbs->on_data(NULL, FD, NULL, -ECONNRESET, fake_loop_the.ud);
            break;
        case END_SHUTDOWN:     /* graceful: an idle connection closes */
            h1_drain_start(&H.ctx, UINT64_MAX);
            h1_drain_idle(&H.ctx);
            break;
        default:
            break;
        }
        h1_after();
    }
    size_t sent = fake_loop_the.out_len;
    bool was_open = fake_loop_the.registered;
    h1_close_all(&H.ctx);
    CHECK(!fake_loop_the.registered);
    if (!was_open)
        CHECK(fake_loop_the.out_len == sent);   /* nothing after the close */
    check_records();
    h1_ctx_free(&H.ctx);
}

static void run_http1(unsigned flags, const uint8_t *cuts, size_t ncuts, const uint8_t *in,
                      size_t len)
{
    fake_loop_reset();
    h1_setup();
    size_t off = 0;
    for (size_t k = 0; off < len && fake_loop_the.registered; k++) {
        if (fake_loop_the.paused)
            break;             /* waits for output nobody reads (over budget) */
        size_t piece = k < ncuts ? (size_t)cuts[k] + 1 : PIECE;
        if (piece > len - off)
            piece = len - off;
        fake_loop_the.cbs->on_data(NULL, FD, (const char *)in + off, (ssize_t)piece,
                                   fake_loop_the.ud);
        off += piece;
        h1_after();
    }
    h1_end(flags);
    ERR_clear_error();
}
