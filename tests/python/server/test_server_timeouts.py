"""Header-read and idle timeouts (short flags), slowloris, write stalls."""
import socket
import time

from server_helpers import Reader, wait_closed


def test_idle_keepalive_timeout(start_server):
    srv = start_server("--threads", "1", "--idle-timeout", "1", "--header-timeout", "5")
    with srv.connect(timeout=6) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        Reader(s).response()
        t0 = time.monotonic()
        assert wait_closed(s, timeout=5)
        took = time.monotonic() - t0
        assert 0.8 <= took <= 3.0, took
    assert srv.metrics()["vex_timeouts_total"] == 1


def test_header_timeout_without_request(start_server):
    srv = start_server("--threads", "1", "--idle-timeout", "30", "--header-timeout", "1")
    with srv.connect(timeout=6) as s:
        t0 = time.monotonic()
        assert wait_closed(s, timeout=5)
        assert time.monotonic() - t0 <= 3.0


def test_slowloris_cut_off(start_server):
    """Trickling header bytes does not extend the header timeout: the client
    gets exactly one 408 (the README's promise), then the connection closes."""
    srv = start_server("--threads", "1", "--idle-timeout", "30", "--header-timeout", "1.5")
    with srv.connect(timeout=6) as s:
        s.sendall(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        got = b""
        closed = False
        answered_at = None
        while time.monotonic() - t0 < 8:
            if not got:
                s.sendall(b"X-a: b\r\n")  # trickle until answered (then the
                                           # server lingers, discarding, until our EOF)
            s.settimeout(0.3)
            try:
                d = s.recv(4096)
            except socket.timeout:
                continue
            if not d:
                closed = True
                break
            got += d
            if answered_at is None:
                answered_at = time.monotonic() - t0
                s.shutdown(socket.SHUT_WR)  # our EOF ends the server's linger
        assert got.startswith(b"HTTP/1.1 408 "), got
        assert got.count(b"HTTP/1.1") == 1, got
        assert b"\r\nConnection: close\r\n" in got, got
        assert closed, "no EOF after the 408"
        # 1.5 s header timeout, checked by a once-a-second scan
        assert 1.3 <= answered_at < 3.5, answered_at
    # the server is fine
    assert srv.get("/").status == 200
    assert srv.metrics()["vex_timeouts_total"] == 1


def test_slow_body_times_out(start_server):
    srv = start_server("--threads", "1", "--idle-timeout", "1", "--header-timeout", "5")
    with srv.connect(timeout=6) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        rd = Reader(s)
        t0 = time.monotonic()
        # the echo head is streamed at once; then the body stalls and times out
        assert wait_closed(s, timeout=5)
        assert time.monotonic() - t0 < 4


def test_reader_that_never_reads_is_cut_off(start_server):
    """A /bytes download whose client stops reading ends after the idle
    (write-stall) timeout instead of holding memory forever."""
    srv = start_server("--threads", "1", "--idle-timeout", "1")
    s = srv.connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)
    def active():
        return srv.metrics()["vex_connections_active"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6 and active() > 1:
        time.sleep(0.2)
    assert active() == 1          # only the /metrics connection itself
    assert srv.rss_bytes() < 64 << 20
    s.close()
