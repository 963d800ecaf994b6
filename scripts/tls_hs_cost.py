#!/usr/bin/python3
"""Deterministic cost of a TLS handshake: server instructions (callgrind) and system
calls (strace -c -f) per new HTTPS connection, ours against nginx.

    /usr/bin/python3 scripts/tls_hs_cost.py --server build/epoll/production_server
    /usr/bin/python3 scripts/tls_hs_cost.py --nginx --mode resume
    /usr/bin/python3 scripts/tls_hs_cost.py --server build/io_uring/production_server \
        --tool strace -n 400

The client is this script (Python's ssl, one connection at a time): `--warmup` connections
first, then `-n` measured ones, each a new TCP connection with one `GET /` and
`Connection: close`, read to the server's close. `--mode full`: no session offered, a full
handshake each time (TLS 1.3, X25519, TLS_AES_128_GCM_SHA256 against both servers);
`--mode resume`: each connection offers the session (ticket) its previous one got.

callgrind: the server runs under `valgrind --tool=callgrind` with a deterministic clock
(ci/perfgate/detclock.c) and LD_BIND_NOW; the counters are zeroed after the warm-up and
dumped after the n measured connections (`callgrind_control -z` / `-d`), so start-up and
shutdown are not counted and one process gives the figure. Instructions per connection =
the dump's total / n. `--annotate` prints callgrind_annotate's inclusive view of the dump.
strace: the same sequence under `strace -c -f`, minus a run with the warm-up alone, / n.

Our server: one thread, the harness's TLS listener (variants.TLS_SERVER_CONFIG). nginx:
Debian's nginx-light with peers.nginx_config and variants.NGINX_TLS (the bench's config:
same certificate, suites, groups, preference, tickets, builtin session cache),
`master_process off; daemon off;` so the one process that works is the one measured.
Loopback only; every step bounded by a timeout.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import ssl
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


def wait_port(port: int, proc, timeout: float = 90.0) -> None:
    """Readiness without connecting to the TLS port (a probe would be a connection)."""
    end = time.monotonic() + timeout
    suffix = f":{port:04X}"
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        for f in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                for line in Path(f).read_text().splitlines()[1:]:
                    cols = line.split()
                    if cols[1].endswith(suffix) and cols[3] == "0A":   # LISTEN
                        return
            except OSError:
                pass
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def client_ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


REQ = (f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: tls-hs-cost/1\r\n"
       "Connection: close\r\n\r\n").encode()


class Client:
    def __init__(self, port: int, mode: str):
        self.port, self.mode = port, mode
        self.ctx = client_ctx()
        self.session = None
        self.resumed = 0
        self.versions = set()

    def one(self) -> None:
        raw = socket.create_connection((HOST, self.port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sess = self.session if self.mode == "resume" else None
        s = self.ctx.wrap_socket(raw, server_hostname="localhost", session=sess)
        try:
            s.sendall(REQ)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bad response: {data[:200]!r}")
            self.resumed += s.session_reused
            self.versions.add((s.version(), s.cipher()[0]))
            self.session = s.session
        finally:
            s.close()


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def settle(pid: int, fds: int) -> None:
    """Wait until the server has closed every connection it accepted."""
    end = time.monotonic() + 20
    while fd_count(pid) > fds and time.monotonic() < end:
        time.sleep(0.02)
    time.sleep(0.2)


def server_argv(args, tmp: Path, cert: dict, port: int, tls_port: int) -> list:
    if args.nginx:
        www = tmp / "www"
        www.mkdir(exist_ok=True)
        extra = variants.NGINX_TLS.format(host=HOST, tls_port=tls_port,
                                          cert=cert["cert"], key=cert["key"])
        conf = tmp / "nginx.conf"
        conf.write_text("master_process off;\n" + peers.nginx_config(
            port, tmp, www, 1024, None, tmp / "err.log", "access_log off;", extra))
        return ["nginx", "-p", str(tmp), "-e", str(tmp / "err.log"), "-c", str(conf),
                "-g", "daemon off;"]
    cfg = tmp / "tls.yaml"
    text = variants.TLS_SERVER_CONFIG
    for k, v in {"host": HOST, "port": port, "tls_port": tls_port,
                 "cert": cert["cert"], "key": cert["key"]}.items():
        text = text.replace("{" + k + "}", str(v))
    cfg.write_text(text)
    return [str(Path(args.server).resolve()), "--threads", "1", "--config", str(cfg),
            "--stats-interval", "0"]


def detclock(tmp: Path) -> Path:
    so = tmp / "detclock.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so),
                    str(ROOT / "ci/perfgate/detclock.c")], check=True, timeout=60)
    return so


def stop(proc, nginx: bool) -> None:
    try:
        os.killpg(proc.pid, signal.SIGQUIT if nginx else signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def run_callgrind(args, tmp: Path, cert: dict) -> None:
    port, tls_port = free_port(), free_port()
    out = tmp / "callgrind.out"
    env = dict(os.environ, LD_BIND_NOW="1", LD_PRELOAD=str(detclock(tmp)))
    argv = server_argv(args, tmp, cert, port, tls_port)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           f"--log-file={tmp}/valgrind.log", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                            cwd=tmp)
    try:
        wait_port(tls_port, proc)
        cl = Client(tls_port, args.mode)
        fds = fd_count(proc.pid)
        for _ in range(args.warmup):
            cl.one()
        settle(proc.pid, fds)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                       capture_output=True, timeout=60)
        cl.resumed = 0
        for _ in range(args.n):
            cl.one()
        settle(proc.pid, fds)
        subprocess.run(["callgrind_control", "-d", "measured", str(proc.pid)], check=True,
                       capture_output=True, timeout=60)
        dumps = sorted(tmp.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise SystemExit("no callgrind dump")
        dump = dumps[-1]
        total = None
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
        print(f"{args.n} connections ({args.mode}; resumed {cl.resumed}; "
              f"{sorted(cl.versions)}): {total / args.n:,.0f} instructions per connection")
        if args.keep:
            shutil.copy(dump, args.keep)
            print(f"dump kept as {args.keep}")
        if args.annotate:
            r = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(dump)],
                               capture_output=True, text=True, timeout=120)
            print("\n".join(r.stdout.splitlines()[:args.annotate]))
    finally:
        stop(proc, args.nginx)


def parse_strace_c(text: str) -> dict:
    counts = {}
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
        if m and m.group(2) != "total":
            counts[m.group(2)] = int(m.group(1))
    return counts


def strace_once(args, tmp: Path, cert: dict, n: int) -> dict:
    port, tls_port = free_port(), free_port()
    trace = tmp / f"strace.{n}.txt"
    argv = server_argv(args, tmp, cert, port, tls_port)
    proc = subprocess.Popen(["strace", "-c", "-f", "-o", str(trace), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=tmp)
    try:
        wait_port(tls_port, proc)
        time.sleep(0.3)
        cl = Client(tls_port, args.mode)
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        srv = int(kids[0])
        fds = fd_count(srv)
        for _ in range(args.warmup + n):
            cl.one()
        settle(srv, fds)
        os.kill(srv, signal.SIGQUIT if args.nginx else signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return parse_strace_c(trace.read_text())


def run_strace(args, tmp: Path, cert: dict) -> None:
    base = strace_once(args, tmp, cert, 0)
    load = strace_once(args, tmp, cert, args.n)
    total = 0.0
    rows = []
    for name in sorted(set(base) | set(load)):
        per = (load.get(name, 0) - base.get(name, 0)) / args.n
        if abs(per) >= 0.005:
            rows.append((name, per))
            total += per
    print(f"{args.n} connections ({args.mode}), system calls per connection:")
    for name, per in sorted(rows, key=lambda r: -r[1]):
        print(f"  {name:16s} {per:8.3f}")
    print(f"  {'total':16s} {total:8.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--server", help="production_server binary")
    g.add_argument("--nginx", action="store_true", help="Debian's nginx, one process")
    ap.add_argument("--mode", default="full", choices=["full", "resume"])
    ap.add_argument("--tool", default="callgrind", choices=["callgrind", "strace"])
    ap.add_argument("-n", type=int, default=100, help="measured connections")
    ap.add_argument("--warmup", type=int, default=20, help="connections before measuring")
    ap.add_argument("--annotate", type=int, default=0, metavar="LINES",
                    help="print the first LINES of callgrind_annotate --inclusive=yes")
    ap.add_argument("--keep", help="copy the callgrind dump to this path")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tls-hs-cost-"))
    tmp.chmod(0o755)
    try:
        cert = variants.make_certificate(tmp)
        (run_callgrind if args.tool == "callgrind" else run_strace)(args, tmp, cert)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
