"""scripts/soak.py: its pure parts (metrics and wrk parsing, drift, rates, the
wrk Lua scripts of each class, the drift window, the server's config, the
verdict, --help and argument errors; no server, no load) and two 3-second runs
against build/epoll (every class served, counted apart; a server that does not
compress is caught)."""
import argparse
import json
import os
import shutil
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
                 "socket_errors": 6, "uncompressed": 0, "errors": 13}
    r = soak.parse_wrk(WRK_OUT + "soak uncompressed: 5\n")
    assert r["uncompressed"] == 5 and r["errors"] == 18
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


def test_wrk_script_headers_and_the_encoding_check():
    lua = soak.wrk_script([("GET", "/text/1", "", {"Accept-Encoding": "br"})], check_encoding=True)
    assert 'wrk.format("GET", "/text/1", {["Accept-Encoding"] = "br"}, nil)' in lua
    # counted per thread in a global (thread:get reads globals), summed in done()
    assert "uncompressed = 0" in lua and "local uncompressed" not in lua
    assert 'n = n + t:get("uncompressed")' in lua
    assert 'soak uncompressed: %d' in lua
    assert "response = function" not in soak.wrk_script(soak.MIX)   # no Lua per response


def test_classes_mixes_and_connections():
    assert {m[3]["Accept-Encoding"] for m in soak.COMPRESSED_MIX} == {"gzip", "br", "zstd"}
    # every compressed-class request qualifies: a text type of at least the 1024-byte minimum
    assert all(m[1].startswith(("/text/", "/static/soak.txt")) for m in soak.COMPRESSED_MIX)
    assert soak.CLASSES["tls"][0] == "https" and soak.MIX[0] in soak.TLS_MIX
    assert any(m[3:] == ({"Connection": "close"},) for m in soak.TLS_MIX)   # new handshakes
    a = argparse.Namespace(connections=16, compressed_connections=0, tls_connections=4)
    assert [(c[0], c[1], c[4]) for c in soak.classes_for(a)] == [("plain", "http", 16),
                                                                 ("tls", "https", 4)]


def test_server_config():
    assert soak.server_config(None, None, None) == "listen:\n  - 127.0.0.1:0\n"
    c = soak.server_config(0, "/c.pem", "/k.pem")
    assert 'tls: true, certificate: "/c.pem", key: "/k.pem"' in c and c.count("port") == 1


def test_add_rates():
    s = [{"t": 0.0, "vex_requests_total": 0, "vex_tls_handshakes_total": 0},
         {"t": 2.0, "vex_requests_total": 10, "vex_tls_handshakes_total": 4}]
    soak.add_rates(s)
    assert "rate_requests" not in s[0]
    assert s[1]["rate_requests"] == 5.0 and s[1]["rate_tls_handshakes"] == 2.0
    assert s[1]["rate_gzip"] is None             # counter absent: no rate, no crash


def test_verdict():
    ok = {"exit_code": 0, "fds_baseline": 15, "fds_after": 15,
          "wrk": {"plain": {"uncompressed": 0}, "compressed": {"uncompressed": 0}}}
    assert soak.verdict(ok) == (True, [])
    bad = dict(ok, exit_code=1, fds_after=16, wrk={"compressed": {"uncompressed": 3}})
    good, why = soak.verdict(bad)
    assert not good and why == ["server exit code 1", "fds 15 -> 16",
                                "3 compressed-class responses without Content-Encoding"]


def test_bad_connection_counts():
    for arg, msg in (("--connections=0", "--connections must be at least 1"),
                     ("--tls-connections=-1", "must be 0 or more")):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), arg],
                           capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


# ---- short real runs ----------------------------------------------------------
BINARY = os.path.join(ROOT, "build", "epoll", "production_server")
real = pytest.mark.skipif(not (os.access(BINARY, os.X_OK) and shutil.which("wrk")
                               and shutil.which("openssl")),
                          reason="needs build/epoll/production_server (make), wrk and openssl")


def run_soak(tmp_path, *extra):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--duration", "3",
                        "--connections", "4", "--compressed-connections", "2",
                        "--tls-connections", "2", "--out", str(tmp_path), *extra],
                       capture_output=True, text=True, timeout=60)
    with open(tmp_path / "soak.json") as f:
        return r, json.load(f)


@real
def test_short_run_serves_every_class_apart(tmp_path):
    r, res = run_soak(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(res["wrk"]) == {"plain", "compressed", "tls"}
    for name, w in res["wrk"].items():
        assert w["requests"] > 0 and w["non2xx"] == 0 and w["uncompressed"] == 0, (name, w)
    tot = res["totals_final"]
    comp = sum(tot['vex_compressed_responses_total{encoding="%s"}' % c] for c in soak.CODINGS)
    # the compressed class all compressed, plus the tls class's gzip /text (one in 7)
    assert comp >= res["wrk"]["compressed"]["requests"]
    assert all(tot['vex_compressed_responses_total{encoding="%s"}' % c] > 0 for c in soak.CODINGS)
    # a handshake per connection, and one more after each Connection: close (1 in 7)
    assert tot["vex_tls_handshakes_total"] >= res["wrk"]["tls"]["requests"] // 7 > 0
    assert res["fds_after"] == res["fds_baseline"]
    for k in ("rss", "fds", "rate_requests", "rate_tls_handshakes", "rate_gzip"):
        assert res["drift"][k] is not None, k
    assert os.path.getsize(tmp_path / "soak.png") > 10000
    assert "soak epoll tls:" in r.stdout and "soak epoll compressed:" in r.stdout


@real
def test_short_run_fails_when_the_server_does_not_compress(tmp_path):
    r, res = run_soak(tmp_path, "--server-arg=--compression", "--server-arg=off")
    assert r.returncode == 1
    assert res["wrk"]["compressed"]["uncompressed"] == res["wrk"]["compressed"]["requests"] > 0
    assert "compressed-class responses without Content-Encoding" in r.stderr
