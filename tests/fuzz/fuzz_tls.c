/*
 * fuzz_tls.c — libFuzzer target for the server side of the TLS transport:
 * the real src/server/transport_tls.c (its own BIO) with the SSL_CTX of
 * the real tls_context.c (a self-signed certificate made once, fuzz_cert.c,
 * and an SNI context for api.example.com and *.cdn.example.com), over the
 * in-memory loop of fake_loop.c. The fuzzer's bytes are what the client
 * sends, cut into packets at fuzzer-chosen boundaries (fuzz_conn.c's
 * driver is the model). No socket, no file.
 *
 * Input:
 *   octet 0    flags: bit 0 the layer above answers every plaintext delivery
 *              (a response written into the window and flushed, as http1
 *              does); bit 1 it pauses on every delivery and resumes after the
 *              packet (the kick timer delivers what was held); bits 2-3 how
 *              the connection ends: EOF, graceful shutdown then close, close
 *              at once, a reset (-ECONNRESET); bit 4 the real http1 layer
 *              above instead of this driver's (fuzz_tls_http1.h); bit 5 client
 *              mode, bit 6 its TLS 1.2 (run_client, fuzz_tls_record.h): the
 *              bytes below are a client's plaintext, sent after a handshake;
 *   octet 1    n, the number of cuts (mod 32), then n octets: packet k is
 *              octet k + 1 bytes long; the rest goes in 4096-byte packets.
 *   the rest   the client's bytes.
 *
 * The invariants, each a trap:
 *   - no crash, no leak (LSan), no undefined behaviour;
 *   - every byte sent is a whole TLS record, after every callback: type
 *     20-23, version 0x03 0x01-0x03, length at most 2^14 + 256 (but for
 *     OpenSSL's refusal of a record version it cannot take: a last, fatal
 *     alert in the client's version);
 *   - nothing is sent after shutdown or close, no refused loop call;
 *   - the layer above hears of the end once (EOF or an error) and nothing
 *     after it; each delivery is at most one 16 KiB read;
 *   - memory is bounded: at most one partial record waits in the read BIO
 *     while reading goes on, and the plaintext window is given back when
 *     it grew past 64 KiB;
 *   - a handshake is counted once, as done or as failed, never both.
 *
 * Past the handshake: OpenSSL's random source is fixed (fuzz_rand.c) and
 * the certificate's dates too (fuzz_cert.c), so the server's flights are
 * the same on every run and a client's recorded bytes after its hello
 * (Finished, requests, a KeyUpdate, a renegotiation attempt, close_notify)
 * decrypt as they did when recorded. The seeds with such transcripts are
 * written by this binary itself, through this driver and the real
 * transport: VEX_FUZZ_TLS_RECORD=DIR ./build/fuzz/fuzz_tls (make
 * fuzz-tls-seeds); each is replayed at once and must reach application
 * data.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_loop.h"
#include "fuzz_cert.h"
#include "fuzz_check.h"
#include "fuzz_rand.h"
#include "server/tls_context.h"
/* White-box: the connection's BIOs and window, for the memory bounds. */
#include "server/transport_tls.c"

#define FD 7
#define PIECE 4096
#define RECORD_MAX (16384 + 256)

enum {
    F_ANSWER = 1 << 0,
    F_PAUSE = 1 << 1,
    F_END_SHIFT = 2,
    F_HTTP1 = 1 << 4,         /* the real http1 layer above (fuzz_tls_http1.h) */
    F_CLIENT = 1 << 5,        /* the input is plaintext a client sends (fuzz_tls_record.h) */
    F_TLS12 = 1 << 6,         /* ... over TLS 1.2 (else 1.3) */
};
enum { END_EOF, END_SHUTDOWN, END_CLOSE, END_RESET };

static SSL_CTX *ctx, *sni_ctx;
/* VEX_FUZZ_TLS_EXPECT_APPDATA=1 (make fuzz-replay, for the post_hs* seeds):
 * every input must complete the handshake and deliver plaintext, so a lost
 * determinism (the recorded flights no longer matching) fails CI. */
static bool expect_appdata;

