"""Fixtures for the harness tests (scripts/vexbench)."""
import os

import pytest

from vexbench_testlib import FAKE_SERVER, FIXTURES, make_doc


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs real load against loopback servers")
    config.addinivalue_line("markers", "needs_server: needs build/<backend>/production_server")


@pytest.fixture
def fixture_text():
    return lambda name: (FIXTURES / name).read_text()


@pytest.fixture
def fake_build(tmp_path):
    """A build dir whose epoll/production_server is the contract-following fake and whose
    io_uring/production_server exits 3 like a sandbox that refuses io_uring."""
    b = tmp_path / "build"
    (b / "epoll").mkdir(parents=True)
    (b / "io_uring").mkdir()
    os.symlink(FAKE_SERVER, b / "epoll" / "production_server")
    w = b / "io_uring" / "production_server"
    w.write_text(f'#!/bin/sh\nFAKE_EXIT3="io_uring_setup: Operation not permitted" exec {FAKE_SERVER} "$@"\n')
    w.chmod(0o755)
    return b


@pytest.fixture
def synthetic_doc():
    return make_doc()
