"""Render the gate's result: a text table for people, verdict.json, summary.md for a PR.

All renderers take the result dict (the content of verdict.json), so a report can be
re-rendered from a stored JSON file: `python3 ci/gate.py --render results/gate/X/verdict.json`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

SCHEMA = "vex_net-perf-gate/1"
HEADLINE = {
    "pass": ("PASS", "✅"),
    "regression": ("REGRESSION", "❌"),
    "accepted-regression": ("ACCEPTED REGRESSION", "⚠️"),
    "inconclusive": ("INCONCLUSIVE", "❔"),
    "error": ("COULD NOT RUN", "⛔"),
}
LABEL = {"cpu_us_per_req": "server CPU us/req", "rps": "req/s",
         "instructions_per_req": "instructions/req"}


def fmt_value(metric: str, v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if metric == "rps":
        return f"{v:,.0f}"
    if metric == "instructions_per_req":
        return f"{v:,.1f}"
    return f"{v:.3f}"


def fmt_ratio(c: dict) -> str:
    r, ci = c.get("ratio"), c.get("ratio_ci")
    if r is None:
        return "-"
    if not ci or any(x is None or not math.isfinite(x) for x in ci):
        return f"{r:.3f} [unbounded]"
    if c.get("method") == "exact":
        return f"{r:.4f} (exact)"
    return f"{r:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _rows(result: dict) -> list:
    rows = []
    for c in result.get("comparisons", []):
        rows.append([c["case"], LABEL.get(c["metric"], c["metric"]) + (" *" if c["gating"] else ""),
                     fmt_value(c["metric"], c.get("base_median")),
                     fmt_value(c["metric"], c.get("cand_median")),
                     fmt_ratio(c), c["verdict"].upper() if c["verdict"] == "regression"
                     else c["verdict"]])
    return rows


def _conf(result: dict) -> str:
    return f"{result.get('settings', {}).get('confidence', 0.99) * 100:g}%"


def render_table(result: dict) -> str:
    word, _ = HEADLINE.get(result["verdict"], (result["verdict"], ""))
    s = result.get("settings", {})
    lines = [f"vex_net perf gate: {word} (exit {result['exit_code']})",
             f"  {result['reason']}"]
    for a in result.get("accepted", []):
        lines.append(f"  accepted by {a['commit'][:10]} ({a['subject']}): {a['reason']}")
    b, k = result.get("base", {}), result.get("candidate", {})
    lines.append(f"base:      {b.get('describe', '-')}  [{b.get('how', '')}]")
    lines.append(f"candidate: {k.get('describe', '-')}")
    if s:
        lines.append(describe_settings(result))
    header = ["case", "metric", "base", "candidate", f"ratio [{_conf(result)} CI]", "verdict"]
    rows = _rows(result)
    if rows:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        lines.append("")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for r in rows:
            lines.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
        lines.append("* gating metric (decides the exit status); ratio = candidate / base")
    notes = [f"{c['case']} {LABEL.get(c['metric'], c['metric'])}: {c['reason']}"
             + (f" -> {c['advice']}" if c.get("advice") else "")
             for c in result.get("comparisons", []) if c["gating"]]
    if notes:
        lines.append("")
        lines += notes
    for p in result.get("problems", []):
        lines.append(f"problem: {p}")
    t = result.get("timing", {})
    if t:
        lines.append("time: " + ", ".join(f"{k} {v:.0f}s" for k, v in t.items()))
    return "\n".join(lines) + "\n"


def describe_settings(result: dict) -> str:
    s = result.get("settings", {})
    parts = []
    if "wall" in s.get("modes", []):
        parts.append(f"wall-clock: {s.get('scheme')} pairs, {s.get('pairs')} x ({s.get('warmup')} s "
                     f"warm-up + {s.get('duration')} s), server CPU {s.get('server_cpu')}, wrk CPU "
                     f"{s.get('client_cpu')}; regression when > {s.get('threshold', 0) * 100:g}% "
                     f"slower at {s.get('confidence', 0) * 100:g}% confidence")
    if "det" in s.get("modes", []):
        parts.append(f"instructions: callgrind, {s.get('det_requests')} keep-alive GETs "
                     f"({', '.join(s.get('det_paths', []))}) differenced, threshold "
                     f"{s.get('det_threshold', 0) * 100:g}%")
    return "\n".join(parts)


def render_markdown(result: dict) -> str:
    word, icon = HEADLINE.get(result["verdict"], (result["verdict"], ""))
    out = [f"### {icon} vex_net perf gate: {word}", "",
           f"{result['reason']}", ""]
    for a in result.get("accepted", []):
        out.append(f"> Accepted regression (`{a['commit'][:10]}` {a['subject']}): **{a['reason']}**")
    if result.get("accepted"):
        out.append("")
    b, k = result.get("base", {}), result.get("candidate", {})
    out += [f"Base `{b.get('describe', '-')}` ({b.get('how', '')}) vs candidate "
            f"`{k.get('describe', '-')}`.", ""]
    rows = _rows(result)
    if rows:
        out.append(f"| case | metric | base | candidate | ratio [{_conf(result)} CI] | verdict |")
        out.append("|---|---|---:|---:|---|---|")
        for r in rows:
            r = list(r)
            if r[1].endswith(" *"):
                r[1] = f"**{r[1][:-2]}**"
            if r[-1] == "REGRESSION":
                r[-1] = "**REGRESSION**"
            out.append("| " + " | ".join(str(x) for x in r) + " |")
        out += ["", "Metrics in bold decide pass/fail; the others are reported only. "
                "Ratio = candidate / base.", ""]
    advice = [f"- {c['case']} {LABEL.get(c['metric'], c['metric'])}: {c['advice']}"
              for c in result.get("comparisons", []) if c.get("advice") and c["gating"]]
    if advice:
        out += ["**What to do:**"] + advice + [""]
    if result.get("problems"):
        out += ["**Problems:**"] + [f"- {p}" for p in result["problems"]] + [""]
    out += ["<details><summary>How this was measured</summary>", "",
            describe_settings(result).replace("\n", "  \n"), ""]
    out += [f"- {c['case']} {LABEL.get(c['metric'], c['metric'])}: {c['reason']}"
            for c in result.get("comparisons", [])]
    out += ["",
            "To accept an intended regression, add the trailer "
            "`Perf-Regression-Accepted: <reason>` to a commit of this change.", "",
            "</details>", ""]
    return "\n".join(out)


def write_all(result: dict, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.setdefault("schema", SCHEMA)
    paths = {"json": out_dir / "verdict.json", "markdown": out_dir / "summary.md",
             "table": out_dir / "table.txt"}
    paths["json"].write_text(json.dumps(finite(result), indent=2, default=_jsonable) + "\n")
    paths["markdown"].write_text(render_markdown(result))
    paths["table"].write_text(render_table(result))
    return {k: str(v) for k, v in paths.items()}


def finite(o):
    """Replace inf/nan (an unbounded interval) by None: verdict.json stays strict JSON."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    if hasattr(o, "to_dict"):
        return finite(o.to_dict())
    return o


def _jsonable(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")
