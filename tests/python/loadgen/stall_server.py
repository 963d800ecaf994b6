#!/usr/bin/python3
"""A tiny HTTP/1.1 keep-alive server that stalls once: the test target for coordinated
omission. Every request gets `200 Hello, World!`; from --stall-at seconds after the first
request, no response leaves for --stall-s seconds (requests that arrive meanwhile wait,
as behind a stop-the-world pause), then everything queued is answered at once.

    stall_server.py --port 0 --stall-at 4 --stall-s 1      # prints "ready port=P"

Loopback only; exits after --max-seconds. Single-threaded asyncio: enough for a few
thousand requests per second.
"""
import argparse
import asyncio
import sys
import time

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
            b"Connection: keep-alive\r\n\r\nHello, World!")


class Stall:
    def __init__(self, at: float, length: float):
        self.at, self.length, self.first = at, length, None

    async def wait(self) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        start = self.first + self.at
        if self.length > 0 and start <= now < start + self.length:
            await asyncio.sleep(start + self.length - now)


async def handle(reader, writer, stall: Stall, counts: dict):
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buf += data
            n = 0
            while True:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                buf = buf[i + 4:]
                n += 1
            if n:
                await stall.wait()
                writer.write(RESPONSE * n)
                counts["requests"] += n
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main_async(a) -> int:
    stall = Stall(a.stall_at, a.stall_s)
    counts = {"requests": 0}
    server = await asyncio.start_server(lambda r, w: handle(r, w, stall, counts),
                                        a.host, a.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"ready port={port}", flush=True)
    try:
        await asyncio.sleep(a.max_seconds)
    finally:
        server.close()
        print(f"requests={counts['requests']}", flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--stall-at", type=float, default=4.0,
                   help="seconds after the first request when the stall starts (4)")
    p.add_argument("--stall-s", type=float, default=1.0, help="stall length, seconds (1; 0: none)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="exit after this long (60)")
    a = p.parse_args(argv)
    try:
        return asyncio.run(main_async(a))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
