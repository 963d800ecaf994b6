"""A/B wall-clock pairs: the one piece of measurement the gate owns.

For every pair index, the cases (profile x backend) run in a shuffled order, and within a
case the base and the candidate run in a random order (A B or B A). Every pair starts
fresh server processes (so one unlucky address-space layout cannot bias a whole run),
pinned to CPU 0; wrk is pinned to CPU 1. A trial is a warm-up run of wrk, then the
measured run. Two schemes:

  concurrent (default)  base and candidate run at the same time, both servers on CPU 0,
                        one wrk each on CPU 1: interference from the rest of the machine
                        lands on both in the same instant and cancels in the ratio.
                        Measured here with a fuzzer and builds running: per-pair sd of
                        log(CPU/req ratio) about 1 %, against 8-10 % interleaved.
  interleaved           one after the other (A B / B A), each alone on CPU 0.

Launching and measuring reuse the harness (scripts/vexbench): ServerProcess starts and
stops the server, vexbench.trial.run_trial drives wrk and returns server CPU us per
request (on-CPU ns from /proc/PID/task/*/schedstat over the server's own request count
from /metrics) and req/s.
"""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from vexbench import profiles as vb_profiles
from vexbench import trial as vb_trial
from vexbench import wrk as vb_wrk
from vexbench.server import ServerProcess, ServerError, BackendUnavailable


@dataclasses.dataclass(frozen=True)
class Load:
    """What wrk does in one trial (a subset of a bench profile)."""
    name: str = "pipeline"
    path: str = "/"
    connections: int = 32
    pipeline: int = 16
    threads: int = 1
    timeout_s: float = 2.0

    @property
    def id(self) -> str:
        return f"{self.name}@c{self.connections}"

    def profile(self) -> "vb_profiles.Profile":
        return vb_profiles.Profile(name=self.name, tool="wrk", path=self.path,
                                   connections=(self.connections,), threads=self.threads,
                                   pipeline=self.pipeline, timeout=self.timeout_s)


def load_from_profile(spec: str) -> Load:
    """`name` or `name@cN`, resolved against bench/profiles/<name>.toml (wrk profiles)."""
    name, _, conns = spec.partition("@")
    profs = vb_profiles.load_profiles()
    if name not in profs:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(profs))}")
    p = profs[name]
    if p.tool != "wrk" or p.method != "GET" or p.body or p.body_bytes:
        raise ValueError(f"profile {name} is not a GET wrk profile; the gate drives wrk GETs")
    c = int(conns.lstrip("c")) if conns else int(p.connections[0])
    return Load(name=name, path=p.path, connections=c, pipeline=p.pipeline,
                threads=p.threads, timeout_s=p.timeout)


# ------------------------------------------------------------------------- one trial
@dataclasses.dataclass
class Target:
    """One side of the comparison: a production_server binary."""
    label: str                       # "base" or "candidate"
    binary: str
    args: tuple = ()                 # extra server flags (ci/cost.py: a feature switched on)


