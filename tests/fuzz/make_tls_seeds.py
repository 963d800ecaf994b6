#!/usr/bin/python3
"""Write fuzz_tls's seed corpus (tests/fuzz/corpus_tls/): real ClientHellos
made by Python's ssl module (OpenSSL) over memory BIOs, for TLS 1.2 and 1.3,
with and without SNI and ALPN, each behind fuzz_tls's control octets (see
fuzz_tls.c: flags, cut count, cuts). The server's reply depends on its own
random values, so a seed made here carries the client's first flight,
sometimes with what a client could send next (an alert, garbage, a second
hello).

Regression seeds (regress-*) are kept, and so are the post_hs* seeds: whole
recorded connections past the handshake (Finished, requests, KeyUpdate, a
renegotiation attempt, close_notify), written by the fuzz binary itself with
its fixed random source (`make fuzz-tls-seeds`, fuzz_tls_record.h). Run again: ./tests/fuzz/make_tls_seeds.py
(each run's hellos differ in their random values and key shares: only commit
the new files when the seeds themselves change).
"""
import os
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus_tls")

ANSWER, PAUSE = 1, 2
EOF, SHUTDOWN, CLOSE, RESET = 0, 4, 8, 12
HTTP1, CLIENT, TLS12 = 16, 32, 64   # the http1 layer above; the input is a client's plaintext


def client_hello(version, sni=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def seed(flags, body, cuts=()):
    assert len(cuts) < 32
    return bytes([flags, len(cuts)]) + bytes(cuts) + body


def main():
    os.makedirs(CORPUS, exist_ok=True)
    for f in os.listdir(CORPUS):
        if not f.startswith(("regress-", "post_hs")):
            os.unlink(os.path.join(CORPUS, f))
    v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    h13 = client_hello(v13, "api.example.com", ["http/1.1"])
    h12 = client_hello(v12, "www.cdn.example.com", ["http/1.1"])
    alert = bytes([21, 3, 3, 0, 2, 1, 0])           # close_notify, in the clear
    seeds = {
        "ch13_sni_alpn": seed(ANSWER, h13),
        "ch12_sni_alpn": seed(ANSWER, h12),
        "ch13_no_sni": seed(ANSWER, client_hello(v13, None, ["http/1.1"])),
        "ch12_no_alpn": seed(ANSWER | SHUTDOWN, client_hello(v12, "localhost")),
        "ch13_alpn_h2_only": seed(ANSWER, client_hello(v13, "api.example.com", ["h2"])),
        "ch13_alpn_h2_and_h11": seed(0, client_hello(v13, "x.cdn.example.com",
                                                        ["h2", "http/1.1"])),
        "ch13_byte_at_a_time": seed(ANSWER | PAUSE, h13, [0] * 31),
        "ch12_split_header": seed(ANSWER | RESET, h12, [2, 3, 100]),
        "ch13_then_alert": seed(ANSWER | SHUTDOWN, h13 + alert),
        "ch13_then_garbage": seed(ANSWER | CLOSE, h13 + bytes([23, 3, 3, 0, 16]) + b"\x00" * 16),
        "ch12_twice": seed(ANSWER, h12 + h12, [len(h12) % 256]),
        # OpenSSL answers in the client's record version (fuzz_tls.c allows it)
        "ch12_then_bad_version": seed(ANSWER, h12 + bytes([22, 3, 0x1f, 0, 1, 0])),
        "bad_hello_version": seed(0, bytes([22, 3, 1, 0, 5, 1, 0, 0, 1, 0])),
        "plain_http": seed(ANSWER, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        "sslv2_hello": seed(0, bytes([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00,
                                      0x00, 0x10]) + b"\x00" * 37),
        "empty_eof": seed(0, b""),
    }
    # Client mode: fuzz_tls's own client does the handshake and sends these bytes
    # as plaintext records (one per packet), then close_notify (EOF) or the end named.
    get = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    echo = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
    chunked = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;x=1\r\nhello\r\n0\r\nT: v\r\n\r\n")
    seeds.update({
        "client13_http1_get": seed(CLIENT | HTTP1, get),
        "client12_http1_get_json_close": seed(CLIENT | HTTP1 | TLS12, get + b"GET /json HTTP/1.1\r\n"
                                              b"Host: localhost\r\nConnection: close\r\n\r\n"),
        "client13_http1_pipeline_cut": seed(CLIENT | HTTP1, get + echo + chunked + get,
                                            [10, 0, 40, 3, 100]),
        "client13_http1_bytes_big": seed(CLIENT | HTTP1 | SHUTDOWN,
                                         b"GET /bytes/3000000 HTTP/1.1\r\nHost: l\r\n\r\n" + get),
        "client13_http1_text_gzip": seed(CLIENT | HTTP1 | RESET, b"GET /text/200000 HTTP/1.1\r\n"
                                         b"Host: l\r\nAccept-Encoding: gzip\r\n\r\n"),
        "client13_http1_head_metrics": seed(CLIENT | HTTP1 | CLOSE, b"HEAD /json HTTP/1.1\r\n"
                                            b"Host: l\r\n\r\nGET /metrics HTTP/1.1\r\nHost: l\r\n\r\n"),
        "client13_http1_bad_then_get": seed(CLIENT | HTTP1, b"GET / HTTP/9.9\r\n\r\n" + get),
        "client13_http1_expect_100": seed(CLIENT | HTTP1, b"POST /echo HTTP/1.1\r\nHost: l\r\n"
                                          b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
        "client13_fake_layer_paused": seed(CLIENT | ANSWER | PAUSE, get * 3, [0, 5, 200]),
        "client12_fake_layer_shutdown": seed(CLIENT | TLS12 | ANSWER | SHUTDOWN, get),
    })
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in tests/fuzz/corpus_tls")


if __name__ == "__main__":
    main()
