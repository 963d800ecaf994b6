"""Statistics of the gate on synthetic samples with known answers."""
import math

import numpy as np
import pytest

from perfgate import stats as S


def test_hodges_lehmann_known_value():
    # Walsh averages of 1,2,3,100: 1 1.5 2 2 2.5 3 50.5 51 51.5 100 -> median 2.75
    assert S.hodges_lehmann([1, 2, 3, 100]) == pytest.approx(2.75)
    assert S.hodges_lehmann([5.0]) == 5.0


@pytest.mark.parametrize("n,conf,c", [(10, 0.99, 4), (10, 0.95, 9), (12, 0.99, 8), (20, 0.99, 38)])
def test_rank_ci_matches_the_exact_signed_rank_interval(n, conf, c):
    """The interval from inverting scipy's Wilcoxon test is the textbook one: the c-th
    smallest and c-th largest Walsh averages, c from the signed-rank tables."""
    d = np.random.default_rng(n).normal(0, 1, n)
    i, j = np.triu_indices(n)
    w = np.sort((d[i] + d[j]) / 2)
    lo, hi = S.rank_ci(d, conf)
    assert lo == pytest.approx(w[c - 1])
    assert hi == pytest.approx(w[len(w) - c])


def test_rank_ci_unbounded_when_too_few_pairs():
    lo, hi = S.rank_ci([0.01, -0.02, 0.03, 0.0, 0.01], 0.99)    # 2/2**5 > 1%
    assert lo == -math.inf and hi == math.inf


def test_rank_ci_degenerate_sample():
    assert S.rank_ci([0.02] * 10, 0.99) == (0.02, 0.02)


def test_clear_ten_percent_shift_is_a_regression(rng, paired):
    base, cand = paired(rng, 10, 1.10, 0.01)
    c = S.compare_paired("cpu_us_per_req", base, cand)
    assert c.verdict == S.REGRESSION
    assert c.ratio_ci[0] < 1.10 < c.ratio_ci[1]
    assert c.ratio == pytest.approx(1.10, abs=0.01)
    assert c.reason.startswith("slower by +")


def test_five_percent_shift_at_one_percent_noise_is_detected(rng, paired):
    hits = 0
    for _ in range(20):
        base, cand = paired(rng, 10, 1.05, 0.01)
        hits += S.compare_paired("cpu_us_per_req", base, cand).verdict == S.REGRESSION
    assert hits >= 19


def test_identical_distributions_are_not_flagged(rng, paired):
    verdicts = [S.compare_paired("cpu_us_per_req", *paired(rng, 10, 1.0, 0.01)).verdict
                for _ in range(20)]
    assert S.REGRESSION not in verdicts
    assert verdicts.count(S.UNCHANGED) >= 19


def test_noisy_small_samples_are_inconclusive_with_advice(rng, paired):
    """10 pairs with 10% noise per trial cannot decide a 5% threshold: almost always
    inconclusive (with advice); a regression verdict only at the 1.25% tail of the CI."""
    cs = [S.compare_paired("cpu_us_per_req", *paired(rng, 10, 1.0, 0.10), seconds_per_pair=3.5)
          for _ in range(20)]
    verdicts = [c.verdict for c in cs]
    assert verdicts.count(S.INCONCLUSIVE) >= 14 and verdicts.count(S.REGRESSION) <= 1
    c = next(c for c in cs if c.verdict == S.INCONCLUSIVE)
    assert c.needed_pairs > 10
    assert f"--pairs {c.needed_pairs}" in c.advice and "min" in c.advice


def test_too_few_pairs_is_inconclusive():
    c = S.compare_paired("cpu_us_per_req", [1.0, 1.1, 0.9], [1.2, 1.3, 1.1])
    assert c.verdict == S.INCONCLUSIVE and "at least 8" in c.reason
    assert c.ratio is None and "--pairs" in c.advice