def run_trial(target: Target, load: Load, *, warmup: int = 1, duration: int = 2,
              server_cpu: int | None = 0, client_cpu: int | None = 1,
              log_dir: Path | None = None) -> dict:
    """Start a fresh server (pinned), warm it up with `warmup` s of the load, then measure
    `duration` s with vexbench.trial.run_trial (server CPU from schedstat, requests from
    the server's /metrics counter). Returns {ok, error, cpu_us_per_req, rps, ...}."""
    work = Path(log_dir or tempfile.mkdtemp(prefix="gate-trial-"))
    srv = ServerProcess.vex(target.binary, cpu=server_cpu, threads=1, stats_interval=0,
                            extra_args=target.args, name=target.label, log_dir=work,
                            ready_timeout=20)
    out = {"target": target.label, "load": load.id, "ok": False}
    prof = load.profile()
    try:
        srv.start()
        if warmup > 0:
            w = vb_trial.run_trial(srv, prof, connections=load.connections, duration=warmup,
                                   work_dir=work, loadgen_cpu=client_cpu, warmup=True,
                                   label="warmup")
            if not w["ok"]:
                raise RuntimeError(f"warm-up failed: {w['error']}")
        c0, w0 = cpu_busy(), time.monotonic()
        t = vb_trial.run_trial(srv, prof, connections=load.connections, duration=duration,
                               work_dir=work, loadgen_cpu=client_cpu, label="measure")
        c1, w1 = cpu_busy(), time.monotonic()
        f = t.get("figures") or {}
        cpu_s = f.get("cpu_sched_s") if f.get("cpu_sched_s") is not None else f.get("cpu_s")
        out.update({"rps": f.get("rps"), "cpu_us_per_req": f.get("cpu_us_per_req"),
                    "cpu_source": f.get("cpu_source"), "cpu_s": cpu_s,
                    "machine": machine_load(c0, c1, w1 - w0, server_cpu, client_cpu,
                                            cpu_s or 0.0),
                    "requests_source": f.get("requests_source"),
                    "requests": f.get("server_requests") or f.get("requests"),
                    "latency_ms": f.get("latency_ms"), "errors": f.get("errors"),
                    "flags": t.get("flags"), "command": t.get("command")})
        if not t["ok"]:
            out["error"] = t.get("error") or "trial failed"
        elif t.get("flags"):
            out["error"] = "flagged: " + ", ".join(t["flags"])
        elif not out["cpu_us_per_req"] or not out["rps"]:
            out["error"] = "no CPU-per-request or req/s figure"
        else:
            out["ok"] = True
    except BackendUnavailable as e:
        out["error"] = f"backend unavailable: {e}"
        out["unavailable"] = True
    except (ServerError, RuntimeError, ValueError, OSError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if srv.proc is not None:
            res = srv.stop()
            out["server_exit"] = res.get("exit_code")
    return out


# ------------------------------------------------------------------------- concurrent pair
def _start(target: Target, cpu, work: Path) -> ServerProcess:
    return ServerProcess.vex(target.binary, cpu=cpu, threads=1, stats_interval=0,
                             extra_args=target.args, name=target.label, log_dir=work,
                             ready_timeout=20).start()


def _snap(srv: ServerProcess) -> tuple:
    c = srv.counters()
    req = c.get("requests") if c else None
    return srv.proc_stats().sched_ns, (None if req is None else int(req))


def cpu_busy() -> dict:
    """{cpu index: (busy seconds, steal seconds)} from /proc/stat; busy is everything but
    idle and iowait, steal included (time the hypervisor gave to other guests)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3:4].isdigit():
                    name, *v = line.split()
                    v = [int(x) for x in v[:8]]
                    out[int(name[3:])] = ((sum(v) - v[3] - v[4]) / tick, v[7] / tick)
    except OSError:
        pass
    return out


def machine_load(before: dict, after: dict, window: float, server_cpu, client_cpu,
                 ours_s: float) -> dict:
    """Busy fractions of the server and load-generator CPUs over a window, and the share of
    the server CPU that our servers used (`server_util`): below ~0.8 the load generator
    did not keep them busy, and CPU per request is then measured in another regime."""
    def frac(cpu, k):
        if cpu is None or cpu not in before or cpu not in after or window <= 0:
            return None
        return round((after[cpu][k] - before[cpu][k]) / window, 3)
    return {"window_s": round(window, 3), "server_cpu_busy": frac(server_cpu, 0),
            "client_cpu_busy": frac(client_cpu, 0), "server_cpu_steal": frac(server_cpu, 1),
            "client_cpu_steal": frac(client_cpu, 1),
            "server_util": round(ours_s / window, 3) if window > 0 else None}


def _two_wrk(servers: list, load: Load, seconds: int, cpu, work: Path) -> list:
    """Run one wrk per server at the same time (both pinned to `cpu`); figures of each."""
    prof = load.profile()
    script = work / f"{load.name}-p{load.pipeline}.lua"
    script.write_text(vb_wrk.lua_script(prof))
    procs = []
    for s in servers:
        cmd = vb_wrk.command(s.url(load.path), prof, load.connections, seconds, str(script),
                             cpu=cpu)
        procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True, stdin=subprocess.DEVNULL,
                                            start_new_session=True)))
    out = []
    for cmd, p in procs:
        try:
            so, se = p.communicate(timeout=seconds + load.timeout_s + 30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise RuntimeError("wrk did not finish in time") from None
        if p.returncode != 0:
            raise RuntimeError(f"wrk exit {p.returncode}: {(se or so).strip()[-300:]}")
        f = vb_wrk.figures(so)
        f["command"] = cmd
        out.append(f)
    return out


def run_concurrent_pair(base: Target, cand: Target, load: Load, *, base_first: bool,
                        warmup: int = 1, duration: int = 2, server_cpu=0, client_cpu=1,
                        log_dir: Path | None = None) -> dict:
    """Both servers at once on `server_cpu`, each driven by its own wrk on `client_cpu`:
    whatever else the machine does in that window hits both alike, so the per-pair ratio
    cancels it. Start and launch order follow `base_first`."""
    work = Path(log_dir or tempfile.mkdtemp(prefix="gate-pair-"))
    work.mkdir(parents=True, exist_ok=True)
    targets = [base, cand] if base_first else [cand, base]
    servers: list = []
    res = {t.label: {"target": t.label, "load": load.id, "ok": False} for t in targets}
    try:
        for t in targets:
            servers.append(_start(t, server_cpu, work))
        if warmup > 0:
            _two_wrk(servers, load, warmup, client_cpu, work)
        before = [_snap(s) for s in servers]
        cpus0, t0 = cpu_busy(), time.monotonic()
        figs = _two_wrk(servers, load, duration, client_cpu, work)
        cpus1, t1 = cpu_busy(), time.monotonic()
        after = [_snap(s) for s in servers]
        window = t1 - t0
        for t, s, b, a, f in zip(targets, servers, before, after, figs):
            r = res[t.label]
            served = (a[1] - b[1]) if a[1] is not None and b[1] is not None else None
            denom = served or f["requests"]
            cpu_ns = (a[0] - b[0]) if a[0] is not None and b[0] is not None else None
            r.update({"rps": f["rps"], "requests": denom,
                      "requests_source": "metrics" if served else "loadgen",
                      "cpu_source": "schedstat", "cpu_s": (cpu_ns or 0) / 1e9,
                      "window_s": window,
                      "cpu_us_per_req": cpu_ns / 1e3 / denom if cpu_ns and denom else None,
                      "latency_ms": f.get("latency_ms"), "errors": f.get("errors"),
                      "command": f.get("command")})
            bad = (f.get("non_2xx") or 0) + (f.get("socket_errors") or 0)
            if not s.alive():
                r["error"] = "server died during the trial"
            elif bad > 0.001 * max(1, f["requests"]):
                r["error"] = f"{bad} errors in {f['requests']} requests: {f.get('errors')}"
            elif not r["cpu_us_per_req"] or not r["rps"]:
                r["error"] = "no CPU-per-request or req/s figure"
            else:
                r["ok"] = True
        # How busy the server CPU was with our two servers, and with anything else.
        ours = sum(res[t.label].get("cpu_s", 0) for t in targets)
        load_info = machine_load(cpus0, cpus1, window, server_cpu, client_cpu, ours)
        for r in res.values():
            r["machine"] = load_info
    except BackendUnavailable as e:
        for r in res.values():
            r.update(error=f"backend unavailable: {e}", unavailable=True)
    except (ServerError, RuntimeError, ValueError, OSError) as e:
        for r in res.values():
            if not r["ok"]:
                r["error"] = r.get("error") or f"{type(e).__name__}: {e}"
    finally:
        for s in servers:
            if s.proc is not None:
                code = s.stop().get("exit_code")
                res[s.name]["server_exit"] = code
    return res


# ------------------------------------------------------------------------- A/B pairs
@dataclasses.dataclass
class Case:
    load: Load
    backend: str
    base: Target
    cand: Target

    @property
    def id(self) -> str:
        return f"{self.load.id}/{self.backend}"


SCHEMES = ("concurrent", "interleaved")


def run_pairs(cases: list, *, pairs: int = 10, scheme: str = "concurrent", warmup: int = 1,
              duration: int = 2, seed: int | None = None, deadline: float | None = None,
              server_cpu=0, client_cpu=1, log_dir: Path | None = None, progress=print,
              max_consecutive_failures: int = 3, first_index: int = 0,
              max_steal: float = 0.10, max_idle: float = 1.0) -> dict:
    """`pairs` A/B pairs of every case, bounded by `deadline` (time.monotonic()).

    Per pair index the cases run in a shuffled order; within a pair the order of base and
    candidate is random (A B or B A). scheme "interleaved": one trial after the other,
    each with a fresh server. scheme "concurrent": both at once (run_concurrent_pair).
    A pair counts only if the measurement ran in the intended regime (see disturbed()):
    otherwise the servers' cost per request rises several-fold and a fixed slowdown
    shrinks in proportion, so such pairs are rejected (and counted), never averaged in.
    Returns {case_id: {"pairs": [...], "failures": [...], "rejected": [...],
    "stopped": None|reason}}."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}")
    rng = random.Random(seed)
    tmp = Path(log_dir or tempfile.mkdtemp(prefix="gate-trials-"))
    out = {c.id: {"case": c.id, "load": dataclasses.asdict(c.load), "backend": c.backend,
                  "scheme": scheme, "pairs": [], "failures": [], "rejected": [],
                  "stopped": None}
           for c in cases}
    active = list(cases)
    total = first_index + pairs
    for i in range(first_index, total):
        if not active:
            break
        if deadline is not None and time.monotonic() > deadline:
            for c in active:
                out[c.id]["stopped"] = f"time budget reached after {i} pair(s)"
            break
        order = active[:]
        rng.shuffle(order)
        for c in order:
            first_base = rng.random() < 0.5
            work = tmp / c.id.replace("/", "_") / f"pair{i:03d}"
            if scheme == "concurrent":
                res = run_concurrent_pair(c.base, c.cand, c.load, base_first=first_base,
                                          warmup=warmup, duration=duration,
                                          server_cpu=server_cpu, client_cpu=client_cpu,
                                          log_dir=work)
            else:
                res = {}
                for t in ([c.base, c.cand] if first_base else [c.cand, c.base]):
                    res[t.label] = run_trial(t, c.load, warmup=warmup, duration=duration,
                                             server_cpu=server_cpu, client_cpu=client_cpu,
                                             log_dir=work)
                    if not res[t.label]["ok"]:
                        break
            rec = out[c.id]
            pair = {"index": i, "order": "AB" if first_base else "BA",
                    "base": res.get(c.base.label), "cand": res.get(c.cand.label)}
            why = disturbed(pair, scheme, max_steal=max_steal, max_idle=max_idle)
            if all(r and r["ok"] for r in (pair["base"], pair["cand"])) and why:
                rec["rejected"].append({"index": i, "why": why,
                                        "machine": [pair["base"].get("machine"),
                                                    pair["cand"].get("machine")]})
                progress(f"  pair {i + 1:>2}/{total} {c.id:<24} REJECTED: {why}")
            elif all(r and r["ok"] for r in (pair["base"], pair["cand"])):
                rec["pairs"].append(pair)
                b, k = pair["base"], pair["cand"]
                progress(f"  pair {i + 1:>2}/{total} {c.id:<24} {pair['order']}  cpu/req "
                         f"{b['cpu_us_per_req']:.3f} -> {k['cpu_us_per_req']:.3f} us "
                         f"({(k['cpu_us_per_req'] / b['cpu_us_per_req'] - 1) * 100:+.1f}%)  "
                         f"req/s {b['rps']:.0f} -> {k['rps']:.0f}")
            else:
                bad = next(r for r in (pair["base"], pair["cand"]) if r and not r["ok"])
                rec["failures"].append({"index": i, "target": bad["target"],
                                        "error": bad.get("error")})
                progress(f"  pair {i + 1:>2}/{total} {c.id:<24} FAILED ({bad['target']}): "
                         f"{bad.get('error')}")
                recent = [f["index"] for f in rec["failures"][-max_consecutive_failures:]]
                if bad.get("unavailable") or recent == list(
                        range(i - max_consecutive_failures + 1, i + 1)):
                    rec["stopped"] = f"stopped after failures: {bad.get('error')}"
                    active.remove(c)
    return out


