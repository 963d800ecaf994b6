"""`make install` into a temporary DESTDIR, then a program built against it with
pkg-config only, for every backend this run covers (VEX_TEST_BACKENDS, as
`make test` sets it; otherwise every backend the Makefile finds).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from install_helpers import BACKENDS, PREFIX, ROOT, clean_env, make, version  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(__file__), "example.c")
pytestmark = pytest.mark.skipif(sys.platform == "darwin",
                                reason="the checks read ELF (readelf, nm -D); macOS builds .dylib")


def files_under(d):
    return sorted(os.path.relpath(os.path.join(dp, f), d)
                  for dp, _, fs in os.walk(d) for f in fs)


def test_install_layout(destdir):
    v, major = version(), version().split(".")[0]
    want = {"usr/local/include/vex_net.h", "usr/local/bin/production_server",
            "usr/local/share/man/man1/production_server.1"}
    if sys.platform.startswith("linux"):
        want.add("usr/local/lib/systemd/system/production_server.service")
    for b in BACKENDS:
        want |= {f"usr/local/lib/libvex_net-{b}.a", f"usr/local/lib/libvex_net-{b}.so.{v}",
                 f"usr/local/lib/libvex_net-{b}.so.{major}", f"usr/local/lib/libvex_net-{b}.so",
                 f"usr/local/lib/pkgconfig/vex_net-{b}.pc"}
    assert set(files_under(destdir)) == want
    lib = destdir / "usr/local/lib"
    for b in BACKENDS:
        assert os.readlink(lib / f"libvex_net-{b}.so.{major}") == f"libvex_net-{b}.so.{v}"
        assert os.readlink(lib / f"libvex_net-{b}.so") == f"libvex_net-{b}.so.{major}"
        dyn = subprocess.run(["readelf", "-d", lib / f"libvex_net-{b}.so.{v}"],
                             capture_output=True, text=True, check=True).stdout
        assert f"Library soname: [libvex_net-{b}.so.{major}]" in dyn


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_library_exports_only_vex_symbols(destdir, backend):
    so = destdir / f"usr/local/lib/libvex_net-{backend}.so.{version()}"
    out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True,
                         check=True).stdout
    # versioned: vex_loop_new@@VEX_NET_0
    names = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    assert "vex_loop_new" in names and "vex_sendfile" in names
    assert {n for n in names if not n.startswith("vex_")} == {"VEX_NET_0"}
    assert not [n for n in names if n.startswith("vex__")], "internals exported"
    # the static library does carry the internals (vex__*) the version script hides
    out = subprocess.run(["nm", "-g", "--defined-only", destdir /
                          f"usr/local/lib/libvex_net-{backend}.a"],
                         capture_output=True, text=True, check=True).stdout
    assert any(line.split()[-1].startswith("vex__") for line in out.splitlines()
               if len(line.split()) == 3)


def pkg_config(destdir, *args):
    env = clean_env(PKG_CONFIG_LIBDIR=str(destdir / "usr/local/lib/pkgconfig"),
                    PKG_CONFIG_PATH="", PKG_CONFIG_SYSROOT_DIR=str(destdir))
    r = subprocess.run(["pkg-config", *args], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def probe_says_unavailable(backend):
    probe = os.path.join(ROOT, "build", backend, "vex_probe")
    return os.path.exists(probe) and subprocess.run([probe], capture_output=True).returncode == 3


def run_example(exe, destdir, backend):
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30,
                       env=clean_env(LD_LIBRARY_PATH=str(destdir / "usr/local/lib")))
    if r.returncode == 3 and probe_says_unavailable(backend):
        pytest.skip(f"{backend} cannot run here: {r.stdout.strip()}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"vex_net {version()} backend={backend} accepted=yes"


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_builds_with_pkg_config_shared(destdir, backend, tmp_path):
    flags = pkg_config(destdir, "--cflags", "--libs", f"vex_net-{backend}")
    assert f"-I{destdir}/usr/local/include" in flags and f"-lvex_net-{backend}" in flags
    exe = tmp_path / "example"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", EXAMPLE, "-o", exe, *flags], check=True)
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
    assert f"[libvex_net-{backend}.so.{version().split('.')[0]}]" in needed
    run_example(exe, destdir, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_builds_with_pkg_config_static(destdir, backend, tmp_path):
    flags = pkg_config(destdir, "--cflags", "--static", "--libs", f"vex_net-{backend}")
    flags = [f"-l:libvex_net-{backend}.a" if f == f"-lvex_net-{backend}" else f for f in flags]
    exe = tmp_path / "example"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", EXAMPLE, "-o", exe, *flags], check=True)
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
    assert "libvex_net" not in needed
    run_example(exe, destdir, backend)


def test_installed_server_and_man_page(destdir):
    srv = destdir / "usr/local/bin/production_server"
    r = subprocess.run([srv, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--root DIR" in r.stdout
    man = destdir / "usr/local/share/man/man1/production_server.1"
    if not shutil.which("groff"):
        pytest.skip("groff not installed: man page not checked")
    r = subprocess.run(["groff", "-man", "-ww", "-z", man], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    with open(man, encoding="utf-8") as f:
        page = f.read()
    for flag in re.findall(r"^  (--[a-z-]+)", subprocess.run(
            [srv, "--help"], capture_output=True, text=True).stdout, re.M):
        assert flag.replace("-", r"\-") in page, f"{flag} is not in the man page"


def test_uninstall_removes_every_file(destdir, tmp_path):
    # a copy, so the other tests' tree stays
    d = tmp_path / "copy"
    shutil.copytree(destdir, d, symlinks=True)
    r = make("uninstall", f"PREFIX={PREFIX}", f"DESTDIR={d}")
    assert r.returncode == 0, r.stderr
    assert files_under(d) == []
