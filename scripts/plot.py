#!/usr/bin/python3
"""Turn a benchmark run (results/<run-id>/ or its results.json) into PNG plots and a
REPORT.md that embeds them with a table of the figures."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vexbench import plots, report, results  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", type=Path, nargs="?", default=Path("results/latest"),
                   help="run folder or results.json (default results/latest)")
    p.add_argument("--out", type=Path, help="where to write PNGs and REPORT.md (default: the run folder)")
    a = p.parse_args(argv)
    try:
        doc = results.load(a.run)
    except FileNotFoundError:
        print(f"plot.py: no results.json in {a.run}", file=sys.stderr)
        return 2
    except (results.SchemaError, ValueError) as e:
        print(f"plot.py: {a.run}: {e}", file=sys.stderr)
        return 2
    run_dir = a.run if a.run.is_dir() else a.run.parent
    out = a.out or run_dir
    made = plots.plot_all(doc, out)
    rel = [(t, str(Path(pth).relative_to(out)) if Path(pth).is_relative_to(out) else str(pth))
           for t, pth in made]
    (out / "REPORT.md").write_text(report.markdown(doc, rel))
    for _, pth in made:
        print(pth)
    print(out / "REPORT.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
