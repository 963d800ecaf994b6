"""Where there is no /proc (macOS, FreeBSD without procfs) the fd-leak checks
list a server's descriptors with lsof (server_helpers.fds_by_lsof). On Linux
both exist: they must name the same descriptors."""
import os
import shutil

import pytest

from server_helpers import Reader, fds_by_lsof, wait_for


def test_lsof_listing_matches_proc(server):
    if not shutil.which("lsof"):
        pytest.skip("lsof not installed (Debian package lsof)")
    if not os.path.isdir(f"/proc/{server.pid}/fd"):
        pytest.skip("no /proc/PID/fd here: fds() already is the lsof listing")
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Reader(s).response().status == 200
        proc = set(server.fds())
        assert len(proc) > 3                      # stdio, listener, loop, this client
        assert wait_for(lambda: set(fds_by_lsof(server.pid)) == set(server.fds()), timeout=5), \
            (sorted(fds_by_lsof(server.pid)), sorted(server.fds()))
