#!/usr/bin/python3
"""Compare two benchmark runs: per-case ratio B/A of req/s, server CPU µs per request and
p99 latency, with the range the trials allow and a Mann-Whitney U p-value."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vexbench import compare, results  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run_a", type=Path, help="baseline run folder or results.json")
    p.add_argument("run_b", type=Path, help="candidate run folder or results.json")
    p.add_argument("--metrics", default=",".join(compare.DEFAULT_METRICS),
                   help=f"comma list among {', '.join(results.METRICS)} (default %(default)s)")
    p.add_argument("--targets", action="append", default=[], metavar="A:B",
                   help="compare target A of RUN_A with target B of RUN_B (repeatable), e.g. "
                        "epoll:io_uring with the same run twice")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    a = p.parse_args(argv)
    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in results.METRICS]
    if bad:
        p.error(f"unknown metrics {bad}")
    pairs = []
    for t in a.targets:
        if ":" not in t:
            p.error(f"--targets wants A:B, got {t!r}")
        pairs.append(tuple(t.split(":", 1)))
    try:
        ra, rb = results.load(a.run_a), results.load(a.run_b)
    except (FileNotFoundError, results.SchemaError, ValueError) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    rows = compare.compare(ra, rb, metrics, pairs or None)
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        print(compare.table(rows, ra["run_id"], rb["run_id"]))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
