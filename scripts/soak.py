#!/usr/bin/env python3
"""Soak benchmark for production_server: a mixed wrk load for --duration seconds
against one backend on loopback, in three classes run side by side, each its
own wrk with its own figures (requests, errors):

  plain       GET /, GET /json, POST /echo, GET /bytes/N, a static file (http)
  compressed  GET /text/N and a static text file with Accept-Encoding gzip,
              br or zstd (http); a 200 without Content-Encoding is an error
  tls         the plain mix, a gzip /text/N and a /json with Connection: close
              (so new handshakes keep coming) over an HTTPS listener whose
              test CA and certificate the script makes with the openssl CLI

Every second it samples the server's RSS, fd count, open connections, error
counters, TLS handshakes and compressed responses (from /metrics). Writes
soak.json (samples, per-class figures, drift figures: the last minute against
the first) and soak.png (the series over time) into --out. Exits 1 unless the
server exited 0, its fd count came back to the baseline and every compressed
request was answered compressed.

  scripts/soak.py --duration 120 --backend epoll --out results/soak/epoll
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LISTEN_RE = re.compile(r"listening on \S+:(\d+) backend=(\S+)")
ALSO_RE = re.compile(r"also listening on \S+:(\d+)")
STATIC_BYTES = 16384
CODINGS = ("gzip", "br", "zstd")
# the rotation of each class's wrk script: (method, path, body[, {header: value}])
MIX = [("GET", "/", ""), ("GET", "/json", ""), ("POST", "/echo", "x" * 512),
       ("GET", "/bytes/4096", ""), ("GET", "/static/soak.bin", "")]
COMPRESSED_MIX = [(m, p, "", {"Accept-Encoding": c})
                  for c in CODINGS for m, p in (("GET", "/text/16384"), ("GET", "/static/soak.txt"))]
TLS_MIX = MIX + [("GET", "/text/8192", "", {"Accept-Encoding": "gzip"}),
                 ("GET", "/json", "", {"Connection": "close"})]
CLASSES = {  # name: (scheme, mix, every 200 must be compressed)
    "plain": ("http", MIX, False),
    "compressed": ("http", COMPRESSED_MIX, True),
    "tls": ("https", TLS_MIX, False),
}
COUNTERS = ["vex_connections_active", "vex_requests_total", "vex_errors_total",
            "vex_timeouts_total", "vex_connections_rejected_total",
            'vex_responses_total{class="4xx"}', 'vex_responses_total{class="5xx"}',
            "vex_tls_handshake_failures_total",
            "vex_tls_handshakes_total", "vex_tls_resumed_total"] + \
           ['vex_compressed_responses_total{encoding="%s"}' % c for c in CODINGS]
ERROR_COUNTERS = COUNTERS[2:8]
# per-second rates derived from the counters, with the drift of each
RATES = {"rate_requests": "vex_requests_total", "rate_tls_handshakes": "vex_tls_handshakes_total",
         "rate_tls_resumed": "vex_tls_resumed_total"}
RATES.update({"rate_%s" % c: 'vex_compressed_responses_total{encoding="%s"}' % c for c in CODINGS})


def lua_str(s):
    return json.dumps(s)


def wrk_script(mix=MIX, check_encoding=False):
    """A wrk Lua script that cycles through mix, one request each call. The
    requests are built in init(), once wrk has set the Host header; wrk.format
    adds Content-Length for a body itself. With check_encoding, every 200
    without a Content-Encoding is counted, and done() prints the sum over the
    threads as `soak uncompressed: N`."""
    items = []
    for m in mix:
        method, path, body = m[:3]
        hdrs = m[3] if len(m) > 3 else None
        h = ("{%s}" % ", ".join("[%s] = %s" % (lua_str(k), lua_str(v)) for k, v in hdrs.items())
             if hdrs else "nil")
        items.append("    wrk.format(%s, %s, %s, %s)" % (lua_str(method), lua_str(path), h,
                                                        lua_str(body) if body else "nil"))
    s = ("local reqs\nlocal i = 0\n"
         "init = function(args)\n  reqs = {\n%s\n  }\nend\n"
         "request = function()\n  i = i %% #reqs + 1\n  return reqs[i]\nend\n") % ",\n".join(items)
    if check_encoding:
        s += ("uncompressed = 0\nlocal threads = {}\n"
              "setup = function(thread)\n  table.insert(threads, thread)\nend\n"
              "response = function(status, headers, body)\n"
              "  if status == 200 and not (headers[\"Content-Encoding\"] or "
              "headers[\"content-encoding\"]) then\n"
              "    uncompressed = uncompressed + 1\n  end\nend\n"
              "done = function(summary, latency, requests)\n  local n = 0\n"
              "  for _, t in ipairs(threads) do n = n + t:get(\"uncompressed\") end\n"
              "  io.write(string.format(\"soak uncompressed: %d\\n\", n))\nend\n")
    return s


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
    """Requests, req/s, p99 (ms), non-2xx, socket errors and (from our Lua's
    done()) uncompressed 200s from wrk --latency output; errors is their sum."""
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    m = re.search(r"(\d+) requests in", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    unc = re.search(r"^soak uncompressed: (\d+)$", text, re.M)
    r = {"requests": int(m.group(1)) if m else 0,
         "rps": float(rps.group(1)) if rps else 0.0,
         "p99_ms": float(p99.group(1)) * unit[p99.group(2)] if p99 else None,
         "non2xx": int(non.group(1)) if non else 0,
         "socket_errors": sum(map(int, sock.groups())) if sock else 0,
         "uncompressed": int(unc.group(1)) if unc else 0}
    r["errors"] = r["non2xx"] + r["socket_errors"] + r["uncompressed"]
    return r


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


def add_rates(samples):
    """Each sample after the first gets RATES' per-second rates (since the one before)."""
    for name, counter in RATES.items():
        for s, r in zip(samples[1:], rates(samples, counter)):
            s[name] = r
    return samples


