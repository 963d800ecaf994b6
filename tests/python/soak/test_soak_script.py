"""The pure parts of scripts/soak.py: metrics and wrk parsing, drift, rates,
the wrk Lua script, the drift window, and --help/argument errors. Fast: no
server, no load."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import soak  # noqa: E402

WRK_OUT = """Running 8s test @ http://127.0.0.1:1/
  1 threads and 16 connections
  Latency Distribution
     50%  259.00us
     75%  400.00us
     90%    1.20ms
     99%   15.36ms
  352211 requests in 8.02s, 1.2GB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  43904.20
"""


def test_parse_metrics_skips_comments_and_keeps_labels():
    m = soak.parse_metrics("# HELP x y\n# TYPE x counter\nvex_errors_total 3\n"
                           'vex_responses_total{class="5xx"} 0\n\nvex_uptime_seconds 1.500\n')
    assert m == {"vex_errors_total": 3.0, 'vex_responses_total{class="5xx"}': 0.0,
                 "vex_uptime_seconds": 1.5}


def test_parse_wrk():
    r = soak.parse_wrk(WRK_OUT)
    assert r == {"requests": 352211, "rps": 43904.2, "p99_ms": 15.36, "non2xx": 7,
                 "socket_errors": 6}
    assert soak.parse_wrk("     99%  900.00us\n")["p99_ms"] == pytest.approx(0.9)
    assert soak.parse_wrk("")["p99_ms"] is None


def test_drift_last_window_against_first():
    samples = [{"t": float(t), "rss": 100 + (10 if t >= 8 else 0)} for t in range(12)]
    d = soak.drift(samples, "rss", 3)
    assert d["first"] == 100 and d["last"] == 110
    assert d["change"] == 10 and d["change_pct"] == pytest.approx(10.0)
    assert soak.drift([], "rss", 3) is None
    assert soak.drift([{"t": 0.0, "fds": 0}], "fds", 3)["change_pct"] is None


def test_rates_of_a_counter():
    s = [{"t": 0.0, "n": 0}, {"t": 1.0, "n": 100}, {"t": 3.0, "n": 300}, {"t": 4.0, "n": None}]
    assert soak.rates(s, "n") == [100.0, 100.0, None]


def test_window_for():
    assert soak.window_for(600) == 60
    assert soak.window_for(120) == 30
    assert soak.window_for(2) == 1


def test_wrk_script_cycles_the_mix_built_in_init():
    lua = soak.wrk_script([("GET", "/", ""), ("POST", "/echo", "ab")])
    assert 'wrk.format("GET", "/", nil, nil)' in lua
    assert 'wrk.format("POST", "/echo", nil, "ab")' in lua
    assert "Content-Length" not in lua          # wrk.format adds it; two would be a 400
    assert lua.index("init = function") < lua.index("wrk.format")
    assert "i = i % #reqs + 1" in lua


def test_help_and_bad_duration():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--duration" in r.stdout and "default 600" in r.stdout
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--duration", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--duration must be positive" in r.stderr
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--duration", "1",
                        "--binary", "/nonexistent/production_server"], capture_output=True, text=True)
    assert r.returncode == 1 and "no /nonexistent/production_server" in r.stderr
