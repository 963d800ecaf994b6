"""Every endpoint, its headers and its body."""
import email.utils
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from server_helpers import Reader, wait_closed, wait_for

DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                     r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def pattern(n):
    return (ALPHABET * (n // 64 + 1))[:n]


def check_common(resp):
    assert resp.header("server") == "vex_net"
    date = resp.header("date")
    assert date and DATE_RE.match(date), date
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5
    assert resp.header("content-type")
    assert resp.header("content-length") is not None
    assert int(resp.header("content-length")) == len(resp.body)


def test_plaintext(server):
    r = server.get("/")
    assert r.status == 200 and r.version == "HTTP/1.1"
    assert r.body == b"Hello, World!"
    assert r.header("content-type") == "text/plain"
    assert r.header("content-length") == "13"
    check_common(r)


def test_json(server):
    r = server.get("/json")
    assert r.status == 200
    assert r.body == b'{"message":"Hello, World!"}'
    assert r.header("content-type") == "application/json"
    check_common(r)


def test_head_plaintext(server):
    with server.connect() as s:
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        h = rd.response(head_only=True)
        assert h.status == 200 and h.header("content-length") == "13"
        r = rd.response()            # no body bytes came before it
        assert r.body == b'{"message":"Hello, World!"}'


def test_health_and_ready(server):
    r = server.get("/healthz")
    assert r.status == 200
    check_common(r)
    r = server.get("/readyz")
    assert r.status == 200
    check_common(r)


def test_date_changes_every_second(server):
    d1 = server.get("/").header("date")
    assert wait_for(lambda: server.get("/").header("date") != d1, timeout=3)


def test_not_found_and_method_not_allowed(server):
    r = server.get("/nope")
    assert r.status == 404
    check_common(r)
    r = server.get("/", method="POST", headers="Content-Length: 0\r\n")
    assert r.status == 405 and r.header("allow") == "GET, HEAD"
    check_common(r)
    r = server.get("/echo")
    assert r.status == 405 and r.header("allow") == "POST"
    r = server.get("/json", method="DELETE")
    assert r.status == 405


def test_metrics_promtool(server):
    server.get("/")
    server.get("/nope")
    r = server.get("/metrics")
    assert r.status == 200
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    check_common(r)
    text = r.body.decode()
    for name in ["vex_connections_total", "vex_connections_active", "vex_requests_total",
                 "vex_bytes_received_total", "vex_bytes_sent_total", "vex_responses_total",
                 "vex_errors_total", "vex_timeouts_total", "vex_connections_rejected_total",
                 "vex_loop_syscalls_total", "vex_draining", "vex_uptime_seconds",
                 "vex_request_duration_seconds"]:
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text, name
    assert 'vex_responses_total{class="4xx"} 1' in text
    assert 'vex_request_duration_seconds_bucket{le="+Inf"}' in text
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.path.exists(promtool):
        pytest.skip("promtool not installed")
    p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                       timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    m = server.metrics()
    assert m["vex_requests_total"] == 3       # /, /nope, /metrics; not this scrape
    assert m['vex_responses_total{class="2xx"}'] == 2
    assert m["vex_connections_total"] == 4
    assert m["vex_loop_syscalls_total"] > 0


def test_bytes_small_and_zero(server):
    r = server.get("/bytes/0")
    assert r.status == 200 and r.body == b""
    r = server.get("/bytes/100000")
    assert r.status == 200 and r.body == pattern(100000)
    r = server.get("/bytes/%d" % ((3 << 20) + 5))       # three pieces and a bit
    assert r.status == 200 and r.body == pattern((3 << 20) + 5)
    assert r.header("content-type") == "application/octet-stream"
    check_common(r)
    r = server.get("/bytes/12x")
    assert r.status == 400
    r = server.get("/bytes/99999999999999999999")
    assert r.status == 400
    with server.connect() as s:
        s.sendall(b"HEAD /bytes/5000 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        h = rd.response(head_only=True)
        assert h.header("content-length") == "5000"
        assert rd.response().body == b"ABC"


def test_bytes_64mib_streams_without_buffering(server):
    n = 64 << 20
    rss0 = server.rss_bytes()
    peak = 0
    with server.connect(timeout=30) as s:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
        rd = Reader(s)
        head = rd.read_until(b"\r\n\r\n")
        assert b" 200 " in head and b"Content-Length: %d" % n in head
        expect = pattern(n)            # every byte checked, across the 1 MiB pieces
        got = len(rd.buf)
        assert rd.buf == expect[:got]
        rd.buf = b""
        while got < n:
            data = s.recv(1 << 20)
            assert data
            assert data == expect[got:got + len(data)], f"wrong bytes at {got}"
            got += len(data)
            peak = max(peak, server.rss_bytes())
        assert got == n
        # the connection is still usable afterwards
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.response().body == b"Hello, World!"
    if "-san" not in server.binary:     # ASan's quarantine keeps freed memory
        assert peak - rss0 < 16 << 20, f"server RSS grew by {(peak - rss0) >> 20} MiB"


def test_echo_content_length(server):
    body = os.urandom(300000)
    r = server.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                       + body, timeout=10)
    assert r.status == 200 and r.body == body
    check_common(r)
    r = server.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert r.status == 200 and r.body == b""


def test_echo_chunked(server):
    body = b"hello " * 1000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 777]), body[i:i + 777])
                      for i in range(0, len(body), 777))
    req = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
           + b"0\r\n\r\n")
    with server.connect() as s:
        for i in range(0, len(req), 1000):     # across many reads
            s.sendall(req[i:i + 1000])
            time.sleep(0.001)
        rd = Reader(s)
        r = rd.response()
        assert r.status == 200 and r.body == body
        assert r.header("content-length") == str(len(body))
        s.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.response().status == 200


