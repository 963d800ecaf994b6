"""Response compression (issue #11): gzip, brotli and zstd chosen from
Accept-Encoding, checked by decompressing with the real tools (gzip -d,
brotli -d, zstd -d) to the original bytes, on every backend."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from server_helpers import Reader, wait_for

TOOLS = {"gzip": ["gzip", "-d", "-c"], "br": ["brotli", "-d", "-c"], "zstd": ["zstd", "-d", "-c", "-q"]}
pytestmark = pytest.mark.skipif(not all(shutil.which(t[0]) for t in TOOLS.values()),
                                reason="needs gzip, brotli and zstd (make deps)")


def decode(enc, data):
    r = subprocess.run(TOOLS[enc], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def pattern(srv, n):
    r = srv.get(f"/text/{n}")
    assert r.status == 200 and r.header("content-encoding") is None and len(r.body) == n
    return r.body


def ae(srv, path, value, method="GET"):
    hdr = f"Accept-Encoding: {value}\r\n" if value is not None else ""
    if method == "HEAD":
        with srv.connect() as s:
            s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n{hdr}\r\n".encode())
            return Reader(s).response(head_only=True)
    return srv.get(path, hdr, method)


def test_every_coding_round_trips_around_the_threshold(server):
    for n in (1023, 1024, 1025, 4096, 300000):
        want = pattern(server, n)
        for enc in TOOLS:
            r = ae(server, f"/text/{n}", enc)
            assert r.status == 200
            if n < 1024:                  # never compressed: the header does not matter
                assert r.header("vary") is None
                assert r.header("content-encoding") is None
                assert r.header("content-length") == str(n) and r.body == want
                continue
            assert r.header("vary") == "Accept-Encoding"
            assert r.header("content-encoding") == enc, (n, enc, r)
            assert r.header("transfer-encoding") == "chunked"
            assert r.header("content-length") is None
            assert r.header("content-type") == "text/plain; charset=utf-8"
            assert decode(enc, r.body) == want
            assert len(r.body) < n


def test_q_values_and_server_preference(server):
    cases = {
        "gzip": "gzip", "GZIP": "gzip", "x-gzip": "gzip", "br": "br", "zstd": "zstd",
        "gzip, deflate, br, zstd": "br",                 # ties: br > zstd > gzip
        "gzip;q=0.8, zstd;q=0.8": "zstd",
        "gzip, br;q=0.5": "gzip",                        # q beats preference
        "gzip;q=0, br": "br",
        "*": "br", "*;q=0.5, br;q=0": "zstd",
        "gzip;q=0.5": "gzip",                            # identity unnamed: still gzip
        "br;q=0.3, identity;q=0.5": None,                # identity wanted more
        "identity": None, "identity;q=0": None,          # nothing coded acceptable: identity
        "*;q=0": None, "gzip;q=0, br;q=0, zstd;q=0": None,
        "deflate, compress": None, "": None, None: None,
        "gzip;q=abc": None, "gzip;level=1": None,        # malformed elements are ignored
        "gzip ; q=0.900 , br;q=0.9": "br",
    }
    want = pattern(server, 2000)
    for value, enc in cases.items():
        r = ae(server, "/text/2000", value)
        assert r.status == 200, value
        assert r.header("vary") == "Accept-Encoding", value   # it depended on the header
        assert r.header("content-encoding") == enc, (value, r)
        assert (decode(enc, r.body) if enc else r.body) == want, value


def test_several_accept_encoding_lines_are_one_list(server):
    r = server.get("/text/3000", "Accept-Encoding: gzip;q=0.5\r\nAccept-Encoding: zstd\r\n")
    assert r.header("content-encoding") == "zstd" and len(decode("zstd", r.body)) == 3000
    r = server.get("/text/3000", "Accept-Encoding: identity\r\nAccept-Encoding: gzip;q=0.1\r\n")
    assert r.header("content-encoding") is None


def test_vary_only_where_the_choice_depends_on_it(server):
    for path in ("/text/100", "/bytes/5000", "/", "/json"):
        r = ae(server, path, "gzip, br, zstd")
        assert r.header("content-encoding") is None, path
        assert r.header("vary") is None, path
    r = ae(server, "/bytes/5000", "gzip")
    assert r.header("content-type") == "application/octet-stream" and len(r.body) == 5000


def test_head_matches_get(server):
    for value in ("gzip", "br", "zstd", None):
        for path in ("/text/5000", "/text/10"):
            g = ae(server, path, value)
            with server.connect() as s:
                hdr = f"Accept-Encoding: {value}\r\n" if value else ""
                s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n{hdr}\r\n".encode())
                h = Reader(s).response(head_only=True)
                s.settimeout(0.3)
                with pytest.raises(socket.timeout):
                    s.recv(1)                     # no body after the head
            drop = ("date", "x-request-id")
            assert {k: v for k, v in g.headers.items() if k not in drop} == \
                   {k: v for k, v in h.headers.items() if k not in drop}, (path, value)


def test_http10_compressed_body_ends_by_close(server):
    want = pattern(server, 8000)
    with server.connect() as s:
        s.sendall(b"GET /text/8000 HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        r = Reader(s).response()
    assert r.header("content-encoding") == "gzip" and r.header("transfer-encoding") is None
    assert decode("gzip", r.body) == want


def test_pipelined_compressed_responses_stay_in_order(server):
    with server.connect() as s:
        s.sendall(b"".join(f"GET /text/{n} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {e}\r\n\r\n"
                           .encode() for n, e in ((3000, "gzip"), (100, "br"), (70000, "zstd"),
                                                  (2000, "br"))))
        rd = Reader(s)
        got = [rd.response() for _ in range(4)]
    for r, n, e in zip(got, (3000, 100, 70000, 2000), ("gzip", None, "zstd", "br")):
        assert r.header("content-encoding") == e
        body = decode(e, r.body) if e else r.body
        assert len(body) == n


def slow_read_64mib(srv, enc):
    """Read a 64 MiB /text response slowly; returns (body, max RSS seen)."""
    n = 64 << 20
    base = srv.rss_bytes()
    peak = base
    with srv.connect(timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET /text/{n} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {enc}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chunk = s.recv(2048)
            if not chunk:
                break
            data += chunk
            if len(data) % 16 == 0:
                time.sleep(0.001)
            peak = max(peak, srv.rss_bytes())
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Content-Encoding: " + enc.encode() in head
    out, i = b"", 0
    while True:                                    # de-chunk
        j = body.index(b"\r\n", i)
        size = int(body[i:j], 16)
        if size == 0:
            break
        out += body[j + 2:j + 2 + size]
        i = j + 4 + size
    return out, base, peak


@pytest.mark.parametrize("enc", ["gzip", "br", "zstd"])
def test_64mib_stream_decompresses_with_bounded_memory(server, enc):
    period = pattern(server, 64)
    body, base, peak = slow_read_64mib(server, enc)
    plain = decode(enc, body)
    assert len(plain) == 64 << 20
    assert plain == period * (1 << 20)
    # the codec's window and a chunk or two per connection, not 64 MiB
    assert peak - base < 24 << 20, (base, peak)


def test_metrics_count_compressed_responses(server):
    before = server.metrics()
    for enc in ("gzip", "br", "br", "zstd"):
        assert ae(server, "/text/10000", enc).header("content-encoding") == enc
    ae(server, "/text/10000", None)
    m = server.metrics()
    for enc, k in (("gzip", 1), ("br", 2), ("zstd", 1)):
        key = f'vex_compressed_responses_total{{encoding="{enc}"}}'
        assert m[key] - before[key] == k
    assert m["vex_compression_in_bytes_total"] - before["vex_compression_in_bytes_total"] == 40000
    out = m["vex_compression_out_bytes_total"] - before["vex_compression_out_bytes_total"]
    assert 0 < out < 4000


# ---- static files --------------------------------------------------------------

def make_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    text = b"".join(b"line %06d of a compressible static file\n" % i for i in range(2000))
    (root / "a.txt").write_bytes(text)
    (root / "small.txt").write_bytes(text[:500])
    (root / "b.png").write_bytes(bytes(range(256)) * 40)
    (root / "c.json").write_bytes(b'{"k": [' + b",".join(b"%d" % i for i in range(3000)) + b"]}")
    for enc, ext in (("gzip", "gz"), ("br", "br")):
        cmd = {"gzip": ["gzip", "-9", "-c"], "br": ["brotli", "-c"]}[enc]
        (root / f"a.txt.{ext}").write_bytes(
            subprocess.run(cmd, input=text, capture_output=True, check=True).stdout)
    return root, text


def test_static_precompressed_siblings_and_on_the_fly(start_server, tmp_path):
    root, text = make_root(tmp_path)
    srv = start_server("--threads", "1", "--root", str(root))
    gz, br = (root / "a.txt.gz").read_bytes(), (root / "a.txt.br").read_bytes()
    r = ae(srv, "/static/a.txt", "gzip")
    assert r.header("content-encoding") == "gzip" and r.header("vary") == "Accept-Encoding"
    assert r.header("content-length") == str(len(gz)) and r.body == gz      # the sibling itself
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert decode("gzip", r.body) == text
    r = ae(srv, "/static/a.txt", "gzip, br")
    assert r.header("content-encoding") == "br" and r.body == br
    h = ae(srv, "/static/a.txt", "gzip, br", method="HEAD")
    assert h.header("content-length") == str(len(br)) and h.header("content-encoding") == "br"
    # no .zst sibling: compressed on the fly, chunked
    r = ae(srv, "/static/a.txt", "zstd")
    assert r.header("content-encoding") == "zstd" and r.header("content-length") is None
    assert decode("zstd", r.body) == text
    r = ae(srv, "/static/a.txt", None)
    assert r.header("content-encoding") is None and r.body == text
    assert r.header("vary") == "Accept-Encoding"
    r = ae(srv, "/static/c.json", "gzip")
    assert r.header("content-encoding") == "gzip" and decode("gzip", r.body) == (root / "c.json").read_bytes()
    for path in ("/static/small.txt", "/static/b.png"):
        r = ae(srv, path, "gzip, br, zstd")
        assert r.header("content-encoding") is None and r.body == (root / path[8:]).read_bytes()


def test_static_stale_sibling_is_ignored(start_server, tmp_path):
    root, text = make_root(tmp_path)
    st = os.stat(root / "a.txt")
    os.utime(root / "a.txt.gz", ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))
    srv = start_server("--threads", "1", "--root", str(root))
    r = ae(srv, "/static/a.txt", "gzip")
    assert r.header("content-encoding") == "gzip"
    assert r.header("content-length") is None          # compressed now, not the stale file
    assert decode("gzip", r.body) == text
    # a sibling that no longer matches the original would differ:
    (root / "a.txt.br").write_bytes(b"stale")
    os.utime(root / "a.txt.br", ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))
    r = ae(srv, "/static/a.txt", "br")
    assert r.header("content-length") is None and decode("br", r.body) == text


def test_precompressed_off_and_compression_off(start_server, tmp_path):
    root, text = make_root(tmp_path)
    srv = start_server("--threads", "1", "--root", str(root), "--compression-precompressed", "off")
    r = ae(srv, "/static/a.txt", "gzip")
    assert r.header("content-length") is None and decode("gzip", r.body) == text
    srv2 = start_server("--threads", "1", "--root", str(root), "--compression", "off")
    r = ae(srv2, "/static/a.txt", "gzip")
    assert r.header("content-encoding") is None and r.body == text and r.header("vary") is None
    r = ae(srv2, "/text/5000", "gzip")
    assert r.header("content-encoding") is None and r.header("vary") is None


# ---- settings -------------------------------------------------------------------

def test_settings_types_min_size_levels_and_order(start_server):
    srv = start_server("--threads", "1", "--compression-min-size", "0",
                       "--compression-types", "application/octet-stream",
                       "--compression-encodings", "gzip,zstd", "--gzip-level", "1")
    r = ae(srv, "/bytes/10", "*")
    assert r.header("content-encoding") == "gzip"
    assert len(decode("gzip", r.body)) == 10
    assert ae(srv, "/bytes/10", "br").header("content-encoding") is None    # not offered
    assert ae(srv, "/text/5000", "gzip").header("content-encoding") is None  # not listed


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("key,val", [
    ("compression", "maybe"), ("gzip-level", "0"), ("gzip-level", "10"), ("brotli-level", "12"),
    ("zstd-level", "20"), ("compression-min-size", "-1"), ("compression-types", "text"),
    ("compression-types", ""), ("compression-encodings", "gzip,gzip"),
    # a lone * read the octet before the value (ASan/UBSan build: found by fuzz_config)
    ("compression-types", "*"), ("compression-types", "*,text/html"),
    ("compression-encodings", "deflate"), ("compression-precompressed", "2"),
])
def test_bad_values_exit_2_naming_the_key(binary, tmp_path, key, val):
    r = run(binary, "--check-config", f"--{key}", val)
    assert r.returncode == 2 and f"--{key}" in r.stderr, r.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"threads: 1\n{key}: '{val}'\n")
    r = run(binary, "--check-config", "--config", str(cfg))
    assert r.returncode == 2 and f"{cfg}:2: {key}" in r.stderr, r.stderr


def test_reload_changes_compression_settings(start_server, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compression-min-size: 1024\n")
    srv = start_server("--config", str(cfg), "--threads", "2")
    assert ae(srv, "/text/500", "gzip").header("content-encoding") is None
    cfg.write_text("compression-min-size: 100\ncompression-encodings: zstd\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: srv.read_stderr().count("SIGHUP: reloaded") >= 1, timeout=10)
    assert wait_for(lambda: ae(srv, "/text/500", "gzip, zstd").header("content-encoding") == "zstd")
    cfg.write_text("compression: off\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: srv.read_stderr().count("SIGHUP: reloaded") >= 2, timeout=10)
    assert wait_for(lambda: ae(srv, "/text/5000", "gzip").header("content-encoding") is None)


def test_reused_codec_after_a_cut_short_stream_and_a_level_change(start_server, tmp_path):
    """One thread keeps one idle gzip and zstd state and resets it for the next
    response: a stream abandoned half way, then responses back to back, all
    decompress to the original; a reload's new level is used, not the kept
    state's (gzip's XFL octet: 4 at level 1, 2 at level 9)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gzip-level: 1\nzstd-level: 1\n")
    srv = start_server("--config", str(cfg), "--threads", "1")
    for enc in ("gzip", "zstd"):
        with srv.connect() as s:
            s.sendall(f"GET /text/5000000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {enc}\r\n\r\n"
                      .encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    want = pattern(srv, 300000)
    with srv.connect() as s:
        rd = Reader(s)
        for enc in ("gzip", "zstd", "gzip", "zstd", "gzip"):
            s.sendall(f"GET /text/300000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {enc}\r\n\r\n"
                      .encode())
            r = rd.response()
            assert r.status == 200 and r.header("content-encoding") == enc
            assert decode(enc, r.body) == want
            if enc == "gzip":
                assert r.body[8] == 4, r.body[:10]     # level 1
    cfg.write_text("gzip-level: 9\nzstd-level: 19\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: srv.read_stderr().count("SIGHUP: reloaded") >= 1, timeout=10)
    r = ae(srv, "/text/300000", "gzip")
    assert r.body[8] == 2, r.body[:10]                 # level 9
    assert decode("gzip", r.body) == want
    assert decode("zstd", ae(srv, "/text/300000", "zstd").body) == want


# ---- TLS ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    d = str(tmp_path_factory.mktemp("pki"))
    def sh(*cmd):
        assert subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0, cmd
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key",
       "-out", f"{d}/ca.pem", "-days", "2", "-subj", "/CN=vex test CA")
    with open(f"{d}/s.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/s.key", "-out",
       f"{d}/s.csr", "-subj", "/CN=localhost")
    sh("openssl", "x509", "-req", "-in", f"{d}/s.csr", "-CA", f"{d}/ca.pem", "-CAkey",
       f"{d}/ca.key", "-set_serial", "7", "-out", f"{d}/s.pem", "-days", "2", "-extfile", f"{d}/s.ext")
    return d


def test_compression_over_tls(start_server, tmp_path, pki):
    root, text = make_root(tmp_path)
    with socket.socket() as p:
        p.bind(("127.0.0.1", 0))
        port = p.getsockname()[1]
    cfg = tmp_path / "tls.yaml"
    cfg.write_text(f"root: {root}\nlisten:\n  - {{address: 127.0.0.1, port: {port}, tls: true, "
                   f"certificate: {pki}/s.pem, key: {pki}/s.key}}\n")
    srv = start_server("--config", str(cfg), "--threads", "1", listen=False)
    c = ssl.create_default_context(cafile=f"{pki}/ca.pem")

    def get(path, enc):
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        with c.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {enc}\r\n\r\n"
                      .encode())
            return Reader(s).response()

    assert wait_for(lambda: get("/healthz", "gzip").status == 200)
    for enc in TOOLS:
        r = get("/static/a.txt", enc)
        assert r.header("content-encoding") == enc and decode(enc, r.body) == text
        r = get("/text/3000000", enc)
        assert r.header("content-encoding") == enc and len(decode(enc, r.body)) == 3000000
    r = get("/static/a.txt", "identity")
    assert r.body == text and r.header("vary") == "Accept-Encoding"


