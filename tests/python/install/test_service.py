"""The systemd unit `make install` puts in lib/systemd/system/: `systemd-analyze
verify` accepts it without a word, it has the sandboxing the README promises, and
the server accepts its ExecStart flags. (Not run under a real systemd here: this
machine has none as PID 1.)"""
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from install_helpers import clean_env  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd is Linux-only")

UNIT = "usr/local/lib/systemd/system/production_server.service"


def unit_text(destdir):
    with open(destdir / UNIT, encoding="utf-8") as f:
        return f.read()


def settings(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def verify(destdir, text, tmp_path):
    """systemd-analyze verify on text with ExecStart pointing into destdir."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    unit = tmp_path / "production_server.service"
    unit.write_text(text.replace("/usr/local/bin/", f"{destdir}/usr/local/bin/"))
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, env=clean_env(MANPATH=str(destdir / "usr/local/share/man")))


def test_unit_passes_systemd_analyze_verify(destdir, tmp_path):
    r = verify(destdir, unit_text(destdir), tmp_path)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize("breakage", ["UMask=0077\nUMsk=0077", "DynamicUser=yes\nDynamicUser=perhaps"])
def test_verify_check_can_fail(destdir, tmp_path, breakage):
    old, new = breakage.split("\n")
    r = verify(destdir, unit_text(destdir).replace(old, new), tmp_path)
    assert r.stdout + r.stderr != ""


def test_unit_settings(destdir):
    s = settings(unit_text(destdir))
    assert s["ExecStart"][0].startswith("/usr/local/bin/production_server ")
    assert s["Type"] == ["simple"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for key, value in [("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                       ("NoNewPrivileges", "yes"), ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
                       ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"), ("PrivateTmp", "yes"),
                       ("LimitNOFILE", "65536"), ("RestartPreventExitStatus", "2 3")]:
        assert s.get(key) == [value], key


def test_server_accepts_the_units_flags(destdir):
    """The ExecStart line, on a free loopback port instead of 80, starts and drains."""
    argv = settings(unit_text(destdir))["ExecStart"][0].split()
    argv[0] = str(destdir / argv[0].lstrip("/"))
    argv[argv.index("--port") + 1] = "0"
    argv[argv.index("--host") + 1] = "127.0.0.1"
    p = subprocess.Popen(argv + ["--threads", "1"], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert re.match(r"vex_net production_server listening on 127\.0\.0\.1:\d+ ", line), line
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
