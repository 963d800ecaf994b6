"""Malformed input and path escapes, with a normal load beside them: every
bad request gets its error status or a close, never a crash; /static/ never
serves outside --root. (The `..`, `%2e%2e` and symlink cases are in
tests/python/server/test_server_endpoints.py and test_server_static_root.py;
these are the ones they lack: NULs, absolute, backslash, over-long paths.)
Size: VEX_ABUSE_RANDOM (random-byte requests, default 300)."""
import random
import socket

import pytest

from abuse_helpers import Sampler, Wrk, baseline, env_int, record, settle_fds
from server_helpers import Reader

pytestmark = pytest.mark.slow
RANDOM = env_int("VEX_ABUSE_RANDOM", 300)
H = b"Host: t\r\n"

# (name, request bytes, statuses allowed; None in the set: a close without one)
MALFORMED = [
    ("1MiB_request_line", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n" + H + b"\r\n", {414, 431, 400, None}),
    ("1MiB_header_line", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * (1 << 20) + b"\r\n\r\n", {431, 400, None}),
    ("10000_headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(10000)) + b"\r\n",
     {431, 400, None}),
    ("nul_in_target", b"GET /\x00x HTTP/1.1\r\n" + H + b"\r\n", {400, None}),
    ("nul_in_header", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", {400, None}),
    ("bad_chunk_size", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
     {400, None}),
    ("huge_chunk_size", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"ffffffffffffffffff\r\nabc", {400, 413, None}),
    ("huge_content_length", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999\r\n\r\nab",
     {400, 413, None}),
    ("content_length_over_limit_short_body", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 1000000000\r\n\r\nab",
     {413, None}),
    ("two_content_lengths", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     {400, None}),
    ("cl_and_te", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     {400, None}),
    ("bad_version", b"GET / HTTP/9.9\r\n" + H + b"\r\n", {505, 400, None}),
    ("no_version", b"GET /\r\n\r\n", {400, None}),
    ("bare_lf_garbage", b"\n\n\n\x01\x02\x03\n\n", {400, None}),
    ("space_in_header_name", b"GET / HTTP/1.1\r\n" + H + b"X Y: z\r\n\r\n", {400, None}),
]


def answer(port, raw, timeout=10):
    """The status the server answered raw with, or None if it only closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass                      # it answered and closed while we still sent
        try:
            return Reader(s).response().status
        except (ConnectionError, OSError, ValueError):
            return None
    finally:
        s.close()


def test_malformed_barrage(start_server):
    srv = start_server("--threads", "2", "--header-timeout", "2", "--idle-timeout", "2")
    before = baseline(srv)
    rng = random.Random(17)
    bad = []
    with Sampler(srv) as smp:
        load = Wrk(srv.port)
        for name, raw, allowed in MALFORMED:
            st = answer(srv.port, raw)
            if st not in allowed:
                bad.append((name, st))
        for i in range(RANDOM):
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048))) + b"\r\n\r\n"
            st = answer(srv.port, raw)
            if st is not None and not 400 <= st < 600:
                bad.append((f"random{i}", st))
        load = load.result()
    assert srv.alive()
    fds = settle_fds(srv, before["fds"])
    ok = srv.get("/").status == 200
    after = baseline(srv)
    rec = record("malformed", srv, load, before, smp, after, ok and fds == before["fds"],
                 note=f"{len(MALFORMED)} crafted + {RANDOM} random; wrong answers: {len(bad)}")
    assert not bad, bad
    assert load["non2xx"] == 0 and load["socket_errors"] == 0, load["raw"]
    assert ok and fds == before["fds"], rec


@pytest.fixture
def root(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "ok.txt").write_bytes(b"ok\n")
    (tmp_path / "secret.txt").write_bytes(b"outside-secret\n")
    return www


@pytest.mark.parametrize("target", [
    "/static/ok.txt%00.png", "/static/%00", "/static/..%00/secret.txt",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "http://t/static/../secret.txt",
    "/static/..\\secret.txt", "/static/%5c..%5csecret.txt", "/static/.%2e/secret.txt",
    "/static/" + "a/" * 3000 + "ok.txt", "/static/" + "../" * 3000 + "secret.txt",
    "/static/" + "x" * 5000,
])
def test_path_escapes_refused(start_server, root, target):
    srv = start_server("--threads", "1", "--root", str(root))
    st = answer(srv.port, f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert st in (400, 403, 404, 414, 431), (target, st)
    r = srv.get("/static/ok.txt")
    assert r.status == 200 and r.body == b"ok\n"
    # and never the secret, whatever the status
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"outside-secret" not in data and b"root:" not in data
