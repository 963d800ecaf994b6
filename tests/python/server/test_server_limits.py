"""The connection limit and output backpressure."""
import select
import shutil
import socket
import threading
import time

import pytest

from server_helpers import Reader, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def test_connection_limit_pauses_accepting(start_server):
    """At --max-clients a further client is neither answered nor refused: it
    waits (in the kernel's backlog, or on io_uring in the server's queue) and
    is served once a slot frees. Nothing is rejected."""
    srv = start_server("--threads", "1", "--max-clients", "4")
    held = []
    for _ in range(4):
        s = srv.connect()
        s.sendall(GET)
        assert Reader(s).response().status == 200
        held.append(s)
    extra = srv.connect()
    extra.sendall(GET)
    ready, _, _ = select.select([extra], [], [], 0.8)
    assert ready == [], "a fifth client was answered (or closed) at a limit of 4"
    held.pop().close()                    # a slot frees
    extra.settimeout(5)
    assert Reader(extra).response().status == 200
    for s in held:
        s.close()
    extra.close()
    m = srv.metrics()
    assert m["vex_connections_rejected_total"] == 0
    assert m["vex_connections_total"] == 6
    assert wait_for(lambda: srv.metrics()["vex_connections_active"] == 1, timeout=5)


def test_connection_limit_many_threads(start_server):
    """The limit is global across threads: with 3 held of 3, four late
    clients wait; after the 3 close, exactly 3 are served at once and the
    fourth only when one of those closes."""
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
    ready, _, _ = select.select(late, [], [], 0.5)
    assert ready == [], f"{len(ready)} late clients answered at the limit"
    for s in socks:
        s.close()
    time.sleep(1.0)
    ready, _, _ = select.select(late, [], [], 2)
    assert len(ready) == 3, f"{len(ready)} clients served at once, the limit is 3"
    for s in ready:
        assert Reader(s).response().status == 200
    rest = [s for s in late if s not in ready]
    ready[0].close()
    r2, _, _ = select.select(rest, [], [], 5)
    assert r2 == rest
    assert Reader(rest[0]).response().status == 200
    for s in late:
        s.close()
    assert srv.metrics()["vex_connections_rejected_total"] == 0
    assert wait_for(lambda: srv.metrics()["vex_connections_active"] == 1, timeout=5)


def test_waiting_queue_full_gets_503_never_a_bare_close(start_server, binary):
    """--max-clients 1 --backlog 8 and 40 clients: every client is answered,
    200 once a slot frees or, only where more were accepted than may wait
    (io_uring's multishot accept drains the backlog), 503 with Retry-After
    and Connection: close. None sees EOF or a reset without a response."""
    srv = start_server("--threads", "1", "--max-clients", "1", "--backlog", "8")
    held = srv.connect()
    held.sendall(GET)
    assert Reader(held).response().status == 200
    results = []
    lock = threading.Lock()

    def client():
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as c:
                c.sendall(GET)
                r = Reader(c).response()
                out = (r.status, r.header("retry-after"), r.header("connection"))
        except (OSError, ConnectionError) as e:
            out = (repr(e), None, None)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=client) for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    held.close()
    for t in threads:
        t.join(timeout=40)
    bad = [r for r in results if r[0] not in (200, 503)]
    assert len(results) == 40 and not bad, bad[:5]
    for status, retry, conn in results:
        if status == 503:
            assert (retry, conn) == ("1", "close")
    n503 = sum(1 for r in results if r[0] == 503)
    if "io_uring" not in binary:
        assert n503 == 0, "a readiness backend accepted past the limit"
    m = srv.metrics()
    assert m["vex_connections_rejected_total"] == n503
    assert m["vex_connections_waiting"] == 0


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
