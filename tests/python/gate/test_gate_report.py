"""Rendering of the gate's result: text table, Markdown, strict JSON, --render."""
import json
import math
import subprocess
import sys

import pytest

from perfgate import report as R
from perfgate import stats as S
from perfgate import verdict as V

from conftest import ROOT


@pytest.fixture
def result(rng, paired):
    cpu = S.compare_paired("cpu_us_per_req", *paired(rng, 10, 1.08, 0.01), unit="us/req")
    rps = S.compare_paired("rps", *paired(rng, 10, 1 / 1.08, 0.01), unit="req/s",
                           higher_is_better=True, gating=False)
    ins = S.compare_exact("instructions_per_req", [2027.5, 2027.5], [2047.8, 2047.8])
    small = S.compare_paired("cpu_us_per_req", [1.0] * 3, [1.1] * 3)      # unbounded / n<8
    comps = [("plaintext@c50/epoll", cpu), ("plaintext@c50/epoll", rps),
             ("callgrind/epoll", ins), ("pipeline@c32/epoll", small)]
    accepted = [{"commit": "0123456789abcdef", "subject": "Add access log",
                 "reason": "logging costs 8%, agreed in #42"}]
    d = V.decide(comps, accepted=accepted)
    return dict(d, schema=R.SCHEMA, comparisons=[dict(c.to_dict(), case=k) for k, c in comps],
                base={"describe": "1111111 base", "how": "merge-base of HEAD and main"},
                candidate={"describe": "working tree: 2222222 cand"},
                settings={"modes": ["wall", "det"], "scheme": "concurrent", "pairs": 10,
                          "warmup": 1, "duration": 2, "server_cpu": 0, "client_cpu": 1,
                          "threshold": 0.05, "confidence": 0.99, "det_requests": 5000,
                          "det_paths": ["/", "/json"], "det_threshold": 0.005},
                timing={"build_s": 10.0, "total_s": 100.0})


def test_table_reads_at_a_glance(result):
    t = R.render_table(result)
    assert t.splitlines()[0] == "vex_net perf gate: ACCEPTED REGRESSION (exit 0)"
    assert "logging costs 8%, agreed in #42" in t
    row = next(l for l in t.splitlines() if l.startswith("plaintext@c50/epoll  server CPU"))
    assert "REGRESSION" in row and "[" in row                     # ratio with its CI
    assert "1.0100 (exact)" in t or "1.0100" in t
    assert "[unbounded]" not in t                                 # n<8 -> no ratio at all
    assert "concurrent pairs, 10 x (1 s warm-up + 2 s), server CPU 0, wrk CPU 1" in t
    assert "* gating metric" in t


def test_markdown_for_a_pull_request(result):
    md = R.render_markdown(result)
    assert md.startswith("### ⚠️ vex_net perf gate: ACCEPTED REGRESSION")
    assert "| case | metric | base | candidate | ratio [99% CI] | verdict |" in md
    assert "**REGRESSION**" in md
    assert "**logging costs 8%, agreed in #42**" in md
    assert "Perf-Regression-Accepted: <reason>" in md
    assert "--pairs" in md                      # advice for the undecided case


def test_json_is_strict_and_round_trips(tmp_path, result):
    result["comparisons"][3]["ratio_ci"] = [-math.inf, math.inf]
    paths = R.write_all(result, tmp_path)
    text = (tmp_path / "verdict.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    assert data["verdict"] == "accepted-regression" and data["exit_code"] == 0
    assert data["comparisons"][3]["ratio_ci"] == [None, None]
    assert set(paths) == {"json", "markdown", "table"}
    assert (tmp_path / "summary.md").read_text().startswith("### ")


@pytest.mark.parametrize("verdict,code,word", [("regression", 1, "REGRESSION"),
                                                ("inconclusive", 2, "INCONCLUSIVE"),
                                                ("pass", 0, "PASS"),
                                                ("error", 2, "COULD NOT RUN")])
def test_render_cli_exit_status(tmp_path, verdict, code, word):
    p = tmp_path / "verdict.json"
    p.write_text(json.dumps({"verdict": verdict, "exit_code": code, "reason": "why",
                             "comparisons": []}))
    r = subprocess.run([sys.executable, str(ROOT / "ci" / "gate.py"), "--render", str(p)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == code
    assert r.stdout.startswith(f"vex_net perf gate: {word} (exit {code})")
