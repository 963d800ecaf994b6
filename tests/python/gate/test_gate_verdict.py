"""Overall verdict and exit status of the gate."""
from perfgate import EXIT_PASS, EXIT_REGRESSION, EXIT_UNDECIDED
from perfgate import stats as S
from perfgate import verdict as V


def cmp(verdict, metric="cpu_us_per_req", gating=True):
    c = S.error_comparison(metric, "synthetic", gating=gating)
    c.verdict = verdict
    c.reason = f"synthetic {verdict}"
    if verdict == S.INCONCLUSIVE:
        c.advice = "re-run with --pairs 30"
    return c


ACCEPT = [{"commit": "abc123", "subject": "Add TLS", "reason": "TLS handshake costs 6%"}]


def test_all_unchanged_passes():
    d = V.decide([("a", cmp(S.UNCHANGED)), ("callgrind", cmp(S.UNCHANGED, "instructions_per_req"))])
    assert d["verdict"] == V.PASS and d["exit_code"] == EXIT_PASS


def test_improvement_passes_and_is_named():
    d = V.decide([("a", cmp(S.IMPROVEMENT))])
    assert d["exit_code"] == EXIT_PASS and "improvement in a" in d["reason"]


def test_regression_fails():
    d = V.decide([("a", cmp(S.UNCHANGED)), ("b", cmp(S.REGRESSION))])
    assert d["verdict"] == V.FAIL and d["exit_code"] == EXIT_REGRESSION
    assert "b cpu_us_per_req" in d["reason"]


def test_accepted_regression_passes_with_the_reason():
    d = V.decide([("b", cmp(S.REGRESSION))], accepted=ACCEPT)
    assert d["verdict"] == V.ACCEPTED and d["exit_code"] == EXIT_PASS
    assert "TLS handshake costs 6%" in d["reason"] and d["accepted"] == ACCEPT


def test_acceptance_without_regression_is_recorded():
    d = V.decide([("a", cmp(S.UNCHANGED))], accepted=ACCEPT)
    assert d["exit_code"] == EXIT_PASS and "not needed" in d["reason"]


def test_inconclusive_is_never_a_silent_pass():
    d = V.decide([("a", cmp(S.UNCHANGED)), ("b", cmp(S.INCONCLUSIVE))])
    assert d["verdict"] == V.UNDECIDED and d["exit_code"] == EXIT_UNDECIDED
    assert "--pairs 30" in d["reason"]


def test_regression_outranks_undecided():
    d = V.decide([("a", cmp(S.INCONCLUSIVE)), ("b", cmp(S.REGRESSION))])
    assert d["exit_code"] == EXIT_REGRESSION


def test_error_and_problems_give_exit_2_with_reason():
    d = V.decide([("a", cmp(S.UNCHANGED)), ("c", cmp(S.ERROR, "instructions_per_req"))])
    assert d["verdict"] == V.NOT_RUN and d["exit_code"] == EXIT_UNDECIDED
    assert "synthetic error" in d["reason"]
    d = V.decide([("a", cmp(S.UNCHANGED))], problems=["BuildError: base cannot build"])
    assert d["exit_code"] == EXIT_UNDECIDED and "base cannot build" in d["reason"]


def test_nothing_measured_is_exit_2():
    d = V.decide([], problems=["GitError: no base"])
    assert d["exit_code"] == EXIT_UNDECIDED and "no base" in d["reason"]


def test_informational_metric_does_not_decide():
    d = V.decide([("a", cmp(S.UNCHANGED)), ("a", cmp(S.REGRESSION, "rps", gating=False)),
                  ("a", cmp(S.INCONCLUSIVE, "rps", gating=False))])
    assert d["exit_code"] == EXIT_PASS
