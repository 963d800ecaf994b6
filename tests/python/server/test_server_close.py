"""How a connection ends after a response (issue #11's per-connection cost).

A request that asks for the close (HTTP/1.0 without keep-alive, `Connection:
close`) and leaves nothing unread is closed at once, as nginx does: FIN after
the response, no shutdown, no lingering read. Whenever input remains or may
come (pipelined requests after the close, a body not read, a large response
to a client that keeps sending) the server still lingers, so the kernel never
answers with an RST that could destroy the response in flight. Each case
checks the response is whole and that the connection then ends with a clean
EOF, not a reset (a close with unread input is a reset: these fail if the
lingering close is skipped where it is needed).
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from server_helpers import Reader, wait_for

HELLO = b"Hello, World!"


def read_all_then_eof(s, timeout=10):
    """Everything until the peer's FIN; a reset raises (the case under test)."""
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(262144)
        if not chunk:
            return data
        data += chunk


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return head, body, int(m.group(1)) if m else None


@pytest.mark.parametrize("request_line,path,size", [
    (b"GET %s HTTP/1.0\r\n\r\n", "/", len(HELLO)),
    (b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "/", len(HELLO)),
    (b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "/bytes/65536", 65536),
    (b"GET %s HTTP/1.0\r\n\r\n", "/bytes/3000000", 3000000),
], ids=["http10", "close11", "close11-64k", "http10-3MB"])
def test_close_requested_ends_with_whole_response_and_fin(server, request_line, path, size):
    for _ in range(20 if size < 100000 else 3):
        with server.connect(timeout=10) as s:
            s.sendall(request_line % path.encode())
            head, body, cl = split_response(read_all_then_eof(s))
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert cl == size and len(body) == size


@pytest.mark.parametrize("path,size", [("/", len(HELLO)), ("/bytes/2000000", 2000000)])
def test_pipelined_requests_after_close_still_linger(server, path, size):
    """Requests sent behind a `Connection: close` one (RFC 9112 §9.6 says a
    client must not, but some do) show a client that may go on sending: the
    server lingers, reading and dropping what comes while its FIN goes out,
    so the client, which sends more a moment later and reads only then, gets
    the whole first response and then EOF, never a reset (a close at once
    would answer the later bytes with an RST)."""
    first = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode()
    more = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 20
    with server.connect(timeout=10) as s:
        s.sendall(first + more)
        time.sleep(0.1)                  # the server has answered and decided by now
        for _ in range(3):               # a reset would fail the second send
            s.sendall(more)
            time.sleep(0.05)
        head, body, cl = split_response(read_all_then_eof(s))
        assert head.startswith(b"HTTP/1.1 200 ") and cl == size
        assert len(body) == size, "the pipelined requests must not be answered"


def test_refused_100_continue_body_lingers(server):
    """A request that asks for the close, with a body the route
    does not want and `Expect: 100-continue`: the answer comes at once and
    the body is unread; the client sends it anyway (as clients do after
    their wait) and must still read the whole answer and a clean EOF."""
    with server.connect(timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Length: 300000\r\nExpect: 100-continue\r\n\r\n")
        time.sleep(0.1)
        try:                             # a reset would fail a later send
            for _ in range(3):
                s.sendall(b"y" * 100000)
                time.sleep(0.05)
        except OSError as e:
            pytest.fail(f"sending the body: {e}")
        time.sleep(0.1)
        head, body, cl = split_response(read_all_then_eof(s))
        assert re.match(rb"HTTP/1\.1 4\d\d ", head), head
        assert cl == len(body)


def test_error_with_unread_body_lingers(start_server):
    """A 413 sent before the body is read: the client goes on sending it, and
    must still read the 413 and a clean EOF."""
    srv = start_server("--threads", "1", "--max-body", "1000")
    with srv.connect(timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n")
        errors = []

        def send_body():
            try:
                for _ in range(16):
                    s.sendall(b"x" * 65536)
                    time.sleep(0.01)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:         # a reset while sending: the failure
                errors.append(e)
        t = threading.Thread(target=send_body)
        t.start()
        raw = read_all_then_eof(s)
        t.join(10)
        assert raw.startswith(b"HTTP/1.1 413 "), raw[:100]
        assert errors == []


def test_large_response_to_a_client_that_sends_more_after(server):
    """The client asks for the close, reads part of a large body, then sends
    bytes: reading was paused while the body streamed, so they are unread
    when the stream ends, and only lingering keeps the tail from a reset."""
    size = 8_000_000
    with server.connect(timeout=20) as s:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % size)
        got = b""
        while len(got) < 200_000:
            got += s.recv(65536)
        s.sendall(b"x" * 4096)           # after its own Connection: close
        got += read_all_then_eof(s, timeout=20)
        head, body, cl = split_response(got)
        assert cl == size and len(body) == size


def test_half_closed_client_gets_whole_response(server):
    """The client's EOF came first: close after the flush, as before."""
    for _ in range(10):
        with server.connect(timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            head, body, cl = split_response(read_all_then_eof(s))
            assert body == HELLO


# ---- TLS: close_notify on every orderly end -----------------------------------

def _run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    d = str(tmp_path_factory.mktemp("closepki"))
    key, pem = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    r = _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", pem,
             "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    assert r.returncode == 0, r.stderr
    return pem, key


@pytest.fixture
def tls_srv(start_server, cert, tmp_path):
    with socket.socket() as p:
        p.bind(("127.0.0.1", 0))
        port = p.getsockname()[1]
    cfg = tmp_path / "tls.yaml"
    cfg.write_text("listen:\n  - 127.0.0.1:0\n"
                   f"  - {{address: 127.0.0.1, port: {port}, tls: true, "
                   f"certificate: {cert[0]}, key: {cert[1]}}}\n")
    srv = start_server("--config", str(cfg), "--threads", "1", listen=False)
    srv.tls_port = port
    ctx = ssl.create_default_context(cafile=cert[0])
    return srv, ctx


def tls_exchange(srv, ctx, raw, more=b""):
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as t:
        with ctx.wrap_socket(t, server_hostname="localhost") as s:
            s.sendall(raw)
            time.sleep(0.1)
            for _ in range(3 if more else 0):   # a reset would fail the second send
                s.sendall(more)
                time.sleep(0.05)
            return read_all_then_eof(s)


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
], ids=["http10", "close11"])
def test_tls_close_sends_close_notify(tls_srv, cert, raw):
    """openssl s_client reports a TCP EOF without close_notify ("unexpected
    eof while reading"); Debian's Python 3.11.2 ssl module returns b"" for
    both, so it cannot tell."""
    srv, ctx = tls_srv
    for _ in range(5):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}",
                            "-quiet", "-ign_eof", "-CAfile", cert[0]],
                           input=raw, capture_output=True, timeout=20)
        assert r.stdout.endswith(b"\r\n\r\n" + HELLO), r.stdout[-300:]
        assert b"unexpected eof" not in r.stderr, r.stderr[-300:]


