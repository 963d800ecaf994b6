"""Log-linear latency histograms, layout "log-linear/v1" (the format vex_loadgen writes,
bench/loadgen/hist.h): merged exactly by adding counts, never by averaging percentiles.

Values are nanoseconds. Below 2**7 ns every value has its own bucket; above, each octave
[2**e, 2**(e+1)) has 128 equal buckets (width <= 1/128 of the lower edge, so a bucket's
midpoint is within 0.39% of any value in it); from 2**36 ns (68.7 s) one overflow bucket.
Percentiles are nearest-rank (rank = ceil(q/100 * total)), the bucket's midpoint clamped
to the exact min/max.

    h = Histogram.from_json(doc["histogram"])      # a vex_loadgen output
    w = Histogram.from_wrk_buckets(pairs)          # wrk's done(): [[µs, count], ...]
    m = Histogram.merged([h, w]); m.percentile(99) / 1e6   # ms
"""
from __future__ import annotations

import math

LAYOUT = "log-linear/v1"
SUB_BITS = 7
MAX_EXP = 36
SUB = 1 << SUB_BITS
BUCKETS = SUB + (MAX_EXP - SUB_BITS) * SUB + 1
PERCENTILES = (50, 75, 90, 99, 99.9, 99.99)


class HistogramError(ValueError):
    pass


def index(v: int) -> int:
    v = int(v)
    if v < 0:
        raise HistogramError(f"negative value {v}")
    if v < SUB:
        return v
    e = v.bit_length() - 1
    if e >= MAX_EXP:
        return BUCKETS - 1
    shift = e - SUB_BITS
    return SUB + shift * SUB + ((v >> shift) - SUB)


def bounds(i: int) -> tuple:
    """[lo, hi) of bucket i in ns (the overflow bucket: hi = inf)."""
    if i < SUB:
        return i, i + 1
    if i >= BUCKETS - 1:
        return 1 << MAX_EXP, math.inf
    shift, m = divmod(i - SUB, SUB)
    m += SUB
    return m << shift, (m + 1) << shift


class Histogram:
    def __init__(self):
        self.counts = [0] * BUCKETS
        self.total = 0
        self.min = None
        self.max = 0
        self.sum = 0.0

    # ---- building
    def record(self, v: int, count: int = 1) -> None:
        v = int(v)
        self.counts[index(v)] += count
        self.total += count
        self.sum += float(v) * count
        self.min = v if self.min is None else min(self.min, v)
        self.max = max(self.max, v)

    @classmethod
    def from_samples(cls, values) -> "Histogram":
        h = cls()
        for v in values:
            h.record(v)
        return h

    @classmethod
    def from_json(cls, d: dict) -> "Histogram":
        if d.get("layout") != LAYOUT or d.get("sub_bucket_bits") != SUB_BITS \
                or d.get("max_exponent") != MAX_EXP or d.get("unit") != "ns":
            raise HistogramError(f"unknown histogram layout {d.get('layout')!r} "
                                 f"({d.get('sub_bucket_bits')}/{d.get('max_exponent')}/{d.get('unit')})")
        counts = d.get("counts")
        if not isinstance(counts, list) or len(counts) != BUCKETS:
            raise HistogramError(f"histogram needs {BUCKETS} counts, got "
                                 f"{len(counts) if isinstance(counts, list) else type(counts)}")
        h = cls()
        h.counts = [int(c) for c in counts]
        h.total = sum(h.counts)
        if h.total != int(d.get("total", h.total)):
            raise HistogramError(f"histogram total {d.get('total')} != sum of counts {h.total}")
        h.min = int(d["min"]) if h.total else None
        h.max = int(d.get("max", 0))
        h.sum = float(d.get("sum", 0.0))
        return h

    @classmethod
    def from_wrk_buckets(cls, pairs) -> "Histogram":
        """wrk's latency histogram as its done() hook reads it: [[µs, count], ...] (wrk
        keeps one bucket per microsecond, so this conversion loses nothing beyond our
        layout's own resolution)."""
        h = cls()
        for us, c in pairs:
            if c:
                h.record(int(us) * 1000, int(c))
        return h

    def to_json(self) -> dict:
        return {"layout": LAYOUT, "unit": "ns", "sub_bucket_bits": SUB_BITS,
                "max_exponent": MAX_EXP, "buckets": BUCKETS, "total": self.total,
                "min": self.min or 0, "max": self.max, "sum": round(self.sum),
                "counts": list(self.counts)}

    # ---- combining
    def merge(self, other: "Histogram") -> "Histogram":
        for i, c in enumerate(other.counts):
            if c:
                self.counts[i] += c
        self.total += other.total
        self.sum += other.sum
        if other.total:
            self.min = other.min if self.min is None else min(self.min, other.min)
            self.max = max(self.max, other.max)
        return self

    @classmethod
    def merged(cls, hists) -> "Histogram":
        out = cls()
        for h in hists:
            out.merge(h)
        return out

    # ---- reading
    def percentile(self, q: float) -> float:
        """Nearest-rank percentile q (0..100) in ns; 0 when empty."""
        if not self.total:
            return 0.0
        q = min(100.0, max(0.0, float(q)))
        rank = max(1, math.ceil(q / 100.0 * self.total))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                lo, hi = bounds(i)
                mid = float(self.max) if i == BUCKETS - 1 else lo + (hi - 1 - lo) / 2.0
                return float(min(max(mid, self.min), self.max))
        return float(self.max)

    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def percentiles_ms(self, qs=PERCENTILES) -> dict:
        out = {f"p{q:g}": self.percentile(q) / 1e6 for q in qs}
        out.update(mean=self.mean() / 1e6, max=self.max / 1e6,
                   min=(self.min or 0) / 1e6)
        return out

    def count_above(self, ns: float) -> int:
        """Samples in buckets whose lower edge is >= ns."""
        return sum(c for i, c in enumerate(self.counts) if c and bounds(i)[0] >= ns)
