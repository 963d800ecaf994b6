"""The gate's overall verdict and exit status from the per-metric comparisons.

  exit 0  pass: every gating metric unchanged or improved; or a regression that a
          Perf-Regression-Accepted trailer (or --accept) accepts, with the reason recorded
  exit 1  regression: a gating metric regressed and nothing accepts it
  exit 2  could not decide (a gating metric inconclusive) or could not run (no gating
          metric measured, build or run failure) - never a silent pass

Informational metrics (req/s by default) are reported with their own verdict but do not
decide the exit status. A confirmed regression outranks an undecided metric.
"""
from __future__ import annotations

from . import EXIT_PASS, EXIT_REGRESSION, EXIT_UNDECIDED
from .stats import ERROR, IMPROVEMENT, INCONCLUSIVE, REGRESSION, UNCHANGED

PASS = "pass"
FAIL = "regression"
ACCEPTED = "accepted-regression"
UNDECIDED = "inconclusive"
NOT_RUN = "error"


def decide(comparisons: list, *, accepted: list | None = None, problems: list | None = None) -> dict:
    """comparisons: [(case_id, Comparison)]; accepted: [{commit, subject, reason}];
    problems: reasons something could not run. Returns {verdict, exit_code, reason, ...}."""
    accepted = accepted or []
    problems = list(problems or [])
    gating = [(cid, c) for cid, c in comparisons if c.gating]
    regressions = [(cid, c) for cid, c in gating if c.verdict == REGRESSION]
    undecided = [(cid, c) for cid, c in gating if c.verdict == INCONCLUSIVE]
    errors = [(cid, c) for cid, c in gating if c.verdict == ERROR]
    improved = [(cid, c) for cid, c in gating if c.verdict == IMPROVEMENT]
    names = lambda xs: ", ".join(f"{cid} {c.metric}" for cid, c in xs)  # noqa: E731
    reasons = "; ".join(a["reason"] for a in accepted)
    out = {"accepted": accepted, "problems": problems,
           "counts": {v: sum(1 for _, c in gating if c.verdict == v)
                      for v in (REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE, ERROR)}}
    if regressions:
        if accepted:
            out.update(verdict=ACCEPTED, exit_code=EXIT_PASS,
                       reason=f"regression in {names(regressions)} accepted: {reasons}")
        else:
            out.update(verdict=FAIL, exit_code=EXIT_REGRESSION,
                       reason=f"regression in {names(regressions)}")
        return out
    if not gating:
        out.update(verdict=NOT_RUN, exit_code=EXIT_UNDECIDED,
                   reason="nothing was measured: " + ("; ".join(problems) or "no gating metric"))
        return out
    if errors or problems:
        why = [f"{cid} {c.metric}: {c.reason}" for cid, c in errors] + problems
        out.update(verdict=NOT_RUN, exit_code=EXIT_UNDECIDED,
                   reason="could not run everything: " + "; ".join(why))
        return out
    if undecided:
        advice = next((c.advice for _, c in undecided if c.advice), "")
        out.update(verdict=UNDECIDED, exit_code=EXIT_UNDECIDED,
                   reason=f"too noisy to decide {names(undecided)}" +
                   (f" - {advice}" if advice else ""))
        return out
    msg = "no regression beyond the thresholds"
    if improved:
        msg += f"; improvement in {names(improved)}"
    if accepted:
        msg += f" (an accepted-regression trailer is present but not needed: {reasons})"
    out.update(verdict=PASS, exit_code=EXIT_PASS, reason=msg)
    return out
