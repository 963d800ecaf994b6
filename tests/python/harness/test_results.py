"""Results schema, summaries, flat files, the run folder."""
import copy
import json

import pytest

from vexbench_testlib import make_doc
from vexbench import results, stats


def test_summaries_median_and_spread(synthetic_doc):
    idx = results.summary_index(synthetic_doc)
    s = idx[("plaintext@c100", "epoll")]
    v = s["metrics"]["rps"]
    assert v["n"] == 3 and v["min"] <= v["median"] <= v["max"]
    assert v["spread_pct"] == pytest.approx((v["max"] - v["min"]) / v["median"] * 100)
    assert "cpu_us_per_req" in s["metrics"] and "p99.99_ms" in s["metrics"]


def test_errors_are_summed_and_flagged(synthetic_doc):
    s = results.summary_index(synthetic_doc)[("churn@c50", "nginx")]
    assert s["socket_errors"] == 3 and s["errors"]["read"] == 3
    assert "socket_errors=3" in s["flags"]


def test_warmups_and_failures_not_counted():
    t = [{"target": "a", "case": "c", "warmup": True, "ok": True, "flags": [],
          "figures": {"rps": 1.0, "non_2xx": 0, "socket_errors": 0, "errors": {}}},
         {"target": "a", "case": "c", "warmup": False, "ok": True, "flags": [],
          "figures": {"rps": 10.0, "non_2xx": 0, "socket_errors": 0, "errors": {}}},
         {"target": "a", "case": "c", "warmup": False, "ok": False, "flags": ["tool_failed"],
          "error": "boom", "figures": {}}]
    (s,) = results.summarize(t)
    assert s["metrics"]["rps"]["values"] == [10.0]
    assert s["trials"] == 2 and s["ok_trials"] == 1
    assert "failed_trials=1" in s["flags"] and "tool_failed" in s["flags"]


def test_validate_rejects_broken_docs(synthetic_doc):
    for breaker in (lambda d: d.pop("environment"),
                    lambda d: d.__setitem__("schema", "other/9"),
                    lambda d: d["targets"][0].__setitem__("status", "meh"),
                    lambda d: d["targets"][-1].pop("reason"),
                    lambda d: d["trials"][0].__setitem__("case", "nope@c1"),
                    lambda d: d["pinning"].pop("server_cpu")):
        d = copy.deepcopy(synthetic_doc)
        breaker(d)
        with pytest.raises(results.SchemaError):
            results.validate(d)


def test_write_load_latest_and_flat_files(tmp_path, synthetic_doc):
    run_dir = tmp_path / synthetic_doc["run_id"]
    results.write(synthetic_doc, run_dir)
    link = results.update_latest(run_dir)
    assert link.is_symlink() and link.resolve() == run_dir.resolve()
    assert results.load(link) == json.loads((run_dir / "results.json").read_text())
    bigger = json.loads((run_dir / "benchmark-bigger.json").read_text())
    smaller = json.loads((run_dir / "benchmark-smaller.json").read_text())
    assert bigger and smaller
    for e in bigger + smaller:
        assert set(e) >= {"name", "unit", "value"} and isinstance(e["value"], (int, float))
    assert any(e["unit"] == "req/s" for e in bigger)
    assert {e["unit"] for e in smaller} >= {"µs/req", "ms", "B/conn", "s"}
    # a second run moves latest
    d2 = make_doc(run_id="20250102T000000Z-abc1234")
    r2 = tmp_path / d2["run_id"]
    results.write(d2, r2)
    results.update_latest(r2)
    assert (tmp_path / "latest").resolve() == r2.resolve()


def test_run_id_format():
    import datetime as dt
    when = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
    assert results.run_id("abc1234", when) == "20250304T050607Z-abc1234"


def test_ratio_uncertainty():
    a = stats.summarize([100, 102, 98])
    b = stats.summarize([120, 118, 122])
    r = stats.ratio(a, b)
    assert r["ratio"] == pytest.approx(1.2)
    assert r["low"] == pytest.approx(118 / 102) and r["high"] == pytest.approx(122 / 98)
    assert 0 < r["p_value"] <= 0.1
    assert stats.summarize([None, float("nan")]) is None
