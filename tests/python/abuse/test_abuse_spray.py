"""An address spray against a rate-limit zone (issue #12): VEX_ABUSE_SPRAY
(default 1,000,000) requests, each from its own client address (half IPv4,
half IPv6 /64s, through X-Forwarded-For from the trusted 127.0.0.1), beside a
normal wrk load. The zone is 1 MiB (18,720 keys): every forced eviction must
be counted, RSS must stay within the zone, and a steady client must still be
limited afterwards. (The server suite sprays 100,000; this is the issue's
full size, about 10 s per backend. One worker thread: the spray's one
connection lands on one of them, and the RSS bound needs the warm-up on the
thread that serves it; the zone is shared, so nothing else differs.)"""
import socket
import time

import pytest

from abuse_helpers import SAN, Sampler, Wrk, baseline, env_int, record
from test_server_ratelimit import SPRAY_ZONE, spray_client

pytestmark = pytest.mark.slow
SPRAY = env_int("VEX_ABUSE_SPRAY", 1000000 if not SAN else 100000)
# Fills the zone (18,720 keys) and warms the server's own buffers first, so
# what the spray adds is the zone's doing: io_uring's provided-buffer ring
# (1024 x 16 KiB per thread) is touched page by page as pipelined bytes
# cycle through it, +8 MiB over the first 250,000 requests here, flat after.
WARM = 250000
BATCH = 1000


def spray(port, start, n):
    """Pipelined batches on one connection; returns the statuses counted
    (the responses are only scanned, not parsed, to keep up with the server)."""
    counts = {}
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        tail = b""
        for b0 in range(start, start + n, BATCH):
            k = min(BATCH, start + n - b0)
            s.sendall("".join(f"GET /json HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {spray_client(i)}"
                              "\r\n\r\n" for i in range(b0, b0 + k)).encode())
            got = 0
            while got < k:
                data = s.recv(1 << 20)
                assert data, "server closed the spraying connection"
                buf = tail + data
                # a status line is "HTTP/1.1 NNN": count the ones that end in buf,
                # keep the last 11 bytes for one split across two reads
                pos = buf.find(b"HTTP/1.1 ")
                while pos >= 0 and pos + 12 <= len(buf):
                    code = buf[pos + 9:pos + 12].decode()
                    counts[code] = counts.get(code, 0) + 1
                    got += 1
                    pos = buf.find(b"HTTP/1.1 ", pos + 12)
                tail = buf[pos:] if pos >= 0 else buf[-11:]
            assert got == k, (got, k)
    return counts


def test_address_spray_of_a_million_keeps_the_zone_bounded(start_server, tmp_path):
    conf = tmp_path / "spray.yaml"
    conf.write_text(SPRAY_ZONE)
    srv = start_server("--config", str(conf), "--threads", "1")
    assert spray(srv.port, 0, WARM) == {"200": WARM}
    before = baseline(srv)
    t0 = time.monotonic()
    with Sampler(srv, step=0.2) as smp:
        load = Wrk(srv.port, seconds=5)
        counts = spray(srv.port, WARM, SPRAY)
        load = load.result()
    secs = time.monotonic() - t0
    after = baseline(srv)
    m = srv.metrics()
    entries = int(m['vex_ratelimit_entries{zone="api"}'])
    evicted = int(m['vex_ratelimit_evictions_total{zone="api"}'])
    steady = [srv.get("/json", "X-Forwarded-For: 198.51.100.77\r\n").status for _ in range(20)]
    grew = max(smp.rss or [after["rss"]]) - before["rss"]
    rec = record("address_spray", srv, load, before, smp, after,
                 steady == [200] * 6 + [429] * 14,
                 note=f"{SPRAY:,} addresses in {secs:.0f} s, {evicted:,} evictions, "
                      f"{entries:,} entries, RSS peak +{grew // 1024} KiB over the warm zone")
    assert counts == {"200": SPRAY}, counts          # each address is new to the zone
    assert entries == 18720
    assert evicted == WARM + SPRAY - entries         # every forced eviction counted
    assert load["non2xx"] == 0 and load["socket_errors"] == 0, load["raw"]
    assert steady == [200] * 6 + [429] * 14, steady  # limiting still works
    if not SAN:                                      # ASan's quarantine holds freed memory
        assert grew < 1024 * 1024, rec               # the zone was already full and warm
