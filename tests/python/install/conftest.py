"""One `make install` into a temporary DESTDIR, shared by every install test."""
import fcntl
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from install_helpers import BACKENDS, PREFIX, ROOT, make  # noqa: E402


@pytest.fixture(scope="session")
def destdir(tmp_path_factory):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config not installed (Debian package pkg-config)")
    if not BACKENDS:
        pytest.skip("no backend to install")
    d = tmp_path_factory.mktemp("destdir")
    # Under pytest-xdist every worker has its own session and DESTDIR, but all of them
    # build into the one build/ tree: two makes at once relink a library while the
    # other links against it (undefined vex_* references). One make at a time; the
    # later ones find everything built and only copy.
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", ".install-test.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = make("install", f"PREFIX={PREFIX}", f"DESTDIR={d}", f"INSTALL_BACKENDS={' '.join(BACKENDS)}")
    assert r.returncode == 0, r.stdout + r.stderr
    return d
