/* fuzz_tls_record.h — included once by fuzz_tls.c (it uses that file's
 * driver: drv_start, drv_packet, the driver state d and the SSL_CTX).
 *
 * Writes fuzz_tls seeds that go past the handshake: an OpenSSL client over
 * memory BIOs talks to the real server transport through the driver; what
 * the client sends, in order, is the seed (after fuzz_tls's control
 * octets). With fuzz_rand.c's fixed random source and fuzz_cert.c's fixed
 * certificate the server answers every replay with the same bytes, so the
 * client's Finished and its encrypted records stay valid. Each seed is
 * replayed through LLVMFuzzerTestOneInput at once and must complete the
 * handshake and deliver plaintext: a change that breaks determinism (a new
 * random or time input to the server's flight) fails here, not silently in
 * the fuzzer. */
#include <openssl/err.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { S_ANSWER = 1, S_PAUSE = 2, S_EOF = 0, S_SHUTDOWN = 4, S_CLOSE = 8, S_RESET = 12 };

struct rec {
    uint8_t buf[1 << 17];
    size_t len;
    bool keep;                /* record what the client sends (else only send it) */
    bool http1;               /* the server side is run_http1's, not the driver's */
    size_t seen;              /* server bytes already given to the client */
    SSL *c;
    BIO *crb, *cwb;           /* the client's read and write BIOs */
};

static struct rec R;

/* Client -> server (recorded, one packet per flight) and server -> client,
 * until neither side has anything more. */
static void rec_pump(void)
{
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        uint8_t tmp[1 << 16];
        int n;
        while ((n = BIO_read(R.cwb, tmp, sizeof tmp)) > 0) {
            if (R.keep) {
                CHECK(R.len + (size_t)n <= sizeof R.buf);
                memcpy(R.buf + R.len, tmp, (size_t)n);
                R.len += (size_t)n;
            }
            if (R.http1 && fake_loop_the.registered && !fake_loop_the.paused) {
                fake_loop_the.cbs->on_data(NULL, FD, (const char *)tmp, (ssize_t)n,
                                           fake_loop_the.ud);
                h1_after();
            } else if (!R.http1 && !d.closed) {
                drv_packet(tmp, (size_t)n);
            }
            moved = true;
        }
        if (fake_loop_the.out_len > R.seen) {
            CHECK(BIO_write(R.crb, fake_loop_the.out + R.seen,
                            (int)(fake_loop_the.out_len - R.seen)) > 0);
            R.seen = fake_loop_the.out_len;
            moved = true;
        }
        /* let the client take what arrived (handshake, tickets, answers, alerts) */
        if (!SSL_is_init_finished(R.c))
            SSL_do_handshake(R.c);
        char sink[4096];
        while (SSL_read(R.c, sink, sizeof sink) > 0)
            ;
        if (!moved && BIO_ctrl_pending(R.cwb) == 0)
            return;
    }
}

static void rec_client(int version, const char *sni)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    CHECK(cctx);
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    /* TLS 1.2 tickets carry the server's clock into its Finished; none asked */
    if (version == TLS1_2_VERSION)
        SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(cctx, alpn, sizeof alpn - 1);
    R.c = SSL_new(cctx);
    SSL_CTX_free(cctx);
    CHECK(R.c);
    if (sni)
        SSL_set_tlsext_host_name(R.c, sni);
    R.crb = BIO_new(BIO_s_mem());
    R.cwb = BIO_new(BIO_s_mem());
    SSL_set_bio(R.c, R.crb, R.cwb);
    SSL_set_connect_state(R.c);
    R.len = R.seen = 0;
}

static void rec_begin(unsigned flags, int version, const char *sni)
{
    rec_client(version, sni);
    R.keep = true;
    R.http1 = false;
    drv_start(flags);
    SSL_do_handshake(R.c);
    rec_pump();
    CHECK(SSL_is_init_finished(R.c));
}

static void rec_write(const char *s, size_t n)
{
    CHECK(SSL_write(R.c, s, (int)n) == (int)n);
    rec_pump();
}
#define REC_WRITE(lit) rec_write(lit, sizeof lit - 1)

/* Write the seed (flags, cuts, the client's bytes), end the recording
 * connection, replay the seed and check that it got past the handshake. */
