"""Latency–throughput curves (profile tool "curve").

A curve case runs in two phases against every live target, trials interleaved in
shuffled target order like every other case:
1. **max rate**: the profile's load closed loop (wrk, same connections), `trials` times
   per target; the target's maximum is the median requests/s of those trials;
2. **levels**: vex_loadgen open loop at each `levels` percentage of that target's own
   maximum (ascending; each round shuffles the targets at every level), `trials` times.

Trials are recorded under sub-case ids `<case>@max` and `<case>@L<pct>` (also listed in
results.json `cases`, with `parent`). `summarize()` then builds results.json `curves`:
per curve case and target the max rate, per level the offered and achieved rates and
p50/p99/p99.9 from the level's trials' histograms merged exactly, error counts, and
`slo_rps`: the highest offered rate at which p99 stays at or under `slo_ms` (with no
errors), counting up from the lowest level and stopping at the first level that misses.
"""
from __future__ import annotations

import statistics

from . import openloop
from .histogram import Histogram
from .trial import run_trial

TOOL_PACKAGES_NOTE = "build it with `make` (bench/loadgen)"
SLO_TABLE_MS = (0.5, 1, 2, 5, 10, 50)


def max_id(case_id: str) -> str:
    return f"{case_id}@max"


def level_id(case_id: str, pct) -> str:
    return f"{case_id}@L{float(pct):g}"


def sub_case_records(case, parent_rec: dict) -> list:
    """Case records of the probe and each level (trials refer to these ids)."""
    recs = [dict(parent_rec, id=max_id(case.id), tool="wrk", parent=case.id, phase="max")]
    for pct in case.profile.levels:
        recs.append(dict(parent_rec, id=level_id(case.id, pct), tool="openloop",
                         parent=case.id, phase="level", level_pct=float(pct)))
    return recs


def missing(build_dir) -> str | None:
    if openloop.find_binary(build_dir) is None:
        return f"no build/<backend>/vex_loadgen under {build_dir}: {TOOL_PACKAGES_NOTE}"
    return None


def trials_weight(case, n_targets: int, trials: int, overhead: float) -> float:
    per = case.duration + overhead
    return n_targets * (case.warmup + overhead + trials * per * (1 + len(case.profile.levels)))


def run_case(case, live, rng, trials: int, *, work, loadgen_cpu, record, progress, status_ok,
             build_dir, overhead: float = 0.4, trial_fn=run_trial) -> dict:
    """Run both phases; returns {target: max_rps}. `record(trial, srv)` stores a trial,
    `status_ok(srv)` says whether a target is still in the run; `trial_fn` runs one trial
    (run_trial's signature; multihost.py passes its clients-on-other-hosts version)."""
    run_trial = trial_fn  # noqa: F811
    p = case.profile
    probe = p.replace(tool="wrk")
    loop = p.replace(tool="openloop")
    binary = openloop.find_binary(build_dir)
    per = case.duration + overhead
    maxima: dict = {}
    if case.warmup > 0:
        for srv in rng.sample(live, len(live)):
            if not srv.alive():
                continue
            progress.show(f"{case.id} warm-up {srv.name}", transient=True)
            t = run_trial(srv, probe, connections=case.connections, duration=case.warmup,
                          work_dir=work, loadgen_cpu=loadgen_cpu, warmup=True, label="warmup")
            t["case"] = max_id(case.id)
            record(t, srv)
            progress.advance(case.warmup + overhead, f"{case.id} warm-up {srv.name}")
    rates: dict = {}
    for n in range(1, trials + 1):
        for srv in rng.sample(live, len(live)):
            if not status_ok(srv):
                progress.advance(per, f"{case.id} {srv.name} (dead)")
                continue
            t = run_trial(srv, probe, connections=case.connections, duration=case.duration,
                          work_dir=work, loadgen_cpu=loadgen_cpu, label=f"max-t{n}")
            t["case"], t["trial"] = max_id(case.id), n
            record(t, srv)
            if t["ok"] and t["figures"].get("rps"):
                rates.setdefault(srv.name, []).append(t["figures"]["rps"])
            progress.advance(per, f"{case.id} max rate {n}/{trials} {srv.name}: "
                             f"{(t['figures'].get('rps') or 0):.0f} req/s")
    maxima = {name: statistics.median(v) for name, v in rates.items()}
    for n in range(1, trials + 1):
        for pct in p.levels:
            for srv in rng.sample(live, len(live)):
                if not status_ok(srv) or srv.name not in maxima:
                    progress.advance(per, f"{case.id} {srv.name} (no max rate)")
                    continue
                rate = maxima[srv.name] * float(pct) / 100.0
                t = run_trial(srv, loop, connections=case.connections, duration=case.duration,
                              work_dir=work, loadgen_cpu=loadgen_cpu,
                              label=f"L{float(pct):g}-t{n}", rate=rate, loadgen=binary)
                t["case"], t["trial"], t["level_pct"] = level_id(case.id, pct), n, float(pct)
                record(t, srv)
                lat = (t["figures"].get("latency_ms") or {}).get("p99")
                progress.advance(per, f"{case.id} {pct}% ({rate:.0f} req/s) {n}/{trials} "
                                 f"{srv.name}: p99 {lat if lat is None else round(lat, 3)} ms")
    return maxima


