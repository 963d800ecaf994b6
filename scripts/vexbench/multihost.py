"""Runs with an inventory (inventory.py): servers on the server host, load generators on
every client host, started at one agreed moment, their raw histograms merged exactly.

Per trial: every client is started with a barrier (vex_loadgen --start-on-stdin connects
first and prints `ready`; wrk runs under `sh -c 'echo ready; read go; exec wrk ...'`).
When all are ready the harness sends `go <UNIX_NS>` (now + 300 ms) to all: vex_loadgen
starts at that wall-clock moment (hosts' clocks must agree, e.g. NTP), wrk on receipt.
Each client's histogram comes back on stdout (vex_loadgen's own; wrk's through
report.lua's bucket dump) and they are merged bucket by bucket; counts and rates are
summed; percentiles are read from the merged histogram, never averaged. Server CPU per
request and statistics come from the server host as in every run (it must be this
machine or a network namespace on it). Open-loop rates and connections are split evenly
over the clients, with a different Poisson seed each.

Supported profile tools: wrk and curve. Peers (nginx, h2o) are not started on inventory
hosts yet.
"""
from __future__ import annotations

import json
import random
import shlex
import subprocess
import time
from pathlib import Path

from . import curve, environment, openloop, results, runner, trial as trial_mod, wrk
from .histogram import Histogram
from .inventory import Host, Inventory
from .profiles import Profile, make_plan
from .progress import Progress
from .server import BackendUnavailable, ServerError, ServerProcess, http_get
from .stats_block import parse_blocks  # noqa: F401  (servers' blocks parsed in stop())

SUPPORTED = ("wrk", "curve")
BARRIER_LEAD_S = 0.3
BASE_PORT = 18080


