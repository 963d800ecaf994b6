#!/usr/bin/python3
"""vex_net performance regression gate (`make gate [BASE=ref] [BACKEND=b]`).

Builds the base (a git worktree; default: merge-base of HEAD with main) and the candidate
(the working tree, or --candidate REF) side by side, then measures both in the same job:

  wall-clock     A/B pairs (default: base and candidate at the same time, both servers on
                 CPU 0, one wrk each on CPU 1; --scheme interleaved runs them one after the
                 other). Gating metric: server CPU us per request; req/s reported alongside.
  deterministic  instructions per request under callgrind for a fixed request sequence.

Writes verdict.json, summary.md and table.txt under --out (default results/gate/<time>/)
and exits 0 pass (or accepted regression), 1 regression, 2 could not decide / could not run.
Accept an intended regression with a commit trailer `Perf-Regression-Accepted: <reason>`
in a commit since the base (or --accept REASON).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from perfgate import EXIT_UNDECIDED, build, determ, gitref, report, stats, verdict  # noqa: E402
from perfgate import wallclock  # noqa: E402

DEFAULT_PROFILES = "plaintext@c50,pipeline@c32"
DEFAULT_PAIRS = 10


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ci/gate.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 pass, 1 regression, 2 inconclusive or could not run.")
    g = p.add_argument_group("what to compare")
    g.add_argument("--base", help="base git ref (default: merge-base of HEAD and main)")
    g.add_argument("--candidate", help="candidate git ref (default: the working tree)")
    g.add_argument("--base-binary", help="use this production_server as the base (no build)")
    g.add_argument("--candidate-binary", help="use this production_server as the candidate")
    g.add_argument("--backend", default="epoll",
                   help="comma list of backends for the wall-clock mode (default epoll)")
    g = p.add_argument_group("wall-clock mode")
    g.add_argument("--profile", default=DEFAULT_PROFILES,
                   help=f"comma list of bench profiles name[@cN] (default {DEFAULT_PROFILES})")
    g.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="A/B pairs per case (10)")
    g.add_argument("--duration", type=int, default=2, help="measured seconds per trial (2)")
    g.add_argument("--warmup", type=int, default=1, help="warm-up seconds per trial (1)")
    g.add_argument("--scheme", choices=wallclock.SCHEMES, default="concurrent",
                   help="concurrent: base and candidate at once (default); interleaved: "
                        "one after the other")
    g.add_argument("--threshold", type=float, default=0.05,
                   help="relative slowdown that fails the gate (0.05)")
    g.add_argument("--confidence", type=float, default=0.975, help="CI level (0.975)")
    g.add_argument("--gate-rps", action="store_true",
                   help="let req/s decide too (default: reported only; it mostly measures "
                        "the load generator on 2 cores)")
    g.add_argument("--extend-pairs", type=int, default=10,
                   help="when a case is inconclusive, run this many more pairs for it and "
                        "decide again (0: off; the report then asks for more pairs)")
    g.add_argument("--max-minutes", type=float, default=4.0,
                   help="time budget of the wall-clock pairs (4); no pair starts after it")
    g.add_argument("--max-steal", type=float, default=0.10,
                   help="reject a pair when hypervisor steal on either pinned CPU exceeds "
                        "this fraction of the window (0.10)")
    g.add_argument("--max-idle", type=float, default=1.0,
                   help="reject a pair when the server CPU idles more than this fraction "
                        "(1.0: off; wrk is the bottleneck in the normal regime)")
    g.add_argument("--server-cpu", type=int, default=0)
    g.add_argument("--client-cpu", type=int, default=1)
    g = p.add_argument_group("deterministic mode")
    g.add_argument("--det-requests", type=int, default=5000,
                   help="requests in the differenced window (5000)")
    g.add_argument("--det-warmup", type=int, default=1000,
                   help="requests in the short run subtracted from the long one (1000)")
    g.add_argument("--det-paths", default=",".join(determ.DEFAULT_PATHS),
                   help="request paths, cycled (default /,/json)")
    g.add_argument("--det-repeats", type=int, default=2,
                   help="differenced measurements per binary (2; checks repeatability)")
    g.add_argument("--det-threshold", type=float, default=0.005,
                   help="relative instruction increase that fails the gate (0.005)")
    g.add_argument("--det-real-clock", action="store_true",
                   help="do not virtualise the clock (counts then vary slightly)")
    g = p.add_argument_group("general")
    g.add_argument("--modes", default="wall,det", help="wall,det (default both)")
    g.add_argument("--accept", default=os.environ.get("PERF_REGRESSION_ACCEPTED") or None,
                   help="accept a regression with this reason (env PERF_REGRESSION_ACCEPTED)")
    g.add_argument("--out", help="output folder (default results/gate/<UTC time>/)")
    g.add_argument("--seed", type=int, help="seed of the A/B order (default: random, recorded)")
    g.add_argument("--jobs", type=int, default=2, help="make -j for builds (2)")
    g.add_argument("--keep-worktree", action="store_true")
    g.add_argument("--render", metavar="VERDICT_JSON",
                   help="print the table of a stored verdict.json and exit with its status")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    a = p.parse_args(argv)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = set(a.modes) - {"wall", "det"}
    if bad or not a.modes:
        p.error(f"--modes takes wall and/or det, not {sorted(bad)}")
    a.backends = [b.strip() for b in a.backend.split(",") if b.strip()]
    if not 0 < a.threshold < 1 or not 0.5 < a.confidence < 1:
        p.error("threshold must be in (0,1) and confidence in (0.5,1)")
    if a.pairs < 1 or a.duration < 1 or a.warmup < 0:
        p.error("pairs and duration must be >= 1, warmup >= 0")
    return a


def environment() -> dict:
    env = {"kernel": platform.release(), "python": platform.python_version(),
           "cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                env["cpu_model"] = line.split(":", 1)[1].strip()
                break
        env["loadavg"] = open("/proc/loadavg").read().split()[:3]
        env["cpu_pressure"] = open("/proc/pressure/cpu").readline().strip()
    except OSError:
        pass
    env["schedstat"] = os.path.exists(f"/proc/{os.getpid()}/schedstat")
    env["perf_instructions"] = determ.perf_instructions_available()
    env["valgrind"] = shutil.which("valgrind") is not None
    return env


class Gate:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.t0 = time.monotonic()
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.out = Path(args.out or ROOT / "results" / "gate" / stamp).resolve()
        self.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
        self.rule = stats.Rule(threshold=args.threshold, confidence=args.confidence)
        self.problems: list = []
        self.comparisons: list = []           # [(case_id, Comparison)]
        self.timing: dict = {}
        self.worktrees: list = []
        self.result: dict = {
            "schema": report.SCHEMA,
            "generated_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": [sys.executable, *sys.argv],
            "settings": {
                "modes": args.modes, "scheme": args.scheme, "pairs": args.pairs,
                "duration": args.duration, "warmup": args.warmup, "profiles": args.profile,
                "extend_pairs": args.extend_pairs, "max_steal": args.max_steal,
                "max_idle": args.max_idle,
                "backends": args.backends, "threshold": args.threshold,
                "confidence": args.confidence, "flag_fraction": self.rule.flag_fraction,
                "min_pairs": self.rule.min_pairs, "gate_rps": args.gate_rps,
                "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
                "det_requests": args.det_requests, "det_warmup": args.det_warmup,
                "det_paths": args.det_paths.split(","), "det_repeats": args.det_repeats,
                "det_threshold": args.det_threshold,
                "det_virtual_clock": not args.det_real_clock, "seed": self.seed},
            "base": {}, "candidate": {}, "accepted": [], "runs": {}}

    def say(self, msg: str) -> None:
        if not self.a.quiet:
            print(msg, flush=True)

    # ------------------------------------------------------------------ steps
    def resolve(self) -> None:
        a = self.a
        if a.base_binary:
            self.result["base"] = {"describe": f"binary {a.base_binary}", "how": "--base-binary"}
            self.base_sha = None
        else:
            self.base_sha, how = gitref.resolve_base(a.base, ROOT)
            self.result["base"] = {"sha": self.base_sha, "how": how,
                                   "describe": gitref.describe(self.base_sha, ROOT)}
        if a.candidate_binary:
            self.result["candidate"] = {"describe": f"binary {a.candidate_binary}",
                                        "how": "--candidate-binary"}
            self.cand_ref = None
        elif a.candidate:
            sha = gitref.rev(a.candidate, ROOT)
            self.cand_ref = sha
            self.result["candidate"] = {"sha": sha, "how": a.candidate,
                                        "describe": gitref.describe(sha, ROOT)}
        else:
            head = gitref.rev("HEAD", ROOT)
            self.cand_ref = "HEAD"
            d = gitref.dirty(ROOT)
            self.result["candidate"] = {
                "sha": head, "how": "working tree", "uncommitted_changes": d,
                "describe": f"working tree: {gitref.describe(head, ROOT)}"
                            + (" + uncommitted changes" if d else "")}
        # accepted regressions: trailers since the base, and --accept / env
        acc = []
        if self.base_sha and self.cand_ref:
            acc = gitref.accepted_regressions(self.base_sha, self.cand_ref, ROOT)
        if a.accept:
            acc.append({"commit": "(command line)", "subject": "--accept / PERF_REGRESSION_ACCEPTED",
                        "reason": a.accept})
        self.result["accepted"] = acc
        b, k = self.result["base"], self.result["candidate"]
        self.say(f"base:      {b['describe']}  [{b['how']}]")
        self.say(f"candidate: {k['describe']}")
        if b.get("sha") and b.get("sha") == k.get("sha") and not k.get("uncommitted_changes"):
            self.say("note: candidate equals base (an A/A run)")
            self.result["candidate"]["equals_base"] = True

    def builds(self) -> dict:
        """{(label, backend): binary snapshot path}."""
        a = self.a
        backends = list(dict.fromkeys(
            (a.backends if "wall" in a.modes else []) + (["epoll"] if "det" in a.modes else [])))
        t0 = time.monotonic()
        trees = {}
        if not a.base_binary:
            wt = gitref.worktree_add(self.base_sha, ROOT)
            self.worktrees.append(wt)
            trees["base"] = wt
        if not a.candidate_binary:
            if a.candidate:
                wt = gitref.worktree_add(self.cand_ref, ROOT)
                self.worktrees.append(wt)
                trees["candidate"] = wt
            else:
                trees["candidate"] = ROOT
        out = {}
        for label, given in (("base", a.base_binary), ("candidate", a.candidate_binary)):
            if given:
                if not os.access(given, os.X_OK):
                    raise build.BuildError(f"{label} binary {given} is not executable")
                for be in backends:
                    out[(label, be)] = build.snapshot(Path(given), self.out / "bin" / f"{label}-{be}")
        jobs = [(label, tree, be) for label, tree in trees.items() for be in backends]
        if jobs:
            self.say("building: " + ", ".join(f"{l} {b}" for l, _, b in jobs))
        errors = []
        with cf.ThreadPoolExecutor(max_workers=2) as ex:
            futs = {ex.submit(build.build, tree, be, jobs=max(1, a.jobs // 2 if len(trees) > 1 else a.jobs),
                              log=self.out / "logs" / f"build-{label}-{be}.log"): (label, be)
                    for label, tree, be in jobs}
            for f in cf.as_completed(futs):
                label, be = futs[f]
                try:
                    r = f.result()
                    out[(label, be)] = build.snapshot(Path(r["binary"]),
                                                      self.out / "bin" / f"{label}-{be}")
                    self.say(f"  built {label} {be} in {r['seconds']:.0f}s")
                except build.BuildError as e:
                    errors.append(f"{label}: {e}")
        self.timing["build_s"] = time.monotonic() - t0
        if errors:
            raise build.BuildError("; ".join(sorted(errors)))
        return out

    def run_det(self, bins: dict) -> None:
        a = self.a
        problem = determ.valgrind_problem()
        case = "callgrind/epoll"
        if problem:
            self.comparisons.append((case, stats.error_comparison("instructions_per_req", problem)))
            return
        t0 = time.monotonic()
        self.say(f"deterministic: callgrind, {a.det_warmup}+{a.det_requests} requests, "
                 f"{a.det_repeats} repeats per binary")
        res = determ.measure({"base": bins[("base", "epoll")],
                              "candidate": bins[("candidate", "epoll")]},
                             n_small=a.det_warmup, n_large=a.det_warmup + a.det_requests,
                             repeats=a.det_repeats, paths=a.det_paths.split(","),
                             work_dir=self.out / "callgrind",
                             virtual_clock=not a.det_real_clock, progress=self.say)
        self.timing["det_s"] = time.monotonic() - t0
        self.result["runs"]["det"] = res
        errs = [f"{k}: {v['error']}" for k, v in res.items() if v["error"]]
        if errs:
            c = stats.error_comparison("instructions_per_req", "; ".join(errs), unit="instr/req")
        else:
            c = stats.compare_exact("instructions_per_req", res["base"]["per_request"],
                                    res["candidate"]["per_request"], unit="instr/req",
                                    threshold=a.det_threshold)
        self.comparisons.append((case, c))

    def run_wall(self, bins: dict) -> None:
        a = self.a
        cases = []
        for be in a.backends:
            for spec in a.profile.split(","):
                load = wallclock.load_from_profile(spec.strip())
                cases.append(wallclock.Case(
                    load, be, wallclock.Target("base", str(bins[("base", be)])),
                    wallclock.Target("candidate", str(bins[("candidate", be)]))))
        per_pair = (a.warmup + a.duration + 0.6) * (1 if a.scheme == "concurrent" else 2)
        self.say(f"wall-clock: {a.scheme} pairs, {len(cases)} case(s) x {a.pairs} pairs, "
                 f"about {len(cases) * a.pairs * per_pair / 60:.1f} min")
        t0 = time.monotonic()
        deadline = t0 + a.max_minutes * 60
        common = dict(scheme=a.scheme, warmup=a.warmup, duration=a.duration, deadline=deadline,
                      server_cpu=a.server_cpu, client_cpu=a.client_cpu,
                      max_steal=a.max_steal, max_idle=a.max_idle,
                      log_dir=self.out / "trials", progress=self.say)
        runs = wallclock.run_pairs(cases, pairs=a.pairs, seed=self.seed, **common)
        verdicts = {c.id: self.compare_case(c, k, runs[c.id], per_pair)
                    for k, c in enumerate(cases)}
        # Optional sequential extension: more pairs for the cases too noisy to decide.
        undecided = [c for c in cases if any(cmp.gating and cmp.verdict == stats.INCONCLUSIVE
                                             for cmp in verdicts[c.id])]
        if a.extend_pairs > 0 and undecided and time.monotonic() < deadline:
            self.say(f"inconclusive after {a.pairs} pairs: {a.extend_pairs} more for "
                     + ", ".join(c.id for c in undecided))
            more = wallclock.run_pairs(undecided, pairs=a.extend_pairs, seed=self.seed + 1,
                                       first_index=a.pairs, **common)
            for c in undecided:
                wallclock.merge_runs(runs[c.id], more[c.id])
                runs[c.id]["extended_by"] = a.extend_pairs
                k = cases.index(c)
                verdicts[c.id] = self.compare_case(c, k, runs[c.id], per_pair)
        self.timing["wall_s"] = time.monotonic() - t0
        self.result["runs"]["wall"] = runs
        for c in cases:
            self.comparisons += [(c.id, cmp) for cmp in verdicts[c.id]]

    def compare_case(self, c, k: int, rec: dict, per_pair: float) -> list:
        a = self.a
        if rec["stopped"] and not rec["pairs"]:
            return [stats.error_comparison(m, rec["stopped"],
                                           gating=(m == "cpu_us_per_req" or a.gate_rps),
                                           higher_is_better=(m == "rps"))
                    for m in ("cpu_us_per_req", "rps")]
        if rec["stopped"] and "budget" not in rec["stopped"]:
            msg = f"{c.id}: {rec['stopped']}"
            if msg not in self.problems:
                self.problems.append(msg)
        out = []
        for m, unit, hib, gating in (("cpu_us_per_req", "us/req", False, True),
                                     ("rps", "req/s", True, a.gate_rps)):
            base_v, cand_v = wallclock.samples(rec, m)
            cmp = stats.compare_paired(m, base_v, cand_v, unit=unit, higher_is_better=hib,
                                       gating=gating, rule=self.rule, seed=self.seed + k,
                                       seconds_per_pair=per_pair)
            if rec.get("rejected"):
                note = (f"{len(rec['rejected'])} pair(s) rejected as disturbed, e.g. "
                        f"{rec['rejected'][-1]['why']}")
                cmp.reason += f"; {note}"
                if cmp.verdict == stats.INCONCLUSIVE:
                    cmp.advice = ("the machine is busy with other work: re-run when it is "
                                  "quieter; " + cmp.advice)
            out.append(cmp)
        return out

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        self.result["environment"] = environment()
        try:
            self.resolve()
            bins = self.builds()
            self.result["binaries"] = {f"{l}-{b}": str(p) for (l, b), p in bins.items()}
            if "det" in self.a.modes:
                self.run_det(bins)
            if "wall" in self.a.modes:
                self.run_wall(bins)
        except (gitref.GitError, build.BuildError, ValueError, OSError) as e:
            self.problems.append(f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - report, never crash without a verdict
            self.problems.append(f"internal error: {type(e).__name__}: {e}")
            (self.out / "logs").mkdir(parents=True, exist_ok=True)
            (self.out / "logs" / "traceback.txt").write_text(traceback.format_exc())
        finally:
            for wt in self.worktrees:
                if self.a.keep_worktree:
                    self.say(f"kept worktree {wt}")
                else:
                    gitref.worktree_remove(wt, ROOT)
        d = verdict.decide(self.comparisons, accepted=self.result["accepted"],
                           problems=self.problems)
        self.timing["total_s"] = time.monotonic() - self.t0
        self.result.update(d)
        self.result["comparisons"] = [dict(c.to_dict(), case=cid) for cid, c in self.comparisons]
        self.result["timing"] = {k: round(v, 1) for k, v in self.timing.items()}
        self.result["environment"]["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
        paths = report.write_all(self.result, self.out)
        print()
        print(report.render_table(self.result), end="")
        print(f"report: {paths['table']}\n        {paths['json']}\n        {paths['markdown']}")
        return self.result["exit_code"]


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # finally blocks stop servers
    a = parse_args(argv)
    try:
        if a.render:
            result = json.loads(Path(a.render).read_text())
            print(report.render_table(result), end="")
            return int(result.get("exit_code", EXIT_UNDECIDED))
        return Gate(a).run()
    except Exception:           # a crash is "could not run" (2), never a regression (1)
        traceback.print_exc()
        print("gate.py: internal error: exit 2 (could not run)", file=sys.stderr)
        return EXIT_UNDECIDED


if __name__ == "__main__":
    sys.exit(main())
