"""hyperfine (1.15) for whole-command timing: fixed-work load runs (ab -n N) and the build
of each backend (`--parameter-list backend ...`). Results come from `--export-json`."""
from __future__ import annotations

import json
import shlex

from . import ab
from .profiles import Profile


def fixed_work_command(url: str, profile: Profile, connections: int, json_path: str,
                       csv_path: str, body_path: str | None = None, cpu: int | None = 1,
                       name: str = "target") -> list:
    """hyperfine timing `profile.runs` runs of `ab -n profile.requests` against url."""
    inner = ab.command(url, profile, connections, 60, csv_path, body_path,
                       requests=profile.requests, cpu=cpu)
    return ["hyperfine", "--runs", str(profile.runs), "--warmup", "0",
            "--show-output", "--export-json", json_path, "--command-name", name,
            shlex.join(inner)]


def build_command(backends: list, build_root: str, json_path: str, runs: int = 2,
                  jobs: int = 2, make_args=()) -> list:
    """Time a clean build of each backend into build_root/<backend> (never build/)."""
    extra = " ".join(shlex.quote(a) for a in make_args)
    return ["hyperfine", "--runs", str(runs), "--warmup", "0", "--style", "basic",
            "--export-json", json_path,
            "--prepare", f"rm -rf {shlex.quote(build_root)}/{{backend}}",
            "--parameter-list", "backend", ",".join(backends),
            "--command-name", "build {backend}",
            f"make -s -j{jobs} BACKEND={{backend}} B={shlex.quote(build_root)}/{{backend}} {extra}".strip()]


def parse_export(text: str) -> list:
    """--export-json -> [{command, mean_s, stddev_s, median_s, min_s, max_s, times_s,
    parameters, exit_codes}]"""
    data = json.loads(text)
    out = []
    for r in data.get("results", []):
        out.append({
            "command": r.get("command"),
            "mean_s": r.get("mean"), "stddev_s": r.get("stddev"), "median_s": r.get("median"),
            "min_s": r.get("min"), "max_s": r.get("max"),
            "user_s": r.get("user"), "system_s": r.get("system"),
            "times_s": r.get("times", []), "exit_codes": r.get("exit_codes", []),
            "parameters": r.get("parameters", {}),
        })
    return out


def ab_summaries(stdout: str) -> list:
    """The ab summaries that --show-output passed through, one per run."""
    chunks = stdout.split("This is ApacheBench")[1:]
    return [ab.parse_text(c) for c in chunks]


def figures(export_text: str, requests_per_run: int, stdout: str = "") -> dict:
    """Timing from the export; errors and request counts from the ab summaries in stdout."""
    res = parse_export(export_text)
    if not res:
        raise ValueError("hyperfine export has no results")
    r = res[0]
    med = r["median_s"] or 0.0
    runs = ab_summaries(stdout)
    errors = {"connect": 0, "read": 0, "length": 0, "exceptions": 0, "write": 0, "status": 0}
    for t in runs:
        fk = t["failed_by_kind"]
        errors["connect"] += fk["connect"]
        errors["read"] += fk["receive"]
        errors["length"] += fk["length"]
        errors["exceptions"] += fk["exceptions"]
        errors["write"] += t["write_errors"]
        errors["status"] += t["non_2xx"]
    completed = sum(t["complete"] for t in runs) if runs else requests_per_run * len(r["times_s"])
    return {
        "source": "hyperfine",
        "requests": completed,
        "duration_s": sum(r["times_s"]),
        "rps": requests_per_run / med if med else 0.0,
        "wall_s": {k: r[k] for k in ("mean_s", "stddev_s", "median_s", "min_s", "max_s")},
        "times_s": r["times_s"],
        "latency_ms": {},
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["exceptions"] + errors["write"],
        "errors": errors,
        "ab_runs_parsed": len(runs),
    }
