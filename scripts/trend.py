#!/usr/bin/python3
"""Plot chosen figures of stored benchmark runs over commits (commit order, spread of every
trial of every run of a commit): results/*/results.json -> trend.png + a text table."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vexbench import trend  # noqa: E402
from vexbench.results import METRICS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _list(s: str) -> list:
    return [x.strip() for x in s.split(",") if x.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="*", type=Path,
                   help="results roots, run folders or results.json files (default results/)")
    p.add_argument("--metrics", type=_list, default=list(trend.DEFAULT_METRICS),
                   help=f"comma list (default {','.join(trend.DEFAULT_METRICS)}; known: {', '.join(METRICS)})")
    p.add_argument("--cases", type=_list, help="e.g. plaintext@c100,pipeline@c256 (default: all)")
    p.add_argument("--targets", type=_list, help="e.g. epoll,nginx (default: all)")
    p.add_argument("--repo", type=Path, default=ROOT, help="git repository giving the commit order")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "trend.png", help="PNG to write")
    a = p.parse_args(argv)
    bad = [m for m in a.metrics if m not in METRICS]
    if bad:
        p.error(f"unknown metrics {bad}; known: {', '.join(METRICS)}")
    paths = [f for r in (a.runs or [ROOT / "results"]) for f in trend.find_runs(r)]
    if not paths:
        print("trend.py: no results.json found", file=sys.stderr)
        return 2
    series = trend.collect(paths, metrics=a.metrics, cases=a.cases, targets=a.targets, repo=a.repo)
    for s in series.get("skipped", []):
        print(f"skipped {s}", file=sys.stderr)
    print(trend.table(series), end="")
    png = trend.plot(series, a.out)
    if png is None:
        print("trend.py: none of the chosen figures is in these runs", file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
