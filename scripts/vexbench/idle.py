"""Memory per connection: open N keep-alive connections to the server, send one request on
each (so the server has set the connection up fully), hold them idle and measure the
server's RSS before and after. Bounded: N connections, a per-socket timeout and a deadline."""
from __future__ import annotations

import resource
import socket
import time


def raise_nofile(want: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `want` (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, want)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _response_ok(data: bytes) -> bool:
    return data.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))


def open_idle(host: str, port: int, n: int, path: str = "/", timeout: float = 2.0,
              deadline_s: float = 30.0, batch: int = 256) -> tuple:
    """Return (sockets, errors). Each socket completed one keep-alive GET with a 2xx.

    Connections are set up in batches (connect all, send all, then read all), so a server
    whose loop turn costs O(connections), like poll(), is not charged one turn per
    connection. Stops at the deadline and counts that as errors['deadline']."""
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    socks, errors = [], {"connect": 0, "read": 0, "status": 0}
    end = time.monotonic() + deadline_s
    left = n
    while left > 0:
        if time.monotonic() > end:
            errors["deadline"] = left
            break
        pending = []
        for _ in range(min(batch, left)):
            left -= 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect((host, port))
                s.sendall(req)
            except OSError:
                errors["connect"] += 1
                s.close()
                continue
            pending.append(s)
        for s in pending:
            try:
                data = s.recv(65536)
            except OSError:
                errors["read"] += 1
                s.close()
                continue
            if not _response_ok(data):
                errors["status" if data else "read"] += 1
                s.close()
                continue
            socks.append(s)
    return socks, errors


def close_all(socks) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
