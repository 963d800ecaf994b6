"""`make gate` returns the documented exit status (0 pass, 1 regression, 2 could not
decide or run) through make itself, not make's own 2 for any failed recipe."""
import json
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.parametrize("verdict,code", [("pass", 0), ("regression", 1),
                                          ("inconclusive", 2), ("error", 2)])
def test_make_gate_exit_status_is_the_gates(tmp_path, verdict, code):
    p = tmp_path / "verdict.json"
    p.write_text(json.dumps({"verdict": verdict, "exit_code": code, "reason": "why",
                             "comparisons": []}))
    r = subprocess.run(["make", "-s", "--no-print-directory", "gate", "GATE_DEPS=0",
                        f"GATE_ARGS=--render {p}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == code, r.stdout + r.stderr
    assert f"(exit {code})" in r.stderr          # the gate's own table, shown live


def test_make_gate_crash_of_the_script_is_2_not_1(tmp_path):
    # a verdict file that is not JSON makes --render raise: exit 2, not a "regression"
    p = tmp_path / "verdict.json"
    p.write_text("{not json")
    r = subprocess.run(["make", "-s", "--no-print-directory", "gate", "GATE_DEPS=0",
                        f"GATE_ARGS=--render {p}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
