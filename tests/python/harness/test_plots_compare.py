"""Plots, REPORT.md and compare.py on synthetic runs (no load needed)."""
import json
import subprocess
import sys

from vexbench_testlib import ROOT, make_doc
from vexbench import compare, plots, report, results

PY = sys.executable


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_all(tmp_path, synthetic_doc):
    made = dict((p.name, t) for t, p in plots.plot_all(synthetic_doc, tmp_path))
    assert set(made) == {"rps.png", "cpu_per_request.png", "latency.png", "sweep.png",
                         "memory_per_connection.png"}
    for name in made:
        w, h = _png_size(tmp_path / name)
        assert 500 <= w <= 2500 and 300 <= h <= 2500, (name, w, h)


def test_sweeps_detected(synthetic_doc):
    assert plots.sweeps(synthetic_doc) == {"plaintext": [100, 1000, 10000]}


def test_plot_cli_writes_report(tmp_path, synthetic_doc):
    run = tmp_path / synthetic_doc["run_id"]
    results.write(synthetic_doc, run)
    r = subprocess.run([PY, str(ROOT / "scripts/plot.py"), str(run)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    md = (run / "REPORT.md").read_text()
    for png in ("rps.png", "latency.png", "sweep.png", "cpu_per_request.png"):
        assert f"]({png})" in md and (run / png).exists()
    assert "| plaintext@c100 | epoll |" in md
    assert "kqueue" in md and "not available on Linux" in md      # skipped, with the reason
    assert "socket_errors=3" in md                                 # flagged, not averaged away
    assert "missing wrk: apt-get install wrk" in md


def test_summary_table(synthetic_doc):
    text = report.summary_table(synthetic_doc)
    assert "plaintext@c1000" in text and "io_uring" in text and "CPU µs/req" in text
    lines = [l for l in text.splitlines() if l.startswith("pipeline@c256")]
    assert [l.split()[1] for l in lines] == ["epoll", "io_uring", "nginx"]   # backends, then peers


def test_compare_logic():
    a = make_doc(seed=1)
    b = make_doc(seed=2, rps_scale={"io_uring": 1.5}, run_id="20250102T000000Z-def5678")
    rows = compare.compare(a, b, ["rps", "cpu_us_per_req"])
    uring = [x for x in rows if x["target_a"] == "io_uring" and x["metric"] == "rps"]
    assert uring and all(x["ratio"] > 1.3 and x["verdict"] == "B higher (better)" for x in uring)
    cpu = [x for x in rows if x["target_a"] == "io_uring" and x["metric"] == "cpu_us_per_req"]
    assert all(x["verdict"] == "B lower (better)" for x in cpu)
    same = [x for x in rows if x["target_a"] == "epoll" and x["metric"] == "rps"]
    assert all(0.7 < x["ratio"] < 1.3 for x in same)
    pairs = compare.compare(a, a, ["rps"], pairs=[("epoll", "io_uring")])
    assert pairs and all(x["target_b"] == "io_uring" for x in pairs)


def test_compare_cli(tmp_path):
    a = make_doc(seed=1)
    b = make_doc(seed=2, rps_scale={"epoll": 0.5}, run_id="20250102T000000Z-def5678")
    ra, rb = tmp_path / a["run_id"], tmp_path / b["run_id"]
    results.write(a, ra)
    results.write(b, rb)
    r = subprocess.run([PY, str(ROOT / "scripts/compare.py"), str(ra), str(rb)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "B/A" in r.stdout and "B lower (worse)" in r.stdout
    line = next(l for l in r.stdout.splitlines() if l.startswith("plaintext@c100") and " epoll " in l
                and " rps " in l)
    assert "0.5" in line or "0.4" in line
    r = subprocess.run([PY, str(ROOT / "scripts/compare.py"), str(ra), str(rb), "--json",
                        "--metrics", "rps"], capture_output=True, text=True, timeout=60)
    rows = json.loads(r.stdout)
    assert rows and {x["metric"] for x in rows} == {"rps"}


def test_clis_have_help():
    for script in ("bench.py", "plot.py", "compare.py"):
        r = subprocess.run([PY, str(ROOT / "scripts" / script), "--help"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and "usage:" in r.stdout, script