def _level_figures(trials: list) -> dict:
    ok = [t for t in trials if t.get("ok") and t["figures"].get("histogram")]
    h = Histogram.merged(openloop.from_sparse(t["figures"]["histogram"]) for t in ok)
    errors: dict = {}
    for t in ok:
        for k, v in (t["figures"].get("errors") or {}).items():
            errors[k] = errors.get(k, 0) + (v or 0)
    offered = [t["figures"].get("offered_rps") or 0 for t in ok]
    achieved = [t["figures"].get("rps") or 0 for t in ok]
    cpu = [t["figures"]["cpu_us_per_req"] for t in ok if t["figures"].get("cpu_us_per_req")]
    return {"trials": len(ok), "offered_rps": statistics.mean(offered) if offered else None,
            "achieved_rps": statistics.mean(achieved) if achieved else None,
            "requests": h.total,
            "p50_ms": h.percentile(50) / 1e6 if h.total else None,
            "p99_ms": h.percentile(99) / 1e6 if h.total else None,
            "p99.9_ms": h.percentile(99.9) / 1e6 if h.total else None,
            "max_ms": h.max / 1e6 if h.total else None,
            "cpu_us_per_req": statistics.median(cpu) if cpu else None,
            "errors": errors, "error_total": sum(errors.values())}


def slo_rate(levels: list, slo_ms: float):
    """Highest offered rate, counting up, while p99 <= slo_ms and nothing failed."""
    best = None
    for lv in sorted(levels, key=lambda x: x["pct"]):
        if lv["p99_ms"] is None or lv["p99_ms"] > slo_ms or lv["error_total"]:
            break
        best = lv
    return (best["offered_rps"], best["pct"]) if best else (None, None)


def summarize(doc: dict) -> list:
    out = []
    parents = [c for c in doc["cases"] if c.get("tool") == "curve" and c.get("status") == "ok"]
    for c in parents:
        spec = c["spec"]
        slo = float(spec.get("slo_ms", 1.0))
        targets = sorted({t["target"] for t in doc["trials"] if t["case"].startswith(c["id"] + "@")})
        for target in targets:
            mine = [t for t in doc["trials"] if t["target"] == target and not t.get("warmup")]
            probe = [t["figures"]["rps"] for t in mine if t["case"] == max_id(c["id"])
                     and t.get("ok") and t["figures"].get("rps")]
            levels = []
            for pct in spec.get("levels", []):
                ts = [t for t in mine if t["case"] == level_id(c["id"], pct)]
                if ts:
                    levels.append(dict(pct=float(pct), **_level_figures(ts)))
            rps, pct = slo_rate(levels, slo)
            # the same figure for other budgets: one look answers "what if the SLO were X"
            table = {f"{x:g}": slo_rate(levels, x)[0] for x in sorted({*SLO_TABLE_MS, slo})}
            out.append({"case": c["id"], "target": target, "connections": c["connections"],
                        "schedule": spec.get("schedule", "constant"),
                        "max_rps": statistics.median(probe) if probe else None,
                        "max_rps_values": probe, "slo_ms": slo, "slo_rps": rps,
                        "slo_pct": pct, "slo_rps_by_ms": table, "levels": levels})
    return out
