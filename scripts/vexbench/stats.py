"""Summary statistics over trials: median and spread (never one sample), and the
uncertainty of a ratio of two sets of trials (compare.py, gates)."""
from __future__ import annotations

import math
import statistics


def summarize(values) -> dict | None:
    """{n, median, min, max, mean, stdev, spread_pct, values}; None values are dropped.
    spread_pct = (max - min) / median * 100."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return None
    med = statistics.median(vals)
    return {
        "n": len(vals),
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "mean": statistics.fmean(vals),
        "stdev": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "spread_pct": (max(vals) - min(vals)) / med * 100 if med else 0.0,
        "values": vals,
    }


def mann_whitney_p(a, b) -> float | None:
    """Two-sided Mann-Whitney U p-value (scipy), or None when scipy or samples are missing."""
    if len(a) < 2 or len(b) < 2:
        return None
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def ratio(a: dict, b: dict) -> dict | None:
    """B relative to A from two summaries: ratio of medians, and the range of ratios that
    the trials allow ([min B / max A, max B / min A])."""
    if not a or not b or not a["median"]:
        return None
    lo = b["min"] / a["max"] if a["max"] else math.nan
    hi = b["max"] / a["min"] if a["min"] else math.inf
    return {"ratio": b["median"] / a["median"], "low": lo, "high": hi,
            "p_value": mann_whitney_p(a["values"], b["values"]),
            "n_a": a["n"], "n_b": b["n"]}
