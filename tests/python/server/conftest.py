"""Fixtures for the production_server tests.

Every test runs against each built backend binary (build/*/production_server;
with VEX_TEST_SAN=1 the ASan+UBSan builds build/*-san/ instead), on a free
127.0.0.1 port picked by the server itself (--port 0; the port is read from its
"listening" line). Standard library + pytest only. Every test is bounded by
SIGALRM.

Sanitizer builds: every server a test started and left running is stopped with
SIGTERM at the end of the test, so LeakSanitizer runs on the real shutdown
path; the test then fails unless the exit code is 0 and stderr holds no ASan,
LSan or UBSan report. A server that already exited (the test stopped it) is
checked for a report too.
"""
import glob
import re
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from server_helpers import Server  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TEST_TIME_LIMIT = int(os.environ.get("VEX_TEST_TIME_LIMIT", "90"))
SAN = os.environ.get("VEX_TEST_SAN") == "1"
TSAN = os.environ.get("VEX_TEST_TSAN") == "1"
if TSAN:
    # Report every race, keep running, and exit 66 at the end if any was found.
    os.environ.setdefault("TSAN_OPTIONS", "halt_on_error=0:exitcode=66:second_deadlock_stack=1")
if SAN:
    # Leak checks on at exit (the default on Linux, made explicit); a leak
    # exits 23, which the exit-code checks below and in the tests see.
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
    os.environ.setdefault("LSAN_OPTIONS", "exitcode=23")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")


def server_binaries():
    want_san = SAN
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, "build", "*", "production_server"))):
        name = os.path.basename(os.path.dirname(path))
        is_san = name.endswith("-san")
        # ThreadSanitizer builds (make SANITIZE=thread) run only under
        # VEX_TEST_TSAN=1 (make test-tsan), and then alone.
        if name.endswith("-tsan") != TSAN:
            continue
        if "-slow" in name or (is_san != want_san):
            continue
        only = os.environ.get("VEX_TEST_BACKENDS")
        if only and re.sub(r"-t?san$", "", name) not in re.split(r"[,\s]+", only.strip()):
            continue
        out.append(path)
    return out


BINARIES = server_binaries()


@pytest.fixture(params=BINARIES or [None],
                ids=[os.path.basename(os.path.dirname(b)) for b in BINARIES] or ["none"])
def binary(request):
    if request.param is None:
        pytest.skip("no build/*/production_server: run make first")
    return request.param


@pytest.fixture(autouse=True)
def time_limit():
    """Fail (not hang) a test that runs longer than TEST_TIME_LIMIT."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIME_LIMIT} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def start_server(binary):
    servers = []

    def start(*args, **kw):
        s = Server(binary, args, **kw)
        servers.append(s)
        return s

    yield start
    problems = []
    for s in servers:
        if SAN and s.alive():
            try:
                rc = s.stop(timeout=30)     # the graceful path, with LSan at exit
            except Exception as e:          # noqa: BLE001 — a hang is a finding
                s.kill()
                problems.append(f"{os.path.basename(s.binary)} pid {s.pid}: SIGTERM: {e}")
                continue
            if rc != 0:
                problems.append(f"pid {s.pid}: exit code {rc} after SIGTERM "
                                f"(23 = LeakSanitizer):\n{s.read_stderr()[-6000:]}")
                continue
        s.kill()
        report = s.sanitizer_report()
        if report:
            problems.append(f"pid {s.pid}: sanitizer report:\n{report}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def server(start_server):
    return start_server("--threads", "1")


