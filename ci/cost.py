#!/usr/bin/python3
"""What a feature costs: the same production_server with the feature off and on, measured
as A/B pairs in one run (`make cost VARIANT=accesslog BUDGET=0.05`).

The bench's variant twins (`make bench PROFILE=logging`) take medians of a few interleaved
trials, whose spread on a shared 2-core machine (+-10-15% per trial) is wider than the 3-5%
budgets the issues set. This runs the gate's machinery instead (ci/perfgate): pairs of one
binary started twice, once with the feature's flags, both servers at the same time on the
server CPU (or one after the other with --scheme interleaved), order randomised, disturbed
pairs rejected; the slowdown is the Hodges-Lehmann estimate of the per-pair log ratios with
a Wilcoxon confidence interval. Verdict against the budget B:

  within budget  the upper end of the CI is below 1+B
  over budget    the lower end of the CI is above 1+B
  undecided      the CI straddles 1+B (the advice says how many pairs would settle it)

--modes det adds user-space instructions per request under callgrind (all threads, the log
writer included; virtual clock), off against on: exact, and independent of the machine.

Writes cost.json and summary.md under --out (default results/cost/<time>/); exit 0 within
budget everywhere, 1 over budget somewhere, 2 undecided or could not run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))

from perfgate import build, determ, stats, wallclock  # noqa: E402

WITHIN, OVER, UNDECIDED = "within budget", "over budget", "undecided"
EXIT = {WITHIN: 0, OVER: 1, UNDECIDED: 2}


def die(message: str):
    print(f"ci/cost.py: {message}", file=sys.stderr)
    sys.exit(2)


def variant_args(name: str) -> tuple:
    """A plain-HTTP bench variant's server flags (scripts/vexbench/variants.py)."""
    from vexbench.variants import VARIANTS
    v = VARIANTS.get(name)
    if v is None:
        die(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
    if v.scheme != "http" or v.server_config or v.setup:
        die(f"variant {name!r} needs its own listener or setup (use make bench PROFILE=... "
            "for it)")
    return v.server_args


def fill(args, out: Path) -> tuple:
    """The variants' templates: {dir} is the output folder, {target} names the side."""
    return tuple(str(a).replace("{dir}", str(out)).replace("{target}", "on") for a in args)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ci/cost.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit status: 0 within budget, 1 over, 2 undecided "
                                       "or could not run.")
    g = p.add_argument_group("the feature")
    g.add_argument("--variant", help="a bench variant's flags (accesslog, ratelimit, ...)")
    g.add_argument("--args", default="", help="server flags that switch the feature on "
                   "(shell words; {dir} is the output folder); added after --variant's")
    g.add_argument("--base-args", default="", help="flags both sides get")
    g.add_argument("--budget", type=float, default=0.05,
                   help="largest acceptable slowdown, as a fraction (0.05)")
    g = p.add_argument_group("how")
    g.add_argument("--backend", default="epoll", help="comma list (epoll)")
    g.add_argument("--profile", default="plaintext@c50,json@c50",
                   help="comma list of profile@cN loads (plaintext@c50,json@c50)")
    g.add_argument("--binary", help="a production_server to use for every backend "
                   "(default: build build/<backend>/production_server here)")
    g.add_argument("--modes", default="wall,det", help="wall and/or det (both)")
    g.add_argument("--pairs", type=int, default=16, help="A/B pairs per case (16)")
    g.add_argument("--duration", type=int, default=2, help="measured seconds per trial (2)")
    g.add_argument("--warmup", type=int, default=1, help="warm-up seconds per trial (1)")
    g.add_argument("--scheme", choices=wallclock.SCHEMES, default="concurrent")
    g.add_argument("--confidence", type=float, default=0.95, help="CI level (0.95)")
    g.add_argument("--max-minutes", type=float, default=10.0, help="wall-clock budget (10)")
    g.add_argument("--server-cpu", type=int, default=0)
    g.add_argument("--client-cpu", type=int, default=1)
    g.add_argument("--det-requests", type=int, default=5000)
    g.add_argument("--det-warmup", type=int, default=1000)
    g.add_argument("--seed", type=int, help="seed of the A/B order (default: random)")
    g.add_argument("--out", help="output folder (default results/cost/<UTC time>/)")
    g.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not a.modes or set(a.modes) - {"wall", "det"}:
        p.error("--modes takes wall and/or det")
    if not a.variant and not a.args.strip():
        p.error("say what to switch on: --variant NAME and/or --args FLAGS")
    if not 0 < a.budget < 1 or not 0.5 < a.confidence < 1:
        p.error("budget must be in (0,1) and confidence in (0.5,1)")
    if a.pairs < 1 or a.duration < 1 or a.warmup < 0:
        p.error("pairs and duration must be >= 1, warmup >= 0")
    a.backends = [b.strip() for b in a.backend.split(",") if b.strip()]
    return a


def judge(slowdown: float, ci: tuple, budget: float) -> str:
    """The verdict of one case against the budget (see the module doc)."""
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return UNDECIDED
    if hi < 1 + budget:
        return WITHIN
    if lo > 1 + budget:
        return OVER
    return UNDECIDED


