#!/usr/bin/python3
"""Server CPU per response with and without compression: starts
production_server (--threads 1) on loopback, serves a JSON file of --size
bytes from a temporary --root, runs wrk keep-alive for --seconds per coding
with that Accept-Encoding, and prints the server's CPU time (utime+stime
from /proc) divided by the responses wrk counted. Bounded: one wrk run of
--seconds per coding."""
import argparse
import os
import re
import subprocess
import tempfile
import time


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default="build/epoll/production_server")
    ap.add_argument("--size", type=int, default=65536, help="JSON body bytes")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--codings", default="identity,gzip,br,zstd")
    a = ap.parse_args()
    root = tempfile.mkdtemp()
    items, n = [], 0
    while n < a.size:
        s = '{"id":%d,"name":"item %d","tags":["a","b"],"ok":true}' % (len(items), len(items))
        items.append(s)
        n += len(s) + 1
    body = ("[" + ",".join(items) + "]")[:a.size - 1] + "]"
    with open(os.path.join(root, "b.json"), "w") as f:
        f.write(body)
    srv = subprocess.Popen([a.binary, "--port", "0", "--threads", "1", "--root", root,
                            "--compression-precompressed", "off", "--stats-interval", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        print(f"body {len(body)} bytes, {a.seconds} s wrk -t1 -c{a.connections} per coding")
        for enc in a.codings.split(","):
            c0 = cpu_s(srv.pid)
            out = subprocess.run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.seconds}s",
                                  "-H", f"Accept-Encoding: {enc}",
                                  f"http://127.0.0.1:{port}/static/b.json"],
                                 capture_output=True, text=True, timeout=a.seconds + 30).stdout
            c1 = cpu_s(srv.pid)
            reqs = int(re.search(r"(\d+) requests in", out).group(1))
            xfer = re.search(r"Transfer/sec:\s+(\S+)", out).group(1)
            print(f"{enc:9s} {reqs:8d} responses  {1e6 * (c1 - c0) / max(reqs, 1):8.1f} us CPU "
                  f"per response  ({xfer}/s on the wire)")
    finally:
        srv.terminate()
        srv.wait(timeout=10)


if __name__ == "__main__":
    main()
