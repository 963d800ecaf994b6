#!/usr/bin/python3
"""echo_bench.py - compare vex_net backends side by side with bench/echo_bench.

For every trial, each backend's build/<backend>/echo_bench is started pinned
to one CPU (taskset -c SERVER_CPU), loaded by wrk pinned to another CPU
(taskset -c CLIENT_CPU) over 127.0.0.1 for a fixed duration, then stopped
with SIGTERM; it prints its own request, syscall and CPU counts. Backends
are interleaved within each trial (and the order rotates between trials) so
slow drift of the machine hits every backend alike.

Prints one table: requests/s (median, min-max over trials, from wrk), and
from the server's own counters syscalls per request and server CPU
microseconds per request (medians). A backend whose binary is missing, or
that exits with code 3 (backend unavailable on this machine), is skipped
with the reason.

Exit status: 0 if at least one backend was measured, 1 if none was, 2 if
wrk is missing.

This is a small benchmark, not a timed test: numbers on a 2-core machine
are only comparable within one run. Everything is bounded: each wrk run by
--duration, each server by --max-seconds and a kill after SIGTERM.
Standard library only.
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

ALL_BACKENDS = ["epoll", "io_uring", "kqueue", "poll"]
HOST = "127.0.0.1"  # loopback only, by design
EXIT_UNAVAILABLE = 3


class Skip(Exception):
    """The backend cannot be measured here; the message says why."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Benchmark every built vex_net backend with echo_bench "
                    "and wrk on 127.0.0.1, side by side.")
    p.add_argument("--backends", default=",".join(ALL_BACKENDS),
                   help="comma-separated backends (default: %(default)s)")
    p.add_argument("--build-dir", default="build",
                   help="where build/<backend>/echo_bench lives (default: %(default)s)")
    p.add_argument("--suffix", default="",
                   help="build directory suffix, e.g. -san (default: none)")
    p.add_argument("--trials", type=int, default=3,
                   help="rounds over all backends (default: %(default)s)")
    p.add_argument("--duration", type=int, default=3,
                   help="seconds of load per backend and trial (default: %(default)s)")
    p.add_argument("--connections", type=int, default=100,
                   help="wrk connections (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="wrk threads; they share the client CPU (default: %(default)s)")
    p.add_argument("--server-cpu", default="0",
                   help="CPU list for the server: taskset -c / cpuset -l (default: %(default)s)")
    p.add_argument("--client-cpu", default="1",
                   help="CPU list for wrk: taskset -c / cpuset -l (default: %(default)s)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin (automatic where neither taskset nor cpuset exists, e.g. macOS)")
    p.add_argument("--json", metavar="PATH",
                   help="also write every trial's raw numbers as JSON")
    a = p.parse_args(argv)
    if a.trials < 1 or a.trials > 50:
        p.error("--trials must be 1..50")
    if a.duration < 1 or a.duration > 120:
        p.error("--duration must be 1..120 seconds")
    if a.connections < 1 or a.connections > 10000:
        p.error("--connections must be 1..10000")
    if a.threads < 1 or a.threads > a.connections:
        p.error("--threads must be 1..connections")
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    for b in a.backends:
        if b not in ALL_BACKENDS:
            p.error("unknown backend %r; choose from %s" % (b, ", ".join(ALL_BACKENDS)))
    return a


def pin_tool():
    """The CPU-pinning command of this OS: taskset (Linux), cpuset (FreeBSD)."""
    if shutil.which("taskset"):
        return ["taskset", "-c"]
    if sys.platform.startswith("freebsd") and shutil.which("cpuset"):
        return ["cpuset", "-l"]
    return None  # macOS has no CPU pinning tool


def pinned(cmd, cpus, args):
    return cmd if args.no_pin else pin_tool() + [cpus] + cmd


def read_line(proc, timeout):
    """First stdout line of proc within timeout seconds, or None."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        if b"\n" in buf:
            return buf.split(b"\n", 1)[0].decode(errors="replace"), buf.split(b"\n", 1)[1]
    return None, buf


def kv(line):
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", line))


def stop(proc, grace=5.0):
    """SIGTERM, then SIGKILL after grace seconds. Returns the rest of stdout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=grace)
    return out.decode(errors="replace"), err.decode(errors="replace")


