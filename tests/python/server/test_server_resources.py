"""No fd or connection leaks after every kind of connection ending."""
import os
import resource
import socket
import struct
import time

import pytest

from server_helpers import Reader, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def settle(srv):
    """Wait until only the probing /metrics connection is open."""
    return wait_for(lambda: srv.metrics()["vex_connections_active"] == 1, timeout=8)


def test_no_fd_leak_after_every_path(start_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "f.bin").write_bytes(os.urandom(2 << 20))
    srv = start_server("--threads", "2", "--root", str(root), "--header-timeout", "1",
                       "--idle-timeout", "1", "--max-clients", "50", "--max-body", "10000")
    time.sleep(0.3)
    before = srv.fds()

    for _ in range(20):                               # normal, keep-alive
        assert srv.get("/").status == 200
    for _ in range(5):                                # static, complete
        assert srv.get("/static/f.bin").status == 200
    for _ in range(5):                                # static, aborted mid-way
        s = srv.connect()
        s.sendall(b"GET /static/f.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        s.recv(1000)
        s.close()
    for _ in range(5):                                # reset by the client (RST)
        s = srv.connect()
        s.sendall(b"GET /bytes/5000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        s.recv(100)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for _ in range(5):                                # malformed
        srv.request(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
    for _ in range(3):                                # body too large
        srv.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999\r\n\r\n")
    idle = [srv.connect() for _ in range(5)]          # header timeout
    partial = srv.connect()
    partial.sendall(b"GET / HTTP/1.1\r\n")            # slow head
    over = [srv.connect() for _ in range(60)]         # over the limit
    for s in over:
        try:
            s.sendall(GET)
        except OSError:
            pass
    time.sleep(0.3)
    for s in over:
        s.close()
    assert settle(srv), "connections did not settle"
    for s in idle:
        s.close()
    partial.close()
    time.sleep(0.5)
    assert settle(srv)
    assert wait_for(lambda: srv.fds() == before, timeout=5), (before, srv.fds())
    assert srv.alive()
    assert srv.stop() == 0


def _open_idle(srv, n):
    socks = []
    for _ in range(n):
        s = srv.connect()
        s.sendall(GET)
        socks.append(s)
    for s in socks:
        Reader(s).response()
    return socks


@pytest.fixture
def many_fds():
    """RLIMIT_NOFILE raised for 4051 client sockets here and as many in the
    server (which inherits it), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4200 * 2 + 256
    if soft < want:
        new_hard = hard if hard == resource.RLIM_INFINITY or hard >= want else want
        try:                                    # root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, new_hard))
        except (ValueError, OSError):
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want} fds")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_connection_memory(many_fds, start_server):
    """An idle keep-alive connection holds no buffers, and costs at most
    192 B of RSS on every backend (issue 15's target): this asserts it on the
    marginal cost from 1000 to 4000 idle connections, after a warm-up that
    touches what the server pays once (every provided receive buffer and a
    full turn of io_uring's SQ/CQ rings: 50 connections x 200 requests).
    What a connection holds (README, "Memory per idle connection"): its
    socket, 72 B (io_uring 80 B) from the loop's socket chunks, and its
    88 B slot in the server's pool. Measured here (2 vCPUs, 2026-12-03,
    other jobs running): epoll 161 B, poll 168 B, io_uring 89-153 B (96-351 B
    before; it still varies from run to run, below what its socket and slot
    hold, so some pages are given back while it runs: not pinned down). On
    the libkqueue build the figure includes libkqueue's own per-descriptor
    state (its knotes and filter records live in user space; on a BSD kernel
    they are kernel memory): 560 B before the shrink, 496 B after, held to
    768 B."""
    if os.environ.get("VEX_TEST_TSAN") == "1":
        pytest.skip("ThreadSanitizer build: its shadow memory makes RSS per connection meaningless")
    srv = start_server("--threads", "1")     # inherits the raised RLIMIT_NOFILE
    warm = []
    for _ in range(50):
        s = srv.connect()
        rd = Reader(s)
        for _ in range(200):
            s.sendall(GET)
            rd.response()
        warm.append(s)
    first = _open_idle(srv, 1000)
    time.sleep(0.3)
    rss1 = srv.rss_bytes()
    more = _open_idle(srv, 3000)
    time.sleep(0.3)
    per = (srv.rss_bytes() - rss1) / 3000
    print(f"idle RSS per connection ({srv.backend}): {per:.0f} B")
    assert srv.metrics()["vex_connections_active"] == 4051
    for s in warm + first + more:
        s.close()
    if "-san" in srv.binary:
        return          # ASan's redzones and quarantine are not the server's cost
    bound = 768 if "libkqueue" in srv.binary else 192
    assert per <= bound, f"{per:.0f} bytes of RSS per idle connection (bound {bound} B)"


PIPELINED = GET * ((2 << 20) // len(GET))        # 2 MiB of requests, ~11 MB of answers


def _slow_readers(srv, n):
    """n clients that pipeline 2 MiB of requests and never read: the server
    must stop reading them at its 256 KiB output mark."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(PIPELINED)
        socks.append(s)
    time.sleep(0.5)
    return socks


def test_slow_reader_memory(start_server):
    """The README's slow-reader cost: the marginal RSS of each further client
    that pipelines 2 MiB of requests and never reads, from 8 to 24 of them.
    Readiness backends stop reading at the 256 KiB output mark, so it is the
    queue: at most 360 KiB (README: about 320 KiB). io_uring also holds what
    its multishot recv had completed before the pause landed, which for a
    burst is all the client sent: at most 360 KiB + 1.25 x 2 MiB (the held
    buffer grows by doubling). Measured here (2 vCPUs, 2026-12-01, other jobs
    running): epoll 308-324, poll 304-312, io_uring 2618-2688 KiB (with the
    paused-read delivery of issue 16; before it, io_uring closed such a
    connection once its held burst overflowed the server's input bound)."""
    if os.environ.get("VEX_TEST_TSAN") == "1":
        pytest.skip("ThreadSanitizer build: its shadow memory makes RSS per client meaningless")
    srv = start_server("--threads", "1")
    first = _slow_readers(srv, 8)
    rss1 = srv.rss_bytes()
    more = _slow_readers(srv, 16)
    per = (srv.rss_bytes() - rss1) / 16
    assert srv.alive()
    assert srv.metrics()["vex_connections_active"] == 25, "a slow reader was dropped"
    for s in first + more:
        s.close()
    assert settle(srv)
    # each close left unread answers in our socket, so it reset the connection
    # and the server's pending send failed: one error per client, no more
    assert srv.metrics()["vex_errors_total"] == 24
    if "-san" in srv.binary:              # ASan's redzones are not the server's cost
        return
    bound = 360 << 10
    if srv.backend == "io_uring":
        bound += int(1.25 * len(PIPELINED))
    assert per <= bound, f"{per / 1024:.0f} KiB of RSS per slow reader (bound {bound >> 10} KiB)"
