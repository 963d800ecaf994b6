"""ci/gate.py end to end where no load is needed: argument checks and could-not-run paths."""
import json
import subprocess
import sys

from conftest import ROOT

GATE = [sys.executable, str(ROOT / "ci" / "gate.py")]


def run(*args, timeout=120):
    return subprocess.run(GATE + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_help_and_bad_arguments():
    r = run("--help")
    assert r.returncode == 0 and "--base" in r.stdout and "Exit status" in r.stdout
    assert run("--modes", "bogus").returncode == 2
    assert run("--threshold", "2").returncode == 2


def test_missing_binary_is_exit_2_with_the_reason(tmp_path):
    r = run("--base-binary", "/nonexistent/production_server", "--candidate-binary",
            "/nonexistent/production_server", "--modes", "det", "--out", str(tmp_path), "-q")
    assert r.returncode == 2, r.stdout + r.stderr
    data = json.loads((tmp_path / "verdict.json").read_text())
    assert data["verdict"] == "error" and data["exit_code"] == 2
    assert "not executable" in data["reason"]
    assert (tmp_path / "summary.md").exists() and (tmp_path / "table.txt").exists()
    assert "COULD NOT RUN" in r.stdout


def test_unknown_base_ref_is_exit_2(tmp_path):
    r = run("--base", "no-such-ref-anywhere", "--out", str(tmp_path), "-q")
    assert r.returncode == 2
    assert "does not name a commit" in json.loads((tmp_path / "verdict.json").read_text())["reason"]


def test_accept_from_the_environment_is_recorded(tmp_path):
    import os
    env = dict(os.environ, PERF_REGRESSION_ACCEPTED="known 3% cost of the new limit")
    r = subprocess.run(GATE + ["--base-binary", "/nonexistent", "--candidate-binary",
                               "/nonexistent", "--modes", "det", "--out", str(tmp_path), "-q"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    data = json.loads((tmp_path / "verdict.json").read_text())
    assert data["accepted"][0]["reason"] == "known 3% cost of the new limit"
    assert r.returncode == 2          # acceptance never turns "could not run" into a pass
