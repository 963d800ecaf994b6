"""Per-case ratios between two runs (B relative to A) with their uncertainty."""
from __future__ import annotations

from . import stats
from .report import fmt
from .results import METRICS, summary_index

DEFAULT_METRICS = ("rps", "cpu_us_per_req", "p99_ms")


def compare(a: dict, b: dict, metrics=DEFAULT_METRICS, pairs: list | None = None) -> list:
    """Rows for every (case, target) present in both runs, or for the given target pairs
    [(target_in_a, target_in_b)] (e.g. [("epoll", "io_uring")] within one run)."""
    ia, ib = summary_index(a), summary_index(b)
    rows = []
    keys = []
    if pairs:
        cases = [c["id"] for c in a["cases"]]
        for ta, tb in pairs:
            keys += [(c, ta, tb) for c in cases if (c, ta) in ia and (c, tb) in ib]
    else:
        keys = [(c, t, t) for (c, t) in ia if (c, t) in ib]
    for case, ta, tb in keys:
        sa, sb = ia[(case, ta)], ib[(case, tb)]
        for m in metrics:
            va, vb = sa["metrics"].get(m), sb["metrics"].get(m)
            if not va or not vb:
                continue
            r = stats.ratio(va, vb)
            if not r:
                continue
            better = METRICS[m][1]
            if r["low"] > 1:
                verdict = "B higher"
            elif r["high"] < 1:
                verdict = "B lower"
            else:
                verdict = "overlap"
            if verdict != "overlap":
                good = (verdict == "B higher") == (better == "bigger")
                verdict += " (better)" if good else " (worse)"
            rows.append({"case": case, "target_a": ta, "target_b": tb, "metric": m,
                         "a": va["median"], "b": vb["median"], **r, "verdict": verdict,
                         "flags_a": sa["flags"], "flags_b": sb["flags"]})
    return rows


def table(rows: list, run_a: str, run_b: str) -> str:
    head = ["case", "target", "metric", "A", "B", "B/A", "range", "p(U)", "verdict"]
    body = []
    for r in rows:
        tgt = r["target_a"] if r["target_a"] == r["target_b"] else f"{r['target_a']}→{r['target_b']}"
        p = "-" if r["p_value"] is None else f"{r['p_value']:.3f}"
        flags = " !" if (r["flags_a"] or r["flags_b"]) else ""
        body.append([r["case"], tgt, r["metric"], fmt(r["metric"], r["a"]), fmt(r["metric"], r["b"]),
                     f"{r['ratio']:.3f}", f"{r['low']:.3f}–{r['high']:.3f}", p, r["verdict"] + flags])
    if not body:
        return "no (case, target) in common"
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    out = [f"A = {run_a}", f"B = {run_b}",
           "B/A = ratio of medians; range = [min B / max A, max B / min A] over the trials; "
           "p(U) = two-sided Mann-Whitney U; '!' = errors or flags in either run", ""]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    for r in body:
        out.append("  ".join(x.ljust(w) for x, w in zip(r, widths)))
    return "\n".join(out)
