"""Per-metric comparison of base and candidate: ratio, confidence interval, verdict.

Wall-clock metrics come as *pairs*: trial i of the base and trial i of the candidate ran
back to back (order randomised), so drift of the machine hits both. The unit of evidence
is the per-pair slowdown

    s_i = log(cand_i / base_i)   for a cost (CPU us per request: lower is better)
    s_i = log(base_i / cand_i)   for a rate (requests/s: higher is better)

so s > 0 always means "the candidate is slower". Because the order within each pair is
randomised, s is symmetric about the true slowdown, which is what the signed-rank test
assumes. The estimate is the Hodges-Lehmann estimator of the s_i (median of the Walsh
averages: robust to a disturbed pair, nearly as efficient as the mean); its confidence
interval comes from inverting scipy's Wilcoxon signed-rank test (exact for n <= 50, so it
keeps its coverage with 10 pairs, where a bootstrap interval is too narrow). A BCa
bootstrap interval (scipy.stats.bootstrap, seeded) and a Mann-Whitney U test on the raw
samples (what asv and Google Benchmark's compare.py use) are reported alongside.

Verdict with threshold t (default 5 %), confidence c (default 97.5 %), flag level t*f
(f = 0.5 by default), CI [lo, hi] and estimate e of the slowdown:

  regression    lo > 1 and e > 1 + t*f: confidently slower, by more than half the
                threshold. A true slowdown of t therefore fails with high power (the
                estimate has room to wander by t/2), while a no-change run needs both a
                CI tail of (1-c)/2 and an estimate off by t*f to be flagged.
  improvement   hi < 1 and e < 1 - t*f: confidently faster, by more than the flag level
  unchanged     otherwise, if hi < 1+t: confident that any slowdown is below the
                threshold (a significant slowdown below the flag level passes, named)
  inconclusive  anything else (the CI straddles the threshold): never a silent pass; the
                advice says how many pairs would settle it.

Deterministic metrics (instructions per request) repeat exactly, so they are compared
directly against a small threshold (default 0.5 %), guarded by the measured repeat jitter.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from scipy import stats as sps

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
VERDICTS = (REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE, ERROR)


@dataclasses.dataclass(frozen=True)
class Rule:
    threshold: float = 0.05        # relative slowdown that must not pass
    confidence: float = 0.975      # two-sided confidence level of the interval
    flag_fraction: float = 0.5     # a regression needs an estimate above threshold*this
    min_pairs: int = 8             # 2/2**8 < 1%: the smallest n whose rank CI can be 99%
    n_resamples: int = 4000

    @property
    def log_threshold(self) -> float:
        return math.log1p(self.threshold)

    @property
    def log_flag(self) -> float:
        return math.log1p(self.threshold * self.flag_fraction)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Comparison:
    metric: str
    unit: str
    higher_is_better: bool
    gating: bool
    n: int
    base_median: float | None
    cand_median: float | None
    ratio: float | None            # candidate / base, in the metric's own terms
    ratio_ci: tuple | None
    slowdown: float | None         # > 1: candidate slower (cost up or rate down)
    slowdown_ci: tuple | None
    p_wilcoxon: float | None
    p_mannwhitney: float | None
    verdict: str
    reason: str
    advice: str = ""
    needed_pairs: int | None = None
    method: str = "paired"
    bootstrap_slowdown_ci: tuple | None = None   # cross-check, not used for the verdict
    base: list = dataclasses.field(default_factory=list)
    cand: list = dataclasses.field(default_factory=list)

    @property
    def change_pct(self) -> float | None:
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["change_pct"] = self.change_pct
        for k in ("ratio_ci", "slowdown_ci", "bootstrap_slowdown_ci"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d


# --------------------------------------------------------------------------- helpers
def log_slowdowns(base, cand, higher_is_better: bool) -> np.ndarray:
    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    if b.shape != c.shape:
        raise ValueError(f"paired samples differ in length: {b.shape} vs {c.shape}")
    if np.any(b <= 0) or np.any(c <= 0) or not np.all(np.isfinite(b)) or not np.all(np.isfinite(c)):
        raise ValueError("samples must be positive and finite")
    return np.log(b / c) if higher_is_better else np.log(c / b)


def hodges_lehmann(x, axis=-1):
    """Median of the Walsh averages (x_i + x_j)/2, i <= j. Vectorised over `axis`."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    n = x.shape[-1]
    i, j = np.triu_indices(n)
    return np.median((x[..., i] + x[..., j]) / 2.0, axis=-1)


