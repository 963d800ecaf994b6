#!/usr/bin/env bash
# make test: build every requested backend (plain and ASan+UBSan), run the C
# suites on each, then the Python suites once. Runs everything, reports every
# failure, exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
backends=("$@")
[ ${#backends[@]} -gt 0 ] || { echo "usage: $0 BACKEND..." >&2; exit 2; }
PY=/usr/bin/python3
failed=()

step() {  # step NAME CMD...: run, remember a failure, keep going
  local name=$1; shift
  echo "==> $name"
  if ! "$@"; then failed+=("$name"); echo "FAILED: $name"; fi
}

# A backend the kernel or sandbox refuses (io_uring under seccomp) is skipped
# with its reason, not failed; anything else that cannot run is a failure.
runnable() {
  local why
  why=$(./build/"$1"/vex_probe 2>&1) && return 0
  echo "SKIP $1: $why"; return 1
}

for b in "${backends[@]}"; do
  step "build $b" make --no-print-directory -s BACKEND="$b"
  step "build $b (ASan+UBSan)" make --no-print-directory -s BACKEND="$b" SANITIZE=1
done
step "http parser unit tests" ./build/"${backends[0]}"/test_http_parser
step "http parser unit tests (ASan+UBSan)" ./build/"${backends[0]}"-san/test_http_parser
for b in "${backends[@]}"; do
    runnable "$b" || continue
  step "conformance $b" ./build/"$b"/test_conformance
  step "conformance $b (ASan+UBSan)" ./build/"$b"-san/test_conformance
done
# kqueue.c on Linux through our kevent(2) emulation (bookkeeping, not BSD).
if [ "$(uname -s)" = Linux ]; then
  step "kqueue via tests/kqshim (plain + ASan+UBSan)" make --no-print-directory -s test-kqshim
fi
export VEX_TEST_BACKENDS="${backends[*]}"
# One pytest run per suite: each has its own conftest.py.
for suite in server harness gate loadgen; do
  [ -d tests/python/$suite ] || continue
  step "python tests: $suite" "$PY" -m pytest -q -p no:cacheprovider tests/python/$suite
done

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: ${#failed[@]} step(s) failed: ${failed[*]}"
  exit 1
fi
echo "make test: all steps passed for: ${backends[*]}"
