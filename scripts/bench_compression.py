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
    ap.add_argument("--nginx", action="store_true",
                    help="also nginx (1 worker, gzip on at --gzip-level, same file)")
    ap.add_argument("--gzip-level", type=int, default=6)
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
    print(f"body {len(body)} bytes, {a.seconds} s wrk -t1 -c{a.connections} per coding")
    srv = subprocess.Popen([a.binary, "--port", "0", "--threads", "1", "--root", root,
                            "--compression-precompressed", "off", "--stats-interval", "0",
                            "--gzip-level", str(a.gzip_level)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        measure("vex_net", srv.pid, port, "/static/b.json", a.codings.split(","), a)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    if a.nginx:
        run_nginx(root, a)


def run_nginx(root, a):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.makedirs(os.path.join(root, "static"), exist_ok=True)
    os.replace(os.path.join(root, "b.json"), os.path.join(root, "static", "b.json"))
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process on; worker_processes 1;
pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  types {{ application/json json; }}
  gzip on; gzip_comp_level {a.gzip_level}; gzip_types application/json; gzip_min_length 1024;
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
""")
    ng = subprocess.Popen(["nginx", "-c", conf, "-p", root], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        kids = subprocess.run(["pgrep", "-P", str(ng.pid)], capture_output=True,
                              text=True).stdout.split()
        measure("nginx", int(kids[0]), port, "/static/b.json",
                [c for c in a.codings.split(",") if c in ("identity", "gzip")], a)
    finally:
        ng.terminate()
        ng.wait(timeout=10)


def measure(name, pid, port, path, codings, a):
        for enc in codings:
            c0 = cpu_s(pid)
            out = subprocess.run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.seconds}s",
                                  "-H", f"Accept-Encoding: {enc}",
                                  f"http://127.0.0.1:{port}{path}"],
                                 capture_output=True, text=True, timeout=a.seconds + 30).stdout
            c1 = cpu_s(pid)
            reqs = int(re.search(r"(\d+) requests in", out).group(1))
            xfer = re.search(r"Transfer/sec:\s+(\S+)", out).group(1)
            print(f"{name:8s} {enc:9s} {reqs:8d} responses  {1e6 * (c1 - c0) / max(reqs, 1):8.1f} us CPU "
                  f"per response  ({xfer}/s on the wire)")


if __name__ == "__main__":
    main()
