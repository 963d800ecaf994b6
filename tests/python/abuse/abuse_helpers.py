"""Helpers for the abuse suite: a concurrent normal load (wrk), a sampler of
the server's RSS, fd count and CPU time, and the per-case record written to
the run directory (VEX_ABUSE_OUT) that conftest turns into summary.json and
table.md at the end of the run."""
import json
import os
import re
import subprocess
import threading
import time

OUT = os.environ.get("VEX_ABUSE_OUT", "")
LOAD_SECONDS = float(os.environ.get("VEX_ABUSE_LOAD_SECONDS", "3"))
# ASan builds: freed memory waits in ASan's quarantine (up to 256 MiB) and every
# block has redzones, so RSS bounds are recorded there but asserted only on
# the plain builds, where RSS is the server's own.
SAN = os.environ.get("VEX_TEST_SAN") == "1"


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def cpu_seconds(pid):
    """utime + stime of pid from /proc (clock ticks → seconds)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples RSS and fd count of a server every `step` seconds in a thread."""

    def __init__(self, srv, step=0.05):
        self.srv, self.step = srv, step
        self.rss, self.fds = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set() and self.srv.alive():
            try:
                self.rss.append(self.srv.rss_bytes())
                self.fds.append(len(self.srv.fds()))
            except OSError:
                pass
            self._stop.wait(self.step)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=5)


WRK_LAT = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class Wrk:
    """wrk against GET / for `seconds`, started now, parsed on .result()."""

    def __init__(self, port, seconds=None, connections=8, path="/"):
        seconds = seconds or LOAD_SECONDS
        self.proc = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
             f"http://127.0.0.1:{port}{path}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self, timeout=60):
        out, _ = self.proc.communicate(timeout=timeout)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        lat = WRK_LAT.search(out)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        total = re.search(r"(\d+) requests in", out)
        return {
            "rps": float(m.group(1)) if m else 0.0,
            "p99_ms": float(lat.group(1)) * UNIT[lat.group(2)] if lat else None,
            "requests": int(total.group(1)) if total else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
            "raw": out[-2000:],
        }


def baseline(srv, settle=0.3):
    time.sleep(settle)
    return {"rss": srv.rss_bytes(), "fds": len(srv.fds())}


def settle_fds(srv, want, slack=0, timeout=10):
    """Wait until the server's fd count is within `slack` of `want`; returns it."""
    end = time.monotonic() + timeout
    n = len(srv.fds())
    while time.monotonic() < end and n > want + slack:
        time.sleep(0.05)
        n = len(srv.fds())
    return n


def record(case, srv, load, before, sampler, after, recovered, **extra):
    """Writes this case's figures for the run's summary (no-op without VEX_ABUSE_OUT)."""
    rec = {
        "case": case, "backend": srv.backend,
        "build": os.path.basename(os.path.dirname(srv.binary)),
        "rps": load["rps"] if load else None,
        "p99_ms": load["p99_ms"] if load else None,
        "load_errors": (load["non2xx"] + load["socket_errors"]) if load else None,
        "rss_before_kib": before["rss"] // 1024,
        "rss_peak_kib": max(sampler.rss or [0]) // 1024,
        "rss_after_kib": after["rss"] // 1024,
        "fds_before": before["fds"], "fds_peak": max(sampler.fds or [0]),
        "fds_after": after["fds"], "recovered": bool(recovered),
    }
    rec.update(extra)
    if OUT:
        d = os.path.join(OUT, "records")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{case}-{rec['build']}.json"), "w") as f:
            json.dump(rec, f, indent=1)
    return rec
