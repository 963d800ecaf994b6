#!/usr/bin/python3
"""A stand-in for build/<backend>/production_server that follows the server contract, so
the harness's backend path (flags, /readyz, /metrics, statistics blocks, SIGTERM drain,
exit 3 = backend unavailable) is tested before the real server exists. Slow (asyncio),
loopback only. FAKE_EXIT3="message" makes it refuse to run like a sandboxed io_uring.
"""
import argparse
import asyncio
import os
import signal
import sys
import time

STATS = {"connections_total": 0, "connections_active": 0, "requests_total": 0,
         "bytes_received": 0, "bytes_sent": 0, "2xx": 0, "4xx": 0, "lat": []}
BUCKETS = (1e-05, 2.5e-05, 5e-05, 0.0001, 0.00025, 0.0005, 0.001, 0.01)
START = time.monotonic()
BACKEND = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))


def stats_block() -> str:
    up = time.monotonic() - START
    lat = sorted(STATS["lat"][-10000:]) or [0.0]
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    rows = [("Backend", BACKEND), ("Threads", 1), ("Uptime", f"{up:.1f} s"),
            ("Connections total", STATS["connections_total"]),
            ("Connections active", STATS["connections_active"]),
            ("Requests total", STATS["requests_total"]),
            ("Requests/sec", f"{STATS['requests_total'] / up if up else 0:.1f}"),
            ("Bytes received", STATS["bytes_received"]), ("Bytes sent", STATS["bytes_sent"]),
            ("Responses 2xx", STATS["2xx"]), ("Responses 3xx", 0), ("Responses 4xx", STATS["4xx"]),
            ("Responses 5xx", 0), ("Errors", 0), ("Timeouts", 0), ("Rejected connections", 0),
            ("Syscalls", STATS["requests_total"] * 2),
            ("Latency p50", f"{p(0.5):.3f} ms"), ("Latency p99", f"{p(0.99):.3f} ms")]
    body = "\n".join(f"{k + ':':22}{v}" for k, v in rows)
    return f"=== SERVER STATISTICS ===\n{body}\n=========================\n"


def metrics_text() -> str:
    lines = ["# TYPE vex_requests_total counter", f"vex_requests_total {STATS['requests_total']}",
             "# TYPE vex_connections_total counter",
             f"vex_connections_total {STATS['connections_total']}",
             "# TYPE vex_connections_active gauge",
             f"vex_connections_active {STATS['connections_active']}",
             "# TYPE vex_responses_total counter",
             f'vex_responses_total{{class="2xx"}} {STATS["2xx"]}',
             f'vex_responses_total{{class="4xx"}} {STATS["4xx"]}',
             "# TYPE vex_request_duration_seconds histogram"]
    lat = STATS["lat"]
    for b in BUCKETS:
        lines.append(f'vex_request_duration_seconds_bucket{{le="{b}"}} {sum(1 for x in lat if x <= b)}')
    lines.append(f'vex_request_duration_seconds_bucket{{le="+Inf"}} {len(lat)}')
    lines.append(f"vex_request_duration_seconds_sum {sum(lat)}")
    lines.append(f"vex_request_duration_seconds_count {len(lat)}")
    return "\n".join(lines) + "\n"


def respond(method: str, path: str, body: bytes):
    if path == "/":
        return 200, "text/plain", b"Hello, World!"
    if path == "/json":
        return 200, "application/json", b'{"message":"Hello, World!"}'
    if path in ("/readyz", "/healthz"):
        return 200, "text/plain", b"ok"
    if path == "/metrics":
        return 200, "text/plain; version=0.0.4", metrics_text().encode()
    if path.startswith("/bytes/") and path[7:].isdigit():
        return 200, "application/octet-stream", b"x" * int(path[7:])
    if path == "/echo" and method == "POST":
        return 200, "application/octet-stream", body
    return 404, "text/plain", b"not found"


async def handle(reader, writer):
    STATS["connections_total"] += 1
    STATS["connections_active"] += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            t0 = time.perf_counter()
            STATS["bytes_received"] += len(head)
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ", 2)
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
            body = b""
            n = int(hdrs.get("content-length", "0") or 0)
            if n:
                body = await reader.readexactly(n)
                STATS["bytes_received"] += n
            status, ctype, payload = respond(method, path, body)
            conn = hdrs.get("connection", "").lower()
            keep = (version == "HTTP/1.1" and conn != "close") or (conn == "keep-alive")
            reason = {200: "OK", 404: "Not Found"}[status]
            out = (f"{version} {status} {reason}\r\nContent-Type: {ctype}\r\n"
                   f"Content-Length: {len(payload)}\r\n"
                   + ("Connection: keep-alive\r\n" if keep and version == "HTTP/1.0" else "")
                   + ("Connection: close\r\n" if not keep else "") + "\r\n").encode() + payload
            if writer.is_closing():
                break
            writer.write(out)
            STATS["bytes_sent"] += len(out)
            STATS["requests_total"] += 1
            STATS["2xx" if status < 300 else "4xx"] += 1
            STATS["lat"].append(time.perf_counter() - t0)
            if len(STATS["lat"]) > 200000:
                del STATS["lat"][:100000]
            if not keep:
                await writer.drain()
                break
            if getattr(reader, "_buffer", None):    # more pipelined requests already read
                continue
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        STATS["connections_active"] -= 1
        writer.close()


async def main(a):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(handle, a.host, a.port, backlog=4096)

    async def ticker():
        while True:
            await asyncio.sleep(a.stats_interval)
            sys.stdout.write(stats_block())
            sys.stdout.flush()
    t = asyncio.create_task(ticker()) if a.stats_interval > 0 else None
    await stop.wait()
    server.close()
    if t:
        t.cancel()
    sys.stdout.write(stats_block())
    sys.stdout.flush()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stats-interval", type=float, default=10)
    p.add_argument("--max-clients", type=int, default=1024)
    p.add_argument("--idle-timeout", type=float)
    p.add_argument("--header-timeout", type=float)
    p.add_argument("--root", help="accepted like the real server's; /static/ is not served")
    try:
        args = p.parse_args()
    except SystemExit:
        sys.exit(2)
    if os.environ.get("FAKE_EXIT3"):
        print(os.environ["FAKE_EXIT3"], file=sys.stderr)
        sys.exit(3)
    if not args.host.startswith("127."):
        sys.exit(2)
    asyncio.run(main(args))