class HostServer(ServerProcess):
    """production_server listening on the server host's address (in its netns when the
    host is a namespace). Probes (/readyz, /metrics) run from inside that host."""

    def __init__(self, host: Host, binary, port: int, *, name: str, cpu, log_dir,
                 stats_interval: float, extra_args=()):
        argv = [str(binary), "--host", host.address, "--port", str(port), "--threads", "1",
                "--stats-interval", f"{stats_interval:g}", *map(str, extra_args)]
        if host.via == "netns":
            argv = ["ip", "netns", "exec", host.netns] + argv
        super().__init__(argv, name=name, cpu=cpu, port=port, log_dir=log_dir)
        self.host = host.address
        self.inv_host = host

    def get(self, path: str, timeout: float = 2.0) -> tuple:
        if self.inv_host.via == "local":
            return http_get(self.host, self.port, path, timeout)
        url = f"http://{self.host}:{self.port}{path}"
        try:
            r = self.inv_host.run(["curl", "-s", "--max-time", f"{timeout:g}", "-o", "-",
                                   "-w", "\n%{http_code}", url], timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            raise OSError(f"{url}: timed out") from None
        body, _, code = r.stdout.rpartition("\n")
        if r.returncode != 0 or not code.isdigit() or code == "000":
            raise OSError(f"{url}: curl exit {r.returncode}")
        return int(code), body.encode()


def _split(total: int, n: int) -> list:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _client_argv(host: Host, i: int, server, profile: Profile, conns: int, duration: float,
                 rate: float | None, label: str, work: Path, loadgen_cpu) -> list:
    url = server.url(profile.path)
    cpu = host.cpu if host.cpu is not None else (loadgen_cpu if host.via != "ssh" else None)
    if profile.tool == "openloop":
        argv = openloop.command(host.loadgen_path(), url, rate=rate, duration=duration,
                                connections=conns, out=None, cpu=cpu,
                                schedule=profile.schedule, seed=1 + i, timeout=profile.timeout,
                                method=profile.method, headers=profile.headers,
                                body_bytes=len(profile.body_data()), label=label,
                                start_on_stdin=True)
        return argv
    script = "VEXBENCH_HIST = true\n" + wrk.lua_script(profile)
    name = f"vexbench-{int(time.time() * 1000)}-{i}.lua"
    path = host.put(script, name) if host.via == "ssh" else str(work / name)
    if host.via != "ssh":
        Path(path).write_text(script)
    cmd = wrk.command(url, profile, conns, duration, path, cpu=cpu)
    cmd[cmd.index("wrk")] = host.wrk
    return ["sh", "-c", 'echo ready >&2; read go; exec "$@"', "sh", *cmd]


def run_multi_trial(server, profile: Profile, *, clients: list, connections: int | None = None,
                    duration: float = 5.0, work_dir=".", loadgen_cpu=1, warmup: bool = False,
                    label: str = "", rate: float | None = None, loadgen=None) -> dict:
    """One trial with every client host at once (run_trial's signature and record shape;
    `clients` holds each host's own figures)."""
    conns = int(connections or profile.connections[0])
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rec = {"target": server.name, "case": f"{profile.name}@c{conns}", "profile": profile.name,
           "connections": conns, "warmup": warmup, "label": label,
           "started_utc": results.utc_now().isoformat(timespec="seconds"),
           "command": None, "ok": False, "error": None, "figures": {}, "flags": [],
           "notes": [], "clients": []}
    if profile.tool == "openloop":
        rec["rate_rps"] = rate
    if not server.alive():
        rec.update(error="server not running", flags=["server_died"])
        return rec
    n = len(clients)
    per_conns = _split(conns, n)
    argvs = [_client_argv(h, i, server, profile, max(1, c), duration,
                          (rate / n) if rate else None, label, work, loadgen_cpu)
             for i, (h, c) in enumerate(zip(clients, per_conns))]
    wrapped = [h.wrap(a) for h, a in zip(clients, argvs)]
    rec["command"] = wrapped[0]
    before_c, before_p = trial_mod._counters(server), server.proc_stats()
    t0 = time.monotonic()
    procs = []
    try:
        for w in wrapped:
            procs.append(subprocess.Popen(w, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
        for h, p in zip(clients, procs):        # the barrier: every client connected
            line = p.stderr.readline()
            if not line.startswith("ready"):
                raise RuntimeError(f"client {h.name} not ready: {line.strip()!r} "
                                   f"{p.stderr.read()[-300:]}")
        at = time.time_ns() + int(BARRIER_LEAD_S * 1e9)
        for p in procs:
            p.stdin.write(f"go {at}\n")
            p.stdin.flush()
        outs = []
        for h, p in zip(clients, procs):
            out, err = p.communicate(timeout=duration + profile.timeout + 30 + conns / 500)
            if p.returncode != 0:
                raise RuntimeError(f"client {h.name} exit {p.returncode}: {err.strip()[-300:]}")
            outs.append(out)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        rec["error"] = str(e)
        rec["elapsed_s"] = round(time.monotonic() - t0, 3)
        rec["flags"] = ["server_died"] if not server.alive() else ["tool_failed"]
        return rec
    rec["elapsed_s"] = round(time.monotonic() - t0, 3)
    for h, w, out in zip(clients, wrapped, outs):
        (work / f"{rec['case']}-{server.name}-{label}-{h.name}.out").write_text(out)
    try:
        if profile.tool == "openloop":
            docs = [json.loads(o) for o in outs]
            figs = openloop.merge_figures(docs)
            for h, w, d in zip(clients, wrapped, docs):
                rec["clients"].append({"host": h.name, "command": w, "requests": d["completed"],
                                       "rate_rps": d["rate_rps"], "start_unix_ns": d["start_unix_ns"],
                                       "p99_ms": Histogram.from_json(d["histogram"]).percentile(99) / 1e6,
                                       "errors": d["errors"]})
        else:
            parts = [wrk.figures(o) for o in outs]
            hists = [Histogram.from_wrk_buckets(wrk.parse_hist_line(o) or []) for o in outs]
            h = Histogram.merged(hists)
            errors: dict = {}
            for f in parts:
                for k, v in f["errors"].items():
                    errors[k] = errors.get(k, 0) + v
            dur = max(f["duration_s"] for f in parts)
            figs = {"source": "wrk+report.lua (merged)", "requests": sum(f["requests"] for f in parts),
                    "duration_s": dur, "rps": sum(f["rps"] for f in parts),
                    "bytes": sum(f["bytes"] for f in parts), "latency_ms": h.percentiles_ms(),
                    "errors": errors, "non_2xx": sum(f["non_2xx"] for f in parts),
                    "socket_errors": sum(f["socket_errors"] for f in parts),
                    "histogram": openloop.sparse(h), "clients": n}
            for hst, w, f in zip(clients, wrapped, parts):
                rec["clients"].append({"host": hst.name, "command": w, "requests": f["requests"],
                                       "rps": f["rps"], "p99_ms": f["latency_ms"].get("p99"),
                                       "errors": f["errors"]})
    except (ValueError, KeyError) as e:
        rec["error"] = f"client output: {e}"
        rec["flags"] = ["tool_failed"]
        return rec
    after_p, after_c = server.proc_stats(), trial_mod._counters(server)
    figs.update(trial_mod._server_figures(server, before_c, after_c, before_p, after_p,
                                          figs.get("requests") or 0))
    rec["figures"] = figs
    rec["flags"] = trial_mod._flags(figs, conns, profile.pipeline)
    if not server.alive():
        rec["flags"].append("server_died")
    rec["ok"] = True
    return rec


def run(opts, inv: Inventory) -> tuple:
    """Like runner.run, with the inventory's hosts. Returns (results doc, run folder)."""
    from .runner import _unique_dir, case_weight, discover_backends
    plan = make_plan(opts.selection, duration=opts.duration, trials=opts.trials,
                     warmup=opts.warmup, connections=opts.connections)
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    env = environment.collect()
    env["hosts"] = {h.name: h.environment() for h in [inv.server] + inv.clients}
    started = results.utc_now()
    run_dir = _unique_dir(Path(opts.out), results.run_id(env["git"]["short"], started))
    logs, work = run_dir / "logs", run_dir / "work"
    logs.mkdir(parents=True)
    work.mkdir()
    case_recs, runnable = [], []
    for c in plan.cases:
        rec = dict(c.to_dict(), status="ok")
        if c.profile.tool not in SUPPORTED:
            rec.update(status="skipped", reason=f"tool {c.profile.tool} is not supported with "
                                                f"an inventory (only {', '.join(SUPPORTED)})")
        elif c.profile.pipeline > 1:
            rec.update(status="skipped", reason="pipelined wrk profiles are not supported "
                                                "with an inventory")
        else:
            runnable.append(c)
        case_recs.append(rec)
    case_recs += [sub for c, r in zip(plan.cases, list(case_recs)) if c.profile.tool == "curve"
                  for sub in curve.sub_case_records(c, r)]
    found, target_recs = ([], []) if opts.no_backends else discover_backends(opts.build_dir, opts.backends)
    for name in opts.peers:
        target_recs.append({"name": name, "kind": "peer", "status": "skipped",
                            "reason": "peers are not started on inventory hosts yet"})
    live, by_name = [], {}
    for i, (name, binary) in enumerate(found):
        srv = HostServer(inv.server, binary, BASE_PORT + i, name=name, cpu=opts.server_cpu,
                         log_dir=logs, stats_interval=opts.stats_interval,
                         extra_args=["--max-clients", str(plan.max_connections() + 256),
                                     *opts.server_args])
        rec = {"name": name, "kind": "backend", "status": "ok", "binary": str(binary),
               "server_host": inv.server.name}
        try:
            srv.start(attempts=1)
            rec.update(srv.describe())
            live.append(srv)
        except BackendUnavailable as e:
            rec.update(status="skipped", reason=str(e), command=srv.command)
        except ServerError as e:
            rec.update(status="failed", reason=str(e), command=srv.command)
        target_recs.append(rec)
        by_name[name] = rec
    doc = {"schema": results.SCHEMA, "run_id": run_dir.name,
           "started_utc": started.isoformat(timespec="seconds"), "finished_utc": "",
           "environment": env,
           "options": {"selection": opts.selection, "plan": plan.to_dict(), "seed": seed,
                       "backends": opts.backends, "no_backends": opts.no_backends,
                       "peers": opts.peers, "connections": opts.connections,
                       "stats_interval_s": opts.stats_interval, "server_args": opts.server_args,
                       "inventory": inv.path},
           "inventory": inv.describe(),
           "pinning": {"server_cpu": opts.server_cpu, "loadgen_cpu": opts.loadgen_cpu,
                       "server_threads": 1,
                       "note": f"server on host {inv.server.name} ({inv.server.via}) pinned to "
                               f"CPU {opts.server_cpu}; load from {len(inv.clients)} client "
                               f"host(s) {', '.join(h.name for h in inv.clients)}, started at "
                               f"one moment, histograms merged"},
           "targets": target_recs, "cases": case_recs, "trials": [], "summaries": [],
           "hyperfine": {}}
    prog = Progress(sum(case_weight(c, len(live), plan.trials) for c in runnable),
                    enabled=opts.progress)
    trial_fn = lambda srv, prof, **kw: run_multi_trial(srv, prof, clients=inv.clients, **kw)  # noqa: E731

    def record(t, srv):
        doc["trials"].append(t)

    try:
        for case in runnable if live else []:
            if case.profile.tool == "curve":
                curve.run_case(case, live, rng, plan.trials, work=work,
                               loadgen_cpu=opts.loadgen_cpu, record=record, progress=prog,
                               status_ok=lambda s: s.alive(), build_dir=opts.build_dir,
                               trial_fn=trial_fn)
                continue
            if case.warmup > 0:
                for srv in rng.sample(live, len(live)):
                    record(trial_fn(srv, case.profile, connections=case.connections,
                                    duration=case.warmup, work_dir=work,
                                    loadgen_cpu=opts.loadgen_cpu, warmup=True,
                                    label="warmup"), srv)
                    prog.advance(case.warmup, f"{case.id} warm-up {srv.name}")
            for n in range(1, plan.trials + 1):
                for srv in rng.sample(live, len(live)):
                    t = trial_fn(srv, case.profile, connections=case.connections,
                                 duration=case.duration, work_dir=work,
                                 loadgen_cpu=opts.loadgen_cpu, label=f"t{n}")
                    t["trial"] = n
                    record(t, srv)
                    prog.advance(case.duration, f"{case.id} trial {n} {srv.name}: "
                                 f"{(t['figures'].get('rps') or 0):.0f} req/s"
                                 + (f" FAILED {t['error']}" if not t["ok"] else ""))
            results.write_partial(doc, run_dir)
    finally:
        prog.finish()
        for srv in live:
            rec = by_name[srv.name]
            rec.update(srv.stop())
            rec["pid"] = srv.pid
    return runner.finish_run(doc, run_dir)


def describe_command(argv: list) -> str:
    return shlex.join(argv)