def window_for(duration):
    """The drift window: a minute, or a quarter of a short run."""
    return min(60.0, max(1.0, duration / 4))


def classes_for(args):
    """[(name, scheme, mix, check_encoding, connections)] of the classes with connections."""
    n = {"plain": args.connections, "compressed": args.compressed_connections,
         "tls": args.tls_connections}
    return [(k, *CLASSES[k], n[k]) for k in CLASSES if n[k] > 0]


def server_config(port_tls, cert, key):
    """The --config file: a plain listener (the samples' /metrics) and, unless
    port_tls is None, an HTTPS one beside it."""
    text = "listen:\n  - 127.0.0.1:0\n"
    if port_tls is not None:
        text += (f"  - {{address: 127.0.0.1, port: {port_tls}, tls: true, "
                 f"certificate: \"{cert}\", key: \"{key}\"}}\n")
    return text


# ---- the run ----------------------------------------------------------------

def make_certificate(d):
    """A test CA and an ECDSA P-256 server certificate for 127.0.0.1/localhost signed
    by it (the openssl CLI, as the server's TLS tests and vexbench's tls variant do):
    (cert, key) paths."""
    ca, key, csr, cert, ext = (os.path.join(d, n) for n in
                               ("ca", "server.key", "server.csr", "server.pem", "san.ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (["openssl", "req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem",
                 "-days", "2", "-subj", "/CN=vex soak test CA"],
                ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca + ".pem", "-CAkey", ca + ".key",
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            sys.exit(f"soak.py: {' '.join(cmd[:3])} failed: {r.stderr.strip()[-300:]}")
    return cert, key


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
    fig, ax = plt.subplots(7, 1, figsize=(9, 15), sharex=True)
    ax[0].plot(t, [s["rss"] / 1048576 for s in samples]); ax[0].set_ylabel("RSS MiB")
    ax[1].plot(t, [s["fds"] for s in samples]); ax[1].set_ylabel("open fds")
    ax[2].plot(t, [s.get("vex_connections_active") for s in samples]); ax[2].set_ylabel("connections")
    ax[3].plot(t[1:], [s.get("rate_requests") for s in samples[1:]]); ax[3].set_ylabel("req/s (all)")
    for c, style in zip(CODINGS, ("-", "--", ":")):
        ax[4].plot(t[1:], [s.get("rate_" + c) for s in samples[1:]], style, label=c)
    ax[4].set_ylabel("compressed\nresponses/s")
    ax[5].plot(t[1:], [s.get("rate_tls_handshakes") for s in samples[1:]], label="all")
    ax[5].plot(t[1:], [s.get("rate_tls_resumed") for s in samples[1:]], "--", label="resumed")
    ax[5].set_ylabel("TLS\nhandshakes/s")
    for k, lab in (("vex_errors_total", "errors"), ("vex_timeouts_total", "timeouts"),
                   ('vex_responses_total{class="5xx"}', "5xx"),
                   ('vex_responses_total{class="4xx"}', "4xx"),
                   ("vex_tls_handshake_failures_total", "TLS handshake failures")):
        ax[6].plot(t, [s.get(k) for s in samples], label=lab)
    ax[6].set_ylabel("count\n(cumulative)")
    ax[6].set_xlabel("seconds")
    for a in ax:
        a.grid(alpha=0.3)
        a.margins(y=0.15)
        a.set_ylim(bottom=0)
    for a in ax[4:]:   # legends above the lines: room at the top, outside the data
        lo, hi = a.get_ylim()
        a.set_ylim(lo, hi * 1.45 if hi > 0 else 1)
        a.legend(loc="upper left", ncol=5, fontsize="small", framealpha=0.9)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.985))   # the title above the first panel
    fig.savefig(path, dpi=80)
    plt.close(fig)


