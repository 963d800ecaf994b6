"""A whole benchmark run: start every target (backends and peers), interleave them trial
by trial over every case, stop them, and write the results folder.

Order per case: one warm-up per target (not counted, order shuffled), then each trial
round runs every live target once in a freshly shuffled order, so drift and noise hit all
targets alike. Idle-memory cases run first, on fresh servers (freed memory that the
allocator keeps would hide the cost of new connections). A target that dies is marked
failed and left out of later rounds; the others go on.
"""
from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import curve, environment, hyperfine, idle, peers, ref_peers, results, variants
from .profiles import ROOT, make_plan
from .progress import Progress, human
from .server import BackendUnavailable, ServerError, ServerProcess
from .trial import run_trial

ALL_BACKENDS = ("epoll", "io_uring", "kqueue", "poll")
TOOL_PACKAGES = {"wrk": "wrk", "ab": "apache2-utils", "hyperfine": "hyperfine",
                 "taskset": "util-linux", "openssl": "openssl",
                 "h2load": "nghttp2-client"}
TOOL_NEEDS = {"wrk": ("wrk",), "ab": ("ab",), "hyperfine": ("hyperfine", "ab"), "idle": (),
              "curve": ("wrk",), "s_time": ("openssl",),
              "h2load": ("h2load",)}
TRIAL_OVERHEAD_S = 0.4


@dataclasses.dataclass
class RunOptions:
    selection: str = "quick"
    backends: list | None = None          # None: every backend built under build_dir
    no_backends: bool = False             # peers only
    peers: list = dataclasses.field(default_factory=list)
    duration: float | None = None
    trials: int | None = None
    warmup: float | None = None
    connections: list | None = None
    out: Path = ROOT / "results"
    build_dir: Path = ROOT / "build"
    seed: int | None = None
    server_cpu: int = 0
    loadgen_cpu: int = 1
    stats_interval: float = 5
    server_args: list = dataclasses.field(default_factory=list)
    time_builds: bool | None = None       # None: as the profile set says
    build_runs: int = 2
    progress: bool = True


def discover_backends(build_dir: Path, requested: list | None) -> tuple:
    """([(name, binary)], [skipped target records])."""
    names = requested or list(ALL_BACKENDS)
    found, skipped = [], []
    for name in names:
        binary = Path(build_dir) / name / "production_server"
        if binary.is_file() and binary.stat().st_mode & 0o111:
            found.append((name, binary))
            continue
        if name == "kqueue" and not Path("/usr/include/sys/event.h").exists():
            reason = "kqueue is a BSD/macOS API: not available on Linux"
        elif name not in ALL_BACKENDS:
            reason = f"unknown backend (known: {', '.join(ALL_BACKENDS)})"
        else:
            reason = f"{binary} not found: build it with `make BACKEND={name}`"
        skipped.append({"name": name, "kind": "backend", "status": "skipped", "reason": reason,
                        "binary": str(binary)})
    return found, skipped


def missing_tools(tool: str) -> list:
    return [t for t in TOOL_NEEDS.get(tool, ()) + ("taskset",) if not shutil.which(t)]


def case_weight(case, n_targets: int, trials: int) -> float:
    p = case.profile
    if p.tool == "curve":
        return curve.trials_weight(case, n_targets, trials, TRIAL_OVERHEAD_S)
    if p.tool == "idle":
        per = 1.0 + case.connections / 5000
    elif p.tool == "hyperfine":
        per = p.runs * (0.3 + p.requests / 40000)
    elif p.tool == "h2load":
        per = 0.3 + p.requests / 3000       # a request count: ~3k new connections/s here
    else:
        per = case.duration + TRIAL_OVERHEAD_S
    warm = (case.warmup + TRIAL_OVERHEAD_S) if p.tool in ("wrk", "ab") and case.warmup > 0 else 0
    return n_targets * (warm + trials * per)


def _unique_dir(root: Path, rid: str) -> Path:
    d, i = root / rid, 1
    while d.exists():
        i += 1
        d = root / f"{rid}-{i}"
    return d


