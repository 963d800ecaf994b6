#!/usr/bin/env bash
# Print the pytest arguments that spread a suite over TEST_JOBS processes
# (default 4), or nothing when TEST_JOBS=1 or pytest-xdist (Debian
# python3-pytest-xdist) is not installed for PY. The one place that decides;
# scripts/run_tests.sh and the Makefile's test targets both ask it.
#   scripts/pytest_jobs.sh [PY]
py=${1:-${PY:-python3}}
jobs=${TEST_JOBS:-4}
[ "$jobs" != 1 ] && "$py" -c 'import xdist' 2>/dev/null && echo "-n $jobs"
exit 0
