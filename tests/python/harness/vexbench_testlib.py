"""Helpers shared by the harness tests (a module of its own, not conftest, so that test
files can import it whatever other conftest.py files exist under tests/)."""
import os
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts"
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(SCRIPTS))

from vexbench import results  # noqa: E402


def built(backend):
    """build/<backend>/production_server, or skip the test naming what to build."""
    import pytest
    p = ROOT / "build" / backend / "production_server"
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.skip(f"{p} not built: run make BACKEND={backend}")
    return p


def have(*tools):
    return all(shutil.which(t) or os.path.exists(f"/usr/sbin/{t}") for t in tools)


def make_doc(targets=("epoll", "io_uring", "nginx"), trials=3, seed=1, rps_scale=None,
             run_id="20250101T000000Z-abc1234"):
    """A synthetic but schema-complete results document: a sweep (plaintext at 3 levels),
    a pipelined case, an ab case, an idle-memory case and a hyperfine case."""
    rng = random.Random(seed)
    rps_scale = rps_scale or {}
    spec = {"method": "GET", "path": "/"}
    cases = [("plaintext", "wrk", c) for c in (100, 1000, 10000)] + \
            [("pipeline", "wrk", 256), ("churn", "ab", 50), ("memory-idle", "idle", 1000),
             ("fixed-work", "hyperfine", 50)]
    case_recs = [{"id": f"{p}@c{c}", "profile": p, "tool": tool, "connections": c,
                  "duration_s": 2.0, "warmup_s": 1.0, "spec": spec, "status": "ok"}
                 for p, tool, c in cases]
    case_recs.append({"id": "bytes-64k@c100", "profile": "bytes-64k", "tool": "wrk",
                      "connections": 100, "duration_s": 2.0, "warmup_s": 1.0, "spec": spec,
                      "status": "skipped", "reason": "missing wrk: apt-get install wrk"})
    trial_recs = []
    base = {"epoll": 60000, "io_uring": 70000, "poll": 50000, "nginx": 55000}
    for p, tool, c in cases:
        for n in range(1, trials + 1):
            for t in targets:
                scale = rps_scale.get(t, 1.0)
                rps = base.get(t, 40000) * scale * rng.uniform(0.9, 1.1) * (3 if p == "pipeline" else 1)
                f = {"requests": int(rps * 2), "duration_s": 2.0, "rps": rps, "bytes": int(rps * 150),
                     "non_2xx": 0, "socket_errors": 0,
                     "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0},
                     "server_requests": int(rps * 2), "requests_source": "metrics",
                     "cpu_s": 1.0, "cpu_us_per_req": 1e6 / rps * rng.uniform(0.95, 1.05),
                     "ctx_voluntary": 100, "ctx_involuntary": 10,
                     "latency_ms": {"p50": 0.2 * c / 100 + rng.random() * 0.01,
                                    "p90": 0.5 * c / 100, "p99": 2.0 * c / 100,
                                    "p99.9": 5.0 * c / 100, "p99.99": 9.0 * c / 100}}
                if tool == "ab":
                    f["latency_ms"] = {"p50": 0.5, "p90": 1.0, "p99": 3.0}
                if tool == "idle":
                    f.update(rps=None, latency_ms={}, cpu_us_per_req=None,
                             mem_per_conn_bytes=rng.uniform(400, 600) * scale)
                if tool == "hyperfine":
                    f.update(latency_ms={}, wall_s={"median_s": 20000 / rps, "mean_s": 20000 / rps,
                                                    "min_s": 0.3, "max_s": 0.4, "stddev_s": 0.01})
                flags = []
                if t == "nginx" and p == "churn" and n == 1:
                    f["socket_errors"] = 3
                    f["errors"]["read"] = 3
                    flags.append("socket_errors=3")
                trial_recs.append({"target": t, "case": f"{p}@c{c}", "profile": p,
                                   "connections": c, "warmup": False, "trial": n,
                                   "command": ["wrk"], "ok": True, "error": None,
                                   "figures": f, "flags": flags})
    targets_recs = [{"name": t, "kind": "peer" if t in ("nginx", "h2o") else "backend",
                     "status": "ok"} for t in targets]
    targets_recs.append({"name": "kqueue", "kind": "backend", "status": "skipped",
                         "reason": "kqueue is a BSD/macOS API: not available on Linux"})
    doc = {"schema": results.SCHEMA, "run_id": run_id,
           "started_utc": "2025-01-01T00:00:00+00:00", "finished_utc": "2025-01-01T00:05:00+00:00",
           "environment": {"kernel": "6.1.0", "os": "Debian GNU/Linux 12", "cpu_model": "Test CPU",
                           "cores": 2, "git": {"commit": "abc1234" + "0" * 33, "short": "abc1234",
                                               "dirty": False}},
           "options": {"selection": "quick", "plan": {"trials": trials, "duration_s": 2.0,
                                                      "warmup_s": 1.0}, "seed": seed},
           "pinning": {"server_cpu": 0, "loadgen_cpu": 1, "server_threads": 1,
                       "note": "server pinned to CPU 0 and load generator to CPU 1 with taskset"},
           "targets": targets_recs, "cases": case_recs, "trials": trial_recs,
           "summaries": results.summarize(trial_recs), "hyperfine": {}}
    results.validate(doc)
    return doc
