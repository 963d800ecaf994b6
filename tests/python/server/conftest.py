"""Fixtures for the production_server tests.

Every test runs against each built backend binary (build/*/production_server;
-san builds only when VEX_TEST_SAN=1), on a free 127.0.0.1 port picked by the
server itself (--port 0; the port is read from its "listening" line).
Standard library + pytest only. Every test is bounded by SIGALRM.
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


def server_binaries():
    want_san = os.environ.get("VEX_TEST_SAN") == "1"
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, "build", "*", "production_server"))):
        name = os.path.basename(os.path.dirname(path))
        is_san = name.endswith("-san")
        if "-slow" in name or (is_san != want_san):
            continue
        only = os.environ.get("VEX_TEST_BACKENDS")
        if only and name.replace("-san", "") not in re.split(r"[,\s]+", only.strip()):
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
    for s in servers:
        s.kill()


@pytest.fixture
def server(start_server):
    return start_server("--threads", "1")


