"""ServerProcess (launch, ready, counters, stop), peers and run_trial on loopback."""
import signal

import pytest

from vexbench_testlib import FAKE_SERVER, have
from vexbench import peers, profiles
from vexbench.server import BackendUnavailable, ServerError, ServerProcess
from vexbench.trial import run_trial


@pytest.fixture
def fake(tmp_path, fake_build):
    srv = ServerProcess.vex(fake_build / "epoll" / "production_server", cpu=0,
                            stats_interval=0.2, log_dir=tmp_path / "logs")
    yield srv
    srv.stop()


def test_fake_server_lifecycle(fake):
    fake.start()
    assert fake.command[:3] == ["taskset", "-c", "0"] and "--threads" in fake.command
    assert fake.get("/") == (200, b"Hello, World!")
    c0 = fake.counters()
    assert c0["source"] == "metrics" and c0["requests"] >= 1
    fake.get("/json")
    assert fake.counters()["requests"] >= c0["requests"] + 2      # /json and this scrape
    snap = fake.proc_stats()
    assert snap.pids[0] == fake.pid and snap.rss_bytes > 0
    with open(f"/proc/{fake.pid}/status") as f:
        assert "Cpus_allowed_list:\t0\n" in f.read()
    res = fake.stop()
    assert res["exit_code"] == 0 and not res["killed_after_timeout"]
    assert res["final_stats"]["backend"] == "epoll"
    assert res["final_stats"]["requests_total"] >= 3


def test_restart_keeps_logs(fake):
    fake.start()
    pid = fake.pid
    fake.restart()
    assert fake.pid != pid and fake.alive() and len(fake.lives) == 1
    assert fake.lives[0]["exit_code"] == 0
    fake.stop()
    assert len(fake.stats_blocks()) >= 2          # both lives' final blocks are in the log


def test_exit_3_means_backend_unavailable(tmp_path, fake_build):
    srv = ServerProcess.vex(fake_build / "io_uring" / "production_server", log_dir=tmp_path)
    with pytest.raises(BackendUnavailable, match="io_uring_setup: Operation not permitted"):
        srv.start()


def test_bad_flags_fail_clearly(tmp_path):
    srv = ServerProcess([str(FAKE_SERVER), "--host", "{host}", "--port", "{port}", "--nope"],
                        log_dir=tmp_path, ready_timeout=5)
    with pytest.raises(ServerError, match="code 2"):
        srv.start()


def test_loopback_only():
    with pytest.raises(ValueError):
        ServerProcess(["x"], host="10.0.0.1")


@pytest.mark.e2e
@pytest.mark.skipif(not have("wrk", "taskset"), reason="wrk not installed")
def test_run_trial_wrk_against_fake(fake, tmp_path):
    fake.start()
    prof = profiles.load_profiles()["plaintext"]
    t = run_trial(fake, prof, connections=10, duration=1, work_dir=tmp_path / "w", label="x")
    assert t["ok"], t["error"]
    f = t["figures"]
    assert t["command"][:3] == ["taskset", "-c", "1"]
    assert f["requests"] > 100 and f["rps"] > 0 and f["latency_ms"]["p99"] > 0
    assert f["requests_source"] == "metrics"
    assert abs(f["server_requests"] - f["requests"]) <= 10 + 16        # in flight at the end
    assert f["cpu_us_per_req"] > 0 and f["cpu_source"] in ("schedstat", "stat")
    assert "vex_requests_total" in f["metrics_delta"]
    assert f["server_latency_ms"]["p50"] is not None
    assert t["flags"] == []


@pytest.mark.e2e
def test_run_trial_idle_memory(fake, tmp_path):
    fake.start()
    prof = profiles.load_profiles()["memory-idle"]
    t = run_trial(fake, prof, connections=200, work_dir=tmp_path / "w")
    assert t["ok"] and t["figures"]["idle_connections"] == 200
    assert t["figures"]["mem_per_conn_bytes"] is not None


def test_run_trial_on_dead_server(fake, tmp_path):
    fake.start()
    fake.proc.send_signal(signal.SIGKILL)
    fake.proc.wait()
    t = run_trial(fake, profiles.load_profiles()["plaintext"], duration=1, work_dir=tmp_path)
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
