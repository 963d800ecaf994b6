"""Fixtures for the harness tests (scripts/vexbench).

The harness is tested against the real build/<backend>/production_server. Where a test
needs the server to do what it cannot be asked to do (be refused by a sandbox, die in the
middle of a trial), the real binary is run through a small wrapper that makes it happen:
a seccomp filter (deny_io_uring.py) or a SIGKILL on a timer. No stand-in server is left.
"""
import os

import pytest

from vexbench_testlib import FIXTURES, HERE, ROOT, built, make_doc


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs real load against loopback servers")
    config.addinivalue_line("markers", "needs_server: needs build/<backend>/production_server")


def _script(path, text):
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def fixture_text():
    return lambda name: (FIXTURES / name).read_text()


@pytest.fixture
def real_build(tmp_path):
    """A build dir for bench.py/ServerProcess: epoll/production_server is the real epoll
    build, io_uring/production_server the real io_uring build under a seccomp filter that
    refuses io_uring_setup (so it exits 3 for real, with its own message), poll absent."""
    b = tmp_path / "build"
    (b / "epoll").mkdir(parents=True)
    os.symlink(built("epoll"), b / "epoll" / "production_server")
    uring = ROOT / "build" / "io_uring" / "production_server"
    if uring.is_file():              # tests that need it check with built("io_uring")
        (b / "io_uring").mkdir()
        _script(b / "io_uring" / "production_server",
                f'#!/bin/sh\nexec /usr/bin/python3 {HERE / "deny_io_uring.py"} {uring} "$@"\n')
    return b


@pytest.fixture
def dying_build(tmp_path):
    """A build dir whose epoll/production_server is the real one, SIGKILLed 3 s after it
    starts: a server that dies in the middle of a benchmark (the one thing the real
    server cannot be asked to do). exec keeps the pid, so the kill hits the server."""
    b = tmp_path / "dying"
    (b / "epoll").mkdir(parents=True)
    _script(b / "epoll" / "production_server",
            f'#!/bin/sh\n(sleep 3; kill -KILL $$) </dev/null >/dev/null 2>&1 &\n'
            f'exec {built("epoll")} "$@"\n')
    return b


@pytest.fixture
def synthetic_doc():
    return make_doc()
