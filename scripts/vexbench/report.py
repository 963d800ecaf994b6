"""Text summary table (end of `make bench`) and REPORT.md (plot.py) from a results doc."""
from __future__ import annotations

import shlex

from . import ref_peers, variants
from .progress import human
from .results import METRICS, summary_index


def target_order(doc: dict) -> list:
    """Targets that have summaries: backends first, then peers, in the run's order."""
    have = {s["target"] for s in doc["summaries"]}
    ts = [t for t in doc["targets"] if t["name"] in have]
    return [t["name"] for t in sorted(ts, key=lambda t: t["kind"] != "backend")]


def case_order(doc: dict) -> list:
    return [c["id"] for c in doc["cases"] if c.get("status") == "ok"]


def _med(s: dict, m: str):
    v = s["metrics"].get(m)
    return v["median"] if v else None


def fmt(m: str, v) -> str:
    if v is None:
        return "-"
    if m == "rps":
        return human(v)
    if m == "mem_per_conn_bytes":
        return human(v, "B")
    if m.endswith("_ms"):
        return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def rps_cell(s: dict) -> str:
    v = s["metrics"].get("rps")
    if not v:
        return "-"
    return f"{human(v['median'])} ({human(v['min'])}–{human(v['max'])}, n={v['n']})"


def issues(s: dict) -> str:
    return "; ".join(s["flags"]) if s["flags"] else "ok"


COLUMNS = (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("p99.99_ms", "p99.99 ms"),
           ("cpu_us_per_req", "CPU µs/req"), ("mem_per_conn_bytes", "mem/conn"),
           ("wall_s", "wall s"))


RATIO_HEAD = "CPU ×ref"


def ratio_cell(r: dict | None) -> str:
    """A backend's CPU per request over its minimal reference's (ref_peers.py)."""
    return f"{r['ratio']:.2f}× {r['reference']}" if r else "-"


def rows(doc: dict) -> list:
    """[case, target, req/s, *COLUMNS, CPU ×ref, flags] per summary."""
    idx = summary_index(doc)
    ratios = ref_peers.cpu_ratios(doc)
    out = []
    for case in case_order(doc):
        for target in target_order(doc):
            s = idx.get((case, target))
            if not s:
                continue
            out.append([case, target, rps_cell(s)] +
                       [fmt(m, _med(s, m)) for m, _ in COLUMNS] +
                       [ratio_cell(ratios.get((case, target))), issues(s)])
    return out


def _cells(r: list, keep: list, with_ratio: bool) -> list:
    return r[:3] + [r[3 + i] for i in keep] + ([r[-2]] if with_ratio else []) + [r[-1]]


def _used_columns(doc: dict) -> list:
    """Leave out columns with no value anywhere."""
    keep = []
    for i, (m, _) in enumerate(COLUMNS):
        if any(s["metrics"].get(m) for s in doc["summaries"]):
            keep.append(i)
    return keep


def summary_table(doc: dict) -> str:
    keep = _used_columns(doc)
    with_ratio = bool(ref_peers.cpu_ratios(doc))
    head = (["case", "target", "req/s median (min–max)"] + [COLUMNS[i][1] for i in keep]
            + ([RATIO_HEAD] if with_ratio else []) + ["errors/flags"])
    body = [_cells(r, keep, with_ratio) for r in rows(doc)]
    if not body:
        return "no results"
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for r in body:
        if prev is not None and r[0] != prev:
            lines.append("")
        prev = r[0]
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))
    return "\n".join(lines)


def skipped_lines(doc: dict) -> list:
    out = []
    for t in doc["targets"]:
        if t["status"] != "ok":
            out.append(f"{t['kind']} {t['name']}: {t['status']} — {t['reason']}")
    for c in doc["cases"]:
        if c.get("status") != "ok":
            out.append(f"profile {c['id']}: skipped — {c.get('reason')}")
    return out


