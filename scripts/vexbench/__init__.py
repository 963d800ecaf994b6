"""vex_net benchmark harness: run -> results JSON -> report / plots / compare.

Reusable pieces (e.g. for ci/ gates running interleaved A/B trials of two binaries):
    from vexbench.server import ServerProcess        # launch, /readyz, counters, /proc stats, SIGTERM
    from vexbench.trial import run_trial             # one profile against one server -> dict of figures
    from vexbench.profiles import load_profiles, make_plan
    from vexbench import stats                       # summarize(), ratio(), mann_whitney_p()
"""
import sys as _sys

if _sys.version_info < (3, 11):
    raise ImportError("vexbench needs Python 3.11+ (tomllib): run it with /usr/bin/python3")
