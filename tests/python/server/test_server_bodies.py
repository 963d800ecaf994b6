"""Chunked request bodies at the default --max-body (8 MiB): just under, at
and just over the limit, and several at once; every byte is checked."""
import os
import random
import threading

from server_helpers import Reader, wait_closed

MAX_BODY = 8 << 20                       # the server's default --max-body


def chunked(body, rng, max_chunk=256 << 10):
    """body as chunks of random sizes (1 B .. max_chunk), some with an
    extension, then the last chunk and an empty trailer section."""
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, max_chunk)
        piece = body[i:i + n]
        ext = b";x=1" if rng.random() < 0.1 else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        i += n
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def post_chunked(srv, body, seed, timeout=60):
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    s = srv.connect(timeout=timeout)
    s.sendall(head + chunked(body, random.Random(seed)))
    return s, Reader(s)


def test_chunked_body_just_under_and_at_the_limit(server):
    for size in (MAX_BODY - 1, MAX_BODY):
        body = os.urandom(size)
        s, rd = post_chunked(server, body, seed=size)
        with s:
            r = rd.response()
            assert r.status == 200, r
            assert r.header("content-length") == str(size)
            assert r.body == body
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")     # still keep-alive
            assert rd.response().body == b"Hello, World!"


def test_chunked_body_one_byte_over_the_limit_is_413(server):
    body = os.urandom(MAX_BODY + 1)
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    s = server.connect(timeout=30)
    with s:
        # Sent in a thread: the server answers 413 as soon as the sum passes
        # the limit and stops reading, so sendall may fail part-way.
        def send():
            try:
                s.sendall(head + chunked(body, random.Random(1)))
            except OSError:
                pass
        t = threading.Thread(target=send)
        t.start()
        r = Reader(s).response()
        assert r.status == 413, r
        assert r.header("connection") == "close"
        assert wait_closed(s, timeout=10)
        t.join(timeout=30)
    assert server.get("/").status == 200


def test_several_chunked_bodies_near_the_limit_at_once(start_server):
    srv = start_server("--threads", "2")
    n = 4
    bodies = [os.urandom(MAX_BODY - 1000 * i) for i in range(n)]
    results = [None] * n

    def client(i):
        try:
            s, rd = post_chunked(srv, bodies[i], seed=100 + i)
            with s:
                r = rd.response()
                results[i] = (r.status, r.body == bodies[i], len(r.body))
        except Exception as e:             # noqa: BLE001 — reported below
            results[i] = ("error", repr(e), 0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=80)
    assert not any(t.is_alive() for t in threads)
    assert results == [(200, True, len(b)) for b in bodies], results
    m = srv.metrics()
    assert m['vex_responses_total{class="2xx"}'] == n
    assert m["vex_errors_total"] == 0
