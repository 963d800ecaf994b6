"""Graceful shutdown on SIGTERM/SIGINT: stop accepting, /readyz 503,
in-flight requests finish, idle keep-alive connections close, the rest is
cut at --shutdown-timeout; exit 0 and a final statistics block."""
import signal
import socket
import threading
import time

import pytest

from server_helpers import Reader, wait_closed

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("threads", [1, 2])
def test_sigterm_under_load_no_failed_requests(start_server, threads):
    srv = start_server("--threads", str(threads), "--shutdown-timeout", "5")
    stop = threading.Event()
    results = []
    lock = threading.Lock()

    def client(i):
        ok = failed = 0
        s = rd = None
        path = b"/json" if i % 3 == 0 else b"/"
        req = b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n"
        while True:
            if s is None:
                if stop.is_set():
                    break            # no new connections once SIGTERM is on its way
                s = srv.connect()
                rd = Reader(s)
            try:
                s.sendall(req)
                r = rd.response()
            except (OSError, ConnectionError):
                failed += 1          # sent, never answered: a failed request
                s.close()
                s = None
                continue
            if r.status == 200:
                ok += 1
            else:
                failed += 1
            if r.header("connection") == "close":
                s.close()
                s = None
        with lock:
            results.append((ok, failed))

    workers = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in workers:
        t.start()
    time.sleep(1.5)
    stop.set()
    t0 = time.monotonic()                # the drain is timed from SIGTERM
    srv.send_signal(signal.SIGTERM)
    for t in workers:
        t.join(timeout=20)
    rc = srv.stop(timeout=20)
    drained = time.monotonic() - t0
    assert rc == 0, srv.stderr
    assert not any(t.is_alive() for t in workers)
    # In-flight requests finish at once and idle connections get their FIN
    # after 0.5 s: well inside the 5 s --shutdown-timeout, so nothing is cut.
    assert drained < 4.0, drained
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    assert len(results) == 16
    assert failed == 0
    assert ok > 100
    final = srv.stats_blocks()[-1]
    assert int(final["Requests total"]) == ok, (final, ok)
    assert int(final["Responses 2xx"]) == ok
    assert int(final["Connections active"]) == 0
    assert int(final["Errors"]) == 0
    assert int(final["Timeouts"]) == 0


def test_readyz_503_and_no_new_connections(start_server):
    srv = start_server("--threads", "1", "--shutdown-timeout", "5")
    s = srv.connect()
    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
    rd = Reader(s)
    assert rd.response().status == 200
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
    r = rd.response()
    assert r.status == 503 and r.header("connection") == "close"
    assert wait_closed(s)
    # The listener is closed at SIGTERM: a new client is refused at once (a
    # connect that hangs or times out is a failure, not a refusal).
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
    assert time.monotonic() - t0 < 1.0
    assert srv.stop() == 0


def test_idle_keepalive_closed_promptly(start_server):
    srv = start_server("--threads", "2", "--shutdown-timeout", "10")
    idle = []
    for _ in range(6):
        s = srv.connect()
        s.sendall(GET)
        Reader(s).response()
        idle.append(s)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGINT)
    for s in idle:
        assert wait_closed(s, timeout=5)
        s.close()                       # as a client does on EOF
    rc = srv.stop()
    assert rc == 0
    assert time.monotonic() - t0 < 3, "idle connections held the shutdown"
    final = srv.stats_blocks()[-1]
    assert final["Connections active"] == "0"


def test_shutdown_timeout_cuts_stalled_transfer(start_server):
    srv = start_server("--threads", "1", "--shutdown-timeout", "1")
    s = srv.connect()
    s.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)                     # the client never reads
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.stop(timeout=10)
    took = time.monotonic() - t0
    assert rc == 0
    assert 0.8 <= took < 3.5, took
    final = srv.stats_blocks()[-1]
    assert int(final["Timeouts"]) == 1        # the one stalled transfer
    s.close()


def test_inflight_response_finishes(start_server):
    """A large response in progress at SIGTERM completes (within the
    shutdown timeout) and then the connection closes."""
    srv = start_server("--threads", "1", "--shutdown-timeout", "10")
    n = 30 << 20
    with srv.connect(timeout=10) as s:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
        rd = Reader(s)
        head = rd.read_until(b"\r\n\r\n")
        assert b" 200 " in head
        srv.send_signal(signal.SIGTERM)
        got = len(rd.buf)
        while got < n:
            d = s.recv(1 << 20)
            assert d, f"cut after {got} bytes"
            got += len(d)
        assert wait_closed(s)
    assert srv.stop() == 0
