#!/usr/bin/python3
"""Benchmark vex_net's production_server on every backend (and reference peers).

Runs the load profiles of bench/profiles/ against build/<backend>/production_server
(server pinned to one CPU, load generator to another), interleaving targets trial by trial,
and writes results/<UTC time>-<commit>/results.json (+ dashboard flat files), then points
results/latest at it and prints a summary table. Plots and REPORT.md: scripts/plot.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vexbench import report, variants  # noqa: E402
from vexbench.profiles import ProfileError, load_profiles, load_sets  # noqa: E402
from vexbench.runner import ALL_BACKENDS, RunOptions, run  # noqa: E402


def _list(s: str) -> list:
    return [x.strip() for x in s.split(",") if x.strip()]


def _ints(s: str) -> list:
    try:
        return [int(x) for x in _list(s)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n"
                                       "  bench.py --backend io_uring --profile quick\n"
                                       "  bench.py --profile quick --peers nginx\n"
                                       "  bench.py --no-backends --peers nginx --profile smoke --out /tmp/r\n"
                                       "  bench.py --list")
    p.add_argument("--backend", type=_list, default=None,
                   help=f"backend(s), comma-separated (default: every one built under build/; "
                        f"known: {', '.join(ALL_BACKENDS)})")
    p.add_argument("--no-backends", action="store_true",
                   help="benchmark the --peers only (no production_server needed)")
    p.add_argument("--profile", default="quick",
                   help="profile set (smoke, quick, full), profile name, or comma list (default quick)")
    p.add_argument("--duration", type=float, help="seconds per trial (overrides the set)")
    p.add_argument("--trials", type=int, help="counted trials per case and target (overrides the set)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per case and target (not counted)")
    p.add_argument("--connections", type=_ints,
                   help="connection sweep, e.g. 100,1000,10000 (replaces the connections of "
                        "every profile with sweep = true)")
    p.add_argument("--peers", type=_list, default=[],
                   help="reference servers: nginx, h2o, ref-epoll, ref-uring; ref = the minimal "
                        "reference servers of the --backend(s) (make ref), run on the GET / profiles only, each "
                        "backend's CPU per request then shown as a ratio to its own")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results",
                   help="results root; the run goes to OUT/<UTC time>-<commit>/ (default results/)")
    p.add_argument("--build-dir", type=Path, default=Path(__file__).resolve().parents[1] / "build",
                   help="where build/<backend>/production_server live (default build/)")
    p.add_argument("--seed", type=int, help="seed of the interleaving order (recorded in the results)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the servers (default 0)")
    p.add_argument("--loadgen-cpu", type=int, default=1, help="CPU for the load generator (default 1)")
    p.add_argument("--stats-interval", type=float, default=5, help="server --stats-interval (default 5)")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for production_server (repeatable)")
    tb = p.add_mutually_exclusive_group()
    tb.add_argument("--time-builds", dest="time_builds", action="store_true", default=None,
                    help="time a clean build of each backend with hyperfine (default: as the set says)")
    tb.add_argument("--no-time-builds", dest="time_builds", action="store_false")
    p.add_argument("--inventory", type=Path, metavar="HOSTS_TOML",
                   help="server host and client hosts (ssh or network namespaces; "
                        "scripts/vexbench/inventory.py): clients on every client host at once, "
                        "histograms merged exactly (wrk and curve profiles)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--list", action="store_true", help="list profiles and sets, then exit")
    return p


def list_profiles() -> None:
    for name, prof in load_profiles().items():
        print(f"{name:14} {prof.tool:9} c={','.join(map(str, prof.connections)):12} {prof.description}")
    print()
    for name, s in load_sets().items():
        print(f"set {name:8} {s.get('duration')}s x {s.get('trials')} trials: "
              f"{', '.join(s.get('profiles', []))}  ({s.get('description', '')})")


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.list:
        list_profiles()
        return 0
    if a.server_cpu == a.loadgen_cpu:
        print("warning: server and load generator share a CPU", file=sys.stderr)
    opts = RunOptions(selection=a.profile, backends=a.backend, no_backends=a.no_backends,
                      peers=a.peers, duration=a.duration, trials=a.trials, warmup=a.warmup,
                      connections=a.connections, out=a.out, build_dir=a.build_dir, seed=a.seed,
                      server_cpu=a.server_cpu, loadgen_cpu=a.loadgen_cpu,
                      stats_interval=a.stats_interval, server_args=a.server_arg,
                      time_builds=a.time_builds, progress=not a.quiet)
    try:
        if a.inventory:
            from vexbench import inventory, multihost
            doc, run_dir = multihost.run(opts, inventory.load(a.inventory))
        else:
            doc, run_dir = run(opts)
    except ProfileError as e:
        print(f"bench.py: {e}", file=sys.stderr)
        return 2
    except ValueError as e:          # InventoryError and other bad input
        print(f"bench.py: {e}", file=sys.stderr)
        return 2
    print()
    print(report.summary_table(doc))
    for line in variants.cost_lines(doc):
        print(line)
    for line in report.skipped_lines(doc):
        print("skipped:", line)
    print(f"\nresults: {run_dir}/results.json  (plots + REPORT.md: "
          f"/usr/bin/python3 scripts/plot.py {run_dir})")
    ran = any(s["ok_trials"] for s in doc["summaries"])
    if not ran:
        print("bench.py: nothing was measured (see the skip reasons above); results/latest "
              "left unchanged", file=sys.stderr)
    failed = failed_targets(doc)
    for line in failed:
        print(f"bench.py: FAILED target {line}", file=sys.stderr)
    return 0 if ran and not failed else 1


def failed_targets(doc: dict) -> list:
    """Targets that were asked to run and failed: did not start (other than exit 3,
    which is a skip), died during a trial, or exited non-zero after SIGTERM."""
    out = []
    for t in doc["targets"]:
        exit_flags = [f for f in t.get("flags", []) if f.startswith("exit_code=")]
        if t["status"] == "failed":
            out.append(f"{t['name']}: {t.get('reason', 'failed')}")
        elif t["status"] == "ok" and exit_flags:
            out.append(f"{t['name']}: {'; '.join(exit_flags)}")
    return out


if __name__ == "__main__":
    sys.exit(main())
