"""ServerProcess (launch, ready, counters, stop), peers and run_trial on loopback, against
the real production_server."""
import signal

import pytest

from vexbench_testlib import built, have
from vexbench import peers, profiles
from vexbench.server import BackendUnavailable, ServerError, ServerProcess
from vexbench.trial import run_trial


@pytest.fixture
def real(tmp_path, real_build):
    srv = ServerProcess.vex(real_build / "epoll" / "production_server", cpu=0,
                            stats_interval=0.2, log_dir=tmp_path / "logs")
    yield srv
    srv.stop()


def test_real_server_lifecycle(real):
    real.start()
    assert real.command[:3] == ["taskset", "-c", "0"] and "--threads" in real.command
    assert real.get("/") == (200, b"Hello, World!")
    c0 = real.counters()
    assert c0["source"] == "metrics" and c0["requests"] >= 2     # /readyz polls and /
    real.get("/json")
    c1 = real.counters()
    assert c1["requests"] == c0["requests"] + 2      # /json and the c0 scrape, exactly
    snap = real.proc_stats()
    assert snap.pids[0] == real.pid and snap.rss_bytes > 0
    with open(f"/proc/{real.pid}/status") as f:
        assert "Cpus_allowed_list:\t0\n" in f.read()
    res = real.stop()
    assert res["exit_code"] == 0 and not res["killed_after_timeout"]
    assert res["final_stats"]["backend"] == "epoll"
    assert res["final_stats"]["requests_total"] == c1["requests"] + 1   # + the c1 scrape
    assert res["stats_blocks"] >= 1


def test_restart_keeps_logs(real):
    real.start()
    pid = real.pid
    real.get("/")
    real.restart()
    assert real.pid != pid and real.alive() and len(real.lives) == 1
    assert real.lives[0]["exit_code"] == 0
    assert real.lives[0]["final_stats"]["requests_total"] >= 2      # readyz + /
    assert real.get("/json")[0] == 200
    real.stop()
    blocks = real.stats_blocks()
    assert len(blocks) >= 2                                   # both lives' blocks in the log
    assert real.result["final_stats"]["requests_total"] < blocks[0]["requests_total"] + 100


def test_exit_3_means_backend_unavailable(tmp_path, real_build):
    built("io_uring")
    srv = ServerProcess.vex(real_build / "io_uring" / "production_server", log_dir=tmp_path)
    with pytest.raises(BackendUnavailable, match="io_uring_setup: Operation not permitted"):
        srv.start()
    assert srv.proc.returncode == 3


def test_bad_flags_fail_clearly(tmp_path):
    srv = ServerProcess([str(built("epoll")), "--host", "{host}", "--port", "{port}", "--nope"],
                        log_dir=tmp_path, ready_timeout=5)
    with pytest.raises(ServerError, match="code 2.*--nope"):
        srv.start()


def test_loopback_only():
    with pytest.raises(ValueError):
        ServerProcess(["x"], host="10.0.0.1")


@pytest.mark.e2e
@pytest.mark.skipif(not have("wrk", "taskset"), reason="wrk not installed")
def test_run_trial_wrk_against_real_server(real, tmp_path):
    real.start()
    prof = profiles.load_profiles()["plaintext"]
    t = run_trial(real, prof, connections=10, duration=1, work_dir=tmp_path / "w", label="x")
    assert t["ok"], t["error"]
    f = t["figures"]
    assert t["command"][:3] == ["taskset", "-c", "1"]
    assert f["requests"] > 1000 and 1000 < f["rps"] < 2e7 and f["latency_ms"]["p99"] > 0
    assert f["latency_ms"]["p50"] <= f["latency_ms"]["p99"]
    assert f["non_2xx"] == 0 and f["socket_errors"] == 0
    assert f["requests_source"] == "metrics"
    # the server's own count of the trial agrees with wrk's, up to requests in flight
    # at the end (one per connection) and the two /metrics scrapes
    assert abs(f["server_requests"] - f["requests"]) <= 10 + 2, f
    assert 0.05 < f["cpu_us_per_req"] < 500 and f["cpu_source"] in ("schedstat", "stat")
    assert f["metrics_delta"]["vex_requests_total"] == f["server_requests"]
    assert f["server_latency_ms"]["p50"] is not None
    assert t["flags"] == []


@pytest.mark.e2e
def test_run_trial_idle_memory(real, tmp_path):
    real.start()
    prof = profiles.load_profiles()["memory-idle"]
    t = run_trial(real, prof, connections=200, work_dir=tmp_path / "w")
    assert t["ok"] and t["figures"]["idle_connections"] == 200
    assert 0 < t["figures"]["mem_per_conn_bytes"] < 16384, t["figures"]


def test_run_trial_on_dead_server(real, tmp_path):
    real.start()
    real.proc.send_signal(signal.SIGKILL)
    real.proc.wait()
    t = run_trial(real, profiles.load_profiles()["plaintext"], duration=1, work_dir=tmp_path)
    assert not t["ok"] and "server_died" in t["flags"]


@pytest.mark.skipif(not have("nginx"), reason="nginx not installed")
def test_nginx_peer(tmp_path):
    srv = peers.nginx({"/", "/json", "/bytes/1000", "/static/3000.bin", "/echo"}, log_dir=tmp_path)
    assert "worker_processes 1;" in srv.config_text and "127.0.0.1:" in srv.config_text
    assert "sendfile on;" in srv.config_text
    with srv:
        assert srv.get("/") == (200, b"Hello, World!")
        assert srv.get("/json")[1] == peers.JSON.encode()
        assert srv.get("/bytes/1000") == (200, b"x" * 1000)
        assert srv.get("/static/3000.bin") == (200, b"x" * 3000)
        c = srv.counters()
        assert c["source"] == "stub_status" and c["requests"] >= 4
        if not srv.notes:            # echo module present
            import http.client
            h = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=2)
            h.request("POST", "/echo", body=b"y" * 4096)
            assert h.getresponse().read() == b"y" * 4096
        assert len(srv.proc_stats().pids) == 2       # master + one worker
    assert srv.result["exit_code"] == 0


def test_www_holds_the_files_the_paths_ask_for(tmp_path):
    www = peers.make_www(tmp_path, {"/", "/bytes/10", "/static/65536.bin", "/static/x.html"})
    assert (www / "bytes" / "10").read_bytes() == b"x" * 10
    assert (www / "static" / "65536.bin").stat().st_size == 65536
    assert sorted(p.name for p in (www / "static").iterdir()) == ["65536.bin"]


def test_missing_peer_names_package(monkeypatch):
    monkeypatch.setattr(peers, "_which", lambda name: None)
    with pytest.raises(peers.PeerUnavailable, match="apt-get install h2o"):
        peers.h2o({"/"})
    with pytest.raises(peers.PeerUnavailable, match="apt-get install nginx-light"):
        peers.nginx({"/"})
    with pytest.raises(peers.PeerUnavailable, match="unknown peer"):
        peers.make_peer("apache", {"/"})
