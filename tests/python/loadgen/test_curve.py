"""Latency-throughput curves end to end (bench.py, profile tool "curve") and the SLO
figure's rule."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT
from vexbench import curve, plots, results


def test_slo_rate_counts_up_and_stops_at_the_first_miss():
    lv = [{"pct": p, "offered_rps": p * 100.0, "p99_ms": v, "error_total": e}
          for p, v, e in ((10, 0.2, 0), (25, 0.4, 0), (50, 1.5, 0), (75, 0.9, 0), (100, 9, 0))]
    assert curve.slo_rate(lv, 1.0) == (2500.0, 25)         # 75% is under again: not counted
    assert curve.slo_rate(lv, 0.1) == (None, None)
    lv[0]["error_total"] = 3                                # errors fail a level
    assert curve.slo_rate(lv, 1.0) == (None, None)


def test_curve_run_end_to_end(tmp_path):
    binary = ROOT / "build" / "epoll" / "production_server"
    if not binary.exists() or not (ROOT / "build" / "epoll" / "vex_loadgen").exists():
        pytest.skip("needs build/epoll/production_server and vex_loadgen (make BACKEND=epoll)")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--backend", "epoll",
                        "--profile", "curve-smoke", "--out", str(tmp_path), "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink())
    doc = results.load(run_dir)
    ids = {c["id"] for c in doc["cases"]}
    assert {"latency-curve@c8", "latency-curve@c8@max", "latency-curve@c8@L25",
            "latency-curve@c8@L100"} <= ids
    (c,) = doc["curves"]
    assert c["target"] == "epoll" and c["slo_ms"] == 1.0 and c["max_rps"] > 1000
    assert [x["pct"] for x in c["levels"]] == [25.0, 100.0]
    for x in c["levels"]:
        assert x["offered_rps"] == pytest.approx(c["max_rps"] * x["pct"] / 100, rel=1e-3)
        # the open loop sent its whole schedule; each was answered or counted as an error
        assert abs(x["requests"] + x["error_total"] - x["offered_rps"] * 1.0) <= 2
        assert x["p50_ms"] <= x["p99_ms"] <= x["p99.9_ms"] <= x["max_ms"]
    assert c["slo_rps"] in (None, *[x["offered_rps"] for x in c["levels"]])
    level_trials = [t for t in doc["trials"] if t["case"].endswith("@L25")]
    assert level_trials and level_trials[0]["command"][3].endswith("vex_loadgen")
    assert level_trials[0]["figures"]["histogram"]["layout"] == "log-linear/v1"
    png = plots.plot_curves(doc, tmp_path)
    assert png and png.stat().st_size > 10000
    md = (tmp_path / "x.md")
    from vexbench import report
    md.write_text(report.markdown(doc, []))
    assert "Latency against offered load" in md.read_text()
