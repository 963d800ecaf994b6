"""Deterministic cost: user-space instructions the server executes per request.

The server runs under `valgrind --tool=callgrind` (hardware counters are not available
here: `perf stat -e instructions` says <not supported>). A deterministic client sends a
fixed sequence of keep-alive requests over one connection, strictly one at a time, so
every run of the same binary does the same work. Readiness is taken from the server's
"listening on" banner, not from HTTP probes, whose number would depend on timing.

Start-up, the first requests and shutdown cancel by differencing two runs:

    instructions per request = (I(n_large) - I(n_small)) / (n_large - n_small)

Each difference is taken `repeats` times; the spread of the repeats is the measured
non-determinism (time-dependent work such as a Date header refreshed each second).
Three things make the count repeat exactly (verified by `repeats`, and by the validation
benchmark over many runs):
  - time is virtualised: detclock.c (LD_PRELOAD) makes every clock read advance exactly
    1 us, so time-dependent work (the latency histogram's bucket scan, Date refreshes)
    is the same in every run;
  - only instructions executed inside the event loop (`--toggle-collect=vex_loop_run`)
    are counted, which leaves out thread start-up and shutdown races between the main
    thread and the worker (a few hundred instructions that differ from run to run);
    when either binary lacks the symbol, whole-program counts are used for both;
  - LD_BIND_NOW=1, so lazy symbol binding does not depend on call order.
Callgrind counts user space only: kernel work (syscalls) is left to the wall-clock mode.
Runs are independent of CPU load, so they run two at a time.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from vexbench.server import LOOPBACK, free_port   # path set by perfgate/__init__

BANNER = re.compile(r"listening on")
DEFAULT_PATHS = ("/", "/json")
USER_AGENT = "vex-gate-determ/1"


DETCLOCK_SRC = Path(__file__).with_name("detclock.c")


class DetermError(RuntimeError):
    pass


def build_detclock(work: Path) -> Path:
    """Compile detclock.c into a preloadable shared object in `work`."""
    work.mkdir(parents=True, exist_ok=True)
    so = work / "detclock.so"
    cc = os.environ.get("CC", "cc")
    p = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(so),
                        str(DETCLOCK_SRC)], capture_output=True, text=True)
    if p.returncode != 0:
        raise DetermError(f"cannot build the deterministic clock: {p.stderr.strip()[-300:]}")
    return so


def valgrind_problem() -> str | None:
    """None when callgrind can run here, else the reason."""
    if not shutil.which("valgrind"):
        return "valgrind not installed (apt-get install valgrind)"
    try:
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                            "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"valgrind does not run: {e}"
    if p.returncode != 0:
        return f"valgrind --tool=callgrind true failed: {p.stderr.strip()[-200:]}"
    return None


def perf_instructions_available() -> bool:
    """Whether hardware instruction counting works (informational: recorded in the report)."""
    if not shutil.which("perf"):
        return False
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "instructions:u", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and "not supported" not in p.stderr and \
        "not counted" not in p.stderr


def request_bytes(path: str, close: bool = False) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Accept: */*\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}"
            f"\r\n").encode()


def drive(port: int, n: int, paths=DEFAULT_PATHS, timeout: float = 30.0) -> int:
    """Send n GETs over one keep-alive connection, one at a time, cycling over `paths`;
    read each response fully (Content-Length). The last request asks the server to close
    and the client waits for that close, so the server has finished with the connection
    before it is told to stop (otherwise the close races the SIGTERM and the count differs
    by a few hundred instructions now and then). Returns the number of 2xx responses."""
    reqs = [request_bytes(p) for p in paths]
    last = request_bytes(paths[(n - 1) % len(paths)], close=True)
    ok = 0
    buf = b""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n):
            s.sendall(last if i == n - 1 else reqs[i % len(reqs)])
            while True:
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    head = buf[:end].decode("latin-1")
                    m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
                    if not m:
                        raise DetermError(f"response without Content-Length: {head[:200]!r}")
                    total = end + 4 + int(m.group(1))
                    if len(buf) >= total:
                        status = head.split(" ", 2)[1] if " " in head else "?"
                        ok += status.startswith("2")
                        buf = buf[total:]
                        break
                chunk = s.recv(65536)
                if not chunk:
                    raise DetermError(f"server closed the connection after {i} requests")
                buf += chunk
        while s.recv(65536):       # until the server closes
            pass
    return ok


def _fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _totals(out_file: Path) -> int:
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise DetermError(f"no totals line in {out_file}")


def has_symbol(binary: str, name: str) -> bool:
    try:
        p = subprocess.run(["nm", str(binary)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[-1:] == [name] for line in p.stdout.splitlines())


def callgrind_run(binary: str, n: int, work: Path, *, paths=DEFAULT_PATHS,
                  preload: Path | None = None, collect: str | None = None,
                  extra_args=(), ready_timeout: float = 60.0,
                  stop_timeout: float = 60.0) -> dict:
    """One server process under callgrind serving exactly n requests: {instructions, ...}."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tag = f"n{n}-{port}"
    out_file, log_file = work / f"callgrind.{tag}.out", work / f"valgrind.{tag}.log"
    stdout_file = work / f"server.{tag}.stdout"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
           f"--log-file={log_file}"] + ([f"--toggle-collect={collect}"] if collect else []) + [
           str(binary), "--host", LOOPBACK, "--port", str(port), "--threads", "1",
           "--stats-interval", "0", *map(str, extra_args)]
    env = dict(os.environ, LD_BIND_NOW="1")   # no lazy-binding order effects
    if preload:
        env["LD_PRELOAD"] = str(preload)
    with open(stdout_file, "wb") as so:
        proc = subprocess.Popen(cmd, stdout=so, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    try:
        while not BANNER.search(stdout_file.read_text(errors="replace")):
            if proc.poll() is not None:
                raise DetermError(f"server exited with {proc.returncode} under valgrind: "
                                  f"{stdout_file.read_text(errors='replace')[-300:]}")
            if time.monotonic() - t0 > ready_timeout:
                raise DetermError(f"no 'listening on' banner within {ready_timeout:g}s")
            time.sleep(0.05)
        fds = _fd_count(proc.pid)
        ok = drive(port, n, paths)
        if ok != n:
            raise DetermError(f"{n - ok} of {n} responses were not 2xx")
        # The server closed the connection and the client closed its end: wait until the
        # server has seen that (its fd is gone), so SIGTERM never races the last close.
        t1 = time.monotonic()
        while _fd_count(proc.pid) > fds and time.monotonic() - t1 < 10:
            time.sleep(0.01)
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            raise DetermError("server did not exit on SIGTERM under valgrind "
                              "(io_uring servers hang here: use the epoll backend)") from None
        if rc != 0:
            raise DetermError(f"server exited with {rc} after SIGTERM")
        total = _totals(out_file)
        if total <= 0:
            raise DetermError(f"callgrind counted nothing (collect={collect})")
        return {"n": n, "instructions": total, "seconds": time.monotonic() - t0,
                "command": cmd, "preload": str(preload) if preload else None}
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def measure(binaries: dict, *, n_small: int = 1000, n_large: int = 6000, repeats: int = 2,
            paths=DEFAULT_PATHS, workers: int = 2, work_dir: Path | None = None,
            virtual_clock: bool = True, collect: str | None = "vex_loop_run",
            extra_args: dict | None = None, progress=print) -> dict:
    """Instructions per request for each {label: binary}, `repeats` differenced pairs each;
    extra_args {label: flags} adds server flags to one side (ci/cost.py). Returns {label: {"per_request": [...], "runs": [...], "error": None|str}}."""
    work = Path(work_dir or tempfile.mkdtemp(prefix="gate-callgrind-"))
    preload = build_detclock(work) if virtual_clock else None
    if collect and not all(has_symbol(b, collect) for b in binaries.values()):
        progress(f"  callgrind: {collect} missing in a binary: counting the whole program")
        collect = None
    jobs = [(label, binary, n, r) for r in range(repeats) for label, binary in binaries.items()
            for n in (n_small, n_large)]
    results: dict = {label: {"runs": [], "per_request": [], "error": None,
                             "n_small": n_small, "n_large": n_large, "paths": list(paths),
                             "virtual_clock": virtual_clock, "collect": collect}
                     for label in binaries}
    with cf.ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        futs = {ex.submit(callgrind_run, binary, n, work / label, paths=paths, preload=preload,
                          collect=collect, extra_args=(extra_args or {}).get(label, ())):
                (label, n, r) for label, binary, n, r in jobs}
        for fut in cf.as_completed(futs):
            label, n, r = futs[fut]
            try:
                res = fut.result()
                res["repeat"] = r
                results[label]["runs"].append(res)
            except (DetermError, OSError) as e:
                results[label]["error"] = results[label]["error"] or str(e)
    for label, rec in results.items():
        if rec["error"]:
            progress(f"  callgrind {label}: {rec['error']}")
            continue
        for r in range(repeats):
            by_n = {x["n"]: x["instructions"] for x in rec["runs"] if x["repeat"] == r}
            rec["per_request"].append((by_n[n_large] - by_n[n_small]) / (n_large - n_small))
        progress(f"  callgrind {label}: instructions/request "
                 + ", ".join(f"{v:.2f}" for v in rec["per_request"]))
    return results
