"""One trial: drive one profile against one running server and return a dict of figures.

    from vexbench.server import ServerProcess
    from vexbench.profiles import load_profiles
    from vexbench.trial import run_trial
    srv = ServerProcess.vex("build/epoll/production_server").start()
    t = run_trial(srv, load_profiles()["plaintext"], connections=100, duration=5,
                  work_dir="/tmp/x")
    t["figures"]["rps"], t["figures"]["cpu_us_per_req"], t["flags"]

Around the load generator it reads the server's own request counter (/metrics or nginx
stub_status) and its CPU time, RSS and context switches from /proc, so every trial carries
server CPU µs per request; the counts of server and load generator are cross-checked.
Non-2xx responses and socket errors are counted and flagged, never averaged away.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from . import ab, h2load, hyperfine, idle, metrics, openloop, procstats, s_time, wrk
from .profiles import Profile

LOADGEN_CPU = 1
REQUESTS_METRIC = "vex_requests_total"
LATENCY_HISTOGRAM = "vex_request_duration_seconds"


def _run(cmd: list, timeout: float) -> tuple:
    """Run a bounded command in its own session; kill its group on timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return p.returncode, out, err, True

def _run_tool(name: str, cmd: list, timeout: float, stem) -> str:
    """Run a load generator bounded in time, keep its output beside the trial's
    other files (<stem>.out), and raise naming it when it fails or times out."""
    rc, out, err, to = _run(cmd, timeout)
    Path(str(stem) + ".out").write_text(out + ("\n--- stderr ---\n" + err if err else ""))
    if to or rc != 0:
        raise RuntimeError(f"{name} {'timed out' if to else f'exit {rc}'}: "
                           f"{(err or out).strip()[-300:]}")
    return out



def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", s)


def _counters(server) -> dict | None:
    try:
        return server.counters()
    except (OSError, ValueError, metrics.ParseError):
        return None


def _server_figures(server, before_c, after_c, before_p, after_p, loadgen_requests: int) -> dict:
    out = procstats.delta(before_p, after_p)
    served = None
    if before_c and after_c and before_c.get("requests") is not None \
            and after_c.get("requests") is not None:
        served = int(after_c["requests"] - before_c["requests"])
        out["requests_source"] = after_c["source"]
    else:
        out["requests_source"] = "loadgen"
    out["server_requests"] = served
    denom = served if served else loadgen_requests
    cpu = out["cpu_sched_s"] if out.get("cpu_sched_s") is not None else out["cpu_s"]
    out["cpu_source"] = "schedstat" if out.get("cpu_sched_s") is not None else "stat"
    out["cpu_us_per_req"] = (cpu * 1e6 / denom) if denom else None
    out["cpu_us_per_req_stat"] = (out["cpu_s"] * 1e6 / denom) if denom else None
    if before_c and after_c and "scrape" in after_c and "scrape" in before_c:
        d = metrics.delta(before_c["scrape"], after_c["scrape"])
        out["metrics_delta"] = {k: v for k, v in d.items() if "_bucket{" not in k}
        b = metrics.histogram_buckets(d, LATENCY_HISTOGRAM)
        if b:
            out["server_latency_ms"] = {
                f"p{q}": (None if (v := metrics.histogram_quantile(q / 100, b)) is None
                          else v * 1000.0) for q in (50, 90, 99)}
    return out


def _notes(f: dict) -> list:
    """Caveats that do not make a trial wrong (unlike flags)."""
    notes = []
    if f.get("latency_invalid"):
        notes.append("wrk_percentile_invalid=" + ",".join(f["latency_invalid"]))
    reach = f.get("latency_reachable_pct")
    if reach is not None and reach < 99.9:
        # see scripts/wrk/report.lua: percentiles read over the reachable part of the histogram
        notes.append(f"wrk_latency_rescaled={reach:.1f}%")
    return notes