static struct drv {
    tp t;
    tp_env env;
    wstats st;
    unsigned flags;
    bool ended;               /* the layer above was told EOF or an error */
    bool closed;              /* it closed the transport */
    uint64_t plaintext;
} d;

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static void up_input(tp *t, const char *data, ssize_t n)
{
    CHECK(t == &d.t && !d.ended && !d.closed);
    if (n <= 0) {
        d.ended = true;
        d.closed = true;
        tp_close(t);         /* as http1 does on an error or the end */
        return;
    }
    CHECK(data && n <= TLS_READ_CHUNK);
    d.plaintext += (uint64_t)n;
    if (d.flags & F_ANSWER) {
        if (!tp_write(t, answer, sizeof answer - 1) || tp_flush(t) < 0) {
            d.closed = true;
            tp_close(t);
            return;
        }
    }
    if (d.flags & F_PAUSE)
        tp_pause(t, true);
}

static void up_drain(tp *t)
{
    CHECK(t == &d.t);
}

static const tp_upcalls ups = { up_input, up_drain };

/* Every byte sent so far is a sequence of whole records. */
static void check_records(void)
{
    const unsigned char *p = (const unsigned char *)fake_loop_the.out;
    size_t n = fake_loop_the.out_len, off = 0;
    while (off < n) {
        CHECK(n - off >= 5);
        CHECK(p[off] >= 20 && p[off] <= 23);
        /* OpenSSL 3.0 refuses a record whose version it cannot take, while
         * nothing is encrypted yet, with a fatal alert in that record's (or
         * the ClientHello's) version ("send back error using their minor
         * version number", ssl3_get_record): such an alert, two octets and
         * the last record, is the one that may carry a version not ours. */
        bool ours = p[off + 1] == 3 && p[off + 2] >= 1 && p[off + 2] <= 3;
        if (!ours && !(p[off] == 21 && p[off + 3] == 0 && p[off + 4] == 2 && off + 7 == n)) {
            fprintf(stderr, "record at %zu of %zu: %02x %02x %02x %02x %02x\n", off, n, p[off],
                    p[off + 1], p[off + 2], p[off + 3], p[off + 4]);
            CHECK(0);
        }
        size_t len = (size_t)p[off + 3] << 8 | p[off + 4];
        CHECK(len <= RECORD_MAX && n - off - 5 >= len);
        off += 5 + len;
    }
    CHECK(fake_loop_the.misuse == 0);
}

static void check_bounds(void)
{
    if (d.closed)
        return;
    tls_conn *tc = d.t.x;
    CHECK(tc);
    if (!tc->paused && !tc->failed)
        CHECK(tc->in_n <= 5 + 16384 + 2048);   /* input kept past a callback */
    CHECK(d.env.tls_pt_cap <= TLS_PT_KEEP);   /* the thread's window, given back above it */
    CHECK(d.env.out.owner == NULL);   /* every window flushed by the callback's end */
}

/* After a callback: what the driver checks, and a resume if paused. */
static void after(void)
{
    check_records();
    check_bounds();
    uint64_t ok = d.st.tls_hs_ok, failed = d.st.tls_hs_failed;
    CHECK(ok <= 1 && failed <= 1 && ok + failed <= 1);
    if (!d.closed && ((tls_conn *)d.t.x)->paused) {
        tp_pause(&d.t, false);
        fake_loop_fire_timer();
        check_records();
        check_bounds();
    }
}

/* A fresh connection through the real transport's open. */
static void drv_start(unsigned flags)
{
    fake_loop_reset();
    tp_env_free(&d.env);      /* the thread's plaintext window of the last input */
    memset(&d, 0, sizeof d);
    d.flags = flags;
    d.env = (tp_env){ .up = &ups, .st = &d.st, .open_arg = ctx };
    d.t = (tp){ .ops = &tp_tls_ops, .env = &d.env, .fd = FD };
    CHECK(d.t.ops->open(&d.t) == 0);
    CHECK(fake_loop_the.registered && fake_loop_the.cbs->on_data);
}

/* One packet of the client's bytes, as the loop delivers a read. */
static void drv_packet(const uint8_t *p, size_t n)
{
    fake_loop_the.cbs->on_data(NULL, FD, (const char *)p, (ssize_t)n, fake_loop_the.ud);
    after();
}

