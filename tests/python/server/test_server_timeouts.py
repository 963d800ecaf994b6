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
    assert srv.metrics()["vex_timeouts_total"] >= 1


def test_header_timeout_without_request(start_server):
    srv = start_server("--threads", "1", "--idle-timeout", "30", "--header-timeout", "1")
    with srv.connect(timeout=6) as s:
        t0 = time.monotonic()
        assert wait_closed(s, timeout=5)
        assert time.monotonic() - t0 <= 3.0


def test_slowloris_cut_off(start_server):
    """Trickling header bytes does not extend the header timeout; the client
    gets 408 and the connection is closed."""
    srv = start_server("--threads", "1", "--idle-timeout", "30", "--header-timeout", "1.5")
    with srv.connect(timeout=6) as s:
        s.sendall(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        got = b""
        closed = False
        while time.monotonic() - t0 < 6:
            try:
                s.sendall(b"X-a: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.3)
            try:
                d = s.recv(4096)
                if not d:
                    closed = True
                    break
                got += d
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
        took = time.monotonic() - t0
        assert closed or got, "slowloris connection was never cut off"
        assert took < 4.5, took
        if got:
            assert got.startswith(b"HTTP/1.1 408 ")
    # the server is fine
    assert srv.get("/").status == 200
    assert srv.metrics()["vex_timeouts_total"] >= 1


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
