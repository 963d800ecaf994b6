#!/usr/bin/python3
"""coldfile_bench.py - does a disk read stall the other connections?

For each backend, production_server (one thread, pinned to --server-cpu) serves
`wrk -c CONNECTIONS GET /` (pinned to --loadgen-cpu) three times per trial, in
a shuffled order:
  quiet  - wrk alone;
  hot    - wrk while a client in this script fetches a large file under --root
           over and over at --rate MB/s, the file staying in the page cache;
  cold   - the same, but the file is dropped from the page cache
           (posix_fadvise(POSIX_FADV_DONTNEED)) before each fetch, so every
           fetch reads the disk.
hot and cold move the same bytes (the rate cap), so what cold adds over hot is
the disk. It prints wrk's p50/p99 and req/s for each, the p99 ratio cold/hot,
and how many fetches completed (and at what rate). Where the server reads the file
on its loop's thread (epoll: sendfile(2) of a page that is not in memory waits
for the disk), GET / waits behind each read and its p99 jumps; where reads are
asynchronous (io_uring: the ring's READ for pieces not in the page cache), p99
should barely move. The page cache's answer after each eviction is checked with
cachestat(2) (Linux 6.5+) and the largest fraction still resident is printed.

--slow-fs-ms N serves the files from a slow disk made here: scripts/slowfs.py,
a FUSE passthrough whose every read sleeps N ms, mounted under this run's
temporary directory (the server's --root) and unmounted at the end whatever
happens. FUSE keeps its page cache (kernel_cache, no direct_io): hot fetches
never reach the daemon, and an evicted file costs N ms per read of up to
128 KiB, so a server that reads on its loop's thread stalls for N ms and more.
The daemon runs on --fs-cpu (default: --loadgen-cpu), away from the server's CPU,
so that what the server's loop waits for is the delay, not a CPU it shares.

A figure-printing benchmark, not a test: the machine is shared, so compare the
backends within one run only. Bounded: each wrk run by --duration, each server
by a SIGTERM then SIGKILL, the whole run by backends x trials x 2 runs.
Standard library only; loopback only.

Exit status: 0 if at least one backend was measured, 1 if none, 2 if wrk or a
binary is missing.
"""
import argparse
import atexit
import ctypes
import errno
import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from vexbench import wrk as wrkmod  # noqa: E402
from vexbench.server import BackendUnavailable, ServerError, ServerProcess  # noqa: E402
import slowfs  # noqa: E402

FILE_NAME = "cold.bin"
SYS_CACHESTAT = 451
TMP_PREFIX = "vex_coldfile_"
SLOWFS_DIR = "slowfs"       # the mount point inside the run's temporary directory
DEFAULT_RATE = 200          # MB/s: the page cache and this VM's disk keep up
DEFAULT_SLOW_RATE = 20      # MB/s: below what slowfs gives at 5 ms (about 45 MB/s here)


def resident_fraction(path):
    """Fraction of the file's pages in the page cache (cachestat(2)); None when
    the kernel cannot say (before 6.5)."""
    class Range(ctypes.Structure):
        _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]

    class Stat(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in
                    ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]
    libc = ctypes.CDLL(None, use_errno=True)
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        r, st = Range(0, size), Stat()
        if libc.syscall(ctypes.c_long(SYS_CACHESTAT), fd, ctypes.byref(r), ctypes.byref(st), 0) != 0:
            return None
    finally:
        os.close(fd)
    pages = (size + 4095) // 4096
    return st.nr_cache / pages if pages else 1.0


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def make_files(root, mib, count, drop=True):
    """count files sharing mib MiB; with one, FILE_NAME. drop: evict each
    (a slowfs backing file stays cached, so that its delay is slowfs's alone)."""
    size = (mib << 20) // count
    block = os.urandom(1 << 20)
    paths = []
    for i in range(count):
        path = Path(root) / (FILE_NAME if count == 1 else f"cold{i}.bin")
        with open(path, "wb") as f:
            left = size
            while left > 0:
                f.write(block[:min(left, len(block))])
                left -= min(left, len(block))
        if drop:
            evict(path)
        paths.append(path)
    return paths


class ColdClient(threading.Thread):
    """Evict, fetch a whole file, next file, until stopped. Counts whole
    fetches and bytes; a fetch with a wrong length counts as an error."""

    def __init__(self, port, paths, size, cold, rate_mbs):
        super().__init__(daemon=True)
        self.port, self.paths, self.size = port, paths, size
        self.cold, self.rate = cold, rate_mbs * 1e6
        self.stop = threading.Event()
        self.fetches = self.errors = 0
        self.bytes = 0
        self.seconds = 0.0
        self.max_resident = 0.0

    def run(self):
        n = 0
        while not self.stop.is_set():
            self.path = self.paths[n % len(self.paths)]
            n += 1
            if self.cold:
                evict(self.path)
                frac = resident_fraction(self.path)
                if frac is not None:
                    self.max_resident = max(self.max_resident, frac)
            t0 = time.monotonic()
            got = 0
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("GET", "/static/" + self.path.name)
                r = c.getresponse()
                while not self.stop.is_set():
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    got += len(chunk)
                    ahead = got / self.rate - (time.monotonic() - t0)
                    if ahead > 0:   # the rate cap: hot and cold move the same bytes
                        time.sleep(ahead)
                c.close()
            except OSError:
                self.errors += 1
                continue
            if self.stop.is_set():
                break           # a fetch cut short by the end of the run is not counted
            self.seconds += time.monotonic() - t0
            self.bytes += got
            if got == self.size and r.status == 200:
                self.fetches += 1
            else:
                self.errors += 1