def markdown(doc: dict, images: list) -> str:
    env, pin = doc["environment"], doc["pinning"]
    git = env.get("git", {})
    plan = doc["options"].get("plan", {})
    L = [f"# vex_net benchmark — run `{doc['run_id']}`", ""]
    L.append(f"Profile set **{doc['options'].get('selection')}**: {plan.get('trials')} trials of "
             f"{plan.get('duration_s')} s per case and target after a {plan.get('warmup_s')} s "
             f"warm-up (not counted); targets interleaved trial by trial in shuffled order "
             f"(seed {doc['options'].get('seed')}). Figures are medians with min–max over the "
             f"trials. {pin.get('note', '')[:1].upper()}{pin.get('note', '')[1:]}.")
    L.append("")
    L.append("| | |\n|---|---|")
    for k, v in (("commit", f"{git.get('commit') or '?'}{' (dirty)' if git.get('dirty') else ''}"),
                 ("started / finished (UTC)", f"{doc['started_utc']} / {doc['finished_utc']}"),
                 ("kernel", env.get("kernel")), ("OS", env.get("os")),
                 ("CPU", f"{env.get('cpu_model')} × {env.get('cores')}"),
                 ("compiler", env.get("compiler")), ("CFLAGS", f"`{env.get('cflags')}`"),
                 ("liburing", env.get("liburing")),
                 ("load average start → end", f"{' '.join(env.get('loadavg_start') or [])} → "
                                               f"{' '.join(env.get('loadavg_end') or [])}"),
                 ("tools", "; ".join(f"{v}" for v in (env.get("tools") or {}).values()))):
        L.append(f"| {k} | {v} |")
    L.append("")
    skipped = skipped_lines(doc)
    if skipped:
        L += ["## Skipped", ""] + [f"- {s}" for s in skipped] + [""]
    L += ["## Results", ""]
    keep = _used_columns(doc)
    with_ratio = bool(ref_peers.cpu_ratios(doc))
    head = (["case", "target", "req/s median (min–max, n)"] + [COLUMNS[i][1] for i in keep]
            + ([RATIO_HEAD] if with_ratio else []) + ["errors / flags"])
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for r in rows(doc):
        cells = _cells(r, keep, with_ratio)
        if cells[-1] != "ok":
            cells[-1] = f"**{cells[-1]}**"
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append("Server CPU µs per request = on-CPU time (user + system) of the server process "
             "tree during the trial — /proc/PID/task/*/schedstat, nanosecond resolution; "
             "/proc/PID/stat utime+stime (10 ms ticks) kept beside it in results.json — ÷ "
             "requests counted by the server (/metrics or nginx stub_status; the load "
             "generator's count otherwise). It stays stable on a noisy "
             "machine where req/s does not. mem/conn = RSS delta with N idle keep-alive "
             "connections open, on a fresh server. Non-2xx responses and socket errors are "
             "summed over the trials and flagged, never averaged away.")
    L.append("")
    if with_ratio:
        L.append(f"{RATIO_HEAD} = the backend's median CPU µs per request over the median of "
                 "the minimal reference server on the same kernel interface in the same case "
                 "(epoll: `ref-epoll`, bench/ref_epoll.c; io_uring: `ref-uring`, "
                 "bench/ref_uring.c): a canned response per request and nothing else, so "
                 "1.00× is the floor of that interface on this kernel.")
        L.append("")
    L += curve_lines(doc)
    L += variants.cost_lines(doc)
    for title, path in images:
        L += [f"### {title}", "", f"![{title}]({path})", ""]
    noted = [(s["case"], s["target"], n) for s in doc["summaries"] for n in s.get("notes", [])]
    if noted:
        L += ["## Notes", ""]
        L += [f"- `{c}` {t}: {n}" for c, t, n in noted]
        L += ["", "`wrk_latency_rescaled=X%`: wrk's coordinated-omission correction put part of "
              "its samples below the histogram minimum (common with pipelining, where wrk times "
              "one latency per batch); percentiles are read over the reachable X % "
              "(scripts/wrk/report.lua).", ""]
    builds = doc.get("hyperfine", {}).get("builds")
    if builds:
        L += ["## Build time per backend (hyperfine)", ""]
        if builds.get("status") == "ok":
            L += ["| backend | mean s | min s | max s | runs |", "|---|---|---|---|---|"]
            for r in builds["results"]:
                L.append(f"| {r['parameters'].get('backend', r['command'])} | {r['mean_s']:.2f} | "
                         f"{r['min_s']:.2f} | {r['max_s']:.2f} | {len(r['times_s'])} |")
        else:
            L.append(f"{builds.get('status')}: {builds.get('reason')}")
        L.append("")
    L += ["## Servers", ""]
    for t in doc["targets"]:
        if t["status"] == "ok" or t.get("command"):
            cmd = shlex.join(t.get("command") or [])
            extra = []
            if t.get("exit_code") is not None:
                extra.append(f"exit {t['exit_code']}")
            if t.get("peak_rss_bytes"):
                extra.append(f"peak RSS {human(t['peak_rss_bytes'], 'B')}")
            if t.get("stats_blocks"):
                extra.append(f"{t['stats_blocks']} statistics blocks")
            for n in t.get("notes") or []:
                extra.append(n)
            L.append(f"- **{t['name']}** ({t['kind']}, {t['status']}): `{cmd}`"
                     + (f" — {', '.join(extra)}" if extra else ""))
    L += ["", "## Commands (first counted trial of each case)", ""]
    seen = set()
    for t in doc["trials"]:
        if t.get("warmup") or t["case"] in seen or not t.get("command"):
            continue
        seen.add(t["case"])
        L.append(f"- `{t['case']}`: `{shlex.join(t['command'])}`")
    L += ["", f"Raw per-trial figures: `results.json` (schema `{doc['schema']}`, see "
          "`scripts/vexbench/SCHEMA.md`)."]
    return "\n".join(L) + "\n"


def metric_label(m: str) -> str:
    unit, _, label = METRICS[m]
    return f"{label} ({unit})"


def curve_lines(doc: dict) -> list:
    """REPORT.md section of the latency-throughput curves (results.json `curves`)."""
    curves = doc.get("curves") or []
    if not curves:
        return []
    L = ["## Latency against offered load", "",
         "Open loop (vex_loadgen, latency from each request's intended send time) at "
         "percentages of each target's closed-loop maximum (wrk). SLO rate = highest offered "
         "rate, counting up, whose p99 stays within the SLO with no errors.", "",
         "| case | target | max req/s (wrk) | SLO (p99) | SLO rate | level: offered req/s → "
         "p50 / p99 / p99.9 ms |", "|---|---|---|---|---|---|"]
    for c in curves:
        lv = "; ".join(f"{x['pct']:g}%: {human(x['offered_rps'] or 0)} → "
                       f"{fmt('p50_ms', x['p50_ms'])} / {fmt('p99_ms', x['p99_ms'])} / "
                       f"{fmt('p99.9_ms', x['p99.9_ms'])}"
                       + (f" (**{x['error_total']} errors**)" if x["error_total"] else "")
                       for x in c["levels"])
        slo = (f"{human(c['slo_rps'])} ({c['slo_pct']:g}%)" if c.get("slo_rps")
               else "none")
        L.append(f"| {c['case']} | {c['target']} | {human(c['max_rps'] or 0)} | "
                 f"≤ {c['slo_ms']:g} ms | {slo} | {lv} |")
    return L + [""]
