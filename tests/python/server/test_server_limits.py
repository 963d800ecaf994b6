"""The connection limit and output backpressure."""
import select
import shutil
import socket
import time

import pytest

from server_helpers import Reader, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def test_connection_limit_pauses_accepting(start_server):
    """At --max-clients the listener is paused: a further client waits in the
    kernel backlog (or, if it was already being accepted, gets a clean 503)
    and is served once a slot frees. Never more than the limit at once."""
    srv = start_server("--threads", "1", "--max-clients", "4")
    held = []
    for _ in range(4):
        s = srv.connect()
        s.sendall(GET)
        assert Reader(s).response().status == 200
        held.append(s)
    extra = srv.connect()                 # completes in the kernel's backlog
    extra.sendall(GET)
    extra.settimeout(0.8)
    early = b""
    try:
        early = extra.recv(4096)
    except socket.timeout:
        pass
    if early:
        assert early.startswith(b"HTTP/1.1 503 "), early   # rejected cleanly
        extra.close()
        extra = srv.connect()
        extra.sendall(GET)
    held.pop().close()                    # a slot frees
    extra.settimeout(5)
    r = Reader(extra).response()
    assert r.status == 200
    # the limit is still enforced for the metrics connection's accounting
    for s in held:
        s.close()
    extra.close()
    m = srv.metrics()
    assert m["vex_connections_active"] <= 4
    assert srv.get("/").status == 200


def test_connection_limit_many_threads(start_server):
    srv = start_server("--threads", "2", "--max-clients", "3")
    socks = []
    for _ in range(3):
        s = srv.connect()
        s.sendall(GET)
        assert Reader(s).response().status == 200
        socks.append(s)
    late = [srv.connect() for _ in range(4)]
    for s in late:
        s.sendall(GET)
    time.sleep(0.5)
    for s in socks:
        s.close()
    # every late client is eventually served (or was told 503 cleanly); only
    # 3 fit at once, so answer them in whatever order they are accepted
    pending = set(late)
    end = time.monotonic() + 10
    while pending and time.monotonic() < end:
        ready, _, _ = select.select(list(pending), [], [], 0.5)
        for s in ready:
            s.settimeout(5)
            r = Reader(s).response()
            assert r.status in (200, 503)
            s.close()
            pending.discard(s)
    assert not pending, f"{len(pending)} late clients never answered"
    assert wait_for(lambda: srv.metrics()["vex_connections_active"] == 1, timeout=5)


def test_pipelining_client_that_does_not_read(server):
    """A client that pipelines without reading cannot make the server buffer
    without bound: reading stops while its output is not drained."""
    s = server.connect(timeout=10)
    rss0 = server.rss_bytes()
    req = b"GET /bytes/20000 HTTP/1.1\r\nHost: t\r\n\r\n"
    n = 3000                      # 60 MB of responses: far over the socket buffers
    s.sendall(req * n)
    time.sleep(1.0)
    assert server.alive()
    grew = server.rss_bytes() - rss0
    assert grew < 24 << 20, f"server RSS grew by {grew >> 20} MiB"
    # now read everything: all complete responses arrive, in order
    rd = Reader(s)
    for _ in range(n):
        r = rd.response()
        assert r.status == 200 and len(r.body) == 20000
    s.close()
    assert server.get("/").status == 200


def cpu_seconds(pid):
    tot = 0
    import os
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tot += int(fields[11]) + int(fields[12])
    return tot / os.sysconf("SC_CLK_TCK")


def test_emfile_backs_off_and_recovers(start_server):
    """Out of fds (EMFILE) the server neither spins nor dies: accepting
    backs off, and the waiting clients are served once fds free up."""
    if not shutil.which("prlimit"):
        pytest.skip("prlimit not installed")
    srv = start_server("--threads", "1", prefix=["prlimit", "--nofile=40:40"])
    socks = []
    for _ in range(60):                       # more than the server has fds for
        s = srv.connect()
        s.sendall(GET)
        socks.append(s)
    time.sleep(0.5)
    c0 = cpu_seconds(srv.pid)
    time.sleep(2)
    used = cpu_seconds(srv.pid) - c0
    assert used < 0.5, f"{used:.2f} s of CPU in 2 s while out of fds: spinning"
    served = []
    for s in socks:                           # read and close: fds free up
        s.settimeout(5)
        served.append(Reader(s).response().status)
        s.close()
    assert served == [200] * 60
    assert srv.metrics()["vex_errors_total"] >= 1     # the EMFILEs were counted
