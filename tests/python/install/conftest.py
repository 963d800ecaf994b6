"""One `make install` into a temporary DESTDIR, shared by every install test."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from install_helpers import BACKENDS, PREFIX, make  # noqa: E402


@pytest.fixture(scope="session")
def destdir(tmp_path_factory):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config not installed (Debian package pkg-config)")
    if not BACKENDS:
        pytest.skip("no backend to install")
    d = tmp_path_factory.mktemp("destdir")
    r = make("install", f"PREFIX={PREFIX}", f"DESTDIR={d}", f"INSTALL_BACKENDS={' '.join(BACKENDS)}")
    assert r.returncode == 0, r.stdout + r.stderr
    return d
