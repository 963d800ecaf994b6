"""`openssl s_time` runner and parser: TLS connections one after another for a time,
each a GET of the profile's path in HTTP/1.0 (the server closes after the response).

`-new` makes every connection a full handshake; `-reuse` resumes the session of the
first connection on every later one (a ticket in TLS 1.3, as a browser coming back).
One connection at a time and the client's own handshake work bound the rate, so the
figure that matters is the server's CPU per connection (its counters count one request
per connection): handshakes per server CPU-second = 1e6 / cpu_us_per_req.
"""
from __future__ import annotations

import re

from .profiles import Profile, wrk_seconds


def command(url: str, profile: Profile, duration: float, cpu: int | None = 1) -> list:
    m = re.fullmatch(r"https://([^/]+)(/.*)", url)
    if not m:
        raise ValueError(f"s_time needs an https URL, not {url!r}")
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return cmd + ["openssl", "s_time", "-connect", m.group(1),
                  "-reuse" if profile.tls_resume else "-new",
                  "-time", str(wrk_seconds(duration)), "-www", m.group(2)]


# "6021 connections in 4 real seconds, 183 bytes read per connection"
_REAL = re.compile(r"^(\d+) connections in (\d+) real seconds, (\d+) bytes read per connection",
                   re.M)


def figures(stdout: str, elapsed_s: float) -> dict:
    """requests (connections), rps over the measured wall time, bytes; s_time reports
    whole seconds only, so the rate uses our own clock. No latency distribution."""
    hits = _REAL.findall(stdout)
    if not hits:
        raise ValueError("s_time output has no summary line")
    n, _, per = map(int, hits[-1])
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    return {"source": "s_time", "requests": n, "duration_s": round(elapsed_s, 6),
            "rps": n / elapsed_s if elapsed_s > 0 else 0.0, "bytes": n * per,
            "latency_ms": {}, "latency_invalid": [], "non_2xx": 0, "socket_errors": 0,
            "errors": errors}
