#!/usr/bin/env bash
# make test: decide which backends can be tested here (after `make deps`, so a
# library it just installed counts), build each plain and with ASan+UBSan, run
# the C suites on each, replay the fuzz corpora, then the Python suites (the
# server suite twice: plain builds, then the sanitizer builds with LSan on).
# Runs everything, reports every failure, exits non-zero if any step failed.
#
#   scripts/run_tests.sh [BACKEND...]     default: every backend of this OS
#   scripts/run_tests.sh --decide-only    build and probe, print the decision, stop
#   REQUIRE_BACKENDS=epoll,io_uring       a skip of one of these is a failure
#
# A backend is skipped (a SKIP line with the reason, and named again in the
# last line) only when it cannot run here: its library is not installed, or
# vex_probe exits 3 (the kernel or a sandbox refuses it). Any other problem —
# a failed build, a probe that crashes or exits otherwise — fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
failed=()
skipped=()      # "backend (reason)"
runnable=()

case "$(uname -s)" in
  Linux) candidates=(epoll io_uring poll) ;;
  *)     candidates=(kqueue poll) ;;
esac
decide_only=0
if [ "${1:-}" = --decide-only ]; then decide_only=1; shift; fi
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=("${candidates[@]}")
IFS=', ' read -r -a required <<< "${REQUIRE_BACKENDS:-}"

step() {  # step NAME CMD...: run, remember a failure, keep going
  local name=$1; shift
  echo "==> $name"
  if ! "$@"; then failed+=("$name"); echo "FAILED: $name"; fi
}

skip() {  # skip BACKEND REASON
  echo "SKIP $1: $2"
  skipped+=("$1 ($2)")
}

# Why a backend's library is missing, or nothing if it can be built here.
# Decided now, not when the Makefile was read: `make deps` may just have
# installed it.
missing_library() {
  case "$1" in
    io_uring)
      printf '#include <liburing.h>\nint main(void){return 0;}\n' |
        "${CC:-cc}" -x c - -o /dev/null -luring 2>/dev/null ||
        echo "liburing (liburing-dev) is not installed" ;;
    kqueue)
      [ -e /usr/include/sys/event.h ] || [ "$(uname -s)" != Linux ] ||
        echo "kqueue is a BSD/macOS API (Linux: see make test-kqshim)" ;;
  esac
}

for b in "${backends[@]}"; do
  why=$(missing_library "$b")
  if [ -n "$why" ]; then skip "$b" "$why"; continue; fi
  ok=1
  step "build $b" make --no-print-directory -s BACKEND="$b"
  [ -x build/"$b"/vex_probe ] || ok=0
  step "build $b (ASan+UBSan)" make --no-print-directory -s BACKEND="$b" SANITIZE=1
  [ -x build/"$b"-san/vex_probe ] || ok=0
  [ $ok = 1 ] || continue          # the build failure is already counted
  # Only exit 3 means "cannot run here"; a crash or any other exit is a bug.
  why=$(./build/"$b"/vex_probe 2>&1); rc=$?
  case $rc in
    0) runnable+=("$b") ;;
    3) skip "$b" "$why" ;;
    *) echo "FAILED: vex_probe $b exited $rc: $why"; failed+=("probe $b (exit $rc)") ;;
  esac
done

for r in "${required[@]}"; do
  [ -n "$r" ] || continue
  printf '%s\n' "${runnable[@]}" | grep -qx -- "$r" && continue
  echo "FAILED: $r is in REQUIRE_BACKENDS but was not tested"
  failed+=("required backend $r not tested")
done

summary() {
  echo
  tested="${runnable[*]:-none}"
  skips=""
  [ ${#skipped[@]} -gt 0 ] && skips="; SKIPPED: $(IFS=';'; echo "${skipped[*]}" | sed 's/;/; /g')"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "make test: ${#failed[@]} step(s) FAILED: $(IFS=';'; echo "${failed[*]}" | sed 's/;/; /g'); tested: $tested$skips"
    exit 1
  fi
  echo "make test: all steps passed for: $tested$skips"
  exit 0
}
[ $decide_only = 0 ] || summary

first=${runnable[0]:-}
if [ -n "$first" ]; then
  step "http parser unit tests" ./build/"$first"/test_http_parser
  step "http parser unit tests (ASan+UBSan)" ./build/"$first"-san/test_http_parser
  step "http1 layer unit tests" ./build/"$first"/test_http1
  step "http1 layer unit tests (ASan+UBSan)" ./build/"$first"-san/test_http1
  step "logger unit tests" ./build/"$first"/test_log
  step "logger unit tests (ASan+UBSan)" ./build/"$first"-san/test_log
  step "address range unit tests (ASan+UBSan)" ./build/"$first"-san/test_cidr
  step "rate limit / PROXY unit tests (ASan+UBSan)" ./build/"$first"-san/test_ratelimit
  step "access control unit tests (ASan+UBSan)" ./build/"$first"-san/test_access
fi
step "fuzz corpus replay (libFuzzer, ASan+UBSan: parser, llhttp differential, chunked decoder, connection, config file, TLS)" \
  make --no-print-directory -s fuzz-replay
for b in "${runnable[@]}"; do
  step "conformance $b" ./build/"$b"/test_conformance
  step "conformance $b (ASan+UBSan)" ./build/"$b"-san/test_conformance
  if [ "$b" = io_uring ]; then   # its file path asks the page cache (cachestat)
    step "page cache residency unit tests (ASan+UBSan)" ./build/io_uring-san/test_pagecache
  fi
done
# kqueue.c on Linux through our kevent(2) emulation (bookkeeping, not BSD).
if [ "$(uname -s)" = Linux ]; then
  step "kqueue via tests/kqshim (plain + ASan+UBSan)" make --no-print-directory -s test-kqshim
fi
step "libvex_net.a exports only vex_* (check-symbols)" make --no-print-directory -s check-symbols

pytest() { "$PY" -m pytest -q -rs -p no:cacheprovider "$@"; }
# The server, install and loadgen suites mostly wait (timeouts, slow
# clients, child processes), so they run in TEST_JOBS processes when
# pytest-xdist is installed (python3-pytest-xdist): about 4x less wall time
# on 2 cores. The harness and gate suites measure speed and stay serial.
# TEST_JOBS=1 runs everything serially.
read -r -a par <<< "$(scripts/pytest_jobs.sh "$PY")"
if [ ${#runnable[@]} -gt 0 ]; then
  export VEX_TEST_BACKENDS="${runnable[*]}"
  # One pytest run per suite: each has its own conftest.py.
  step "python tests: server (${runnable[*]})" env VEX_TEST_SAN=0 pytest "${par[@]}" tests/python/server
  step "python tests: server, ASan+UBSan+LSan builds (${runnable[*]})" \
    env VEX_TEST_SAN=1 pytest "${par[@]}" tests/python/server
else
  echo "FAILED: no backend can run here, so the server suite cannot run"
  failed+=("no runnable backend")
fi
for suite in harness gate soak; do
  step "python tests: $suite" pytest tests/python/$suite
done
for suite in install loadgen; do
  step "python tests: $suite" pytest "${par[@]}" tests/python/$suite
done

summary
