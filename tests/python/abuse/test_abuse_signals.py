"""SIGHUP and SIGTERM under load, repeated: not one failed request, and the
server's own counts (final statistics block, /metrics) match what the clients
saw. Sizes: VEX_ABUSE_HUPS (default 30), VEX_ABUSE_TERM_ROUNDS (default 3)."""
import signal
import threading
import time

import pytest

from abuse_helpers import Sampler, Wrk, baseline, env_int, record, settle_fds
from server_helpers import Reader, wait_for

pytestmark = pytest.mark.slow
HUPS = env_int("VEX_ABUSE_HUPS", 30)
TERM_ROUNDS = env_int("VEX_ABUSE_TERM_ROUNDS", 3)


def run_clients(srv, n, stop, results, lock, until_close=False):
    """until_close: after stop, go on over open connections until the server
    closes them (the drain); otherwise stop at once."""
    def client(i):
        ok = failed = 0
        s = rd = None
        req = (b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n" if i % 2 else
               b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        while True:
            if stop.is_set() and not until_close:
                break
            if s is None:
                if stop.is_set():
                    break
                try:
                    s = srv.connect()
                except OSError:
                    break                # the listener has gone: nothing was sent
                rd = Reader(s)
            try:
                s.sendall(req)
                r = rd.response()
            except (OSError, ConnectionError):
                failed += 1              # sent and never answered
                s.close()
                s = None
                continue
            ok += r.status == 200
            failed += r.status != 200
            if r.header("connection") == "close":
                s.close()
                s = None
        if s is not None:
            s.close()
        with lock:
            results.append((ok, failed))
    ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    return ts


def test_sighup_reloads_under_load_repeated(start_server, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("idle-timeout: 30\n")
    srv = start_server("--config", str(cfg), "--threads", "2")
    before = baseline(srv)
    stop, lock, results = threading.Event(), threading.Lock(), []
    with Sampler(srv) as smp:
        load = Wrk(srv.port)
        ts = run_clients(srv, 6, stop, results, lock)
        for i in range(HUPS):
            cfg.write_text(f"idle-timeout: {30 + i % 2}\n")
            srv.send_signal(signal.SIGHUP)
            time.sleep(2.5 / HUPS)
        load = load.result()
        stop.set()
        for t in ts:
            t.join(timeout=20)
    assert wait_for(lambda: srv.read_stderr().count("SIGHUP: reloaded") >= 1, timeout=10)
    m = srv.metrics()
    fds = settle_fds(srv, before["fds"], slack=1)
    after = baseline(srv)
    failed = sum(f for _, f in results)
    reloads = int(m['vex_config_reloads_total{result="ok"}'])
    rec = record("sighup_x%d" % HUPS, srv, load, before, smp, after, failed == 0,
                 note=f"{reloads} reloads ok, {failed} failed of "
                      f"{sum(o for o, _ in results)} client requests")
    assert len(results) == 6 and failed == 0, results
    assert m['vex_config_reloads_total{result="failed"}'] == 0
    assert reloads >= 1
    assert load["non2xx"] == 0 and load["socket_errors"] == 0, load["raw"]
    assert fds <= before["fds"] + 1, rec      # the /metrics connection may linger
    assert srv.alive()


@pytest.mark.parametrize("round_", range(TERM_ROUNDS))
def test_sigterm_under_load_counts_match(start_server, round_):
    srv = start_server("--threads", "2", "--shutdown-timeout", "5")
    before = baseline(srv, settle=0.1)
    stop, lock, results = threading.Event(), threading.Lock(), []
    with Sampler(srv) as smp:
        ts = run_clients(srv, 12, stop, results, lock, until_close=True)
        time.sleep(1.0 + 0.3 * round_)
        stop.set()
        srv.send_signal(signal.SIGTERM)
        for t in ts:
            t.join(timeout=20)
        rc = srv.stop(timeout=20)
    ok = sum(o for o, _ in results)
    failed = sum(f for _, f in results)
    final = srv.stats_blocks()[-1]
    after = {"rss": 0, "fds": 0}
    record(f"sigterm_round{round_}", srv, None, before, smp, after, rc == 0 and failed == 0,
           note=f"{ok} ok, {failed} failed; final block: {final['Requests total']} requests")
    assert rc == 0, srv.stderr
    assert failed == 0, results
    assert int(final["Requests total"]) == ok, (final, ok)
    assert int(final["Responses 2xx"]) == ok
    assert int(final["Connections active"]) == 0
    assert int(final["Errors"]) == 0
