"""The log-linear histogram (bench/loadgen/hist.c and scripts/vexbench/histogram.py):
layout, <=1% error from 1 µs to 1 min, C and Python agree bucket for bucket, percentiles of
synthetic delays, exact merges, wrk's buckets."""
import json
import subprocess

import numpy as np
import pytest

from vexbench import histogram as H
from vexbench.histogram import Histogram


def exact(values, q):
    """Nearest-rank percentile of the samples themselves."""
    return float(np.percentile(np.asarray(values), q, method="inverted_cdf"))


def c_histogram(loadgen, values):
    r = subprocess.run([str(loadgen), "--record-values"], input="\n".join(map(str, values)) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_layout_covers_1us_to_1min_within_1_percent():
    assert H.BUCKETS == 3841
    vals = np.unique(np.geomspace(1_000, 60e9, 20000).astype(np.int64))
    for v in vals:
        i = H.index(int(v))
        lo, hi = H.bounds(i)
        assert lo <= v < hi
        assert (hi - lo) / lo <= 1 / 128 + 1e-12
        mid = lo + (hi - 1 - lo) / 2
        assert abs(mid - v) / v <= 0.01
    # bucket edges are contiguous and increasing, the last is the overflow
    prev_hi = 0
    for i in range(H.BUCKETS - 1):
        lo, hi = H.bounds(i)
        assert lo == prev_hi and hi > lo
        prev_hi = hi
    assert H.index(2 ** 36) == H.BUCKETS - 1 and H.index(10 ** 15) == H.BUCKETS - 1


def test_c_and_python_agree_bucket_for_bucket(loadgen_epoll):
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(np.log(200_000), 1.0, 20000),   # ~200 µs
                             rng.uniform(0, 300, 500),                        # < 1 µs
                             [1, 127, 128, 129, 2 ** 36 - 1, 2 ** 36, 7 * 10 ** 10]]).astype(np.int64)
    c = c_histogram(loadgen_epoll, values.tolist())
    py = Histogram.from_samples(values.tolist())
    assert c["histogram"]["counts"] == py.counts
    assert c["histogram"]["total"] == len(values) == py.total
    assert c["histogram"]["min"] == py.min and c["histogram"]["max"] == py.max
    ch = Histogram.from_json(c["histogram"])
    for q, key in ((50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9")):
        assert ch.percentile(q) == pytest.approx(py.percentile(q))
        assert c["latency_ns"][key] == pytest.approx(py.percentile(q), rel=1e-6, abs=1e-3)


@pytest.mark.parametrize("q", [50, 75, 90, 99, 99.9, 99.99])
def test_percentiles_of_synthetic_delays_within_1_percent(loadgen_epoll, q):
    rng = np.random.default_rng(11)
    # a bimodal service: 97% near 300 µs, 3% near 40 ms, and a tail to 20 s
    values = np.concatenate([rng.normal(300_000, 30_000, 97000), rng.normal(40e6, 4e6, 2900),
                             rng.uniform(1e9, 20e9, 100)]).clip(1_000).astype(np.int64)
    rng.shuffle(values)
    c = Histogram.from_json(c_histogram(loadgen_epoll, values.tolist())["histogram"])
    assert c.percentile(q) == pytest.approx(exact(values, q), rel=0.01)


def test_known_percentiles_exactly():
    # 980 samples of 1 ms and 20 of 1 s: p50 and p98 are 1 ms, p99 and up 1 s
    h = Histogram.from_samples([10 ** 6] * 980 + [10 ** 9] * 20)
    assert h.percentile(50) == pytest.approx(1e6, rel=0.004)
    assert h.percentile(98) == pytest.approx(1e6, rel=0.004)
    assert h.percentile(99) == pytest.approx(1e9, rel=0.004)
    assert h.percentile(100) == 1e9                       # clamped to the exact max
    assert h.percentile(0) == pytest.approx(1e6, rel=0.004)
    assert Histogram().percentile(99) == 0.0


def test_merge_equals_pooled_samples(loadgen_epoll):
    rng = np.random.default_rng(3)
    parts = [rng.lognormal(np.log(m), 0.5, n).astype(np.int64)
             for m, n in ((100_000, 30000), (2_000_000, 5000), (50_000, 20000))]
    hs = [Histogram.from_json(c_histogram(loadgen_epoll, p.tolist())["histogram"]) for p in parts]
    merged = Histogram.merged(hs)
    pooled_values = np.concatenate(parts)
    pooled = Histogram.from_samples(pooled_values.tolist())
    assert merged.counts == pooled.counts and merged.total == pooled.total
    assert merged.min == pooled.min and merged.max == pooled.max
    for q in (50, 90, 99, 99.9):
        assert merged.percentile(q) == pooled.percentile(q)
        assert merged.percentile(q) == pytest.approx(exact(pooled_values, q), rel=0.01)
    # averaging the parts' percentiles, what the merge replaces, is far off here
    avg_p99 = np.mean([h.percentile(99) for h in hs])
    assert abs(avg_p99 - exact(pooled_values, 99)) / exact(pooled_values, 99) > 0.2


def test_wrk_buckets_convert_exactly():
    pairs = [[17, 1], [18, 4], [250, 10], [1_000_000, 2]]    # µs, count (wrk's done())
    w = Histogram.from_wrk_buckets(pairs)
    s = Histogram.from_samples([us * 1000 for us, c in pairs for _ in range(c)])
    assert w.counts == s.counts and w.total == 17 and w.max == 10 ** 9


def test_json_round_trip_and_bad_layouts():
    h = Histogram.from_samples([5, 5000, 5_000_000])
    assert Histogram.from_json(json.loads(json.dumps(h.to_json()))).counts == h.counts
    bad = h.to_json()
    bad["sub_bucket_bits"] = 6
    with pytest.raises(H.HistogramError):
        Histogram.from_json(bad)
    short = h.to_json()
    short["counts"] = short["counts"][:-1]
    with pytest.raises(H.HistogramError):
        Histogram.from_json(short)
    wrong_total = h.to_json()
    wrong_total["total"] = 4
    with pytest.raises(H.HistogramError):
        Histogram.from_json(wrong_total)


def test_record_values_rejects_bad_input(loadgen_epoll):
    r = subprocess.run([str(loadgen_epoll), "--record-values"], input="12\nabc\n",
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "bad value" in r.stderr
