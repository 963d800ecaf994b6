#!/usr/bin/python3
"""Overlay the latency curves (results.json `curves`) of several runs of one target, e.g.
the same profile on loopback and across veth: p50 and p99 against offered load."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vexbench import results  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (or results.json)")
    p.add_argument("--labels", help="comma list, one per run (default: run ids)")
    p.add_argument("--target", default="epoll", help="target whose curves to draw (epoll)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    a = p.parse_args(argv)
    labels = a.labels.split(",") if a.labels else [str(r) for r in a.runs]
    if len(labels) != len(a.runs):
        p.error("one label per run")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    from vexbench.progress import human
    fig, ax = plt.subplots(figsize=(8, 4.8))
    drawn = 0
    for i, (run, label) in enumerate(zip(a.runs, labels)):
        try:
            doc = results.load(run)
        except (OSError, ValueError) as e:
            print(f"curve_compare.py: {run}: {e}", file=sys.stderr)
            return 2
        for c in doc.get("curves", []):
            if c["target"] != a.target:
                continue
            lv = [x for x in c["levels"] if x["offered_rps"]]
            col = plt.cm.tab10(i % 10)
            xs = [x["offered_rps"] for x in lv]
            ax.plot(xs, [x["p50_ms"] for x in lv], ":o", ms=3, color=col, label=f"{label} p50")
            ax.plot(xs, [x["p99_ms"] for x in lv], "-o", ms=3, color=col,
                    label=f"{label} p99 (max {human(c['max_rps'] or 0)} req/s)")
            drawn += 1
    if not drawn:
        print(f"curve_compare.py: no curves of target {a.target} in these runs", file=sys.stderr)
        return 1
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    ax.set_xlabel("offered load (req/s, open loop)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"{a.target}: latency against offered load, by run")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
