"""HTTP/1.1 framing: keep-alive, HTTP/1.0, pipelining, and every malformed or
smuggling-prone request from the issue (exact status, then close, and the
server keeps serving other connections)."""
import socket
import time

import pytest

from server_helpers import Reader, wait_closed

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def test_keep_alive_many_requests(server):
    with server.connect() as s:
        rd = Reader(s)
        for i in range(50):
            s.sendall(GET if i % 2 == 0 else b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
            r = rd.response()
            assert r.status == 200
            assert r.header("connection") is None     # 1.1: persistent by default
    m = server.metrics()
    assert m["vex_connections_total"] == 2          # the one above + /metrics


def test_connection_close_honoured(server):
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + GET)
        r = Reader(s).response()
        assert r.status == 200 and r.header("connection") == "close"
        assert wait_closed(s), "server did not close after Connection: close"


def test_http10_without_keepalive_closes(server):
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        r = Reader(s).response()
        assert r.status == 200 and r.body == b"Hello, World!"
        assert r.header("connection") == "close"
        assert wait_closed(s)


def test_http10_keepalive(server):
    with server.connect() as s:
        rd = Reader(s)
        for _ in range(3):
            s.sendall(b"GET /json HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            r = rd.response()
            assert r.status == 200
            assert r.header("connection").lower() == "keep-alive"
            assert r.header("content-length") == "27"


def test_half_close_still_answered(server):
    with server.connect() as s:
        s.sendall(GET + b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        rd = Reader(s)
        assert rd.response().body == b"Hello, World!"
        assert rd.response().body == b'{"message":"Hello, World!"}'
        assert wait_closed(s)


def test_pipelining_in_order(server):
    paths = ["/", "/json", "/bytes/70000", "/nope", "/healthz", "/bytes/3", "/"] * 20
    req = b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % p.encode() for p in paths)
    req += b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nfinal!"
    with server.connect(timeout=10) as s:
        s.sendall(req)
        rd = Reader(s)
        for p in paths:
            r = rd.response()
            if p == "/":
                assert r.body == b"Hello, World!"
            elif p == "/json":
                assert r.body.startswith(b'{"message"')
            elif p == "/nope":
                assert r.status == 404
            elif p.startswith("/bytes/"):
                assert len(r.body) == int(p.split("/")[2])
            else:
                assert r.status == 200
        assert rd.response().body == b"final!"


def test_pipelined_responses_batch(server):
    """Pipelined responses leave in few sends (not one syscall each)."""
    n = 64
    with server.connect() as s:
        s.sendall(GET)                      # warm up: connection accepted
        rd = Reader(s)
        rd.response()
        before = server.metrics()["vex_loop_syscalls_total"]
        s.sendall(GET * n)
        for _ in range(n):
            rd.response()
    time.sleep(1.2)                         # syscall counts are published each second
    after = server.metrics()["vex_loop_syscalls_total"]
    assert after - before < n, f"{after - before} syscalls for {n} pipelined requests"


def test_split_request_byte_by_byte(server):
    req = b"GET /json HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 200 + b"\r\n\r\n"
    with server.connect() as s:
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        r = Reader(s).response()
        assert r.status == 200 and r.body.startswith(b'{"message"')


def test_absolute_form_target(server):
    r = server.request(b"GET http://t/json HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.status == 200 and r.body.startswith(b'{"message"')


@pytest.mark.parametrize("target", [b"http://localhost", b"http://localhost?x=1",
                                    b"HTTP://LOCALHOST:8080"])
def test_absolute_form_without_path_is_root(server, target):
    """RFC 9112 section 3.2.2: an absolute URI with an empty path names "/"."""
    r = server.request(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert r.status == 200 and r.body == b"Hello, World!"


@pytest.mark.parametrize("minor", range(2, 10))
def test_later_http_1_minor_versions_answered_as_1_1(server, minor):
    """RFC 9110 section 2.5: HTTP/1.2-1.9 get the highest 1.x we speak, with keep-alive."""
    with server.connect() as s:
        rd = Reader(s)
        for _ in range(2):
            s.sendall(b"GET / HTTP/1.%d\r\nHost: t\r\n\r\n" % minor)
            r = rd.response()
            assert r.status == 200 and r.version == "HTTP/1.1" and r.body == b"Hello, World!"


def test_long_target_supported(server):
    path = b"/nope/" + b"a" * 7990
    r = server.request(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.status == 404


BAD = [
    ("cl-and-te", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-in-http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-last-not-chunked", b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-unknown", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
    ("cl-plus-sign", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nabcde", 400),
    ("cl-hex", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nabcde", 400),
    ("cl-overflow", b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                    b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("cl-duplicate-differs", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                             b"Content-Length: 6\r\n\r\nabcdef", 400),
    ("cl-list-differs", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nabcdef", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("bad-name-char", b"GET / HTTP/1.1\r\nHost: t\r\nX(y): z\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("bare-cr-in-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\rc\r\n\r\n", 400),
    ("bare-cr-request-line", b"GET / HTTP/1.1\rHost: t\r\n\r\n", 400),
    ("bare-lf", b"GET / HTTP/1.1\nHost: t\n\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\x00c\r\n\r\n", 400),
    ("missing-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate-host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("chunk-size-invalid", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size-signed", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"-3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-missing-crlf", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"3\r\nabcX\r\n0\r\n\r\n", 400),
    ("body-too-large-cl", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
    ("body-too-large-chunked", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"1000\r\n" + b"x" * 4096 + b"\r\n0\r\n\r\n", 413),
    ("target-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ("headers-too-large", b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ("too-many-headers", b"GET / HTTP/1.1\r\nHost: t\r\n"
                         + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
    ("version-2", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("version-3", b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    ("garbage-request-line", b"HELLO\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,raw,status", BAD, ids=[b[0] for b in BAD])
def test_malformed_rejected_and_closed(start_server, name, raw, status):
    srv = start_server("--threads", "1", "--max-body", "1000")
    other = srv.connect()                   # an innocent bystander, already open
    with srv.connect() as s:
        # A smuggled second request must never be answered.
        s.sendall(raw + b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        r = rd.response()
        assert r.status == status, (name, r)
        assert r.header("connection") == "close"
        assert r.header("date") and r.header("server") and r.header("content-type")
        # nothing else follows, then the connection closes
        s.settimeout(5)
        rest = rd.buf
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1" not in rest, f"a second response leaked: {rest[:200]!r}"
    other.sendall(GET)
    assert Reader(other).response().status == 200
    other.close()
    assert srv.get("/").status == 200
    assert srv.alive()


def test_fragmented_smuggling_attempt(server):
    """The same bad request split across reads still gets 400."""
    raw = (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    with server.connect() as s:
        for i in range(0, len(raw), 7):
            s.sendall(raw[i:i + 7])
            time.sleep(0.002)
        assert Reader(s).response().status == 400