def parse_wrk(text):
    res = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        res["wrk_requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def run_one(backend, args):
    """One server + one wrk run. Returns a dict of numbers or raises Skip."""
    binary = os.path.join(args.build_dir, backend + args.suffix, "echo_bench")
    if not os.access(binary, os.X_OK):
        raise Skip("not built (%s missing; make BACKEND=%s)" % (binary, backend))
    max_s = args.duration + 60  # the server stops itself even if we die
    server = subprocess.Popen(
        pinned([binary, "--port", "0", "--max-seconds", str(max_s)], args.server_cpu, args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wrk_out = None
    try:
        line, rest = read_line(server, 10.0)
        if line is not None and line.startswith("ready"):
            port = int(kv(line)["port"])
            wrk_cmd = pinned(["wrk", "-t", str(args.threads), "-c", str(args.connections),
                              "-d", "%ds" % args.duration, "--timeout", "2s",
                              "http://%s:%d/" % (HOST, port)], args.client_cpu, args)
            try:
                wrk = subprocess.run(wrk_cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, timeout=args.duration + 30)
                wrk_out = wrk.stdout.decode(errors="replace")
            except subprocess.TimeoutExpired:
                pass
    finally:
        out, err = stop(server)  # always: no server outlives its trial
    out = rest.decode(errors="replace") + out
    if line is None or not line.startswith("ready"):
        if server.returncode == EXIT_UNAVAILABLE:
            raise Skip("unavailable here: " + (err.strip().splitlines() or ["exit 3"])[-1])
        raise RuntimeError("%s did not start (exit %s): %s"
                           % (binary, server.returncode, err.strip()[-300:]))
    if wrk_out is None:
        raise RuntimeError("wrk did not finish in time against %s" % backend)
    res = parse_wrk(wrk_out)
    if "rps" not in res:
        raise RuntimeError("could not parse wrk output for %s:\n%s" % (backend, wrk_out[-500:]))
    final = [l for l in out.splitlines() if l.startswith("requests=")]
    if not final:
        raise RuntimeError("%s printed no counters (exit %s): %s"
                           % (binary, server.returncode, err.strip()[-300:]))
    c = kv(final[-1])
    reqs = int(c["requests"])
    res.update(requests=reqs, syscalls=int(c["syscalls"]), cpu_us=int(c["cpu_us"]),
               backend_reported=c.get("backend", backend))
    res["syscalls_per_req"] = res["syscalls"] / reqs if reqs else float("nan")
    res["cpu_us_per_req"] = res["cpu_us"] / reqs if reqs else float("nan")
    return res


def fmt_table(rows):
    head = ["backend", "requests/s median (min-max)", "syscalls/req", "server CPU us/req", "note"]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("echo_bench: wrk not found (make deps)", file=sys.stderr)
        return 2
    if not args.no_pin:
        if not pin_tool():
            print("echo_bench: no taskset/cpuset here, not pinning", file=sys.stderr)
            args.no_pin = True
        if (os.cpu_count() or 1) < 2:
            print("echo_bench: fewer than 2 CPUs, not pinning", file=sys.stderr)
            args.no_pin = True

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    results = {b: [] for b in args.backends}
    skipped = {}
    failures = {}
    order = list(args.backends)
    for t in range(args.trials):
        for b in order:
            if b in skipped:
                continue
            try:
                r = run_one(b, args)
            except Skip as e:
                skipped[b] = str(e)
                print("trial %d %-8s skipped: %s" % (t + 1, b, e), file=sys.stderr)
                continue
            except RuntimeError as e:
                failures.setdefault(b, []).append(str(e))
                print("trial %d %-8s FAILED: %s" % (t + 1, b, e), file=sys.stderr)
                continue
            results[b].append(r)
            print("trial %d %-8s %9.0f req/s  %.2f syscalls/req  %.2f us/req"
                  % (t + 1, b, r["rps"], r["syscalls_per_req"], r["cpu_us_per_req"]),
                  file=sys.stderr)
        order = order[1:] + order[:1]  # rotate who goes first

    rows = []
    for b in args.backends:
        rs = results[b]
        if not rs:
            note = skipped.get(b) or ("failed: " + failures[b][-1][:80] if b in failures else "")
            rows.append([b, "-", "-", "-", "skipped: " + note if b in skipped else note])
            continue
        rps = [r["rps"] for r in rs]
        notes = []
        errs = sum(r["socket_errors"] + r["non_2xx"] for r in rs)
        if errs:
            notes.append("%d wrk errors" % errs)
        if b in failures:
            notes.append("%d failed trial(s)" % len(failures[b]))
        if len(rs) < args.trials:
            notes.append("%d/%d trials" % (len(rs), args.trials))
        rows.append([b, "%.0f (%.0f-%.0f)" % (statistics.median(rps), min(rps), max(rps)),
                     "%.2f" % statistics.median(r["syscalls_per_req"] for r in rs),
                     "%.2f" % statistics.median(r["cpu_us_per_req"] for r in rs),
                     "; ".join(notes)])
    print("echo_bench: %d trial(s) x %ds, %d connections, server cpu %s, wrk cpu %s%s"
          % (args.trials, args.duration, args.connections, args.server_cpu, args.client_cpu,
             " (not pinned)" if args.no_pin else ""))
    print(fmt_table(rows))
    if load_before > 0.5:
        # Our own server and wrk are not running yet at that point: this is
        # other work competing for the CPUs, which makes requests/s noisy
        # (syscalls per request are not affected).
        print("note: load average was %.1f before the first trial; requests/s "
              "and CPU/request are unreliable on a busy machine" % load_before)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "results": results,
                       "skipped": skipped, "failures": failures}, f, indent=2)
    return 0 if any(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
