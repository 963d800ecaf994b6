#!/usr/bin/env python3
"""Soak benchmark for production_server: a mixed wrk load (GET /, GET /json,
POST /echo, GET /bytes/N, a static file) for --duration seconds against one
backend on loopback, sampling the server's RSS, fd count, open connections
and error counters (from /metrics) every second. Writes soak.json (samples,
drift figures: the last minute against the first) and soak.png (the series
over time) into --out.

  scripts/soak.py --duration 120 --backend epoll --out results/soak/epoll
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LISTEN_RE = re.compile(r"listening on \S+:(\d+) backend=(\S+)")
STATIC_BYTES = 16384
# the rotation of the wrk script: (method, path, body)
MIX = [("GET", "/", ""), ("GET", "/json", ""), ("POST", "/echo", "x" * 512),
       ("GET", "/bytes/4096", ""), ("GET", "/static/soak.bin", "")]
COUNTERS = ["vex_connections_active", "vex_requests_total", "vex_errors_total",
            "vex_timeouts_total", "vex_connections_rejected_total",
            'vex_responses_total{class="4xx"}', 'vex_responses_total{class="5xx"}']


def wrk_script(mix=MIX):
    """A wrk Lua script that cycles through mix, one request each call. The
    requests are built in init(), once wrk has set the Host header; wrk.format
    adds Content-Length for a body itself."""
    reqs = ",\n".join(
        "    wrk.format(%s, %s, nil, %s)" % (json.dumps(m), json.dumps(p),
                                            json.dumps(b) if b else "nil")
        for m, p, b in mix)
    return ("local reqs\nlocal i = 0\n"
            "init = function(args)\n  reqs = {\n%s\n  }\nend\n"
            "request = function()\n  i = i %% #reqs + 1\n  return reqs[i]\nend\n") % reqs


def parse_metrics(text):
    """{name{labels}: value} of a Prometheus text exposition (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def parse_wrk(text):
    """Requests, req/s, p99 (ms), non-2xx and socket errors from wrk --latency output."""
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    m = re.search(r"(\d+) requests in", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"requests": int(m.group(1)) if m else 0,
            "rps": float(rps.group(1)) if rps else 0.0,
            "p99_ms": float(p99.group(1)) * unit[p99.group(2)] if p99 else None,
            "non2xx": int(non.group(1)) if non else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0}


def drift(samples, key, window):
    """Mean of key over the last `window` seconds against the first `window`
    seconds of samples [{t, key...}]: {first, last, change, change_pct}."""
    pts = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
    if not pts:
        return None
    t0, t1 = pts[0][0], pts[-1][0]
    first = [v for t, v in pts if t < t0 + window] or [pts[0][1]]
    last = [v for t, v in pts if t > t1 - window] or [pts[-1][1]]
    a, b = sum(first) / len(first), sum(last) / len(last)
    return {"first": a, "last": b, "change": b - a,
            "change_pct": (b - a) / a * 100 if a else None}


def rates(samples, key):
    """Per-second rate of a counter between consecutive samples."""
    out = []
    for p, q in zip(samples, samples[1:]):
        dt = q["t"] - p["t"]
        out.append((q[key] - p[key]) / dt if dt > 0 and q.get(key) is not None
                   and p.get(key) is not None else None)
    return out


def window_for(duration):
    """The drift window: a minute, or a quarter of a short run."""
    return min(60.0, max(1.0, duration / 4))


# ---- the run ----------------------------------------------------------------

def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def get_metrics(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return parse_metrics(data.split(b"\r\n\r\n", 1)[1].decode())


def sample(pid, port, t0):
    s = {"t": time.monotonic() - t0, "rss": proc_rss(pid), "fds": proc_fds(pid)}
    try:
        m = get_metrics(port)
        for k in COUNTERS:
            s[k] = m.get(k)
        s["vex_connections_active"] -= 1          # our own /metrics connection
    except OSError as e:
        s["metrics_error"] = str(e)
    return s


def plot(samples, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [s["t"] for s in samples]
    fig, ax = plt.subplots(5, 1, figsize=(9, 11), sharex=True)
    ax[0].plot(t, [s["rss"] / 1048576 for s in samples]); ax[0].set_ylabel("RSS MiB")
    ax[1].plot(t, [s["fds"] for s in samples]); ax[1].set_ylabel("open fds")
    ax[2].plot(t, [s.get("vex_connections_active") for s in samples]); ax[2].set_ylabel("connections")
    rps = rates(samples, "vex_requests_total")
    ax[3].plot(t[1:], rps); ax[3].set_ylabel("req/s")
    for k, lab in (("vex_errors_total", "errors"), ("vex_timeouts_total", "timeouts"),
                   ('vex_responses_total{class="5xx"}', "5xx"),
                   ('vex_responses_total{class="4xx"}', "4xx")):
        ax[4].plot(t, [s.get(k) for s in samples], label=lab)
    ax[4].legend(loc="upper left"); ax[4].set_ylabel("count (cumulative)")
    ax[4].set_xlabel("seconds")
    for a in ax:
        a.grid(alpha=0.3)
        a.margins(y=0.15)
        a.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(args):
    binary = args.binary or os.path.join(ROOT, "build", args.backend, "production_server")
    if not os.access(binary, os.X_OK):
        sys.exit(f"soak.py: no {binary}: run make BACKEND={args.backend} first")
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="soak-")
    os.makedirs(os.path.join(tmp, "www"))
    with open(os.path.join(tmp, "www", "soak.bin"), "wb") as f:
        f.write(os.urandom(STATIC_BYTES))
    lua = os.path.join(tmp, "mix.lua")
    with open(lua, "w") as f:
        f.write(wrk_script())
    srv = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--threads",
                            str(args.threads), "--stats-interval", "0",
                            "--root", os.path.join(tmp, "www")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        m = LISTEN_RE.search(srv.stdout.readline())
        if not m:
            sys.exit(f"soak.py: {binary} did not start (rc {srv.poll()})")
        port, backend = int(m.group(1)), m.group(2)
        time.sleep(0.5)
        base_fds = proc_fds(srv.pid)
        t0 = time.monotonic()
        samples = [sample(srv.pid, port, t0)]
        wrk = subprocess.Popen(["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration:g}s",
                                "--latency", "--timeout", "10s", "-s", lua,
                                f"http://127.0.0.1:{port}/"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        nxt = t0 + 1
        while wrk.poll() is None:
            time.sleep(max(0.0, nxt - time.monotonic()))
            nxt += 1
            samples.append(sample(srv.pid, port, t0))
        load = parse_wrk(wrk.stdout.read())
        time.sleep(1.5)                          # lingering closes finish
        after_fds = proc_fds(srv.pid)
        final = sample(srv.pid, port, t0)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    win = window_for(args.duration)
    # the samples under load: not the idle first one, nor any after wrk ended
    loaded = [s for s in samples[1:] if s["t"] <= args.duration]
    result = {
        "backend": backend, "binary": binary, "duration_s": args.duration,
        "connections": args.connections, "threads": args.threads, "mix": MIX,
        "wrk": load, "exit_code": rc, "drift_window_s": win,
        "fds_baseline": base_fds, "fds_after": after_fds,
        "drift": {k: drift(loaded, k, win) for k in ("rss", "fds", "vex_connections_active")},
        "errors_final": {k: final.get(k) for k in COUNTERS[2:]},
        "samples": samples,
    }
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(samples, os.path.join(args.out, "soak.png"),
         f"soak: {backend}, {args.duration:g} s, {args.connections} connections, mixed load")
    d = result["drift"]["rss"]
    print(f"soak {backend}: {load['requests']} requests, {load['rps']:.0f} req/s, "
          f"p99 {load['p99_ms']} ms, errors {load['non2xx'] + load['socket_errors']}; "
          f"RSS {d['first'] / 1024:.0f} -> {d['last'] / 1024:.0f} KiB ({d['change_pct']:+.1f}%), "
          f"fds {base_fds} -> {after_fds}; {args.out}/soak.json, soak.png")
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--backend", default="epoll", help="build/<backend>/production_server (default epoll)")
    ap.add_argument("--binary", help="a production_server to use instead of --backend's")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--threads", type=int, default=2, help="server --threads (default 2)")
    ap.add_argument("--out", default=None, help="output directory (default results/soak/<backend>-<UTC>)")
    args = ap.parse_args(argv)
    if args.duration <= 0:
        ap.error("--duration must be positive")
    if args.out is None:
        args.out = os.path.join(ROOT, "results", "soak",
                                f"{args.backend}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    res = run(args)
    ok = res["exit_code"] == 0 and res["fds_after"] == res["fds_baseline"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
