"""The results of a run: schema (see SCHEMA.md), summaries, validation, files.

A run folder `results/<run-id>/` holds results.json (everything), the flat files that CI
benchmark dashboards read (github-action-benchmark `customBiggerIsBetter` /
`customSmallerIsBetter`), and logs/ + work/ (server logs, exact load-generator outputs).
`results/latest` is a symlink to the newest run.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from . import stats

SCHEMA = "vexbench/1"

# metric -> (unit, better, label)
METRICS = {
    "rps": ("req/s", "bigger", "requests/s"),
    "p50_ms": ("ms", "smaller", "latency p50"),
    "p90_ms": ("ms", "smaller", "latency p90"),
    "p99_ms": ("ms", "smaller", "latency p99"),
    "p99.9_ms": ("ms", "smaller", "latency p99.9"),
    "p99.99_ms": ("ms", "smaller", "latency p99.99"),
    "cpu_us_per_req": ("µs/req", "smaller", "server CPU per request"),
    "ctx_switches_per_kreq": ("1/1000 req", "smaller", "server context switches per 1000 requests"),
    "mem_per_conn_bytes": ("B/conn", "smaller", "server memory per idle connection"),
    "wall_s": ("s", "smaller", "wall time of the fixed work"),
    "server_p99_ms": ("ms", "smaller", "server-side latency p99 (histogram)"),
}
PERCENTILE_KEYS = ("p50", "p90", "p99", "p99.9", "p99.99")
# metrics written to the dashboard flat files
FLAT_METRICS = ("rps", "p99_ms", "cpu_us_per_req", "mem_per_conn_bytes", "wall_s")


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def run_id(short_commit: str, when: _dt.datetime | None = None) -> str:
    when = when or utc_now()
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{short_commit}"


def trial_metrics(fig: dict) -> dict:
    """The per-trial scalar metrics that summaries are made of."""
    lat = fig.get("latency_ms") or {}
    out = {"rps": fig.get("rps"), "cpu_us_per_req": fig.get("cpu_us_per_req"),
           "mem_per_conn_bytes": fig.get("mem_per_conn_bytes")}
    for k in PERCENTILE_KEYS:
        out[f"{k}_ms"] = lat.get(k)
    served = fig.get("server_requests") or fig.get("requests")
    ctx = (fig.get("ctx_voluntary") or 0) + (fig.get("ctx_involuntary") or 0)
    out["ctx_switches_per_kreq"] = ctx * 1000.0 / served if served and "ctx_voluntary" in fig else None
    if fig.get("wall_s"):
        out["wall_s"] = fig["wall_s"].get("median_s")
    slat = fig.get("server_latency_ms") or {}
    out["server_p99_ms"] = slat.get("p99")
    return out


def summarize(trials: list) -> list:
    """Per (case, target): median/spread of every metric over counted (non-warm-up,
    successful) trials; errors summed over them; flags kept."""
    groups: dict = {}
    for t in trials:
        if t.get("warmup"):
            continue
        groups.setdefault((t["case"], t["target"]), []).append(t)
    out = []
    for (case, target), ts in groups.items():
        ok = [t for t in ts if t.get("ok")]
        per = [trial_metrics(t["figures"]) for t in ok]
        metrics = {}
        for m in METRICS:
            s = stats.summarize([p.get(m) for p in per])
            if s:
                metrics[m] = s
        errors: dict = {}
        non_2xx = socket_errors = 0
        for t in ok:
            f = t["figures"]
            non_2xx += f.get("non_2xx") or 0
            socket_errors += f.get("socket_errors") or 0
            for k, v in (f.get("errors") or {}).items():
                errors[k] = errors.get(k, 0) + (v or 0)
        flags = sorted({fl for t in ts for fl in t.get("flags", [])
                        if not fl.startswith(("non_2xx=", "socket_errors="))})
        if non_2xx:
            flags.insert(0, f"non_2xx={non_2xx}")
        if socket_errors:
            flags.insert(0, f"socket_errors={socket_errors}")
        failed = len(ts) - len(ok)
        if failed:
            flags.append(f"failed_trials={failed}")
        notes = sorted({n for t in ts for n in t.get("notes", [])})
        out.append({"case": case, "target": target, "trials": len(ts), "ok_trials": len(ok),
                    "metrics": metrics, "non_2xx": non_2xx, "socket_errors": socket_errors,
                    "errors": errors, "flags": flags, "notes": notes,
                    "errors_text": [t["error"] for t in ts if t.get("error")][:3]})
    return out


# ------------------------------------------------------------------ validation
class SchemaError(ValueError):
    pass


def _need(obj: dict, keys: dict, where: str) -> None:
    for k, typ in keys.items():
        if k not in obj:
            raise SchemaError(f"{where}: missing {k!r}")
        if typ is not None and not isinstance(obj[k], typ):
            raise SchemaError(f"{where}.{k}: expected {typ}, got {type(obj[k]).__name__}")


def validate(doc: dict) -> None:
    """Raise SchemaError unless `doc` follows SCHEMA.md."""
    _need(doc, {"schema": str, "run_id": str, "started_utc": str, "finished_utc": str,
                "environment": dict, "options": dict, "pinning": dict, "targets": list,
                "cases": list, "trials": list, "summaries": list, "hyperfine": dict}, "run")
    if doc["schema"] != SCHEMA:
        raise SchemaError(f"unknown schema {doc['schema']!r}")
    _need(doc["environment"], {"kernel": str, "cpu_model": str, "cores": int, "git": dict},
          "environment")
    _need(doc["pinning"], {"server_cpu": (int, type(None)), "loadgen_cpu": (int, type(None)),
                           "server_threads": int}, "pinning")
    names = set()
    for i, t in enumerate(doc["targets"]):
        _need(t, {"name": str, "kind": str, "status": str}, f"targets[{i}]")
        if t["status"] not in ("ok", "skipped", "failed"):
            raise SchemaError(f"targets[{i}].status: {t['status']!r}")
        if t["status"] != "ok":
            _need(t, {"reason": str}, f"targets[{i}]")
        names.add(t["name"])
    case_ids = set()
    for i, c in enumerate(doc["cases"]):
        _need(c, {"id": str, "profile": str, "tool": str, "connections": int,
                  "duration_s": (int, float), "spec": dict, "status": str}, f"cases[{i}]")
        case_ids.add(c["id"])
    for i, t in enumerate(doc["trials"]):
        _need(t, {"target": str, "case": str, "warmup": bool, "ok": bool, "figures": dict,
                  "flags": list, "command": (list, type(None))}, f"trials[{i}]")
        if t["target"] not in names or t["case"] not in case_ids:
            raise SchemaError(f"trials[{i}]: unknown target/case {t['target']}/{t['case']}")
        if t["ok"]:
            _need(t["figures"], {"requests": (int, type(None)), "cpu_us_per_req": None,
                                 "non_2xx": int, "socket_errors": int, "errors": dict},
                  f"trials[{i}].figures")
    for i, s in enumerate(doc["summaries"]):
        _need(s, {"case": str, "target": str, "trials": int, "metrics": dict, "flags": list,
                  "non_2xx": int, "socket_errors": int}, f"summaries[{i}]")
        for m, v in s["metrics"].items():
            _need(v, {"n": int, "median": float, "min": float, "max": float,
                      "values": list}, f"summaries[{i}].metrics.{m}")


# ------------------------------------------------------------------ files
def flat_entries(doc: dict) -> tuple:
    """(bigger_is_better, smaller_is_better) lists for github-action-benchmark."""
    bigger, smaller = [], []
    for s in doc["summaries"]:
        for m in FLAT_METRICS:
            v = s["metrics"].get(m)
            if not v:
                continue
            unit, better, label = METRICS[m]
            entry = {"name": f"{s['case']} {s['target']} {label}", "unit": unit,
                     "value": round(v["median"], 4),
                     "range": f"{round(v['min'], 4)}..{round(v['max'], 4)}",
                     "extra": f"median of {v['n']} trials; run {doc['run_id']}"
                              + (f"; flags: {', '.join(s['flags'])}" if s["flags"] else "")}
            (bigger if better == "bigger" else smaller).append(entry)
    return bigger, smaller


def _dump(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def write(doc: dict, run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    validate(doc)
    _dump(run_dir / "results.json", doc)
    bigger, smaller = flat_entries(doc)
    _dump(run_dir / "benchmark-bigger.json", bigger)
    _dump(run_dir / "benchmark-smaller.json", smaller)
    return run_dir / "results.json"


def write_partial(doc: dict, run_dir: Path) -> None:
    """Checkpoint during a run (not validated): a crash keeps the trials done so far."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _dump(run_dir / "results.partial.json", doc)


def update_latest(run_dir: Path) -> Path:
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)
    return link


def load(path) -> dict:
    """A run from its folder (or the results.json itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    doc = json.loads(p.read_text())
    validate(doc)
    return doc


def summary_index(doc: dict) -> dict:
    return {(s["case"], s["target"]): s for s in doc["summaries"]}
