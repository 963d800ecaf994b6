#!/usr/bin/python3
"""Server CPU per new connection, two production_server binaries side by side:
both run (one thread, pinned to CPU 0), and trials of `ab -n N -c 20` (HTTP/1.0,
a new connection per request, ab on CPU 1) alternate between them in a random
order per round. CPU is the server's on-CPU time from /proc/PID/schedstat.

    /usr/bin/python3 scripts/conn_cpu_ab.py OLD_BINARY NEW_BINARY --rounds 15

Prints each trial and, per binary, the median and range of µs per connection,
and the median of the per-round ratios new/old. Loopback only; bounded.
"""
import argparse
import random
import re
import socket
import statistics
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ns(pid: int) -> int:
    total = 0
    import os
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def start(binary: str):
    port = free_port()
    p = subprocess.Popen(["taskset", "-c", "0", binary, "--threads", "1", "--host", "127.0.0.1",
                          "--port", str(port), "--stats-interval", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f"{binary} did not listen")


def trial(pid: int, port: int, n: int) -> float:
    c0 = cpu_ns(pid)
    r = subprocess.run(["taskset", "-c", "1", "ab", "-q", "-n", str(n), "-c", "20",
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=120)
    c1 = cpu_ns(pid)
    m = re.search(r"Complete requests:\s+(\d+)", r.stdout)
    f = re.search(r"Failed requests:\s+(\d+)", r.stdout)
    if r.returncode != 0 or not m or int(m.group(1)) != n or (f and int(f.group(1))):
        raise SystemExit(f"ab failed: {r.stdout[-400:]} {r.stderr[-400:]}")
    return (c1 - c0) / 1000 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("-n", type=int, default=5000)
    args = ap.parse_args()
    procs = {k: start(b) for k, b in (("old", args.old), ("new", args.new))}
    res = {"old": [], "new": []}
    ratios = []
    try:
        for k, (p, port) in procs.items():
            trial(p.pid, port, 1000)          # warm-up
        for i in range(args.rounds):
            order = ["old", "new"]
            random.shuffle(order)
            got = {}
            for k in order:
                p, port = procs[k]
                got[k] = trial(p.pid, port, args.n)
                res[k].append(got[k])
            ratios.append(got["new"] / got["old"])
            print(f"round {i + 1:2d} ({order[0]} first): old {got['old']:.2f} µs, "
                  f"new {got['new']:.2f} µs, new/old {ratios[-1]:.3f}", flush=True)
    finally:
        for p, _ in procs.values():
            p.terminate()
            p.wait(timeout=10)
    for k in ("old", "new"):
        v = res[k]
        print(f"{k}: median {statistics.median(v):.2f} µs/conn (range {min(v):.2f}–{max(v):.2f}), "
              f"{len(v)} trials of {args.n}")
    print(f"new/old per round: median {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}–{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
