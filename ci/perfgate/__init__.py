"""vex_net's CI performance regression gate (`make gate`, ci/gate.py).

One job per module, data flowing one way:
  gitref    which commits: base resolution, worktrees, Perf-Regression-Accepted trailers
  build     build base and candidate side by side
  wallclock interleaved A/B trials (server on CPU 0, wrk on CPU 1) -> per-pair samples
  determ    instructions per request under callgrind, deterministic client
  stats     per-metric comparison: ratio, bootstrap CI, rank tests, verdict
  verdict   overall verdict, exit status, accepted regressions
  report    text table, JSON verdict file, Markdown summary
"""

import sys
from pathlib import Path

# The harness (scripts/vexbench) launches servers and load generators for the gate too.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_UNDECIDED = 2