def bootstrap_ci(d, confidence: float, n_resamples: int, seed: int) -> tuple:
    """BCa bootstrap interval of the Hodges-Lehmann estimate of d (falls back to the
    percentile interval where BCa is undefined)."""
    d = np.asarray(d, dtype=float)
    if d.size == 0:
        return (math.nan, math.nan)
    if np.ptp(d) == 0.0:
        return (float(d[0]), float(d[0]))
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sps.bootstrap((d,), hodges_lehmann, vectorized=True, axis=-1,
                                confidence_level=confidence, n_resamples=n_resamples,
                                method=method, batch=500,
                                random_state=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if np.isfinite(lo) and np.isfinite(hi):
            return (float(lo), float(hi))
    return (math.nan, math.nan)


def _signed_rank_p(d, shift: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sps.wilcoxon(d - shift, zero_method="wilcox",
                                  alternative="two-sided").pvalue)


def rank_ci(d, confidence: float) -> tuple:
    """Confidence interval for the centre of d by inverting the Wilcoxon signed-rank test:
    the shifts s for which scipy.stats.wilcoxon(d - s) does not reject at 1-confidence.
    The test only changes its answer at Walsh averages, so the bounds are Walsh averages
    (found by bisection on each side of the Hodges-Lehmann estimate). A side is infinite
    when even the most extreme shift is not rejected (too few pairs for the level)."""
    d = np.asarray(d, dtype=float)
    if d.size == 0:
        return (math.nan, math.nan)
    if np.ptp(d) == 0.0:
        return (float(d[0]), float(d[0]))
    alpha = 1.0 - confidence
    i, j = np.triu_indices(d.size)
    w = np.unique((d[i] + d[j]) / 2.0)
    if w.size < 2:
        return (float(w[0]), float(w[0]))
    mids = (w[:-1] + w[1:]) / 2.0
    span = float(w[-1] - w[0]) + 1.0
    inside = lambda s: _signed_rank_p(d, s) > alpha  # noqa: E731
    centre = int(np.clip(np.searchsorted(mids, hodges_lehmann(d)), 0, mids.size - 1))
    if not inside(mids[centre]):          # degenerate: nothing is accepted
        return (math.nan, math.nan)
    lo = -math.inf if inside(w[0] - span) else None
    hi = math.inf if inside(w[-1] + span) else None
    if lo is None:                        # first accepted mid on [0, centre]
        a, b = 0, centre
        while a < b:
            m = (a + b) // 2
            a, b = (a, m) if inside(mids[m]) else (m + 1, b)
        lo = float(w[a])
    if hi is None:                        # last accepted mid on [centre, end]
        a, b = centre, mids.size - 1
        while a < b:
            m = (a + b + 1) // 2
            a, b = (m, b) if inside(mids[m]) else (a, m - 1)
        hi = float(w[a + 1])
    return (lo, hi)


def _p_wilcoxon(d) -> float | None:
    d = np.asarray(d, dtype=float)
    if d.size < 2 or np.all(d == 0):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def _p_mannwhitney(base, cand) -> float | None:
    if len(base) < 2 or len(cand) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sps.mannwhitneyu(base, cand, alternative="two-sided").pvalue)


