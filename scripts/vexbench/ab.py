"""ApacheBench (ab, apache2-utils) runner and parsers: the stdout summary and the `-e`
percentile CSV. ab is single-threaded and speaks HTTP/1.0; without -k it opens a new
connection per request (the churn profile)."""
from __future__ import annotations

import csv
import io
import math
import re

from .profiles import Profile

CSV_PERCENTILES = (50, 75, 90, 99, 100)


def command(url: str, profile: Profile, connections: int, duration: float | None,
            csv_path: str, body_path: str | None = None, requests: int | None = None,
            cpu: int | None = 1, quiet: bool = True) -> list:
    """Bounded in time (-t, whole seconds) and in count (-n, given after -t so it wins over
    the 50000 that -t implies). `-r`: socket errors are counted, not fatal."""
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd += ["ab"]
    if quiet:
        cmd += ["-q"]
    if duration:
        cmd += ["-t", str(max(1, math.ceil(duration)))]
    n = requests or profile.requests or 50000
    cmd += ["-n", str(max(n, connections)), "-c", str(connections), "-r",
            "-s", str(max(1, math.ceil(profile.timeout))), "-e", csv_path]
    if profile.keepalive:
        cmd += ["-k"]
    if profile.method.upper() == "HEAD":
        cmd += ["-i"]
    elif profile.method.upper() != "GET" or profile.body_data():
        if body_path:
            cmd += ["-p", body_path, "-T", profile.content_type]
        if profile.method.upper() not in ("GET", "POST"):
            cmd += ["-m", profile.method.upper()]
    for k, v in profile.headers:
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    return cmd


def _num(text: str, label: str, cast=float, default=None):
    m = re.search(rf"^{re.escape(label)}:\s+([\d.]+)", text, re.M)
    return cast(m.group(1)) if m else default


def parse_text(text: str) -> dict:
    out = {
        "complete": _num(text, "Complete requests", int, 0),
        "failed": _num(text, "Failed requests", int, 0),
        "time_taken_s": _num(text, "Time taken for tests", float, 0.0),
        "rps": _num(text, "Requests per second", float, 0.0),
        "keepalive_requests": _num(text, "Keep-Alive requests", int, 0),
        "total_transferred": _num(text, "Total transferred", int, 0),
        "html_transferred": _num(text, "HTML transferred", int, 0),
        "document_length": _num(text, "Document Length", int, None),
        "concurrency": _num(text, "Concurrency Level", int, None),
        "non_2xx": _num(text, "Non-2xx responses", int, 0),
        "write_errors": _num(text, "Write errors", int, 0),
        "mean_ms": _num(text, "Time per request", float, None),
    }
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    out["failed_by_kind"] = dict(zip(("connect", "receive", "length", "exceptions"),
                                     map(int, m.groups()))) if m else {
        "connect": 0, "receive": 0, "length": 0, "exceptions": 0}
    pct = {}
    for q, v in re.findall(r"^\s+(\d+)%\s+(\d+)", text, re.M):
        pct[int(q)] = float(v)
    out["percentiles_ms"] = pct
    return out


def parse_csv(text: str) -> dict:
    """ab -e: 'Percentage served,Time in ms' rows for 0..100 -> {percent: ms}."""
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) != 2 or not row[0].strip().replace(".", "").isdigit():
            continue
        out[int(float(row[0]))] = float(row[1])
    return out


def figures(stdout: str, csv_text: str | None) -> dict:
    t = parse_text(stdout)
    if not t["complete"] and not t["time_taken_s"]:
        raise ValueError("ab output has no summary")
    pct = parse_csv(csv_text) if csv_text else {}
    lat = {f"p{q}": pct[q] for q in (50, 90, 99) if q in pct}
    if 100 in pct:
        lat["max"] = pct[100]
    if t["mean_ms"] is not None and t["concurrency"]:
        lat["mean"] = t["mean_ms"]      # ab's first "Time per request" (concurrent mean)
    fk = t["failed_by_kind"]
    errors = {"connect": fk["connect"], "read": fk["receive"], "length": fk["length"],
              "exceptions": fk["exceptions"], "write": t["write_errors"], "status": t["non_2xx"],
              "timeout": 0}
    return {
        "source": "ab",
        "requests": t["complete"],
        "duration_s": t["time_taken_s"],
        "rps": t["rps"],
        "bytes": t["total_transferred"],
        "latency_ms": lat,
        "non_2xx": t["non_2xx"],
        "socket_errors": fk["connect"] + fk["receive"] + fk["exceptions"] + t["write_errors"],
        "errors": errors,
        "keepalive_requests": t["keepalive_requests"],
    }