def test_improvement(rng, paired):
    c = S.compare_paired("cpu_us_per_req", *paired(rng, 12, 0.90, 0.01))
    assert c.verdict == S.IMPROVEMENT
    assert c.ratio == pytest.approx(0.90, abs=0.01)


def test_small_significant_slowdown_below_the_flag_level_passes(rng, paired):
    c = S.compare_paired("cpu_us_per_req", *paired(rng, 30, 1.015, 0.003))
    assert c.verdict == S.UNCHANGED
    assert "below the 2.5% flag level" in c.reason


def test_significant_slowdown_between_flag_level_and_threshold_is_flagged(rng, paired):
    """A real 4% slowdown measured precisely is flagged: the flag level is half the
    threshold, which is what lets a 5% slowdown be caught at >= 95% in a noisy regime."""
    c = S.compare_paired("cpu_us_per_req", *paired(rng, 16, 1.04, 0.005))
    assert c.ratio_ci[1] < 1.05 and c.verdict == S.REGRESSION


def test_rate_metric_direction(rng, paired):
    """req/s: higher is better, so 10% fewer requests/s is a 10% slowdown."""
    base, cand = paired(rng, 10, 1 / 1.10, 0.01)
    c = S.compare_paired("rps", base, cand, higher_is_better=True)
    assert c.verdict == S.REGRESSION
    assert c.ratio == pytest.approx(1 / 1.10, abs=0.01)
    assert c.slowdown == pytest.approx(1.10, abs=0.01)
    assert c.ratio_ci[0] < c.ratio < c.ratio_ci[1]


def test_threshold_and_confidence_are_honoured(rng, paired):
    base, cand = paired(rng, 10, 1.05, 0.005)
    assert S.compare_paired("m", base, cand).verdict == S.REGRESSION
    loose = S.Rule(threshold=0.20)
    assert S.compare_paired("m", base, cand, rule=loose).verdict == S.UNCHANGED


def test_deterministic_with_a_seed(rng, paired):
    base, cand = paired(rng, 10, 1.03, 0.02)
    a = S.compare_paired("m", base, cand, seed=7)
    b = S.compare_paired("m", base, cand, seed=7)
    assert a.to_dict() == b.to_dict()


def test_bad_samples_raise():
    with pytest.raises(ValueError):
        S.log_slowdowns([1, 2], [1], False)
    with pytest.raises(ValueError):
        S.log_slowdowns([1, 0], [1, 1], False)


def test_mann_whitney_and_wilcoxon_reported(rng, paired):
    c = S.compare_paired("m", *paired(rng, 10, 1.10, 0.01))
    assert c.p_wilcoxon < 0.01 and c.p_mannwhitney is not None
    assert c.bootstrap_slowdown_ci[0] < 1.10 < c.bootstrap_slowdown_ci[1] + 0.01


# ----------------------------------------------------------------------------- exact
def test_exact_identical_counts_unchanged():
    c = S.compare_exact("instructions_per_req", [2027.5, 2027.5], [2027.5, 2027.5])
    assert c.verdict == S.UNCHANGED and c.ratio == 1.0


def test_exact_one_percent_more_instructions_is_a_regression():
    c = S.compare_exact("instructions_per_req", [2000.0, 2000.0], [2020.0, 2020.0])
    assert c.verdict == S.REGRESSION and c.ratio == pytest.approx(1.01)
    assert "1.00%" in c.reason


def test_exact_below_threshold_and_improvement():
    assert S.compare_exact("i", [2000.0], [2006.0]).verdict == S.UNCHANGED     # +0.3%
    assert S.compare_exact("i", [2000.0], [1900.0]).verdict == S.IMPROVEMENT


def test_exact_jitter_guards_the_threshold():
    # repeats that wander by 1%: a 0.8% change cannot be told apart from the jitter
    c = S.compare_exact("i", [2000.0, 2020.0], [2026.0, 2016.0])
    assert c.verdict == S.INCONCLUSIVE and "repeat" in c.reason


def test_exact_no_measurement_is_an_error():
    assert S.compare_exact("i", [], [1.0]).verdict == S.ERROR