def start_wrk(name, scheme, mix, check, conns, port, duration, tmp):
    lua = os.path.join(tmp, f"{name}.lua")
    with open(lua, "w") as f:
        f.write(wrk_script(mix, check))
    return subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--latency",
                             "--timeout", "10s", "-s", lua, f"{scheme}://127.0.0.1:{port}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(args):
    binary = args.binary or os.path.join(ROOT, "build", args.backend, "production_server")
    if not os.access(binary, os.X_OK):
        sys.exit(f"soak.py: no {binary}: run make BACKEND={args.backend} first")
    if not shutil.which("wrk"):
        sys.exit("soak.py: needs wrk (apt-get install wrk, or make deps)")
    if args.tls_connections and not shutil.which("openssl"):
        sys.exit("soak.py: the tls class needs the openssl CLI (or --tls-connections 0)")
    classes = classes_for(args)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="soak-")
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    with open(os.path.join(www, "soak.bin"), "wb") as f:
        f.write(os.urandom(STATIC_BYTES))
    with open(os.path.join(www, "soak.txt"), "w") as f:   # compressed on the fly
        f.write("".join(f"line {i}: the quick brown fox jumps over the lazy dog\n"
                        for i in range(STATIC_BYTES // 50)))
    cert = key = None
    if args.tls_connections:
        cert, key = make_certificate(tmp)
    cfg = os.path.join(tmp, "soak.yaml")
    with open(cfg, "w") as f:
        f.write(server_config(0 if args.tls_connections else None, cert, key))
    srv = subprocess.Popen([binary, "--config", cfg, "--threads", str(args.threads),
                            "--stats-interval", "0", "--root", www, *args.server_arg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wrks = {}
    try:
        m = LISTEN_RE.search(srv.stdout.readline())
        if not m:
            sys.exit(f"soak.py: {binary} did not start (rc {srv.poll()})")
        port, backend = int(m.group(1)), m.group(2)
        ports = {"http": port}
        if args.tls_connections:
            m = ALSO_RE.search(srv.stdout.readline())
            if not m:
                sys.exit(f"soak.py: {binary} did not open its TLS listener")
            ports["https"] = int(m.group(1))
        time.sleep(0.5)
        base_fds = proc_fds(srv.pid)
        t0 = time.monotonic()
        samples = [sample(srv.pid, port, t0)]
        for name, scheme, mix, check, conns in classes:
            wrks[name] = start_wrk(name, scheme, mix, check, conns, ports[scheme],
                                   args.duration, tmp)
        nxt = t0 + 1
        while any(w.poll() is None for w in wrks.values()):
            time.sleep(max(0.0, nxt - time.monotonic()))
            nxt += 1
            samples.append(sample(srv.pid, port, t0))
        load = {name: parse_wrk(w.stdout.read()) for name, w in wrks.items()}
        time.sleep(1.5)                          # lingering closes finish
        after_fds = proc_fds(srv.pid)
        final = sample(srv.pid, port, t0)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(timeout=30)
    finally:
        for w in wrks.values():
            if w.poll() is None:
                w.kill()
        if srv.poll() is None:
            srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    add_rates(samples)
    win = window_for(args.duration)
    # the samples under load: not the idle first one, nor any after wrk ended
    loaded = [s for s in samples[1:] if s["t"] <= args.duration]
    result = {
        "backend": backend, "binary": binary, "duration_s": args.duration,
        "threads": args.threads,
        "classes": {n: {"scheme": sc, "connections": c, "mix": mx}
                    for n, sc, mx, _, c in classes},
        "wrk": load, "exit_code": rc, "drift_window_s": win,
        "fds_baseline": base_fds, "fds_after": after_fds,
        "drift": {k: drift(loaded, k, win)
                  for k in ("rss", "fds", "vex_connections_active", *RATES)},
        "errors_final": {k: final.get(k) for k in ERROR_COUNTERS},
        "totals_final": {k: final.get(k) for k in COUNTERS[1:2] + COUNTERS[8:]},
        "samples": samples,
    }
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    conns = sum(c for *_, c in classes)
    plot(samples, os.path.join(args.out, "soak.png"),
         f"soak: {backend}, {args.duration:g} s, {conns} connections "
         f"({', '.join(f'{n} {c}' for n, *_, c in classes)}), mixed load")
    d = result["drift"]["rss"]
    for name, r in load.items():
        print(f"soak {backend} {name}: {r['requests']} requests, {r['rps']:.0f} req/s, "
              f"p99 {r['p99_ms']} ms, errors {r['errors']} (non-2xx {r['non2xx']}, "
              f"socket {r['socket_errors']}, uncompressed {r['uncompressed']})")
    print(f"soak {backend}: RSS {d['first'] / 1024:.0f} -> {d['last'] / 1024:.0f} KiB "
          f"({d['change_pct']:+.1f}%), fds {base_fds} -> {after_fds}; "
          f"{args.out}/soak.json, soak.png")
    return result


def verdict(res):
    """(ok, reasons): the server exited 0, its fds are back at the baseline and
    every compressed-class 200 came compressed."""
    why = []
    if res["exit_code"] != 0:
        why.append(f"server exit code {res['exit_code']}")
    if res["fds_after"] != res["fds_baseline"]:
        why.append(f"fds {res['fds_baseline']} -> {res['fds_after']}")
    unc = sum(r.get("uncompressed", 0) for r in res["wrk"].values())
    if unc:
        why.append(f"{unc} compressed-class responses without Content-Encoding")
    return not why, why


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--backend", default="epoll", help="build/<backend>/production_server (default epoll)")
    ap.add_argument("--binary", help="a production_server to use instead of --backend's")
    ap.add_argument("--connections", type=int, default=16,
                    help="wrk connections of the plain class (default 16)")
    ap.add_argument("--compressed-connections", type=int, default=4,
                    help="wrk connections of the compressed class, 0 for none (default 4)")
    ap.add_argument("--tls-connections", type=int, default=4,
                    help="wrk connections of the tls class, 0 for none (default 4)")
    ap.add_argument("--threads", type=int, default=2, help="server --threads (default 2)")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for the server (repeat it), e.g. --server-arg=--compression "
                         "--server-arg=off")
    ap.add_argument("--out", default=None, help="output directory (default results/soak/<backend>-<UTC>)")
    args = ap.parse_args(argv)
    if args.duration <= 0:
        ap.error("--duration must be positive")
    if args.connections < 1:
        ap.error("--connections must be at least 1")
    if args.compressed_connections < 0 or args.tls_connections < 0:
        ap.error("--compressed-connections and --tls-connections must be 0 or more")
    if args.out is None:
        args.out = os.path.join(ROOT, "results", "soak",
                                f"{args.backend}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    res = run(args)
    ok, why = verdict(res)
    if not ok:
        print("soak.py: FAILED: " + "; ".join(why), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