def disturbed(pair: dict, scheme: str, *, max_steal: float = 0.10,
              max_idle: float = 1.0) -> str | None:
    """Why a pair was not measured in the intended regime, or None. Two checks per trial,
    from /proc/stat over the measured window:
      - hypervisor steal above `max_steal` on the server or the load generator CPU (seen
        here at 25-80 %: the load generator then crawls and CPU per request goes up
        tenfold, with the ratio swinging by +-30 %);
      - optionally (`max_idle` < 1), the server CPU idle more than `max_idle` of the
        window. Off by default: with two servers sharing CPU 0 and two wrk sharing CPU 1,
        wrk is the bottleneck in the normal regime (CPU 0 is 40-60 % busy), which is
        stable; it is the steal that moves the regime.
    Trials without the figures (concurrent and interleaved alike) are not judged."""
    for side in ("base", "cand"):
        m = (pair.get(side) or {}).get("machine") or {}
        for cpu in ("server", "client"):
            st = m.get(f"{cpu}_cpu_steal")
            if st is not None and st > max_steal:
                return (f"hypervisor steal {st * 100:.0f}% on the {cpu} CPU "
                        f"(limit {max_steal * 100:g}%)")
        busy = m.get("server_cpu_busy")
        if busy is not None and 1 - busy > max_idle:
            return (f"server CPU idle {(1 - busy) * 100:.0f}% of the window: the load "
                    f"generator did not keep the servers busy (limit {max_idle * 100:g}%)")
        if scheme == "concurrent":
            break            # one window for both
    return None


def merge_runs(rec: dict, more: dict) -> None:
    """Fold a later run_pairs record of the same case (more pairs after an inconclusive
    verdict) into rec."""
    for key in ("pairs", "failures", "rejected"):
        rec[key] += more[key]
    rec["stopped"] = more["stopped"] or rec["stopped"]


def samples(rec: dict, metric: str) -> tuple:
    """(base values, candidate values) of `metric` over the valid pairs of one case."""
    return ([p["base"][metric] for p in rec["pairs"]], [p["cand"][metric] for p in rec["pairs"]])