def run_wrk(port, args):
    script = REPO / "scripts" / "wrk" / "report.lua"
    cmd = ["taskset", "-c", str(args.loadgen_cpu), "wrk", "-t", "1", "-c", str(args.connections),
           "-d", f"{args.duration}s", "--timeout", "10s", "--latency", "-s", str(script),
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 30)
    return wrkmod.figures(out.stdout)


def one_run(backend, mode, args, paths, size):
    binary = Path(args.build_dir) / backend / "production_server"
    srv = ServerProcess.vex(binary, cpu=args.server_cpu, threads=1,
                            extra_args=["--root", str(paths[0].parent)], name=backend)
    srv.start()
    try:
        cold = None
        if mode != "quiet":
            cold = ColdClient(srv.port, paths, size, mode == "cold", args.rate)
            cold.start()
            time.sleep(0.2)     # the first fetch under way before wrk starts
        fig = run_wrk(srv.port, args)
        if cold:
            cold.stop.set()
            cold.join(timeout=35)
    finally:
        srv.stop()
    return fig, cold


def stale_slowfs_mounts(points, base_dir):
    """The mount points among points that an earlier run of this script left
    under base_dir (base_dir/vex_coldfile_*/slowfs)."""
    base = os.path.abspath(base_dir)
    return [m for m in points if os.path.dirname(os.path.dirname(m)) == base and
            os.path.basename(os.path.dirname(m)).startswith(TMP_PREFIX) and
            os.path.basename(m) == SLOWFS_DIR]


def remove_dead_slowfs_mounts(base_dir):
    """Unmount what a killed run left: only mounts whose daemon is gone (stat
    fails with ENOTCONN), so that a run going on beside this one is not touched."""
    with open("/proc/self/mounts") as f:
        points = slowfs.mount_points(f.read())
    for m in stale_slowfs_mounts(points, base_dir):
        try:
            os.stat(m)
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                print(f"coldfile_bench: removing the dead mount {m}", file=sys.stderr)
                slowfs.unmount(m)
                shutil.rmtree(os.path.dirname(m), ignore_errors=True)


