#!/usr/bin/python3
"""slowfs.py - a read-only FUSE passthrough whose every read() sleeps --delay-ms.

A "slow disk" for benchmarks on a machine whose real disk is too fast to show a
blocking read (scripts/coldfile_bench.py --slow-fs-ms): the files under BACKING
appear under MOUNTPOINT, and each read the kernel sends to this daemon (a page
cache miss: FUSE reads in pieces of up to 128 KiB, readahead included) waits
--delay-ms before it returns the backing file's bytes. Hits in the kernel's page
cache never reach the daemon, so a file read once stays fast until it is
evicted (posix_fadvise(POSIX_FADV_DONTNEED) on the FUSE file): the mount uses
kernel_cache, without which FUSE drops a file's cache at every open(2) (cachestat
through a new descriptor then reports a file just read 0% resident), and never
direct_io, which would bypass the cache altogether.

Runs in the foreground until unmounted (fusermount3 -u MOUNTPOINT), then prints
how many reads it served on stderr. Needs /dev/fuse and fusepy (Debian:
python3-fusepy fuse3). As a module: mount() starts the daemon (with
--die-with-parent, so that a killed benchmark leaves no mount) and waits for the
mount, unmount() removes it (also a stale one whose daemon died).
"""
import argparse
import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
MOUNT_OPTIONS = "ro,kernel_cache"   # not direct_io: the page cache must stay in play


def mount_points(mounts_text):
    """The mount points in a /proc/self/mounts text, octal escapes (\\040 for a
    space) decoded."""
    points = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            points.append(decode_mount_field(fields[1]))
    return points


def decode_mount_field(field):
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def is_mounted(path):
    """True when path is a mount point, even one whose FUSE daemon died (stat(2)
    then fails with ENOTCONN, so os.path.ismount says False)."""
    with open("/proc/self/mounts") as f:
        return os.path.abspath(path) in mount_points(f.read())


def unmount_commands(path):
    """What to try, in order, to remove the FUSE mount at path."""
    cmds = [[tool, "-u", path] for tool in ("fusermount3", "fusermount") if shutil.which(tool)]
    return cmds + [["umount", "-l", path]]  # lazy: works on a dead daemon's mount as root


def unmount(path, timeout=10):
    """Remove the mount at path if there is one. Returns True when none is left."""
    for cmd in unmount_commands(path):
        if not is_mounted(path):
            return True
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return not is_mounted(path)


class SlowMount:
    """The daemon (a child process) serving backing at mountpoint."""

    def __init__(self, proc, mountpoint):
        self.proc, self.mountpoint = proc, mountpoint

    def close(self):
        unmount(self.mountpoint)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.proc.stderr.read() if self.proc.stderr else ""


def mount(backing, mountpoint, delay_ms, cpu=None, timeout=10):
    """Start this script on backing -> mountpoint and wait until it is mounted.
    A stale mount already at mountpoint is removed first. Raises OSError when
    the mount does not appear within timeout (the daemon's stderr in the text)."""
    if is_mounted(mountpoint) and not unmount(mountpoint):
        raise OSError(errno.EBUSY, f"slowfs: cannot remove the stale mount at {mountpoint}")
    os.makedirs(mountpoint, exist_ok=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--delay-ms", str(delay_ms),
           "--die-with-parent"]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.Popen(cmd + [str(backing), str(mountpoint)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_mounted(mountpoint):
            return SlowMount(proc, str(mountpoint))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    unmount(mountpoint)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    raise OSError(errno.EIO, f"slowfs: {mountpoint} not mounted: {proc.stderr.read().strip()}")


def make_operations(fusepy, backing, delay):
    class SlowFS(fusepy.Operations):
        """Read-only passthrough of backing; read() sleeps delay seconds first."""
        use_ns = True

        def __init__(self):
            self.root = os.path.realpath(backing)
            self.mutex = threading.Lock()  # not "lock": that name is a FUSE operation
            self.reads = self.bytes = 0

        def _real(self, path):
            return os.path.join(self.root, path.lstrip("/"))

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._real(path))
            except OSError as e:
                raise fusepy.FuseOSError(e.errno)
            # use_ns: fusepy takes the times as integer nanoseconds
            return {"st_mode": st.st_mode, "st_nlink": st.st_nlink, "st_size": st.st_size,
                    "st_uid": st.st_uid, "st_gid": st.st_gid, "st_atime": st.st_atime_ns,
                    "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

        def readdir(self, path, fh):
            return [".", ".."] + os.listdir(self._real(path))

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise fusepy.FuseOSError(errno.EROFS)
            try:
                return os.open(self._real(path), os.O_RDONLY)
            except OSError as e:
                raise fusepy.FuseOSError(e.errno)

        def read(self, path, size, offset, fh):
            time.sleep(delay)           # the slow disk
            data = os.pread(fh, size, offset)
            with self.mutex:
                self.reads += 1
                self.bytes += len(data)
            return data

        def release(self, path, fh):
            os.close(fh)
            return 0

        def statfs(self, path):
            st = os.statvfs(self.root)
            return {k: getattr(st, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree",
                                                "f_bavail", "f_files", "f_ffree", "f_namemax")}
    return SlowFS()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("backing", help="directory whose files are served")
    p.add_argument("mountpoint", help="empty directory to mount on")
    p.add_argument("--delay-ms", type=float, default=5.0,
                   help="sleep before every read the daemon serves (default %(default)s)")
    p.add_argument("--cpu", type=int, default=None,
                   help="pin the daemon (and its threads) to this CPU")
    p.add_argument("--die-with-parent", action="store_true",
                   help="unmount and exit when the parent dies, even by SIGKILL (mount() sets it)")
    args = p.parse_args(argv)
    if args.die_with_parent:
        parent = os.getppid()
        # SIGTERM: libfuse's handler leaves its loop and unmounts
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:      # the parent died before prctl
            return 1
    try:
        import fusepy
    except (ImportError, OSError) as e:   # OSError: fusepy loads libfuse at import
        print(f"slowfs: needs fusepy and libfuse (Debian: python3-fusepy fuse3): {e}",
              file=sys.stderr)
        return 2
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ops = make_operations(fusepy, args.backing, args.delay_ms / 1000.0)
    # foreground: the parent owns this process; threads: the kernel's readahead
    # sends several reads at once, and each sleeps on its own, as disk requests queue.
    fusepy.FUSE(ops, args.mountpoint, foreground=True, fsname="slowfs", **{
        o: True for o in MOUNT_OPTIONS.split(",")})
    print(f"slowfs: served {ops.reads} reads, {ops.bytes} bytes, {args.delay_ms:g} ms each",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