def test_tls_pipelined_after_close_still_lingers(tls_srv):
    srv, ctx = tls_srv
    raw = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + \
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 20
    head, body, cl = split_response(tls_exchange(srv, ctx, raw,
                                                 more=b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 5))
    assert body == HELLO


# ---- what a connection costs in system calls ------------------------------------

def test_syscalls_per_connection(binary, start_server, tmp_path):
    """strace on a one-thread server, 200 HTTP/1.0 connections: no shutdown
    (closed at once), no F_GETFL (vex_sock_add trusts an accepted socket) and
    no TCP_NODELAY per connection (inherited from the listener). Counts, not
    times, so it is exact on a busy machine."""
    if not shutil.which("strace"):
        pytest.skip("needs strace")
    out = tmp_path / "trace"
    srv = start_server("--threads", "1")
    tids = os.listdir(f"/proc/{srv.pid}/task")
    argv = ["strace", "-f", "-qq", "-o", str(out),
            "-e", "trace=shutdown,fcntl,setsockopt,accept4,accept,epoll_ctl"]
    for t in tids:
        argv += ["-p", t]
    tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def traced():
        for t in tids:
            with open(f"/proc/{srv.pid}/task/{t}/status") as f:
                if re.search(r"^TracerPid:\s+0$", f.read(), re.M):
                    return False
        return True
    try:
        if not wait_for(lambda: traced() or tracer.poll() is not None, timeout=10) or \
                tracer.poll() is not None:
            pytest.skip(f"strace cannot attach here: {tracer.stderr.read()[-300:]}")
        n = 200
        for _ in range(n):
            with srv.connect(timeout=10) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert read_all_then_eof(s).endswith(HELLO)
        time.sleep(0.3)                   # the last close
    finally:
        tracer.send_signal(2)             # SIGINT: detach and flush
        tracer.wait(timeout=10)
    text = out.read_text()
    if "PTRACE" in text.upper() and "not permitted" in text:
        pytest.skip("ptrace not permitted here")
    accepted = len(re.findall(r"\baccept4?\(\d+.*= \d+$", text, re.M))
    getfl = len(re.findall(r"fcntl\(\d+, F_GETFL", text))
    nodelay = len(re.findall(r"setsockopt\(\d+, SOL_TCP, TCP_NODELAY", text))
    shut = len(re.findall(r"\bshutdown\(", text))
    if srv.backend != "io_uring":
        assert accepted >= n, f"strace saw {accepted} accepts:\n{text[-2000:]}"
    assert shut == 0, f"{shut} shutdown calls for {n} connections"
    if "portable" in binary:
        return                            # accept + fcntl and a per-socket TCP_NODELAY there
    assert getfl < 10, f"{getfl} F_GETFL for {n} connections"
    assert nodelay < 10, f"{nodelay} TCP_NODELAY for {n} connections"
    if srv.backend == "epoll":
        ctl = len(re.findall(r"\bepoll_ctl\(", text))
        assert ctl < n + 10, f"{ctl} epoll_ctl for {n} connections (one each expected)"
