"""vex_loadgen (bench/loadgen/): open-loop load at a fixed rate, latency from each
request's intended send time. Command line, output parsing, figures in the shape of the
other tools' (requests, rps, latency_ms, errors, non_2xx, socket_errors) plus the raw
histogram (sparse in results.json, exact) and the offered rate.

    cmd = openloop.command(binary, url, rate=1000, duration=10, connections=16,
                           out="/tmp/x.json", cpu=1)
    figs = openloop.figures(json.load(open("/tmp/x.json")))
"""
from __future__ import annotations

import json
from pathlib import Path

from .histogram import Histogram
from .profiles import ROOT

SCHEMA = "vex-loadgen/1"
GENERATOR_BACKENDS = ("epoll", "io_uring", "poll", "kqueue")


def find_binary(build_dir: Path = ROOT / "build", backend: str | None = None) -> Path | None:
    """build/<backend>/vex_loadgen: the given backend, else the first one built."""
    for b in ([backend] if backend else GENERATOR_BACKENDS):
        p = Path(build_dir) / b / "vex_loadgen"
        if p.is_file():
            return p
    return None


def command(binary, url: str, *, rate: float, duration: float, connections: int,
            out: str | None, cpu: int | None = 1, schedule: str = "constant", seed: int = 1,
            timeout: float = 10.0, method: str = "GET", headers=(), body_bytes: int = 0,
            label: str = "", start_on_stdin: bool = False) -> list:
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd += [str(binary), "--url", url, "--rate", f"{rate:.3f}", "--duration", f"{duration:g}",
            "--connections", str(connections), "--schedule", schedule, "--seed", str(seed),
            "--timeout", f"{timeout:g}", "--method", method.upper()]
    if out:
        cmd += ["--out", str(out)]
    for k, v in headers:
        cmd += ["--header", f"{k}: {v}"]
    if body_bytes:
        cmd += ["--body-bytes", str(body_bytes)]
    if label:
        cmd += ["--label", label]
    if start_on_stdin:
        cmd.append("--start-on-stdin")
    return cmd


def load(path) -> dict:
    doc = json.loads(Path(path).read_text())
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} document")
    return doc


def sparse(h: Histogram) -> dict:
    """Every non-empty bucket as "index:count" pairs joined by commas, in one string:
    exact, and small in results.json (which is indented, one list item per line)."""
    d = h.to_json()
    d.pop("counts")
    d["nonzero"] = ",".join(f"{i}:{c}" for i, c in enumerate(h.counts) if c)
    return d


def from_sparse(d: dict) -> Histogram:
    full = dict(d)
    counts = [0] * len(Histogram().counts)
    nz = d["nonzero"]
    pairs = (p.split(":") for p in nz.split(",") if p) if isinstance(nz, str) else nz
    for i, c in pairs:
        counts[int(i)] = int(c)
    full.pop("nonzero")
    full["counts"] = counts
    return Histogram.from_json(full)


def figures_from_histogram(h: Histogram, *, requests: int, duration_s: float,
                           errors: dict, non_2xx: int, offered_rps: float | None) -> dict:
    lat = h.percentiles_ms()
    socket = sum(errors.get(k, 0) for k in ("connect", "read", "parse", "timeout",
                                            "dropped", "unfinished"))
    return {"source": "vex_loadgen", "requests": requests, "duration_s": duration_s,
            "rps": requests / duration_s if duration_s else 0.0, "offered_rps": offered_rps,
            "latency_ms": lat, "errors": dict(errors, status=non_2xx), "non_2xx": non_2xx,
            "socket_errors": socket, "histogram": sparse(h)}


def figures(doc: dict) -> dict:
    h = Histogram.from_json(doc["histogram"])
    f = figures_from_histogram(h, requests=int(doc["completed"]),
                               duration_s=float(doc["duration_s"]), errors=doc["errors"],
                               non_2xx=int(doc["non_2xx"]), offered_rps=float(doc["rate_rps"]))
    lag = Histogram.from_json(doc["send_lag_histogram"])
    f.update(scheduled=doc["scheduled"], sent=doc["sent"], queued=doc.get("queued", 0),
             reconnects=doc.get("reconnects", 0), generator_backend=doc.get("backend"),
             send_lag_ms={"p50": lag.percentile(50) / 1e6, "p99": lag.percentile(99) / 1e6,
                          "max": lag.max / 1e6})
    return f


def merge_figures(docs: list) -> dict:
    """Several clients' outputs (one run, several hosts) as one: counts added, histograms
    merged bucket by bucket, rates summed."""
    if not docs:
        raise ValueError("nothing to merge")
    h = Histogram.merged(Histogram.from_json(d["histogram"]) for d in docs)
    errors: dict = {}
    for d in docs:
        for k, v in d["errors"].items():
            errors[k] = errors.get(k, 0) + v
    dur = max(float(d["duration_s"]) for d in docs)
    f = figures_from_histogram(h, requests=sum(int(d["completed"]) for d in docs),
                               duration_s=dur, errors=errors,
                               non_2xx=sum(int(d["non_2xx"]) for d in docs),
                               offered_rps=sum(float(d["rate_rps"]) for d in docs))
    lag = Histogram.merged(Histogram.from_json(d["send_lag_histogram"]) for d in docs)
    f["send_lag_ms"] = {"p50": lag.percentile(50) / 1e6, "p99": lag.percentile(99) / 1e6,
                        "max": lag.max / 1e6}
    f["queued"] = sum(d.get("queued", 0) for d in docs)
    f["scheduled"] = sum(d["scheduled"] for d in docs)
    f["sent"] = sum(d["sent"] for d in docs)
    f["clients"] = len(docs)
    f["start_unix_ns"] = [d.get("start_unix_ns") for d in docs]
    return f