def file_rate(args):
    """--rate, or its default for the disk in use."""
    if args.rate is not None:
        return args.rate
    return DEFAULT_SLOW_RATE if args.slow_fs_ms is not None else DEFAULT_RATE


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: scripts/coldfile_bench.py --backend epoll,io_uring "
                                       "--size 128 --duration 5 --trials 3")
    p.add_argument("--backend", default="epoll,io_uring", help="comma-separated (default %(default)s)")
    p.add_argument("--build-dir", default=str(REPO / "build"),
                   help="where <backend>/production_server live (default build/)")
    p.add_argument("--size", type=int, default=128, help="cold file size in MiB (default %(default)s)")
    p.add_argument("--files", type=int, default=1,
                   help="split --size into this many files, fetched in turn: each fetch then "
                        "starts with a read no readahead has done yet (default %(default)s)")
    p.add_argument("--dir", default="/var/tmp",
                   help="where the file is made, on a disk filesystem (not tmpfs: DONTNEED "
                        "evicts nothing there; default %(default)s)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default %(default)s)")
    p.add_argument("--trials", type=int, default=3, help="trials per backend and mode (default %(default)s)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (default %(default)s)")
    p.add_argument("--rate", type=float, default=None,
                   help=f"file client's read rate cap in MB/s (default {DEFAULT_RATE}; "
                        f"{DEFAULT_SLOW_RATE} with --slow-fs-ms, so that cold fetches keep the pace)")
    p.add_argument("--slow-fs-ms", type=float, nargs="?", const=5.0, default=None, metavar="N",
                   help="serve the files from scripts/slowfs.py, a FUSE passthrough whose every "
                        "read sleeps N ms (N default 5; needs /dev/fuse and python3-fusepy)")
    p.add_argument("--fs-cpu", type=int, default=None,
                   help="CPU of the slowfs daemon (default: --loadgen-cpu)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--loadgen-cpu", type=int, default=1, help="wrk and this script's cold client")
    p.add_argument("--seed", type=int, default=None, help="seed of the shuffled order")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if not shutil.which("wrk") or not shutil.which("taskset"):
        print("coldfile_bench: needs wrk and taskset (Debian: wrk, util-linux)", file=sys.stderr)
        return 2
    backends = [b for b in args.backend.split(",") if b]
    for b in backends:
        if not (Path(args.build_dir) / b / "production_server").exists():
            print(f"coldfile_bench: {args.build_dir}/{b}/production_server missing (make BACKEND={b})",
                  file=sys.stderr)
            return 2
    args.rate = file_rate(args)
    os.sched_setaffinity(0, {args.loadgen_cpu})
    rng = random.Random(args.seed)
    load0 = os.getloadavg()
    if args.slow_fs_ms is not None:
        remove_dead_slowfs_mounts(args.dir)
    root = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=args.dir)
    modes = ("quiet", "hot", "cold")
    results = {(b, m): [] for b in backends for m in modes}
    skipped = {}
    mount = None
    fs_report = ""

    def unmount_now():
        nonlocal mount, fs_report
        if mount is not None:
            fs_report = mount.close().strip()
            mount = None
    atexit.register(unmount_now)        # also when an exception escapes
    old_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM runs the finally
    try:
        if args.slow_fs_ms is not None:
            backing = Path(root) / "disk"
            backing.mkdir()
            names = [p.name for p in make_files(backing, args.size, max(1, args.files), drop=False)]
            try:
                mount = slowfs.mount(backing, Path(root) / SLOWFS_DIR, args.slow_fs_ms,
                                     cpu=args.loadgen_cpu if args.fs_cpu is None else args.fs_cpu)
            except OSError as e:
                print(f"coldfile_bench: {e}", file=sys.stderr)
                return 2
            paths = [Path(mount.mountpoint) / n for n in names]
        else:
            paths = make_files(root, args.size, max(1, args.files))
        size = paths[0].stat().st_size
        for trial in range(args.trials):
            cases = [(b, m) for b in backends for m in modes if b not in skipped]
            rng.shuffle(cases)
            for b, m in cases:
                if b in skipped:
                    continue
                try:
                    results[(b, m)].append(one_run(b, m, args, paths, size))
                except BackendUnavailable as e:
                    skipped[b] = str(e)
                except (ServerError, ValueError, subprocess.TimeoutExpired) as e:
                    print(f"  {b} {m} trial {trial + 1}: failed: {e}", file=sys.stderr)
                print(f"  trial {trial + 1}/{args.trials} {b:9s} {m:5s} done", file=sys.stderr)
    finally:
        unmount_now()           # before the rmtree, which would otherwise walk the mount
        signal.signal(signal.SIGTERM, old_term)
        shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()
    disk = (f"a FUSE disk sleeping {args.slow_fs_ms:g} ms per read (scripts/slowfs.py)"
            if args.slow_fs_ms is not None else "the disk")
    print(f"\nGET / with wrk -c {args.connections} for {args.duration} s: alone (quiet), while a client "
          f"fetches {args.size} MiB in {args.files} file(s) at <= {args.rate:g} MB/s from the page cache (hot), and "
          f"the same evicted before each fetch, read from {disk} (cold); medians of {args.trials} trials; load "
          f"average {load0[0]:.2f} -> {load1[0]:.2f}\n")
    if fs_report:
        print(fs_report + "\n")
    head = ("backend", "p99 quiet", "p99 hot", "p99 cold", "p99 cold/hot", "p99.9 hot", "p99.9 cold",
            "req/s hot", "req/s cold", "fetches hot/cold", "MB/s hot/cold", "resident after evict")
    rows = []
    for b in backends:
        if b in skipped:
            print(f"{b}: skipped: {skipped[b]}")
            continue
        q, h, c = (results[(b, m)] for m in modes)
        if not q or not h or not c:
            continue

        def p(runs, key):
            return med([f["latency_ms"][key] for f, _ in runs if f["latency_ms"].get(key) is not None])

        def rate(runs):
            secs = sum(cl.seconds for _, cl in runs)
            return sum(cl.bytes for _, cl in runs) / secs / 1e6 if secs else 0.0
        errors = (sum(cl.errors for _, cl in h + c) +
                  sum(f["socket_errors"] + f["non_2xx"] for f, _ in q + h + c))
        rows.append((b, f"{p(q, 'p99'):.2f} ms", f"{p(h, 'p99'):.2f} ms", f"{p(c, 'p99'):.2f} ms",
                     f"{p(c, 'p99') / p(h, 'p99'):.2f}x", f"{p(h, 'p99.9'):.2f} ms", f"{p(c, 'p99.9'):.2f} ms",
                     f"{med([f['rps'] for f, _ in h]):.0f}", f"{med([f['rps'] for f, _ in c]):.0f}",
                     f"{sum(cl.fetches for _, cl in h)}/{sum(cl.fetches for _, cl in c)}" +
                     (f" ({errors} errors)" if errors else ""),
                     f"{rate(h):.0f}/{rate(c):.0f}",
                     f"{max(cl.max_resident for _, cl in c) * 100:.1f}%"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print("\np99 of each trial (ms), in run order within each mode:")
    for b in backends:
        if b not in skipped:
            print(f"  {b:9s} " + "  ".join(
                f"{m}: " + ", ".join(f"{f['latency_ms']['p99']:.2f}" for f, _ in results[(b, m)])
                for m in modes))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