def needed_pairs(n: int, lo: float, hi: float, rule: Rule, cap: int = 400) -> int:
    """Pairs needed for a CI half-width of threshold/2 (enough to decide either way),
    scaling the observed half-width by 1/sqrt(n)."""
    half = (hi - lo) / 2.0
    target = rule.log_threshold / 2.0
    if not math.isfinite(half):
        return max(2 * n, rule.min_pairs + 2)
    if not half > 0:
        return max(n, rule.min_pairs)
    return int(min(cap, max(n + 1, rule.min_pairs, math.ceil(n * (half / target) ** 2))))


def classify(est: float, lo: float, hi: float, rule: Rule) -> tuple:
    """(verdict, reason) from the log-slowdown estimate and its CI (see module doc)."""
    T, F = rule.log_threshold, rule.log_flag
    pct = lambda v: f"{math.expm1(v) * 100:+.1f}%"  # noqa: E731
    ci = f"CI {pct(lo)}..{pct(hi)}"
    flag = rule.threshold * rule.flag_fraction * 100
    if lo > 0 and est > F:
        return REGRESSION, (f"slower by {pct(est)}, {ci} at {rule.confidence * 100:g}% "
                            f"confidence (flagged above {flag:g}%; threshold "
                            f"{rule.threshold * 100:g}%)")
    if hi < 0 and est < -F:
        return IMPROVEMENT, f"faster by {-math.expm1(-est) * 100:.1f}% ({ci} slowdown)"
    if hi < T:
        if lo > 0:
            return UNCHANGED, (f"slower by {pct(est)}, below the {flag:g}% flag level "
                               f"({ci})")
        return UNCHANGED, f"no change beyond {rule.threshold * 100:g}% ({ci})"
    return INCONCLUSIVE, (f"estimate {pct(est)} with {ci}: the interval straddles the "
                          f"{rule.threshold * 100:g}% threshold")


# --------------------------------------------------------------------------- comparisons
def compare_paired(metric: str, base, cand, *, unit: str = "", higher_is_better: bool = False,
                   gating: bool = True, rule: Rule = Rule(), seed: int = 0,
                   seconds_per_pair: float | None = None) -> Comparison:
    """Compare paired wall-clock samples (base[i] and cand[i] measured back to back)."""
    base = [float(x) for x in base]
    cand = [float(x) for x in cand]
    n = min(len(base), len(cand))
    common = dict(metric=metric, unit=unit, higher_is_better=higher_is_better, gating=gating,
                  n=n, base=base, cand=cand,
                  base_median=float(np.median(base)) if base else None,
                  cand_median=float(np.median(cand)) if cand else None)
    if n < rule.min_pairs or len(base) != len(cand):
        return Comparison(**common, ratio=None, ratio_ci=None, slowdown=None, slowdown_ci=None,
                          p_wilcoxon=None, p_mannwhitney=None, verdict=INCONCLUSIVE,
                          reason=f"only {n} valid pair(s); at least {rule.min_pairs} needed",
                          advice=f"re-run with more pairs (--pairs {max(2 * rule.min_pairs, 10)})",
                          needed_pairs=max(2 * rule.min_pairs, 10))
    d = log_slowdowns(base, cand, higher_is_better)
    est = float(hodges_lehmann(d))
    lo, hi = rank_ci(d, rule.confidence)
    blo, bhi = bootstrap_ci(d, rule.confidence, rule.n_resamples, seed)
    verdict, reason = classify(est, lo, hi, rule)
    advice, need = "", None
    if verdict == INCONCLUSIVE:
        need = needed_pairs(n, lo, hi, rule)
        when = (f" (about {math.ceil(need * seconds_per_pair / 60)} min of trials)"
                if seconds_per_pair else "")
        advice = (f"too noisy to decide: re-run with --pairs {need}{when} "
                  f"(make gate GATE_ARGS='--pairs {need}'), or on a quieter machine (the {rule.confidence * 100:g}% CI is "
                  f"±{(math.exp((hi - lo) / 2) - 1) * 100:.1f}% wide; deciding needs about "
                  f"±{rule.threshold * 50:.1f}%)")
    slow, slow_ci = math.exp(est), (math.exp(lo), math.exp(hi))
    if higher_is_better:
        ratio, ratio_ci = 1.0 / slow, (1.0 / slow_ci[1], 1.0 / slow_ci[0])
    else:
        ratio, ratio_ci = slow, slow_ci
    return Comparison(**common, ratio=ratio, ratio_ci=ratio_ci, slowdown=slow,
                      slowdown_ci=slow_ci, p_wilcoxon=_p_wilcoxon(d),
                      p_mannwhitney=_p_mannwhitney(base, cand), verdict=verdict,
                      reason=reason, advice=advice, needed_pairs=need,
                      bootstrap_slowdown_ci=(math.exp(blo), math.exp(bhi)))


