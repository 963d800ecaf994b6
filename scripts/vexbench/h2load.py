"""h2load (nghttp2-client) over HTTP/1.1 (`--h1`): a fixed number of requests from
concurrent clients. With `keepalive = false` every request carries `Connection: close`;
the server closes and h2load opens the next connection, and over https it resumes the
TLS session it was given (a ticket), so the case measures resumed handshakes at
concurrency (ab gives full handshakes only, `openssl s_time` one connection at a
time). h2load's duration mode (-D) does
not finish when the server closes every connection (nghttp2 1.52), so the work is a
request count and the trial lasts as long as it takes.
"""
from __future__ import annotations

import re

from .profiles import Profile

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def command(url: str, profile: Profile, connections: int, cpu: int | None = 1) -> list:
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd += ["h2load", "--h1", "-t", "1", "-n", str(profile.requests), "-c", str(connections)]
    for k, v in profile.headers:
        cmd += ["-H", f"{k}: {v}"]
    if not profile.keepalive:
        cmd += ["-H", "Connection: close"]
    return cmd + [url]


def figures(stdout: str) -> dict:
    m = re.search(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", stdout, re.M)
    r = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", stdout, re.M)
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout, re.M)
    if not (m and r and st):
        raise ValueError("h2load output has no summary")
    dur = float(m.group(1)) * _UNITS_S[m.group(2)]
    total, _, done, ok, failed, errored, timeout = map(int, r.groups())
    non2xx = int(st.group(2)) + int(st.group(3)) + int(st.group(4))
    errors = {"connect": 0, "read": errored, "write": 0, "timeout": timeout, "status": non2xx,
              "failed": failed}
    lat = {}
    t = re.search(r"^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)",
                  stdout, re.M)
    if t:
        ms = lambda v, u: float(v) * _UNITS_S[u] * 1e3  # noqa: E731
        lat = {"mean": ms(t.group(5), t.group(6)), "max": ms(t.group(3), t.group(4))}
    return {"source": "h2load", "requests": done, "duration_s": round(dur, 6),
            "rps": done / dur if dur > 0 else 0.0, "latency_ms": lat, "latency_invalid": [],
            "non_2xx": non2xx, "socket_errors": errored + timeout + (total - done),
            "errors": errors}
