"""History across commits (scripts/trend.py, vexbench.trend): runs in git commit order
(not run time), every trial of every run of a commit in its spread, filters, the plot."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT
from vexbench import results, trend


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_run(root, commit, started, cpu_values, rid_suffix=""):
    rid = f"{started.replace('-', '').replace(':', '')[:15]}Z-{commit[:7]}{rid_suffix}"
    trials = [{"target": "epoll", "case": "plaintext@c100", "warmup": False, "ok": True,
               "flags": [], "command": ["wrk"], "trial": i + 1,
               "figures": {"requests": 1000, "cpu_us_per_req": v, "non_2xx": 0, "socket_errors": 0,
                           "errors": {}, "rps": 1000.0 * v, "latency_ms": {"p99": v / 10}}}
              for i, v in enumerate(cpu_values)]
    doc = {"schema": results.SCHEMA, "run_id": rid, "started_utc": started, "finished_utc": started,
           "environment": {"kernel": "k", "cpu_model": "c", "cores": 2,
                           "git": {"commit": commit, "short": commit[:7], "dirty": False}},
           "options": {}, "pinning": {"server_cpu": 0, "loadgen_cpu": 1, "server_threads": 1},
           "targets": [{"name": "epoll", "kind": "backend", "status": "ok"}],
           "cases": [{"id": "plaintext@c100", "profile": "plaintext", "tool": "wrk",
                      "connections": 100, "duration_s": 1.0, "spec": {}, "status": "ok"}],
           "trials": trials, "summaries": results.summarize(trials), "hyperfine": {}}
    d = root / rid
    results.write(doc, d)
    return d


@pytest.fixture
def history(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commits = []
    for i in range(3):
        (repo / "f").write_text(str(i))
        git(repo, "add", "f")
        git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", f"c{i}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    runs = tmp_path / "results"
    # run times deliberately out of commit order; the middle commit has two runs
    make_run(runs, commits[2], "2026-01-01T00:00:00+00:00", [3.0, 3.2])
    make_run(runs, commits[0], "2026-01-03T00:00:00+00:00", [5.0, 5.5, 4.5])
    make_run(runs, commits[1], "2026-01-02T00:00:00+00:00", [4.0])
    make_run(runs, commits[1], "2026-01-04T00:00:00+00:00", [4.4, 3.6], rid_suffix="-b")
    (runs / "broken").mkdir()
    (runs / "broken" / "results.json").write_text("{}")
    return repo, runs, commits


def test_points_in_commit_order_with_pooled_spread(history):
    repo, runs, commits = history
    s = trend.collect(trend.find_runs(runs), metrics=["cpu_us_per_req", "p99_ms"], repo=repo)
    pts = s[("cpu_us_per_req", "plaintext@c100", "epoll")]
    assert [p.commit for p in pts] == commits
    assert [p.order for p in pts] == [0, 1, 2]
    assert pts[1].runs == 2 and sorted(pts[1].values) == [3.6, 4.0, 4.4] and pts[1].median == 4.0
    assert pts[0].median == 5.0 and min(pts[0].values) == 4.5 and max(pts[0].values) == 5.5
    assert s[("p99_ms", "plaintext@c100", "epoll")][2].median == pytest.approx(0.31)
    assert len(s["skipped"]) == 1 and "broken" in s["skipped"][0]
    assert trend.collect(trend.find_runs(runs), cases=["json@c16"], repo=repo).keys() == {"skipped"}


def test_cli_writes_plot_and_table(history, tmp_path):
    repo, runs, commits = history
    out = tmp_path / "t.png"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "trend.py"), str(runs), "--repo",
                        str(repo), "--metrics", "cpu_us_per_req,rps", "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("plaintext@c100 epoll cpu_us_per_req (µs/req)")
    assert [line.split()[0] for line in lines[i + 1:i + 4]] == [c[:7] for c in commits]
    assert out.stat().st_size > 10000
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "trend.py"), str(runs),
                          "--metrics", "bogus"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown metrics" in bad.stderr
    none = subprocess.run([sys.executable, str(ROOT / "scripts" / "trend.py"), str(tmp_path / "empty")],
                          capture_output=True, text=True, timeout=60)
    assert none.returncode == 2


def test_make_trend(history, tmp_path):
    repo, runs, commits = history
    out = tmp_path / "m.png"
    r = subprocess.run(["make", "-s", "--no-print-directory", "trend", f"RUNS={runs}",
                        "METRICS=cpu_us_per_req", f"TREND_OUT={out}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.exists() and "not in git history" in r.stdout   # commits of another repo
