"""Every parser on real captured outputs (fixtures/README.md says how they were made)."""
import math

import pytest

from vexbench import ab, hyperfine, metrics, peers, procstats, stats_block, wrk


# ------------------------------------------------------------------ wrk
def test_wrk_report_lua_json(fixture_text):
    out = fixture_text("wrk_plaintext_c100.txt")
    data = wrk.parse_json_line(out)
    assert data["requests"] == 54513
    assert data["errors"] == {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    assert set(data["latency_us"]["percentiles"]) == {"50", "75", "90", "99", "99.9", "99.99"}
    assert data["latency_us"]["reachable_pct"] == 100
    f = wrk.figures(out)
    assert f["source"] == "report.lua"
    assert f["rps"] == pytest.approx(54513 / (data["duration_us"] / 1e6))
    p = [f["latency_ms"][k] for k in ("p50", "p75", "p90", "p99", "p99.9", "p99.99")]
    assert p == sorted(p) and p[0] > 0 and p[-1] <= f["latency_ms"]["max"]
    assert f["non_2xx"] == 0 and f["socket_errors"] == 0 and f["latency_invalid"] == []


def test_wrk_json_agrees_with_text_summary(fixture_text):
    for name in ("wrk_plaintext_c100.txt", "wrk_pipeline16.txt", "wrk_echo4k.txt"):
        out = fixture_text(name)
        j, t = wrk.parse_json_line(out), wrk.parse_text(out)
        assert j["requests"] == t["requests"], name
        for q in ("50", "75", "90", "99"):
            # text rounds to 2 decimals of its unit
            assert j["latency_us"]["percentiles"][q] == pytest.approx(t["latency_us"]["percentiles"][q], rel=0.01, abs=10)
        assert t["rps"] == pytest.approx(j["requests"] / (j["duration_us"] / 1e6), rel=0.01)


def test_wrk_text_only(fixture_text):
    f = wrk.figures(fixture_text("wrk_text_latency.txt"))
    assert f["source"] == "text"
    assert f["requests"] == 46638
    assert f["latency_ms"]["p50"] == pytest.approx(0.364)
    assert f["latency_ms"]["p99"] == pytest.approx(8.15)
    assert f["latency_ms"]["mean"] == pytest.approx(1.51)
    assert "p99.9" not in f["latency_ms"]
    assert f["bytes"] == int(6.85 * 1024 ** 2)


def test_wrk_status_errors(fixture_text):
    out = fixture_text("wrk_status_errors.txt")
    f = wrk.figures(out)
    assert f["non_2xx"] == 27491 == f["requests"]
    assert wrk.parse_text(out)["errors"]["status"] == 27491


def test_wrk_socket_errors(fixture_text):
    out = fixture_text("wrk_socket_errors.txt")
    f = wrk.figures(out)
    assert f["requests"] == 0 and f["rps"] == 0
    assert f["errors"]["read"] == 34088 and f["socket_errors"] == 34088
    assert wrk.parse_text(out)["errors"]["read"] == 34088


def test_wrk_rescaled_percentiles(fixture_text):
    """wrk's coordinated-omission correction lost mass below min: report.lua reads the
    percentiles over the reachable 99.13 % (wrk's own percentile(99.99) returned 0)."""
    out = fixture_text("wrk_pipeline_rescaled.txt")
    f = wrk.figures(out)
    assert f["latency_reachable_pct"] == pytest.approx(99.1282)
    p = [f["latency_ms"][k] for k in ("p50", "p75", "p90", "p99", "p99.9", "p99.99")]
    assert all(v > 0 for v in p) and p == sorted(p)
    from vexbench.trial import _flags, _notes
    assert _flags(dict(f, requests=1), 256, 16) == []
    assert any(x.startswith("wrk_latency_rescaled=99.1") for x in _notes(f)), _notes(f)


def test_wrk_zero_percentile_is_unknown(fixture_text):
    """Output of the first report.lua (before rescaling): zeros become None, flagged."""
    f = wrk.figures(fixture_text("wrk_zero_percentile_old_script.txt"))
    assert f["latency_ms"]["p99"] is None and f["latency_ms"]["p50"] == pytest.approx(10.964)
    assert f["latency_invalid"] == ["p99", "p99.9", "p99.99"]


def test_wrk_no_summary():
    with pytest.raises(ValueError):
        wrk.figures("unable to connect to 127.0.0.1:1 Connection refused\n")


# ------------------------------------------------------------------ ab
def test_ab_keepalive(fixture_text):
    f = ab.figures(fixture_text("ab_keepalive.txt"), fixture_text("ab_keepalive.csv"))
    t = ab.parse_text(fixture_text("ab_keepalive.txt"))
    assert f["requests"] == t["complete"] > 0
    assert t["keepalive_requests"] == t["complete"]
    assert f["rps"] == t["rps"] > 0
    assert f["latency_ms"]["p50"] == pytest.approx(0.144)
    assert f["latency_ms"]["p50"] <= f["latency_ms"]["p90"] <= f["latency_ms"]["p99"] <= f["latency_ms"]["max"]
    assert f["non_2xx"] == 0 and f["socket_errors"] == 0


def test_ab_csv_all_percentiles(fixture_text):
    pct = ab.parse_csv(fixture_text("ab_churn.csv"))
    assert sorted(pct) == list(range(101))
    assert all(pct[i] <= pct[i + 1] for i in range(100))


def test_ab_churn_no_keepalive(fixture_text):
    t = ab.parse_text(fixture_text("ab_churn.txt"))
    assert t["keepalive_requests"] == 0 and t["complete"] == 3000 and t["failed"] == 0
    assert t["percentiles_ms"][50] >= 0 and 100 in t["percentiles_ms"]


def test_ab_non2xx(fixture_text):
    f = ab.figures(fixture_text("ab_non2xx.txt"), fixture_text("ab_non2xx.csv"))
    assert f["non_2xx"] == 500 and f["errors"]["status"] == 500 and f["socket_errors"] == 0


def test_ab_socket_errors(fixture_text):
    f = ab.figures(fixture_text("ab_socket_errors.txt"), fixture_text("ab_socket_errors.csv"))
    assert f["errors"]["read"] == 200 and f["errors"]["exceptions"] == 200
    assert f["socket_errors"] == 400


# ------------------------------------------------------------------ hyperfine
def test_hyperfine_export_and_output(fixture_text):
    rows = hyperfine.parse_export(fixture_text("hyperfine_fixed_work.json"))
    assert rows[0]["command"] == "nginx" and len(rows[0]["times_s"]) == 2
    f = hyperfine.figures(fixture_text("hyperfine_fixed_work.json"), 3000,
                          fixture_text("hyperfine_fixed_work_stdout.txt"))
    assert f["ab_runs_parsed"] == 2 and f["requests"] == 6000
    assert f["rps"] == pytest.approx(3000 / rows[0]["median_s"])
    assert f["wall_s"]["min_s"] <= f["wall_s"]["median_s"] <= f["wall_s"]["max_s"]
    assert f["non_2xx"] == 0 and f["socket_errors"] == 0


# ------------------------------------------------------------------ stats block
def test_stats_blocks(fixture_text):
    blocks = stats_block.parse_blocks(fixture_text("server_stats_block.txt"))
    assert len(blocks) == 2
    b = blocks[-1]
    assert b["backend"] == "io_uring"
    assert b["threads"] == 1 and isinstance(b["threads"], int)
    assert b["uptime_s"] == 10.0 and isinstance(b["uptime_s"], float)
    assert b["requests_total"] == 567890
    assert b["requests_sec"] == 56789.0
    assert b["responses_2xx"] == 567890 and b["rejected_connections"] == 0
    assert b["latency_p50_ms"] == pytest.approx(0.021) and b["latency_p99_ms"] == pytest.approx(0.18)
    assert stats_block.last_block(fixture_text("server_stats_block.txt")) == b


def test_stats_block_incomplete_and_unknown_lines():
    text = ("noise\n=== SERVER STATISTICS ===\nBackend: epoll\nNew counter: 5\nQueue depth: 1.5 µs\n"
            "=========================\n=== SERVER STATISTICS ===\nBackend: cut off\n")
    blocks = stats_block.parse_blocks(text)
    assert blocks == [{"backend": "epoll", "new_counter": 5, "queue_depth_us": 1.5}]


# ------------------------------------------------------------------ /metrics
def test_metrics_sample(fixture_text):
    s = metrics.parse(fixture_text("metrics_sample.txt"))
    assert s.get("vex_requests_total") == 567890
    assert s.get("vex_responses_total", **{"class": "2xx"}) == 567890
    assert s.get("vex_responses_total", **{"class": "5xx"}) == 0
    assert s.types["vex_request_duration_seconds"] == "histogram"
    assert s.family_type("vex_request_duration_seconds_bucket") == "histogram"
    assert s.family_type("vex_connections_active") == "gauge"
    b = metrics.histogram_buckets(s.as_dict(), "vex_request_duration_seconds")
    assert b[-1] == (math.inf, 567890)
    p50 = metrics.histogram_quantile(0.5, b)
    assert 1e-05 < p50 <= 2.5e-05
    assert metrics.histogram_quantile(0.999, b) <= 0.001


def test_metrics_generic_syntax():
    text = ('# HELP x_total A "quoted" help\n# TYPE x_total counter\n'
            'x_total{path="/a\\"b",le="0.5",empty=""} 1.5e3 1700000000000\n'
            'g NaN\nh +Inf\ni -Inf\nlabels_trailing_comma{a="1",} 2\n\n')
    s = metrics.parse(text)
    x = s.samples[0]
    assert x.name == "x_total" and x.value == 1500.0 and x.timestamp == 1700000000000
    assert dict(x.labels) == {"path": '/a"b', "le": "0.5", "empty": ""}
    assert math.isnan(s.get("g")) and s.get("h") == math.inf and s.get("i") == -math.inf
    assert s.get("labels_trailing_comma", a=1) == 2
    assert s.help["x_total"] == 'A "quoted" help'
    with pytest.raises(metrics.ParseError):
        metrics.parse("bad line without value\n")


def test_metrics_delta():
    a = metrics.parse("# TYPE r_total counter\nr_total 10\n# TYPE g gauge\ng 5\n")
    b = metrics.parse("# TYPE r_total counter\nr_total 25\n# TYPE g gauge\ng 7\n")
    assert metrics.delta(a, b) == {"r_total": 15, "g": 7}


# ------------------------------------------------------------------ nginx stub_status, /proc
def test_stub_status():
    text = ("Active connections: 3 \nserver accepts handled requests\n 16 16 31 \n"
            "Reading: 0 Writing: 1 Waiting: 2 \n")
    assert peers.parse_stub_status(text) == {"active": 3, "accepts": 16, "handled": 16,
                                             "requests": 31, "reading": 0, "writing": 1,
                                             "waiting": 2}


def test_proc_stat_with_odd_comm():
    line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 50"
    st = procstats.parse_stat(line)
    assert st == {"state": "S", "ppid": 1, "utime": 250, "stime": 75, "num_threads": 3}


def test_proc_snapshot_of_self():
    import os
    s = procstats.snapshot(os.getpid(), include_children=False)
    assert s.rss_bytes > 0 and s.hwm_bytes >= s.rss_bytes and s.threads >= 1
    assert s.ctx_voluntary + s.ctx_involuntary > 0


# ------------------------------------------------------------------ real production_server captures
def test_real_server_stdout(fixture_text):
    text = fixture_text("server_stdout_real_io_uring.txt")
    blocks = stats_block.parse_blocks(text)
    assert len(blocks) == 2
    b = blocks[-1]
    assert b["backend"] == "io_uring" and b["requests_total"] == 21295
    assert b["responses_2xx"] + b["responses_4xx"] == b["requests_total"]
    assert isinstance(b["uptime_s"], float) and isinstance(b["syscalls"], int)


def test_real_server_metrics(fixture_text):
    s = metrics.parse(fixture_text("metrics_real_io_uring.txt"))
    assert s.get("vex_requests_total") == 21294
    total = sum(s.get("vex_responses_total", **{"class": c}) for c in ("2xx", "3xx", "4xx", "5xx"))
    assert total == s.get("vex_requests_total")
    b = metrics.histogram_buckets(s.as_dict(), "vex_request_duration_seconds")
    assert b[-1][1] == s.get("vex_request_duration_seconds_count")
    assert 0 < metrics.histogram_quantile(0.5, b) <= 1e-06
    for name in ("vex_connections_total", "vex_connections_active", "vex_bytes_received_total",
                 "vex_bytes_sent_total", "vex_errors_total", "vex_timeouts_total",
                 "vex_connections_rejected_total", "vex_loop_syscalls_total", "vex_draining",
                 "vex_uptime_seconds"):
        assert s.get(name) is not None, name