static int rec_end(const char *dir, const char *name, unsigned flags, const uint8_t *cuts,
                   size_t ncuts)
{
    if (!d.closed) {
        d.closed = true;
        tp_close(&d.t);
    }
    SSL_free(R.c);
    static uint8_t seed[2 + 32 + sizeof R.buf];
    CHECK(ncuts < 32);
    seed[0] = (uint8_t)flags;
    seed[1] = (uint8_t)ncuts;
    if (ncuts)
        memcpy(seed + 2, cuts, ncuts);
    memcpy(seed + 2 + ncuts, R.buf, R.len);
    size_t n = 2 + ncuts + R.len;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(seed, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_tls: cannot write %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(seed, n);
    fprintf(stderr, "%s: %zu bytes; replayed: handshake %s, %llu plaintext bytes delivered\n",
            path, n, d.st.tls_hs_ok ? "done" : "NOT done", (unsigned long long)d.plaintext);
    int bad = d.st.tls_hs_ok == 1 && d.plaintext > 0 ? 0 : 1;
    /* the same client bytes with the real http1 layer above */
    seed[0] |= F_HTTP1;
    snprintf(path, sizeof path, "%s/%s_http1", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(seed, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_tls: cannot write %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(seed, n);
    unsigned long long reqs = atomic_load(&H.st->requests);
    fprintf(stderr, "%s: replayed: handshake %s, %llu requests through http1, %zu bytes of "
            "records sent\n", path, atomic_load(&H.st->tls_hs_ok) ? "done" : "NOT done", reqs,
            fake_loop_the.out_len);
    if (!(atomic_load(&H.st->tls_hs_ok) == 1 && reqs > 0))
        bad = 1;
    ERR_clear_error();
    return bad;
}

/* Client mode (flags bit 5): this file's client does a whole handshake with
 * the server (TLS 1.2 if bit 6, else 1.3; http1 above if bit 4), then the
 * fuzzer's bytes are the plaintext it sends, one record per packet, and the
 * end is a close_notify (bits 2-3 EOF), or per bits 2-3 as elsewhere. The
 * fuzzer mutates requests, not ciphertext a mutation would break: http1
 * over TLS as a client sees it. */
static void run_client(unsigned flags, const uint8_t *cuts, size_t ncuts, const uint8_t *in,
                       size_t len)
{
    rec_client((flags & F_TLS12) ? TLS1_2_VERSION : TLS1_3_VERSION, "localhost");
    R.keep = false;
    R.http1 = flags & F_HTTP1;
    fake_loop_reset();
    if (R.http1)
        h1_setup();
    else
        drv_start(flags & ~(unsigned)(F_CLIENT | F_TLS12));
    SSL_do_handshake(R.c);
    rec_pump();
    CHECK(SSL_is_init_finished(R.c));
    size_t off = 0;
    for (size_t k = 0; off < len; k++) {
        bool open = R.http1 ? fake_loop_the.registered : !d.closed;
        if (!open || SSL_get_shutdown(R.c))
            break;
        size_t piece = k < ncuts ? (size_t)cuts[k] + 1 : PIECE;
        if (piece > len - off)
            piece = len - off;
        if (SSL_write(R.c, in + off, (int)piece) <= 0)
            break;
        off += piece;
        rec_pump();
    }
    if ((flags >> F_END_SHIFT & 3) == END_EOF) {
        SSL_shutdown(R.c);
        rec_pump();
    }
    SSL_free(R.c);
    R.c = NULL;
}

static const char GET[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

static int record_seeds(const char *dir)
{
    int bad = 0;
    static const uint8_t bytewise[31] = { 0 };
    static const uint8_t split[] = { 4, 0, 200, 5 };
    char big[40000 + 128];
    int hl = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Length: 40000\r\n\r\n");
    memset(big + hl, 'b', 40000);

    /* TLS 1.3: a request, then close_notify */
    rec_begin(S_ANSWER | S_EOF, TLS1_3_VERSION, "api.example.com");
    REC_WRITE(GET);
    SSL_shutdown(R.c);
    rec_pump();
    bad |= rec_end(dir, "post_hs13_get_close_notify", S_ANSWER | S_EOF, NULL, 0);

    /* the same bytes a byte at a time at first, then a graceful shutdown */
    rec_begin(S_ANSWER | S_PAUSE | S_SHUTDOWN, TLS1_3_VERSION, "api.example.com");
    REC_WRITE(GET);
    SSL_shutdown(R.c);
    rec_pump();
    bad |= rec_end(dir, "post_hs13_bytewise_shutdown", S_ANSWER | S_PAUSE | S_SHUTDOWN,
                   bytewise, sizeof bytewise);

    /* TLS 1.2 (SNI for the wildcard context): a request, close_notify */
    rec_begin(S_ANSWER | S_EOF, TLS1_2_VERSION, "www.cdn.example.com");
    REC_WRITE(GET);
    SSL_shutdown(R.c);
    rec_pump();
    bad |= rec_end(dir, "post_hs12_get_close_notify", S_ANSWER | S_EOF, split, sizeof split);

    /* TLS 1.2: a renegotiation attempt (the server refuses with a
     * no_renegotiation warning; the client then gives up with its own alert) */
    rec_begin(S_ANSWER | S_RESET, TLS1_2_VERSION, "localhost");
    REC_WRITE(GET);
    CHECK(SSL_renegotiate(R.c) == 1);
    SSL_do_handshake(R.c);
    rec_pump();
    bad |= rec_end(dir, "post_hs12_renegotiate", S_ANSWER | S_RESET, NULL, 0);

    /* TLS 1.3: a KeyUpdate that asks for the server's, then more requests */
    rec_begin(S_ANSWER | S_CLOSE, TLS1_3_VERSION, NULL);
    REC_WRITE(GET);
    CHECK(SSL_key_update(R.c, SSL_KEY_UPDATE_REQUESTED) == 1);
    REC_WRITE(GET);
    REC_WRITE(GET);
    bad |= rec_end(dir, "post_hs13_key_update", S_ANSWER | S_CLOSE, NULL, 0);

    /* TLS 1.3: pipelined requests and a 40 KB body (several records), paused */
    rec_begin(S_ANSWER | S_PAUSE | S_EOF, TLS1_3_VERSION, "localhost");
    REC_WRITE("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: localhost\r\n\r\n");
    rec_write(big, (size_t)hl + 40000);
    SSL_shutdown(R.c);
    rec_pump();
    bad |= rec_end(dir, "post_hs13_pipeline_big_body", S_ANSWER | S_PAUSE | S_EOF, NULL, 0);

    /* TLS 1.3, nobody answering: requests only, then a reset */
    rec_begin(S_RESET, TLS1_3_VERSION, "x.cdn.example.com");
    REC_WRITE(GET);
    REC_WRITE("GET /json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    bad |= rec_end(dir, "post_hs13_no_answer_reset", S_RESET, NULL, 0);
    return bad;
}
