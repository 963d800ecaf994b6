"""scripts/slowfs.py (the FUSE "slow disk") and coldfile_bench.py's --slow-fs-ms.

The pure parts always run; the mounts need /dev/fuse, fusepy and the right to mount
(root here), and skip naming what is missing. Nothing here depends on timing: the
delay is only checked to be counted (reads served), never measured.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from vexbench_testlib import ROOT, built

import coldfile_bench
import slowfs


def fuse_usable():
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        import fusepy  # noqa: F401
    except (ImportError, OSError) as e:
        return f"fusepy missing (Debian: python3-fusepy fuse3): {e}"
    if os.geteuid() != 0 and not (slowfs.shutil.which("fusermount3") or slowfs.shutil.which("fusermount")):
        return "not root and no fusermount"
    return None


needs_fuse = pytest.mark.skipif(fuse_usable() is not None, reason=str(fuse_usable()))


def test_mount_points_decode_octal_escapes():
    text = ("sysfs /sys sysfs rw 0 0\n"
            "\n"
            "slowfs /var/tmp/a\\040b/slowfs fuse.slowfs ro 0 0\n"
            "x /tab\\011here ext4 rw 0 0\n")
    assert slowfs.mount_points(text) == ["/sys", "/var/tmp/a b/slowfs", "/tab\there"]
    assert slowfs.decode_mount_field("/end\\04") == "/end\\04"   # a cut escape stays as it is


def test_unmount_commands_end_with_a_lazy_umount():
    cmds = slowfs.unmount_commands("/m")
    assert cmds[-1] == ["umount", "-l", "/m"]
    assert all(c[1:] == ["-u", "/m"] for c in cmds[:-1])


def test_stale_slowfs_mounts_only_under_our_prefix():
    pts = ["/var/tmp/vex_coldfile_ab12/slowfs", "/var/tmp/vex_coldfile_x/other",
           "/var/tmp/something/slowfs", "/tmp/vex_coldfile_q/slowfs",
           "/var/tmp/vex_coldfile_z/slowfs/deeper", "/"]
    assert coldfile_bench.stale_slowfs_mounts(pts, "/var/tmp/") == ["/var/tmp/vex_coldfile_ab12/slowfs"]


def test_slow_fs_flag_and_rate_defaults():
    p = coldfile_bench.parser()
    a = p.parse_args([])
    assert a.slow_fs_ms is None and coldfile_bench.file_rate(a) == coldfile_bench.DEFAULT_RATE
    a = p.parse_args(["--slow-fs-ms"])
    assert a.slow_fs_ms == 5.0 and coldfile_bench.file_rate(a) == coldfile_bench.DEFAULT_SLOW_RATE
    a = p.parse_args(["--slow-fs-ms", "12", "--rate", "7"])
    assert a.slow_fs_ms == 12.0 and coldfile_bench.file_rate(a) == 7


def test_slowfs_help():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "slowfs.py"), "--help"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--delay-ms" in out.stdout and "kernel_cache" in out.stdout


def served(report):
    """(reads, bytes) from the daemon's last line."""
    words = report.strip().splitlines()[-1].split()
    assert words[:2] == ["slowfs:", "served"], report
    return int(words[2]), int(words[4])


@needs_fuse
def test_slowfs_serves_bytes_keeps_the_page_cache_and_dontneed_evicts(tmp_path):
    backing, mnt = tmp_path / "disk", tmp_path / "mnt"
    backing.mkdir()
    data = os.urandom(1 << 20)
    (backing / "f.bin").write_bytes(data)
    m = slowfs.mount(backing, mnt, 5)
    try:
        f = mnt / "f.bin"
        assert f.read_bytes() == data                  # cold: through the daemon
        res = coldfile_bench.resident_fraction(f)
        if res is not None:
            assert res == 1.0
        assert f.read_bytes() == data                  # hot: kernel_cache kept it across open(2)
        coldfile_bench.evict(f)
        res = coldfile_bench.resident_fraction(f)
        if res is not None:
            assert res == 0.0
        assert f.read_bytes() == data                  # cold again
        with pytest.raises(OSError):
            open(f, "r+b")                             # read-only
    finally:
        report = m.close()
    assert not slowfs.is_mounted(mnt)
    reads, nbytes = served(report)
    assert nbytes == 2 * len(data)                     # the hot read never reached the daemon
    assert 2 <= reads <= 2 * len(data) // 4096


@needs_fuse
def test_mount_replaces_a_dead_daemons_mount(tmp_path):
    backing, mnt = tmp_path / "disk", tmp_path / "mnt"
    backing.mkdir()
    (backing / "a").write_bytes(b"abc")
    m = slowfs.mount(backing, mnt, 1)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=10)
    assert slowfs.is_mounted(mnt)                      # left behind, dead
    with pytest.raises(OSError):
        os.stat(mnt / "a")
    m2 = slowfs.mount(backing, mnt, 1)
    try:
        assert (mnt / "a").read_bytes() == b"abc"
    finally:
        m2.close()
    assert not slowfs.is_mounted(mnt)


@needs_fuse
@pytest.mark.needs_server
@pytest.mark.parametrize("backend", ["epoll", "io_uring"])
def test_coldfile_bench_slow_fs_runs_and_cleans_up(tmp_path, backend):
    build = built(backend).parent.parent
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "coldfile_bench.py"),
                          "--backend", backend, "--build-dir", str(build), "--slow-fs-ms", "1",
                          "--size", "2", "--files", "2", "--duration", "1", "--trials", "1",
                          "--connections", "4", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    skipped = [ln for ln in out.stdout.splitlines() if ln.startswith(f"{backend}: skipped")]
    if skipped:
        pytest.skip(skipped[0])          # the backend cannot run here (vex_probe's reason)
    assert out.returncode == 0, out.stderr
    assert "FUSE disk sleeping 1 ms per read" in out.stdout
    row = [ln for ln in out.stdout.splitlines() if ln.startswith(backend + " ")]
    assert len(row) == 1 and row[0].rstrip().endswith("0.0%"), out.stdout
    assert "errors" not in row[0]
    assert served(out.stdout.split("\n\nbackend")[0])[1] > 0
    assert list(tmp_path.iterdir()) == []              # mount gone, temporary dir removed
    with open("/proc/self/mounts") as f:
        assert str(tmp_path) not in f.read()


@needs_fuse
def test_daemon_unmounts_when_its_parent_is_killed(tmp_path):
    """A benchmark killed by SIGKILL runs no finally: the daemon's parent-death
    signal must still remove the mount."""
    backing, mnt = tmp_path / "disk", tmp_path / "mnt"
    backing.mkdir()
    (backing / "a").write_bytes(b"abc")
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import slowfs; "
            f"slowfs.mount({str(backing)!r}, {str(mnt)!r}, 1); print('up', flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        assert slowfs.is_mounted(mnt)
    finally:
        parent.kill()
        parent.wait(timeout=10)
    deadline = time.monotonic() + 15     # a bound for a loaded machine, not a measurement
    while slowfs.is_mounted(mnt) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = slowfs.is_mounted(mnt)
    if left:
        slowfs.unmount(mnt)
    assert not left
