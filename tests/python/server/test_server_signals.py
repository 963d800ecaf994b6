"""Signals a service manager or an operator sends: SIGHUP, SIGUSR1 and SIGUSR2
never stop the server (each is logged); SIGQUIT drains like SIGTERM."""
import signal
import threading
import time

import pytest

from server_helpers import Reader, wait_for

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("sig,word", [(signal.SIGHUP, "SIGHUP"), (signal.SIGUSR1, "SIGUSR1"),
                                      (signal.SIGUSR2, "SIGUSR2")])
def test_signal_does_not_stop_the_server(start_server, sig, word):
    srv = start_server("--threads", "2")
    s = srv.connect()                     # a keep-alive client across the signal
    s.sendall(GET)
    rd = Reader(s)
    assert rd.response().status == 200
    for _ in range(3):
        srv.send_signal(sig)
        time.sleep(0.1)
    time.sleep(0.3)
    assert srv.alive(), f"the server died of {word}"
    s.sendall(GET)
    assert rd.response().status == 200    # the old connection still works
    assert srv.get("/").status == 200     # and new ones are accepted
    assert srv.get("/readyz").status == 200
    s.close()
    assert srv.stop() == 0
    assert srv.stderr.count(f"{word}: ") == 3, srv.stderr   # one line per signal


def test_sighup_under_load_loses_no_request(start_server):
    srv = start_server("--threads", "2")
    stop = threading.Event()
    counts = []

    def client():
        ok = failed = 0
        s = srv.connect()
        rd = Reader(s)
        while not stop.is_set():
            try:
                s.sendall(GET)
                r = rd.response()
                ok += r.status == 200
                failed += r.status != 200
            except (OSError, ConnectionError):
                failed += 1
                break
        s.close()
        counts.append((ok, failed))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for _ in range(20):
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert len(counts) == 8
    assert sum(f for _, f in counts) == 0, counts
    assert sum(o for o, _ in counts) > 0
    assert srv.alive()
    assert srv.stop() == 0


def test_sigquit_drains_like_sigterm(start_server):
    srv = start_server("--threads", "1")
    s = srv.connect()
    s.sendall(GET)
    rd = Reader(s)
    assert rd.response().status == 200
    srv.send_signal(signal.SIGQUIT)
    assert srv.stop(sig=signal.SIGQUIT) == 0   # graceful: exit 0, no core dump
    assert srv.stats_blocks(), "no final statistics block"
    s.close()
