"""The deterministic mode's pieces: the client, the virtual clock, count parsing."""
import http.server
import os
import subprocess
import sys
import threading

import pytest

from perfgate import determ as D


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def do_GET(self):
        Handler.seen.append((self.path, self.headers.get("Connection")))
        body = b"Hello, World!" if self.path == "/" else b'{"message":"Hello, World!"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.headers.get("Connection") == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    Handler.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_client_sends_a_fixed_sequence_over_one_connection(server):
    assert D.drive(server, 7, paths=("/", "/json")) == 7
    assert [p for p, _ in Handler.seen] == ["/", "/json"] * 3 + ["/"]
    assert [c for _, c in Handler.seen] == [None] * 6 + ["close"]   # last one closes


def test_request_bytes_are_fixed():
    """The exact bytes, so any change to what the callgrind client sends (which
    changes the instructions counted per request) shows up here."""
    ua = D.USER_AGENT.encode()
    assert D.request_bytes("/") == (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + ua
                                    + b"\r\nAccept: */*\r\n\r\n")
    assert D.request_bytes("/json", close=True) == (
        b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + ua
        + b"\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    assert ua and b"\r" not in ua and b"\n" not in ua


def test_virtual_clock_repeats_exactly(tmp_path):
    so = D.build_detclock(tmp_path)
    prog = "import time; print(time.time(), time.monotonic_ns(), time.time())"
    runs = [subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                           env=dict(os.environ, LD_PRELOAD=str(so)), timeout=60).stdout
            for _ in range(2)]
    assert runs[0] == runs[1]
    t1, mono, t2 = runs[0].split()
    assert 1700000000 <= float(t1) < float(t2) < 1700000001      # 1 us per read


def test_totals_line(tmp_path):
    f = tmp_path / "callgrind.out"
    f.write_text("events: Ir\nfn=main\n1 5\nsummary: 12\ntotals: 12168548\n")
    assert D._totals(f) == 12168548
    f.write_text("events: Ir\n")
    with pytest.raises(D.DetermError):
        D._totals(f)