def compare_exact(metric: str, base, cand, *, unit: str = "", threshold: float = 0.005,
                  higher_is_better: bool = False, gating: bool = True) -> Comparison:
    """Compare deterministic measurements (repeats of the same count).

    Regression when the candidate's median exceeds the base's by more than `threshold`
    and by more than three times the repeat jitter; inconclusive when the jitter itself
    is as large as half the threshold (the measurement is not deterministic enough)."""
    base = [float(x) for x in base]
    cand = [float(x) for x in cand]
    common = dict(metric=metric, unit=unit, higher_is_better=higher_is_better, gating=gating,
                  n=min(len(base), len(cand)), base=base, cand=cand, method="exact",
                  p_wilcoxon=None, p_mannwhitney=None)
    if not base or not cand or min(base + cand) <= 0:
        return Comparison(**common, base_median=None, cand_median=None, ratio=None,
                          ratio_ci=None, slowdown=None, slowdown_ci=None, verdict=ERROR,
                          reason="no valid measurement")
    bm, cm = float(np.median(base)), float(np.median(cand))
    jitter = max((max(v) - min(v)) / float(np.median(v)) for v in (base, cand))
    ratio = cm / bm
    ratio_ci = (min(cand) / max(base), max(cand) / min(base))
    slow, slow_ci = (1 / ratio, (1 / ratio_ci[1], 1 / ratio_ci[0])) if higher_is_better \
        else (ratio, ratio_ci)
    change = slow - 1.0
    rep = f"repeat jitter {jitter * 100:.3f}%"
    if abs(change) > threshold and abs(change) > 3 * jitter:
        verdict = REGRESSION if change > 0 else IMPROVEMENT
        reason = (f"{'slower' if change > 0 else 'faster'} by {abs(change) * 100:.2f}% "
                  f"(threshold {threshold * 100:g}%, {rep})")
    elif jitter > threshold / 2:
        verdict = INCONCLUSIVE
        reason = f"counts do not repeat well enough: {rep} vs threshold {threshold * 100:g}%"
    else:
        verdict = UNCHANGED
        reason = f"{change * 100:+.3f}% (threshold {threshold * 100:g}%, {rep})"
    return Comparison(**common, base_median=bm, cand_median=cm, ratio=ratio, ratio_ci=ratio_ci,
                      slowdown=slow, slowdown_ci=slow_ci, verdict=verdict, reason=reason,
                      advice="" if verdict != INCONCLUSIVE else
                      "check for time-dependent work in the server (timers, Date header)")


def error_comparison(metric: str, reason: str, *, unit: str = "", gating: bool = True,
                     higher_is_better: bool = False) -> Comparison:
    return Comparison(metric=metric, unit=unit, higher_is_better=higher_is_better,
                      gating=gating, n=0, base_median=None, cand_median=None, ratio=None,
                      ratio_ci=None, slowdown=None, slowdown_ci=None, p_wilcoxon=None,
                      p_mannwhitney=None, verdict=ERROR, reason=reason)