/* The end the flags ask for, then the close; nothing may be sent after it. */
static void drv_end(void)
{
    if (!d.closed) {
        switch ((d.flags >> F_END_SHIFT) & 3) {
        case END_EOF:
            fake_loop_the.cbs->on_data(NULL, FD, NULL, 0, fake_loop_the.ud);
            CHECK(d.ended);
            break;
        case END_RESET:
            fake_loop_the.cbs->on_data(NULL, FD, NULL, -ECONNRESET, fake_loop_the.ud);
            CHECK(d.ended);
            break;
        case END_SHUTDOWN:
            tp_shutdown(&d.t);
            check_records();
            break;
        default:
            break;
        }
        after();
    }
    size_t sent = fake_loop_the.out_len;
    if (!d.closed) {
        d.closed = true;
        tp_close(&d.t);
    }
    CHECK(!fake_loop_the.registered && fake_loop_the.out_len == sent);
}

#include "fuzz_tls_http1.h"
#include "fuzz_tls_record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_rand_fix();          /* before anything draws a random value */
    fuzz_cert_init();
    char err[512];
    ctx = tls_ctx_new(FUZZ_CERT_NAME, FUZZ_KEY_NAME, err, sizeof err);
    SSL_CTX *sni = sni_ctx = tls_ctx_new(FUZZ_CERT_NAME, FUZZ_KEY_NAME, err, sizeof err);
    CHECK(ctx && sni);
    CHECK(tls_ctx_add_sni(ctx, "api.example.com", sni, err, sizeof err) == 0);
    SSL_CTX_up_ref(sni);
    CHECK(tls_ctx_add_sni(ctx, "*.cdn.example.com", sni, err, sizeof err) == 0);
    expect_appdata = getenv("VEX_FUZZ_TLS_EXPECT_APPDATA") != NULL;
    const char *dir = getenv("VEX_FUZZ_TLS_RECORD");
    if (dir)
        exit(record_seeds(dir));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return -1;
    /* Every input from an empty session cache: with the fixed random source
     * every TLS 1.2 session has the same ID, so one cached by an earlier input
     * made the next full handshake fail ("ssl session id callback failed",
     * an internal_error alert), and an input's outcome depended on the ones
     * before it. */
    SSL_CTX_flush_sessions(ctx, (long)time(NULL) + 86400L * 365 * 100);
    SSL_CTX_flush_sessions(sni_ctx, (long)time(NULL) + 86400L * 365 * 100);
    size_t ncuts = data[1] % 32;
    if (size < 2 + ncuts)
        return -1;
    const uint8_t *cuts = data + 2, *in = data + 2 + ncuts;
    size_t len = size - 2 - ncuts;

    if (data[0] & F_CLIENT) {
        run_client(data[0], cuts, ncuts, in, len);
        if (data[0] & F_HTTP1)
            h1_end(data[0]);
        else
            drv_end();
        check_records();
        ERR_clear_error();
        return 0;
    }
    if (data[0] & F_HTTP1) {
        run_http1(data[0], cuts, ncuts, in, len);
        if (expect_appdata && !(atomic_load(&H.st->tls_hs_ok) == 1
                                && atomic_load(&H.st->requests) > 0)) {
            fprintf(stderr, "fuzz_tls: no request reached http1: the recorded flights no "
                    "longer match the server's (make fuzz-tls-seeds)\n");
            CHECK(0);
        }
        return 0;
    }
    drv_start(data[0]);

    size_t off = 0;
    for (size_t k = 0; off < len && !d.closed; k++) {
        size_t piece = k < ncuts ? (size_t)cuts[k] + 1 : PIECE;
        if (piece > len - off)
            piece = len - off;
        drv_packet(in + off, piece);
        off += piece;
    }
    drv_end();
    check_records();
    if (expect_appdata && !(d.st.tls_hs_ok == 1 && d.plaintext > 0)) {
        fprintf(stderr, "fuzz_tls: no application data (handshake %s): the recorded "
                "flights no longer match the server's (make fuzz-tls-seeds)\n",
                d.st.tls_hs_ok ? "done" : "not done");
        CHECK(0);
    }
    ERR_clear_error();
    return 0;
}
