"""No fd or connection leaks after every kind of connection ending."""
import os
import socket
import struct
import time

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


def test_idle_connection_memory(start_server):
    """An idle keep-alive connection holds no buffers: RSS per connection
    stays small (the issue's target is 256 bytes; this checks a loose bound
    so the test is stable)."""
    srv = start_server("--threads", "1")
    n = 1000
    warm = []
    for _ in range(50):
        s = srv.connect()
        rd = Reader(s)
        for _ in range(25):    # touch every receive buffer of the loop first
            s.sendall(GET)
            rd.response()
        warm.append(s)
    time.sleep(0.2)
    rss0 = srv.rss_bytes()
    socks = []
    for _ in range(n):
        s = srv.connect()
        s.sendall(GET)
        socks.append(s)
    for s in socks:
        Reader(s).response()
    time.sleep(0.3)
    per = (srv.rss_bytes() - rss0) / n
    for s in socks + warm:
        s.close()
    assert per < 2048, f"{per:.0f} bytes of RSS per idle connection"