def test_incompressible_static_stream_respects_backpressure(start_server, tmp_path, monkeypatch):
    """32 MiB of random bytes as text/plain: compressed output is as big as
    the input, so a reader that stops must stop the server's reading too.
    (ASan's quarantine keeps freed memory resident, 17 MiB here: shrink it so
    RSS shows what is live.)"""
    if "ASAN_OPTIONS" in os.environ:
        monkeypatch.setenv("ASAN_OPTIONS", os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=1")
    root = tmp_path / "root"
    root.mkdir()
    data = os.urandom(32 << 20)
    (root / "r.txt").write_bytes(data)
    srv = start_server("--threads", "1", "--root", str(root), "--gzip-level", "1")
    base = srv.rss_bytes()
    with srv.connect(timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /static/r.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                  b"Connection: close\r\n\r\n")
        got = b""
        while len(got) < 1 << 20:
            got += s.recv(65536)
        peak = base
        for _ in range(10):               # the reader stalls for a second
            time.sleep(0.1)
            peak = max(peak, srv.rss_bytes())
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    assert peak - base < 12 << 20, (base, peak)
    head, body = got.split(b"\r\n\r\n", 1)
    assert b"Content-Encoding: gzip" in head
    out, i = [], 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j], 16)
        if size == 0:
            break
        out.append(body[j + 2:j + 2 + size])
        i = j + 4 + size
    assert decode("gzip", b"".join(out)) == data
