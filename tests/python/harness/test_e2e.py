"""End to end: bench.py -> results folder -> plot.py, with real load on loopback."""
import glob
import json
import os
import subprocess
import sys

import pytest

from vexbench_testlib import ROOT, built, have
from vexbench import results

PY = sys.executable
pytestmark = pytest.mark.e2e
needs_tools = pytest.mark.skipif(not have("wrk", "ab", "hyperfine", "taskset"),
                                 reason="wrk, ab (apache2-utils), hyperfine needed")


def bench(*args, timeout=150):
    return subprocess.run([PY, str(ROOT / "scripts/bench.py"), "--seed", "7", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_complete(run_dir):
    doc = results.load(run_dir)                       # validates the schema
    for f in ("results.json", "benchmark-bigger.json", "benchmark-smaller.json"):
        assert (run_dir / f).is_file(), f
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert not (run_dir / "results.partial.json").exists()
    r = subprocess.run([PY, str(ROOT / "scripts/plot.py"), str(run_dir)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for f in ("REPORT.md", "rps.png", "latency.png", "cpu_per_request.png"):
        assert (run_dir / f).is_file(), f
    return doc


@needs_tools
@pytest.mark.skipif(not have("nginx"), reason="nginx not installed")
def test_peer_only_smoke(tmp_path):
    r = bench("--no-backends", "--peers", "nginx,h2o", "--profile", "smoke", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "req/s median" in r.stdout and "nginx" in r.stdout
    assert "%" in r.stderr and "ETA" in r.stderr                     # progress line
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    doc = assert_complete(run_dir)
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["nginx"]["status"] == "ok"
    if not have("h2o"):
        assert targets["h2o"]["status"] == "skipped" and "apt-get install h2o" in targets["h2o"]["reason"]
    idx = results.summary_index(doc)
    for case in doc["cases"]:
        s = idx[(case["id"], "nginx")]
        assert s["ok_trials"] == 2 and s["trials"] == 2, s
        assert s["non_2xx"] == 0, s
    assert idx[("plaintext@c50", "nginx")]["metrics"]["cpu_us_per_req"]["median"] > 0
    assert idx[("memory-idle@c500", "nginx")]["metrics"]["mem_per_conn_bytes"]["median"] > 0
    assert idx[("fixed-work@c50", "nginx")]["metrics"]["wall_s"]["n"] == 2
    warm = [t for t in doc["trials"] if t["warmup"]]
    assert warm and all(t["case"] != "memory-idle@c500" for t in warm)
    assert doc["pinning"] == {**doc["pinning"], "server_cpu": 0, "loadgen_cpu": 1, "server_threads": 1}
    bigger = json.loads((run_dir / "benchmark-bigger.json").read_text())
    assert any(e["name"].startswith("plaintext@c50 nginx") for e in bigger)


def check_sane(s, what):
    """Figures outside these bounds mean a broken measurement, not a slow machine."""
    m = {k: v["median"] for k, v in s["metrics"].items()}
    if "rps" in m:
        assert 1e3 < m["rps"] < 2e7, (what, m)
    if "cpu_us_per_req" in m:
        assert 0.05 < m["cpu_us_per_req"] < 500, (what, m)
    if "p50_ms" in m and "p99_ms" in m:
        assert 0 < m["p50_ms"] <= m["p99_ms"] < 5000, (what, m)
    if "mem_per_conn_bytes" in m:
        assert 0 < m["mem_per_conn_bytes"] < 65536, (what, m)
    if "wall_s" in m:
        assert 0 < m["wall_s"] < 60, (what, m)


def check_clean(s, what):
    assert s["ok_trials"] == s["trials"] > 0, (what, s)
    assert s["non_2xx"] == 0 and s["socket_errors"] == 0, (what, s)
    assert not any(v for v in s["errors"].values()), (what, s)
    assert s["flags"] == [], (what, s)          # count_mismatch, failed trials, ...
    check_sane(s, what)


@needs_tools
def test_backend_path_with_real_server(tmp_path, real_build):
    built("io_uring")
    r = bench("--build-dir", str(real_build), "--profile", "plaintext,churn,memory-idle",
              "--connections", "10", "--duration", "1", "--warmup", "1", "--trials", "2",
              "--stats-interval", "0.5", "--out", str(tmp_path / "res"))
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = (tmp_path / "res" / "latest").resolve()
    doc = assert_complete(run_dir)
    t = {x["name"]: x for x in doc["targets"]}
    assert t["epoll"]["status"] == "ok" and t["epoll"]["exit_code"] == 0
    assert t["epoll"]["final_stats"]["backend"] == "epoll" and t["epoll"]["stats_blocks"] >= 2
    assert t["epoll"]["restarts"] == 1                      # fresh server for the 2nd memory trial
    assert t["io_uring"]["status"] == "skipped" and "Operation not permitted" in t["io_uring"]["reason"]
    assert t["kqueue"]["status"] == "skipped" and "Linux" in t["kqueue"]["reason"]
    assert t["poll"]["status"] == "skipped" and "make BACKEND=poll" in t["poll"]["reason"]
    trials = [x for x in doc["trials"] if x["case"] == "plaintext@c10" and not x["warmup"]]
    assert len(trials) == 2 and all(x["figures"]["requests_source"] == "metrics" for x in trials)
    for x in trials:                      # the server's count agrees with wrk's
        f = x["figures"]
        assert abs(f["server_requests"] - f["requests"]) <= 10 + 2, f
    for s in doc["summaries"]:
        if s["target"] == "epoll":
            check_clean(s, (s["case"], "epoll"))
    assert "skipped: backend io_uring" in r.stdout


@needs_tools
def test_bench_fails_when_a_target_dies(tmp_path, dying_build):
    """bench.py exits non-zero when a requested target failed (here: SIGKILLed mid-run)."""
    r = bench("--build-dir", str(dying_build), "--backend", "epoll", "--profile", "plaintext",
              "--connections", "10", "--duration", "1", "--warmup", "1", "--trials", "4",
              "--out", str(tmp_path / "res"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED target epoll: died during plaintext@c10" in r.stderr, r.stderr
    doc = json.loads(next((tmp_path / "res").glob("*/results.json")).read_text())
    (t,) = [x for x in doc["targets"] if x["name"] == "epoll"]
    assert t["status"] == "failed"


@pytest.mark.needs_server
@pytest.mark.skipif(not glob.glob(str(ROOT / "build/*/production_server")),
                    reason="no build/<backend>/production_server yet")
@needs_tools
def test_make_bench_smoke(tmp_path):
    """The users' entry point: make bench PROFILE=smoke (every available backend). Every
    backend built here must run (or be skipped because it exits 3 here), every trial must
    succeed with no errors, no non-2xx and no flag, and every figure must be sane."""
    r = subprocess.run(["make", "bench", "PROFILE=smoke", "TRIALS=1", f"OUT={tmp_path}"],
                       capture_output=True, text=True, timeout=170, cwd=ROOT,
                       env=dict(os.environ, MAKEFLAGS=""))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = assert_complete((tmp_path / "latest").resolve())
    ran = [t for t in doc["targets"] if t["kind"] == "backend" and t["status"] == "ok"]
    assert ran, doc["targets"]
    for t in doc["targets"]:
        assert t["status"] != "failed", t
        if t["status"] == "skipped":
            built_here = (ROOT / "build" / t["name"] / "production_server").exists()
            # a backend built here is skipped only when it cannot run here (exit 3)
            assert not built_here or t.get("exit_code") in (None, 3) and t.get("reason"), t
    for t in ran:
        assert t["exit_code"] == 0 and t["final_stats"] and not t["killed_after_timeout"], t
        assert not t.get("flags"), t
    cases = {c["id"] for c in doc["cases"] if c["status"] == "ok"}
    assert cases, doc["cases"]
    idx = results.summary_index(doc)
    for t in ran:
        for case in cases:
            check_clean(idx[(case, t["name"])], (case, t["name"]))
