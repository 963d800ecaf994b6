#!/usr/bin/python3
"""System calls per new connection: a server under `strace -c -f`, N one-request
connections from a client, minus the same server started and stopped with none.

    /usr/bin/python3 scripts/conn_syscalls.py --server build/epoll/production_server \
        --client ab10 -n 5000
    /usr/bin/python3 scripts/conn_syscalls.py --nginx --client ab10 -n 5000

Clients: ab10 (ab -c 20: HTTP/1.0, no keep-alive), close11 (h2load --h1 -c 20 with
`Connection: close`: HTTP/1.1, a new connection per request), abtls (ab over https: a
full handshake per connection), stime (openssl s_time -new, one connection at a time,
bounded by -time). Our server runs one thread; nginx one worker (peers.py's config).
Prints per-connection counts for each system call that changed, and the total.
Loopback only; every run bounded by a timeout.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from vexbench import peers, variants  # noqa: E402

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def parse_strace_c(text: str) -> dict:
    counts = {}
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
        if m and m.group(2) != "total":
            counts[m.group(2)] = int(m.group(1))
    return counts


def run_client(kind: str, port: int, tls_port: int, n: int) -> None:
    if kind == "ab10":
        cmd = ["ab", "-q", "-n", str(n), "-c", "20", f"http://{HOST}:{port}/"]
    elif kind == "close11":
        cmd = ["h2load", "--h1", "-n", str(n), "-c", "20", "-H", "Connection: close",
               f"http://{HOST}:{port}/"]
    elif kind == "abtls":
        cmd = ["ab", "-q", "-n", str(n), "-c", "20", f"https://{HOST}:{tls_port}/"]
    elif kind == "stime":
        cmd = ["openssl", "s_time", "-connect", f"{HOST}:{tls_port}", "-new", "-time",
               str(max(1, n))]   # n is seconds here
    else:
        raise SystemExit(f"unknown client {kind}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr[-500:]}")
    out = r.stdout
    if kind == "stime":
        m = re.search(r"(\d+) connections in [\d.]+s", out)
        return int(m.group(1)) if m else None
    m = re.search(r"Failed requests:\s+(\d+)", out) or re.search(r"(\d+) failed", out)
    if m and int(m.group(1)) != 0:
        raise SystemExit(f"{kind}: {m.group(1)} failed requests:\n{out[-800:]}")
    return n


def one_run(args, n: int, tmp: Path, cert: dict) -> tuple[dict, int]:
    port, tls_port = free_port(), free_port()
    trace = tmp / f"strace.{n}.txt"
    if args.nginx:
        www = tmp / "www"
        www.mkdir(exist_ok=True)
        extra = ""
        if args.client in ("abtls", "stime"):
            extra = variants.NGINX_TLS.format(host=HOST, tls_port=tls_port,
                                              cert=cert["cert"], key=cert["key"])
        conf = tmp / "nginx.conf"
        conf.write_text(peers.nginx_config(port, tmp, www, 1024, None, tmp / "err.log",
                                           "access_log off;", extra))
        argv = ["nginx", "-p", str(tmp), "-e", str(tmp / "err.log"), "-c", str(conf),
                "-g", "daemon off;"]
        stop = signal.SIGQUIT
    else:
        argv = [args.server, "--threads", "1", "--port", str(port), "--stats-interval", "0"]
        if args.client in ("abtls", "stime"):
            cfg = tmp / "tls.yaml"
            text = variants.TLS_SERVER_CONFIG   # YAML braces: no str.format
            for k, v in {"host": HOST, "port": port, "tls_port": tls_port,
                         "cert": cert["cert"], "key": cert["key"]}.items():
                text = text.replace("{" + k + "}", str(v))
            cfg.write_text(text)
            argv = [args.server, "--threads", "1", "--config", str(cfg), "--stats-interval", "0"]
        stop = signal.SIGTERM
    p = subprocess.Popen(["strace", "-c", "-f", "-o", str(trace), *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(tls_port if args.client in ("abtls", "stime") else port)
        got = n
        if n:
            got = run_client(args.client, port, tls_port, n)
    finally:
        # signal the traced server, not strace (which would detach unsummarised)
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        for k in kids:
            os.kill(int(k), stop)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return parse_strace_c(trace.read_text()), got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--server", help="production_server binary")
    g.add_argument("--nginx", action="store_true", help="Debian's nginx, one worker")
    ap.add_argument("--client", default="ab10", choices=["ab10", "close11", "abtls", "stime"])
    ap.add_argument("-n", type=int, default=5000, help="connections (stime: seconds)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="conn-syscalls-"))
    try:
        cert = variants.make_certificate(tmp) if args.client in ("abtls", "stime") else {}
        base, _ = one_run(args, 0, tmp, cert)
        load, conns = one_run(args, args.n, tmp, cert)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not conns:
        raise SystemExit("no connections counted")
    total = 0.0
    rows = []
    for name in sorted(set(base) | set(load)):
        d = load.get(name, 0) - base.get(name, 0)
        per = d / conns
        if abs(per) >= 0.005:
            rows.append((name, per))
            total += per
    print(f"{conns} connections ({args.client}), system calls per connection:")
    for name, per in sorted(rows, key=lambda r: -r[1]):
        print(f"  {name:16s} {per:8.3f}")
    print(f"  {'total':16s} {total:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