def test_echo_expect_continue(server):
    with server.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        rd = Reader(s)
        interim = rd.read_until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"abcde")
        r = rd.response()
        assert r.status == 200 and r.body == b"abcde"


def test_body_to_other_route_is_discarded(server):
    with server.connect() as s:
        s.sendall(b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd"
                  b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        assert rd.response().status == 404
        assert rd.response().body == b"Hello, World!"


@pytest.fixture
def static_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<h1>hi</h1>\n")
    (root / "sub").mkdir()
    big = os.urandom(3 * 1024 * 1024 + 17)
    (root / "sub" / "big.bin").write_bytes(big)
    (root / "a b.txt").write_text("space\n")
    (root / ".hidden").write_text("secret\n")
    (tmp_path / "outside.txt").write_text("outside\n")
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    os.symlink("index.html", root / "inside-link.html")   # relative: stays inside
    return root, big


def test_static_files(start_server, static_root):
    root, big = static_root
    srv = start_server("--threads", "1", "--root", str(root))
    r = srv.get("/static/index.html")
    assert r.status == 200 and r.body == b"<h1>hi</h1>\n"
    assert r.header("content-type").startswith("text/html")
    check_common(r)
    r = srv.get("/static/sub/big.bin")
    assert r.status == 200 and r.body == big
    assert r.header("content-type") == "application/octet-stream"
    r = srv.get("/static/a%20b.txt")
    assert r.status == 200 and r.body == b"space\n"
    r = srv.get("/static/index.html?x=1")
    assert r.status == 200
    with srv.connect() as s:
        s.sendall(b"HEAD /static/sub/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        h = Reader(s).response(head_only=True)
        assert h.status == 200 and h.header("content-length") == str(len(big))
    r = srv.get("/static/inside-link.html")
    assert r.status == 200
    assert srv.get("/static/missing").status == 404
    assert srv.get("/static/sub").status == 404           # no directory listing
    assert srv.get("/static/").status == 404
    assert srv.get("/static/.hidden").status == 404
    assert srv.get("/static/index.html", method="POST",
                   headers="Content-Length: 0\r\n").status == 405


@pytest.mark.parametrize("path", [
    "/static/../outside.txt", "/static/sub/../../outside.txt", "/static/%2e%2e/outside.txt",
    "/static/%2E%2E%2foutside.txt", "/static/escape.txt", "/static/..%2f..%2fetc/passwd",
])
def test_static_traversal_refused(start_server, static_root, path):
    root, _ = static_root
    srv = start_server("--threads", "1", "--root", str(root))
    r = srv.get(path)
    assert r.status == 403, r         # a ".." segment, or a symlink leading out
    assert b"outside" not in r.body and b"root:" not in r.body


def test_static_without_root_is_404(server):
    assert server.get("/static/x").status == 404


def test_static_pipelined_with_other_responses_in_order(start_server, static_root):
    """The file goes out with vex_sendfile after its head; the responses
    pipelined behind it wait for it and follow in order."""
    root, big = static_root
    srv = start_server("--threads", "1", "--root", str(root))
    with srv.connect(timeout=10) as s:
        s.sendall(b"GET /static/index.html HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /static/sub/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /static/a%20b.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rd = Reader(s)
        assert rd.response().body == b"<h1>hi</h1>\n"
        assert rd.response().body == b"Hello, World!"
        r = rd.response()
        assert r.status == 200 and r.body == big
        assert rd.response().body == b"space\n"
        r = rd.response()
        assert r.body == b'{"message":"Hello, World!"}'
        assert wait_closed(s)


def test_static_large_file_to_a_slow_reader_is_not_cut_off(start_server, tmp_path):
    """The write-stall timeout counts time without progress, not the length
    of the response: a slow reader of a large file gets all of it. 24 MiB at
    about 6 MB/s keeps the file in flight (beyond the kernel's ~4 MiB send
    buffer) for over 3 s, past the 2 s timeout. Not 1 s: the kernel wakes a
    writer only when a third of a multi-megabyte send buffer is free, so
    progress shows in steps of up to a second."""
    size = 24 << 20
    (tmp_path / "f.bin").write_bytes(pattern(size))
    srv = start_server("--threads", "1", "--root", str(tmp_path), "--idle-timeout", "2")
    s = srv.connect(timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
    s.sendall(b"GET /static/f.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    rd = Reader(s)
    h = rd.response(head_only=True)
    assert h.status == 200 and h.header("content-length") == str(size)
    got = bytearray(rd.buf)
    end = time.monotonic() + 30
    while len(got) < size and time.monotonic() < end:
        chunk = s.recv(128 << 10)
        if not chunk:
            break
        got += chunk
        time.sleep(0.02)
    s.close()
    assert len(got) == size, f"cut off after {len(got)} bytes"
    assert bytes(got) == pattern(size)


def evict(path, start=0):
    """Drops the file's pages from start on from the page cache (written out
    first: DONTNEED keeps dirty pages). pytest's tmp_path is on ext4 here;
    on tmpfs this evicts nothing and the tests below serve a hot file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, start, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_slowly(s, want, step=0.001, deadline=30):
    got = bytearray()
    end = time.monotonic() + deadline
    while len(got) < want and time.monotonic() < end:
        chunk = s.recv(16 << 10)
        if not chunk:
            break
        got += chunk
        time.sleep(step)
    return bytes(got)


@pytest.mark.parametrize("cache", ["hot", "cold", "cold-after-3MiB"])
def test_static_file_byte_exact_from_page_cache_or_disk(start_server, tmp_path, cache):
    """A file in the page cache, one just evicted from it, and one evicted
    from its middle on (io_uring: sendfile(2) for what is resident, the
    ring's READ from the first missing page on) arrive byte-exact to a
    client that reads slowly through a small receive buffer (partial sends,
    waits for room), then again to a fast one. Random bytes: a piece sent
    twice or skipped cannot look right."""
    size = (6 << 20) + 12345
    data = os.urandom(size)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    if cache != "hot":
        evict(f, 0 if cache == "cold" else 3 << 20)
    srv = start_server("--threads", "1", "--root", str(tmp_path))
    with srv.connect(timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        s.sendall(b"GET /static/f.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        h = rd.response(head_only=True)
        assert h.status == 200 and h.header("content-length") == str(size)
        got = bytes(rd.buf) + read_slowly(s, size - len(rd.buf))
    assert len(got) == size
    assert got == data
    if cache != "hot":
        evict(f)
    r = srv.get("/static/f.bin")
    assert r.status == 200 and r.body == data
    assert srv.metrics()["vex_errors_total"] == 0


@pytest.mark.parametrize("cache", ["hot", "cold"])
def test_static_file_that_shrinks_mid_response_ends_the_connection(start_server, tmp_path,
                                                                    cache):
    """A file truncated while it is being sent cannot fill the promised
    Content-Length: the connection ends (the client sees a short body, not a
    hang) and the server goes on serving. Bytes past the new end that were
    already queued by sendfile(2) reference page-cache pages the truncation
    may zero, as with any zero-copy server: so only the kept prefix is checked
    (deploy files by rename, never in place). Cold: the file was evicted
    first (io_uring reads it with the ring's READ, whose short read ends it)."""
    f = tmp_path / "f.bin"
    f.write_bytes(pattern(16 << 20))
    if cache == "cold":
        evict(f)
    srv = start_server("--threads", "1", "--root", str(tmp_path))
    s = srv.connect(timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
    s.sendall(b"GET /static/f.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    rd = Reader(s)
    assert rd.response(head_only=True).status == 200
    got = bytearray(rd.buf)
    got += s.recv(1000)
    os.truncate(f, 1 << 20)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    assert len(got) < 16 << 20
    keep = min(len(got), 1 << 20)
    assert bytes(got[:keep]) == pattern(keep)
    assert srv.get("/").status == 200
    assert srv.metrics()["vex_errors_total"] == 1     # the one cut connection
