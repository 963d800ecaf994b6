"""vex_loadgen against real servers on loopback, built on every backend: exact counts on
schedule, the server's own count agrees, non-2xx, timeouts, Connection: close, refused
connections, bounded duration."""
import json
import socket
import subprocess
import threading
import time

import pytest


def run_lg(loadgen, port, *args, timeout=60, path="/"):
    out = subprocess.run([str(loadgen), "--url", f"http://127.0.0.1:{port}{path}", *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_fixed_rate_exact_counts_and_server_agrees(loadgen, vex_server):
    before = vex_server.counters()["requests"]
    d = run_lg(loadgen, vex_server.port, "--rate", "2000", "--duration", "1",
               "--connections", "8")
    after = vex_server.counters()["requests"]
    assert d["schema"] == "vex-loadgen/1" and d["backend"] == loadgen.parent.name.removesuffix("-san")
    assert d["scheduled"] == 2000 and d["sent"] == 2000 and d["completed"] == 2000
    assert d["status"]["2xx"] == 2000 and d["non_2xx"] == 0
    assert all(v == 0 for v in d["errors"].values()), d["errors"]
    assert after - before == 2000 + 1          # + the first /metrics scrape, counted once answered
    h = d["histogram"]
    assert h["total"] == 2000 and len(h["counts"]) == h["buckets"] == 3841
    assert 0 < d["latency_us"]["p50"] <= d["latency_us"]["p99"] <= d["latency_us"]["max"]
    assert 0.99 <= d["elapsed_s"] < 1.5


def test_non_2xx_are_counted(loadgen_epoll, vex_server):
    d = run_lg(loadgen_epoll, vex_server.port, "--rate", "500", "--duration", "0.5",
               path="/no-such-route")
    assert d["completed"] == 250 and d["status"]["4xx"] == 250 and d["non_2xx"] == 250


def test_poisson_run_sends_about_rate_times_duration(loadgen_epoll, vex_server):
    d = run_lg(loadgen_epoll, vex_server.port, "--rate", "2000", "--duration", "1",
               "--schedule", "poisson", "--seed", "5")
    assert 1800 < d["scheduled"] < 2200 and d["completed"] == d["scheduled"]
    assert d["schedule"] == "poisson" and d["seed"] == 5


class Silent(threading.Thread):
    """Accepts and reads, never answers (or answers once with Connection: close)."""
    def __init__(self, answer_close=False):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.answer_close = answer_close
        self.accepted = 0
        self.stop = False

    def run(self):
        self.ls.settimeout(0.2)
        held = []
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            self.accepted += 1
            if self.answer_close:
                threading.Thread(target=self.one, args=(c,), daemon=True).start()
            else:
                held.append(c)
        for c in held:
            c.close()

    def one(self, c):
        buf = b""
        c.settimeout(5)
        try:
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        finally:
            c.close()


def test_requests_without_answer_time_out_within_bounds(loadgen_epoll):
    s = Silent()
    s.start()
    try:
        t0 = time.monotonic()
        d = run_lg(loadgen_epoll, s.port, "--rate", "200", "--duration", "0.5", "--timeout", "0.3",
                   "--connections", "4")
        took = time.monotonic() - t0
    finally:
        s.stop = True
    assert d["scheduled"] == 100 and d["completed"] == 0
    assert d["errors"]["timeout"] + d["errors"]["unfinished"] == 100
    assert d["histogram"]["total"] == 0
    assert took < 0.5 + 0.3 + 1.0 + 1.0         # duration + timeout + grace, bounded


def test_connection_close_responses_reconnect(loadgen_epoll):
    s = Silent(answer_close=True)
    s.start()
    try:
        d = run_lg(loadgen_epoll, s.port, "--rate", "200", "--duration", "0.5", "--connections", "2")
    finally:
        s.stop = True
    assert d["completed"] == 100 and d["status"]["2xx"] == 100
    assert d["reconnects"] >= 98 and s.accepted >= 100


def test_refused_connection_is_exit_1_with_the_reason(loadgen_epoll):
    with socket.socket() as x:
        x.bind(("127.0.0.1", 0))
        port = x.getsockname()[1]           # bound, not listening: refused
        r = subprocess.run([str(loadgen_epoll), "--url", f"http://127.0.0.1:{port}/", "--rate", "10",
                            "--duration", "0.2"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_barrier_waits_for_go_and_starts_at_that_moment(loadgen_epoll, vex_server):
    p = subprocess.Popen([str(loadgen_epoll), "--url", f"http://127.0.0.1:{vex_server.port}/",
                          "--rate", "100", "--duration", "0.3", "--start-on-stdin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stderr.readline().startswith("ready connections=16")
    time.sleep(0.3)
    assert p.poll() is None                       # still waiting for the barrier
    at = time.time_ns() + 300_000_000
    p.stdin.write(f"go {at}\n")
    p.stdin.flush()
    out, err = p.communicate(timeout=10)
    d = json.loads(out)
    assert p.returncode == 0 and d["completed"] == 30
    assert 0 <= d["start_unix_ns"] - at < 20_000_000    # started within 20 ms of the moment