def time_builds(backends: list, runs: int, work: Path) -> dict:
    """Clean build of each backend timed by hyperfine (into a temp dir, not build/)."""
    if not shutil.which("hyperfine"):
        return {"status": "skipped", "reason": "hyperfine not found: apt-get install hyperfine"}
    tmp = Path(tempfile.mkdtemp(prefix="vexbench-build-"))
    jpath = work / "builds.hyperfine.json"
    cmd = hyperfine.build_command(backends, str(tmp), str(jpath), runs=runs)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        (work / "builds.out").write_text(r.stdout + r.stderr)
        if r.returncode != 0:
            return {"status": "failed", "command": cmd,
                    "reason": (r.stderr or r.stdout).strip()[-400:]}
        return {"status": "ok", "command": cmd,
                "results": hyperfine.parse_export(jpath.read_text())}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"status": "failed", "command": cmd, "reason": str(e)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(opts: RunOptions) -> tuple:
    """Run the benchmark; return (results document, run folder)."""
    plan = make_plan(opts.selection, duration=opts.duration, trials=opts.trials,
                     warmup=opts.warmup, connections=opts.connections)
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    env = environment.collect()
    started = results.utc_now()
    rid = results.run_id(env["git"]["short"], started)
    out_root = Path(opts.out)
    out_root.mkdir(parents=True, exist_ok=True)
    run_dir = _unique_dir(out_root, rid)
    rid = run_dir.name
    logs, work = run_dir / "logs", run_dir / "work"
    logs.mkdir(parents=True)
    work.mkdir()
    nofile = idle.raise_nofile(plan.max_connections() * 2 + 1024)

    # ---- cases whose tools are missing are skipped, saying what to install
    cases = sorted(plan.cases, key=lambda c: c.profile.tool != "idle")
    case_recs = []
    for c in cases:
        rec = dict(c.to_dict(), status="ok")
        miss = missing_tools(c.profile.tool)
        if miss:
            rec.update(status="skipped", reason="missing " + ", ".join(miss) + ": apt-get install "
                       + " ".join(sorted({TOOL_PACKAGES[m] for m in miss})))
        elif c.profile.tool == "curve" and (why := curve.missing(opts.build_dir)):
            rec.update(status="skipped", reason=why)
        case_recs.append(rec)
    runnable = [c for c, r in zip(cases, case_recs) if r["status"] == "ok"]
    # a curve's probe and level sub-cases are listed too: its trials refer to them
    case_recs += [sub for c, r in zip(cases, list(case_recs)) if c.profile.tool == "curve"
                  for sub in curve.sub_case_records(c, r)]

    hyper: dict = {}
    target_recs: list = []
    if opts.no_backends:
        found = []
    else:
        found, skipped = discover_backends(opts.build_dir, opts.backends)
        target_recs += skipped
    want_builds = plan.time_builds if opts.time_builds is None else opts.time_builds
    if want_builds and found:
        hyper["builds"] = time_builds([n for n, _ in found], opts.build_runs, work)

    # ---- start targets
    servers: list = []
    max_clients = plan.max_connections() + 256
    www = peers.make_www(work, plan.paths())
    vdir = work / "variants"
    vctx = variants.prepare(plan.variants, vdir)   # e.g. the TLS variant's certificate
    for name, binary in found:
        srv = ServerProcess.vex(binary, cpu=opts.server_cpu, stats_interval=opts.stats_interval,
                                extra_args=["--max-clients", str(max_clients),
                                            "--root", str(www / "static"), *opts.server_args],
                                name=name, log_dir=logs)
        servers.append(("backend", srv, {"binary": str(binary)}))
        for vname in plan.variants:          # the same server with one feature on
            v = variants.get(vname)
            vdir.mkdir(exist_ok=True)
            tname = f"{name}+{vname}"
            # a variant's config file names the listeners: --host/--port would replace them
            srv = ServerProcess.vex(binary, cpu=opts.server_cpu, stats_interval=opts.stats_interval,
                                    extra_args=["--max-clients", str(max_clients),
                                                "--root", str(www / "static"), *opts.server_args,
                                                *variants.server_args(v, tname, vdir, vctx[vname])],
                                    name=tname, log_dir=logs, listen_flags=not v.server_config,
                                    scheme=v.scheme,
                                    files=variants.server_files(v, tname, vdir, vctx[vname]))
            servers.append(("backend", srv, {"binary": str(binary), "variant": vname,
                                             "base": name}))
    peer_names = ref_peers.expand(opts.peers, None if opts.no_backends else opts.backends)
    for name in peer_names:
        for vname in (None, *plan.variants):
            tname = f"{name}+{vname}" if vname else name
            if vname and name in ref_peers.REFS:
                continue                     # a reference server has no features to switch on
            try:
                srv = peers.make_peer(name, plan.paths(), cpu=opts.server_cpu,
                                      max_connections=plan.max_connections(), log_dir=logs,
                                      build_dir=opts.build_dir, variant=vname,
                                      variant_ctx=vctx.get(vname) if vname else None)
            except peers.PeerUnavailable as e:
                target_recs.append({"name": tname, "kind": "peer", "status": "skipped",
                                    "reason": str(e)})
                continue
            servers.append(("peer", srv, {"variant": vname, "base": name} if vname else {}))
    live: list = []
    by_name: dict = {}
    for kind, srv, extra in servers:
        rec = dict({"name": srv.name, "kind": kind, "status": "ok"}, **extra)
        try:
            srv.start()
            rec.update(srv.describe())
            live.append(srv)
        except BackendUnavailable as e:
            rec.update(status="skipped", reason=str(e), command=srv.command)
        except ServerError as e:
            rec.update(status="failed", reason=str(e), command=srv.command)
        target_recs.append(rec)
        by_name[srv.name] = rec

    doc = {"schema": results.SCHEMA, "run_id": rid,
           "started_utc": started.isoformat(timespec="seconds"), "finished_utc": "",
           "environment": env,
           "options": {"selection": opts.selection, "plan": plan.to_dict(), "seed": seed,
                       "backends": opts.backends, "no_backends": opts.no_backends,
                       "peers": peer_names, "connections": opts.connections,
                       "stats_interval_s": opts.stats_interval, "server_args": opts.server_args,
                       "max_clients": max_clients, "nofile_limit": nofile},
           "pinning": {"server_cpu": opts.server_cpu, "loadgen_cpu": opts.loadgen_cpu,
                       "server_threads": 1,
                       "note": f"server pinned to CPU {opts.server_cpu} and load generator to "
                               f"CPU {opts.loadgen_cpu} with taskset; one server thread"},
           "targets": target_recs, "cases": case_recs, "trials": [], "summaries": [],
           "hyperfine": hyper}

    def taking_part(case) -> list:
        return [s for s in live if s.runs(case.profile)]

    prog = Progress(sum(case_weight(c, len(taking_part(c)), plan.trials) for c in runnable),
                    enabled=opts.progress)
    for r in target_recs:
        if r["status"] != "ok":
            prog.note(f"skipped {r['kind']} {r['name']}: {r['reason']}")
    for r in case_recs:
        if r["status"] != "ok":
            prog.note(f"skipped profile {r['id']}: {r['reason']}")
    if not live:
        prog.note("no target could run")

    fresh = {srv.name: True for srv in live}

    def record(t: dict, srv: ServerProcess) -> None:
        doc["trials"].append(t)
        if "server_died" in t["flags"] and by_name[srv.name]["status"] == "ok":
            by_name[srv.name].update(status="failed", reason=f"died during {t['case']}: "
                                     f"{t.get('error') or 'exited'}")
            prog.note(f"{srv.name} died during {t['case']}; continuing without it")

    try:
        for ci, case in enumerate(runnable if live else []):
            p = case.profile
            part = taking_part(case)
            if p.tool == "curve":
                curve.run_case(case, part, rng, plan.trials, work=work,
                               loadgen_cpu=opts.loadgen_cpu, record=record, progress=prog,
                               status_ok=lambda s: s.alive() and by_name[s.name]["status"] == "ok",
                               build_dir=opts.build_dir, overhead=TRIAL_OVERHEAD_S)
                results.write_partial(doc, run_dir)
                continue
            per_trial = case_weight(case, 1, 1) - ((case.warmup + TRIAL_OVERHEAD_S)
                                                   if p.tool in ("wrk", "ab") and case.warmup > 0 else 0)
            if p.tool in ("wrk", "ab") and case.warmup > 0:
                for srv in rng.sample(part, len(part)):
                    if not srv.alive():
                        continue
                    prog.show(f"{case.id} [{ci + 1}/{len(runnable)}] warm-up {srv.name}",
                              transient=True)
                    fresh[srv.name] = False
                    t = run_trial(srv, p, connections=case.connections, duration=case.warmup,
                                  work_dir=work, loadgen_cpu=opts.loadgen_cpu, warmup=True,
                                  label="warmup")
                    record(t, srv)
                    prog.advance(case.warmup + TRIAL_OVERHEAD_S, f"{case.id} warm-up {srv.name}")
            for n in range(1, plan.trials + 1):
                for srv in rng.sample(part, len(part)):
                    if not srv.alive() or by_name[srv.name]["status"] != "ok":
                        prog.advance(per_trial, f"{case.id} {srv.name} (dead)")
                        continue
                    prog.show(f"{case.id} [{ci + 1}/{len(runnable)}] trial {n}/{plan.trials} "
                              f"{srv.name} ...", transient=True)
                    if p.tool == "idle" and not fresh.get(srv.name):
                        try:
                            srv.restart()      # memory is measured on a fresh process
                        except ServerError as e:
                            by_name[srv.name].update(status="failed", reason=f"restart: {e}")
                            prog.note(f"{srv.name} failed to restart: {e}")
                            continue
                    fresh[srv.name] = False
                    t = run_trial(srv, p, connections=case.connections, duration=case.duration,
                                  work_dir=work, loadgen_cpu=opts.loadgen_cpu,
                                  label=f"t{n}")
                    t["trial"] = n
                    record(t, srv)
                    f = t["figures"]
                    lat = (f.get("latency_ms") or {}).get("p99")
                    if t["ok"] and p.tool == "idle":
                        what = f"{human(f.get('mem_per_conn_bytes'), 'B')}/conn"
                    elif t["ok"]:
                        what = (f"{human(f.get('rps'))} req/s, p99 {lat if lat is not None else '-'} ms, "
                                f"{(f.get('cpu_us_per_req') or 0):.1f} µs/req")
                    else:
                        what = "FAILED: " + (t.get("error") or "")[:60]
                    flags = f" [{'; '.join(t['flags'])}]" if t["flags"] else ""
                    prog.advance(per_trial, f"{case.id} trial {n}/{plan.trials} {srv.name}: "
                                 f"{what}{flags}")
            results.write_partial(doc, run_dir)
    finally:
        prog.finish()
        for srv in live:
            rec = by_name[srv.name]
            try:
                snap = srv.proc_stats() if srv.alive() else None
            except OSError:
                snap = None
            stop = srv.stop()
            rec.update(stop)
            if srv.lives:
                rec["restarts"] = len(srv.lives)
                rec["stats_blocks"] = stop["stats_blocks"]  # parsed from the whole log
                rec["earlier_exit_codes"] = [life["exit_code"] for life in srv.lives]
            rec["pid"] = srv.pid
            if snap:
                rec["peak_rss_bytes"] = snap.hwm_bytes
                rec["cpu_total_s"] = round(snap.cpu_s, 3)
            if rec["kind"] == "backend" and rec["status"] == "ok" and stop["exit_code"] != 0:
                rec.setdefault("flags", []).append(f"exit_code={stop['exit_code']} after SIGTERM")

    return finish_run(doc, run_dir)


def finish_run(doc: dict, run_dir: Path) -> tuple:
    """Summaries, curves and end-of-run facts into doc; write results.json,
    drop the partial file; a run where nothing ran does not become latest."""
    doc["summaries"] = results.summarize(doc["trials"])
    ref_peers.annotate(doc)
    curves = curve.summarize(doc)
    if curves:
        doc["curves"] = curves
    doc["finished_utc"] = results.utc_now().isoformat(timespec="seconds")
    doc["environment"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    results.write(doc, run_dir)
    partial = run_dir / "results.partial.json"
    if partial.exists():
        partial.unlink()
    if any(s["ok_trials"] for s in doc["summaries"]):
        results.update_latest(run_dir)
    return doc, run_dir