def wall(a, bins: dict, base_args: tuple, on_args: tuple, out: Path, say) -> list:
    cases = []
    for be in a.backends:
        for spec in a.profile.split(","):
            load = wallclock.load_from_profile(spec.strip())
            cases.append(wallclock.Case(load, be,
                                        wallclock.Target("off", bins[be], base_args),
                                        wallclock.Target("on", bins[be], base_args + on_args)))
    say(f"wall-clock: {a.scheme} pairs, {len(cases)} case(s) x {a.pairs} pairs, "
        f"{a.warmup}+{a.duration} s each")
    runs = wallclock.run_pairs(cases, pairs=a.pairs, scheme=a.scheme, warmup=a.warmup,
                               duration=a.duration, seed=a.seed,
                               deadline=time.monotonic() + a.max_minutes * 60,
                               server_cpu=a.server_cpu, client_cpu=a.client_cpu,
                               log_dir=out / "trials", progress=say)
    rule = stats.Rule(threshold=a.budget, confidence=a.confidence)
    rows = []
    for c in cases:
        rec = runs[c.id]
        off, on = wallclock.samples(rec, "cpu_us_per_req")
        cmp = stats.compare_paired("cpu_us_per_req", off, on, unit="us/req", rule=rule,
                                   seed=a.seed or 0)
        row = {"case": c.id, "metric": "server CPU us/req", "pairs": cmp.n,
               "rejected": len(rec["rejected"]), "failures": rec["failures"],
               "off": cmp.base_median, "on": cmp.cand_median}
        if cmp.slowdown is None:
            row.update(ratio=None, ci=None, verdict=UNDECIDED, reason=cmp.reason)
        else:
            v = judge(cmp.slowdown, cmp.slowdown_ci, a.budget)
            row.update(ratio=cmp.slowdown, ci=list(cmp.slowdown_ci), verdict=v,
                       reason="" if v != UNDECIDED else
                       f"about {cmp.needed_pairs or 2 * cmp.n} pairs would settle it")
        rows.append(row)
    return rows


def det(a, bins: dict, base_args: tuple, on_args: tuple, out: Path, say) -> list:
    problem = determ.valgrind_problem()
    if problem:
        return [{"case": "callgrind/epoll", "verdict": UNDECIDED, "reason": problem}]
    binary = bins.get("epoll") or next(iter(bins.values()))
    say(f"deterministic: callgrind, all threads, {a.det_warmup}+{a.det_requests} requests")
    res = determ.measure({"off": binary, "on": binary}, n_small=a.det_warmup,
                         n_large=a.det_warmup + a.det_requests, repeats=1,
                         work_dir=out / "callgrind", collect=None,
                         extra_args={"off": base_args, "on": base_args + on_args}, progress=say)
    errs = [f"{k}: {v['error']}" for k, v in res.items() if v["error"]]
    if errs:
        return [{"case": "callgrind", "verdict": UNDECIDED, "reason": "; ".join(errs)}]
    off, on = res["off"]["per_request"][0], res["on"]["per_request"][0]
    return [{"case": f"callgrind/{'epoll' if 'epoll' in bins else next(iter(bins))}",
             "metric": "user-space instructions/req", "off": off, "on": on,
             "added": on - off, "ratio": on / off, "ci": None, "verdict": "exact"}]


def table(rows: list, budget: float) -> str:
    lines = [f"| case | metric | off | on | ratio [CI] | verdict (budget +{budget * 100:g}%) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("ratio") is None:
            lines.append(f"| {r['case']} | | | | | {r['verdict']}: {r.get('reason', '')} |")
            continue
        ci = f" [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" if r.get("ci") else ""
        extra = f" (+{r['added']:.1f})" if "added" in r else f", {r['pairs']} pairs"
        lines.append(f"| {r['case']} | {r['metric']} | {r['off']:.3f} | {r['on']:.3f} | "
                     f"{r['ratio']:.3f}{ci} | {r['verdict']}{extra} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = parse_args(argv)
    say = (lambda m: None) if a.quiet else (lambda m: print(m, flush=True))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(a.out or ROOT / "results" / "cost" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    on_args = fill((variant_args(a.variant) if a.variant else ()) + tuple(shlex.split(a.args)), out)
    base_args = fill(shlex.split(a.base_args), out)
    say(f"feature: {' '.join(on_args)}" + (f"  (both sides: {' '.join(base_args)})" if base_args else ""))
    backends = list(dict.fromkeys(a.backends + (["epoll"] if "det" in a.modes else [])))
    bins = {}
    try:
        for be in backends:
            if a.binary:
                bins[be] = a.binary
            else:
                r = build.build(ROOT, be, log=out / "logs" / f"build-{be}.log")
                bins[be] = str(build.snapshot(Path(r["binary"]), out / "bin" / be))
    except build.BuildError as e:
        print(f"ci/cost.py: {e}", file=sys.stderr)
        return 2
    rows = []
    if "det" in a.modes:
        rows += det(a, bins, base_args, on_args, out, say)
    if "wall" in a.modes:
        rows += wall(a, bins, base_args, on_args, out, say)
    text = table(rows, a.budget)
    (out / "summary.md").write_text(f"feature flags: `{' '.join(on_args)}`\n\n{text}\n")
    (out / "cost.json").write_text(json.dumps(
        {"feature_args": on_args, "base_args": base_args, "budget": a.budget,
         "confidence": a.confidence, "scheme": a.scheme, "rows": rows,
         "loadavg": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
         "generated_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
        indent=2) + "\n")
    print(text)
    print(f"written: {out}/summary.md, cost.json")
    verdicts = [r["verdict"] for r in rows if r["verdict"] != "exact"]
    if OVER in verdicts:
        return 1
    return 2 if UNDECIDED in verdicts or not verdicts and "wall" in a.modes else 0


if __name__ == "__main__":
    sys.exit(main())