def _flags(f: dict, connections: int, pipeline: int) -> list:
    """Problems that make a trial's figures suspect: errors, missing or mismatched counts."""
    flags = []
    if f.get("non_2xx"):
        flags.append(f"non_2xx={f['non_2xx']}")
    if f.get("socket_errors"):
        flags.append(f"socket_errors={f['socket_errors']}")
    length = (f.get("errors") or {}).get("length")
    if length:
        flags.append(f"length_mismatch={length}")
    if not f.get("requests"):
        flags.append("no_requests")
    if f.get("idle_not_opened_by_deadline"):
        flags.append(f"idle_deadline: {f['idle_not_opened_by_deadline']} connections not opened in time")
    served, lg = f.get("server_requests"), f.get("requests") or 0
    if served is not None and lg:
        slack = max(0.02 * lg, connections * pipeline + 16)
        if abs(served - lg) > slack:
            flags.append(f"count_mismatch server={served} loadgen={lg}")
    return flags


def run_trial(server, profile: Profile, *, connections: int | None = None,
              duration: float = 5.0, work_dir: str | os.PathLike = "/tmp",
              loadgen_cpu: int | None = LOADGEN_CPU, warmup: bool = False,
              label: str = "", rate: float | None = None, loadgen=None) -> dict:
    """Run `profile` against `server` (a started ServerProcess) and return
    {target, case, warmup, command, ok, error, figures, flags, ...}."""
    conns = int(connections or profile.connections[0])
    case_id = f"{profile.name}@c{conns}"
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    stem = work / _slug(f"{case_id}-{server.name}-{label or int(time.time() * 1000)}")
    body_path = None
    if profile.body_data() and profile.tool in ("ab", "hyperfine"):
        body_path = str(stem) + ".body"
        Path(body_path).write_bytes(profile.body_data())
    url = server.url(profile.path)
    rec = {"target": server.name, "case": case_id, "profile": profile.name,
           "connections": conns, "warmup": warmup, "label": label,
           "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "command": None, "ok": False, "error": None, "figures": {}, "flags": [], "notes": []}

    if not server.alive():
        rec["error"] = "server not running"
        rec["flags"] = ["server_died"]
        return rec
    before_c, before_p = _counters(server), server.proc_stats()
    t0 = time.monotonic()
    try:
        if profile.tool == "wrk":
            script = str(stem) + ".lua"
            Path(script).write_text(wrk.lua_script(profile))
            cmd = wrk.command(url, profile, conns, duration, script, cpu=loadgen_cpu)
            rec["command"] = cmd
            out = _run_tool("wrk", cmd, duration + profile.timeout + 30 + conns / 500, stem)
            figs = wrk.figures(out)
        elif profile.tool == "openloop":
            # open loop at `rate` req/s (curve.py), latency from intended send times
            binary = loadgen or openloop.find_binary()
            if binary is None or not rate:
                raise ValueError("openloop needs build/<backend>/vex_loadgen and a rate")
            out_path = str(stem) + ".loadgen.json"
            cmd = openloop.command(binary, url, rate=rate, duration=duration,
                                   connections=conns, out=out_path, cpu=loadgen_cpu,
                                   schedule=profile.schedule, timeout=profile.timeout,
                                   method=profile.method, headers=profile.headers,
                                   body_bytes=len(profile.body_data()), label=label)
            rec["command"] = cmd
            rec["rate_rps"] = rate
            out = _run_tool("vex_loadgen", cmd, duration + profile.timeout + 30 + conns / 500, stem)
            figs = openloop.figures(openloop.load(out_path))
        elif profile.tool == "ab":
            csv_path = str(stem) + ".csv"
            cmd = ab.command(url, profile, conns, duration, csv_path, body_path, cpu=loadgen_cpu)
            rec["command"] = cmd
            out = _run_tool("ab", cmd, duration + profile.timeout + 30, stem)
            csv_text = Path(csv_path).read_text() if os.path.exists(csv_path) else None
            figs = ab.figures(out, csv_text)
        elif profile.tool == "h2load":
            cmd = h2load.command(url, profile, conns, cpu=loadgen_cpu)
            rec["command"] = cmd
            out = _run_tool("h2load", cmd, duration + profile.requests / 200 + 30, stem)
            figs = h2load.figures(out)
        elif profile.tool == "s_time":
            cmd = s_time.command(url, profile, duration, cpu=loadgen_cpu)
            rec["command"] = cmd
            t_start = time.monotonic()
            out = _run_tool("s_time", cmd, duration + 30, stem)
            elapsed = time.monotonic() - t_start
            figs = s_time.figures(out, elapsed)
        elif profile.tool == "hyperfine":
            json_path, csv_path = str(stem) + ".hyperfine.json", str(stem) + ".csv"
            cmd = hyperfine.fixed_work_command(url, profile, conns, json_path, csv_path,
                                               body_path, cpu=loadgen_cpu, name=server.name)
            rec["command"] = cmd
            out = _run_tool("hyperfine", cmd, profile.runs * (profile.requests / 500 + 70), stem)
            figs = hyperfine.figures(Path(json_path).read_text(), profile.requests, out)
        elif profile.tool == "idle":
            rec["command"] = ["(python) open_idle", server.host, str(server.port), str(conns),
                              profile.path]
            idle.raise_nofile(conns + 256)
            # Marginal cost: a first tenth of the connections warms what every
            # server pays once (io_uring's provided-buffer ring, allocator
            # arenas); the slope over the rest is the cost per idle connection.
            rss0 = server.proc_stats().rss_bytes
            warm_n = max(1, conns // 10)
            socks, errs = idle.open_idle(server.host, server.port, warm_n, profile.path,
                                         timeout=profile.timeout)
            try:
                time.sleep(0.2)
                rss_warm = server.proc_stats().rss_bytes
                n_warm = len(socks)
                more, errs2 = idle.open_idle(server.host, server.port, conns - warm_n,
                                             profile.path, timeout=profile.timeout)
                socks += more
                errs = {k: errs.get(k, 0) + errs2.get(k, 0) for k in set(errs) | set(errs2)}
                time.sleep(0.3)
                rss1 = server.proc_stats().rss_bytes
            finally:
                idle.close_all(socks)
            n = len(socks)
            figs = {"source": "idle", "requests": n, "duration_s": time.monotonic() - t0,
                    "rps": None, "latency_ms": {}, "errors": errs, "non_2xx": errs["status"],
                    "socket_errors": errs["connect"] + errs["read"],
                    "idle_not_opened_by_deadline": errs.get("deadline", 0),
                    "idle_connections": n, "rss_before_bytes": rss0,
                    "rss_warm_bytes": rss_warm, "warm_connections": n_warm,
                    "rss_after_bytes": rss1,
                    "mem_per_conn_bytes": (rss1 - rss_warm) / (n - n_warm) if n > n_warm else None,
                    "mem_per_conn_gross_bytes": (rss1 - rss0) / n if n else None}
        else:
            raise ValueError(f"unknown tool {profile.tool}")
    except (RuntimeError, ValueError, OSError) as e:
        rec["error"] = str(e)
        rec["elapsed_s"] = round(time.monotonic() - t0, 3)
        rec["flags"] = ["server_died"] if not server.alive() else ["tool_failed"]
        return rec
    rec["elapsed_s"] = round(time.monotonic() - t0, 3)
    after_p, after_c = server.proc_stats(), _counters(server)
    figs.update(_server_figures(server, before_c, after_c, before_p, after_p,
                                figs.get("requests") or 0))
    if profile.tool == "idle":
        figs["cpu_us_per_req"] = None       # connection set-up, not request serving
    rec["figures"] = figs
    rec["flags"] = _flags(figs, conns, profile.pipeline)
    rec["notes"] = _notes(figs)
    if not server.alive():
        rec["flags"].append("server_died")
    rec["ok"] = True
    return rec
