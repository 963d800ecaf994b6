"""TLS listeners (issue #11): HTTPS through the same HTTP/1 code on every
backend, with a test CA and certificates made here (no committed keys)."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from server_helpers import Reader, admin_port, free_port, wait_closed, wait_for

pytestmark = pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")),
                                reason="needs openssl and curl")


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def make_cert(d, name, ca, cn, serial):
    key, csr, pem, ext = (os.path.join(d, f"{name}.{e}") for e in ("key", "csr", "pem", "ext"))
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{cn},IP:127.0.0.1\n")
    assert run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
               "-subj", f"/CN={cn}").returncode == 0
    assert run("openssl", "x509", "-req", "-in", csr, "-CA", ca + ".pem", "-CAkey", ca + ".key",
               "-set_serial", str(serial), "-out", pem, "-days", "90",
               "-extfile", ext).returncode == 0
    return pem, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = os.path.join(d, "ca")
    assert run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
               "-out", ca + ".pem", "-days", "90", "-subj", "/CN=vex test CA").returncode == 0
    a = make_cert(d, "a", ca, "localhost", 1001)
    b = make_cert(d, "b", ca, "localhost", 2002)
    return {"dir": d, "ca": ca + ".pem", "a": a, "b": b}




def tls_config(path, pki, cert="a", plain=True, extra=""):
    tp = free_port()
    pp = free_port() if plain else None
    pem, key = pki[cert]
    text = ("listen:\n"
            f"  - {{address: 127.0.0.1, port: {tp}, tls: true, certificate: {pem}, key: {key}}}\n")
    if plain:
        text += f"  - 127.0.0.1:{pp}\n"
    with open(path, "w") as f:
        f.write(text + extra)
    return tp, pp


@pytest.fixture
def tls_server(start_server, pki, tmp_path):
    cfg = str(tmp_path / "tls.yaml")
    tp, pp = tls_config(cfg, pki)
    srv = start_server("--config", cfg, "--threads", "2", listen=False)
    srv.tls_port, srv.plain_port, srv.cfg = tp, pp, cfg
    return srv


def ctx(pki):
    c = ssl.create_default_context(cafile=pki["ca"])
    return c


def read_to_close(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def https_get(pki, port, path="/", c=None):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with (c or ctx(pki)).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            return read_to_close(s), s.getpeercert()


def curl(pki, *args):
    return run("curl", "-sS", "--max-time", "20", "--cacert", pki["ca"], *args)


def test_curl_get_keepalive_echo_bytes_and_plain_side_by_side(tls_server, pki):
    base = f"https://localhost:{tls_server.tls_port}"
    res = ["--resolve", f"localhost:{tls_server.tls_port}:127.0.0.1"]
    r = curl(pki, *res, "-w", "%{http_code} %{http_version} %{num_connects}\n",
             base + "/", base + "/", base + "/", base + "/")
    assert r.returncode == 0, r.stderr
    codes = [ln for ln in r.stdout.splitlines() if ln.endswith(("1", "0"))]
    assert r.stdout.count("200 1.1") == 4
    # keep-alive: one connection for four requests (num_connects 1 then 0 0 0)
    assert re.findall(r"200 1\.1 (\d)", r.stdout) == ["1", "0", "0", "0"], codes
    body = os.urandom(1 << 20)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", pki["ca"], *res,
                        "--data-binary", "@-", base + "/echo"], input=body, capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == body
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", pki["ca"], *res,
                        base + "/bytes/8388608"], capture_output=True, timeout=30)
    assert r.returncode == 0 and len(r.stdout) == 8388608
    r = run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            f"http://127.0.0.1:{tls_server.plain_port}/")
    assert r.stdout == "200"
    # plaintext HTTP to the TLS port is no HTTP answer
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        got = s.recv(100)
        assert not got.startswith(b"HTTP/1.1 200")


def test_pipelined_burst_answers_every_request_in_order(tls_server, pki):
    n = 50
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as raw:
        with ctx(pki).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"".join(f"GET /bytes/{i + 1} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                               for i in range(n)))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_to_close(s)
    assert data.count(b"HTTP/1.1 200") == n + 1
    lens = [int(m) for m in re.findall(rb"[Cc]ontent-[Ll]ength: (\d+)", data)]
    assert lens[:n] == list(range(1, n + 1))


def s_client(port, *args, stdin="", servername="localhost", timeout=10):
    extra = ["-ign_eof"] if stdin else []   # read until the server closes
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                           "-servername", servername, *extra, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_versions_alpn_and_resumption(tls_server, pki):
    port = tls_server.tls_port
    for old in ("-tls1", "-tls1_1"):
        r = s_client(port, old, "-CAfile", pki["ca"])
        assert "Cipher is (NONE)" in r.stdout, (old, r.stdout[-500:])
    for v, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        r = s_client(port, v, "-CAfile", pki["ca"], "-alpn", "h2,http/1.1",
                     stdin="GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert f"New, {name}, Cipher is" in r.stdout, r.stdout[-800:]
        assert "ALPN protocol: http/1.1" in r.stdout
        assert "Verify return code: 0 (ok)" in r.stdout
        assert "HTTP/1.1 200" in r.stdout
    sess = os.path.join(pki["dir"], f"sess-{port}")
    for v in ("-tls1_2", "-tls1_3"):
        req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        r = s_client(port, v, "-sess_out", sess, stdin=req)   # reads to EOF: tickets arrive
        assert "New," in r.stdout
        r = s_client(port, v, "-sess_in", sess, stdin=req)
        assert "Reused," in r.stdout, (v, r.stdout[-800:])
    m = run("curl", "-s", f"http://127.0.0.1:{tls_server.plain_port}/metrics").stdout
    got = {k: int(v) for k, v in re.findall(r"^(vex_tls_\w+) (\d+)$", m, re.M)}
    assert got.get("vex_tls_handshakes_total", 0) >= 6
    assert got.get("vex_tls_resumed_total", 0) >= 2
    assert got.get("vex_tls_handshake_failures_total", 0) >= 2


def test_garbage_and_mid_handshake_close_and_silent_client(start_server, pki, tmp_path):
    cfg = str(tmp_path / "t.yaml")
    tp, _ = tls_config(cfg, pki, plain=False, extra="header-timeout: 1\n")
    srv = start_server("--config", cfg, "--threads", "1", listen=False)
    # garbage instead of a ClientHello: the connection is closed
    with socket.create_connection(("127.0.0.1", tp), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello garbage " * 20)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    # half a ClientHello, then gone
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40)
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", tp), timeout=5) as s:
            s.sendall(hello)
    # a client that never speaks is closed by the header timeout
    with socket.create_connection(("127.0.0.1", tp), timeout=10) as s:
        t0 = time.monotonic()
        s.settimeout(10)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 8
    data, _ = https_get(pki, tp)
    assert data.startswith(b"HTTP/1.1 200")
    assert srv.alive()


def test_static_file_over_tls(start_server, pki, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    blob = os.urandom(3 * 1024 * 1024 + 17)
    (root / "blob.bin").write_bytes(blob)
    cfg = str(tmp_path / "s.yaml")
    tp, _ = tls_config(cfg, pki, plain=False)
    start_server("--config", cfg, "--root", str(root), "--threads", "1", listen=False)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", pki["ca"], "--resolve",
                        f"localhost:{tp}:127.0.0.1", f"https://localhost:{tp}/static/blob.bin"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob


@pytest.mark.parametrize("bad,want", [
    ("key", "listen.key: cannot load key"),
    ("missing", "listen.certificate: cannot load certificate"),
    ("nokey", "listen.tls: a TLS listener needs certificate and key"),
])
def test_check_config_loads_certificates(binary, pki, tmp_path, bad, want):
    pem, key = pki["a"]
    if bad == "key":
        key = pki["b"][1]
    if bad == "missing":
        pem = str(tmp_path / "nope.pem")
    entry = f"address: 127.0.0.1\n    port: 1\n    tls: true\n    certificate: {pem}\n"
    if bad != "nokey":
        entry += f"    key: {key}\n"
    path = tmp_path / "bad.yaml"
    path.write_text("listen:\n  - " + entry)
    r = run(binary, "--config", str(path), "--check-config")
    assert r.returncode == 2, r
    assert want in r.stderr and str(path) + ":" in r.stderr, r.stderr
    good = tmp_path / "good.yaml"
    good.write_text(f"listen:\n  - {{address: 127.0.0.1, port: 1, tls: true, "
                    f"certificate: {pki['a'][0]}, key: {pki['a'][1]}}}\n")
    assert run(binary, "--config", str(good), "--check-config").returncode == 0


def test_reload_swaps_certificate_with_no_failed_request(tls_server, pki):
    port = tls_server.tls_port
    _, cert = https_get(pki, port)
    assert cert["serialNumber"] == "03E9"          # 1001
    failures, ok, stop = [], [0], threading.Event()

    def loop():
        c = ctx(pki)
        while not stop.is_set():
            try:
                data, _ = https_get(pki, port, c=c)
                assert data.startswith(b"HTTP/1.1 200"), data[:80]
                ok[0] += 1
            except Exception as e:   # noqa: BLE001 — every failure counts
                failures.append(repr(e))

    th = threading.Thread(target=loop)
    th.start()
    try:
        time.sleep(0.3)
        with open(tls_server.cfg) as f:
            text = f.read()
        with open(tls_server.cfg, "w") as f:
            f.write(text.replace(pki["a"][0], pki["b"][0]).replace(pki["a"][1], pki["b"][1]))
        tls_server.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "SIGHUP: reloaded" in tls_server.read_stderr(), timeout=10)
        assert wait_for(lambda: https_get(pki, port)[1]["serialNumber"] == "07D2", timeout=10)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    assert failures == [] and ok[0] > 5


def test_sni_picks_the_certificate(start_server, binary, pki, tmp_path):
    d = pki["dir"]
    other = make_cert(d, "other", os.path.join(d, "ca"), "other.test", 3003)
    wild = make_cert(d, "wild", os.path.join(d, "ca"), "*.wild.test", 4004)
    tp = free_port()
    cfg = tmp_path / "sni.yaml"
    cfg.write_text(f"""listen:
  - address: 127.0.0.1
    port: {tp}
    tls: true
    certificate: {pki['a'][0]}
    key: {pki['a'][1]}
    sni:
      - {{names: [other.test, other2.test], certificate: {other[0]}, key: {other[1]}}}
      - {{names: ["*.wild.test"], certificate: {wild[0]}, key: {wild[1]}}}
""")
    start_server("--config", str(cfg), "--threads", "1", listen=False)
    req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for name, cn in (("other.test", "other.test"), ("OTHER2.test", "other.test"),
                     ("a.wild.test", "*.wild.test"), ("unknown.test", "localhost"),
                     ("wild.test", "localhost")):
        r = s_client(tp, "-CAfile", pki["ca"], servername=name, stdin=req)
        assert f"subject=CN = {cn}" in r.stdout, (name, r.stdout[:600])
        assert "HTTP/1.1 200" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace(wild[1], other[1]))
    r = run(binary, "--config", str(bad), "--check-config")
    assert r.returncode == 2 and ":9: listen.sni.key: cannot load key" in r.stderr, r.stderr


def test_open_connection_survives_reload_and_bad_certificate_keeps_old(tls_server, pki):
    port = tls_server.tls_port
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx(pki).wrap_socket(raw, server_hostname="localhost")
    req = b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n"

    def one():
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        while len(body) < 5:
            body += s.recv(4096)
        return head

    assert one().startswith(b"HTTP/1.1 200")
    with open(tls_server.cfg) as f:
        text = f.read()
    with open(tls_server.cfg, "w") as f:
        f.write(text.replace(pki["a"][1], pki["b"][1]))        # key of another certificate
    tls_server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reload failed" in tls_server.read_stderr(), timeout=10)
    assert https_get(pki, port)[1]["serialNumber"] == "03E9"   # the old one still serves
    with open(tls_server.cfg, "w") as f:
        f.write(text.replace(pki["a"][0], pki["b"][0]).replace(pki["a"][1], pki["b"][1]))
    tls_server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reloaded" in tls_server.read_stderr(), timeout=10)
    assert wait_for(lambda: https_get(pki, port)[1]["serialNumber"] == "07D2", timeout=10)
    assert one().startswith(b"HTTP/1.1 200")                    # the old connection lives on
    assert s.getpeercert()["serialNumber"] == "03E9"
    s.close()


def test_tls_clients_wait_at_the_connection_limit_and_are_served(start_server, pki, tmp_path):
    """At --max-clients a TLS client waits, unread, like a plain one (README: the
    waiting queue), and is handshaken and answered once a slot frees; a
    certificate rotated meanwhile does not strand it."""
    cfg = str(tmp_path / "tls.yaml")
    tp, _ = tls_config(cfg, pki, plain=False, extra="max-clients: 2\n")
    srv = start_server("--config", cfg, "--threads", "1", "--admin-port", "0", listen=False)
    aport = admin_port(srv)

    def waiting_now():
        with socket.create_connection(("127.0.0.1", aport), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            m = re.search(rb"^vex_connections_waiting (\d+)", Reader(s).response().body, re.M)
            return int(m.group(1))

    c = ctx(pki)
    held = []
    for _ in range(2):                       # the two slots, kept busy
        raw = socket.create_connection(("127.0.0.1", tp), timeout=10)
        s = c.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        held.append(s)
    results = []

    def waiting_client(i):
        try:
            results.append(https_get(pki, tp, f"/bytes/{i + 1}")[0])
        except OSError as e:
            results.append(repr(e).encode())

    waiters = [threading.Thread(target=waiting_client, args=(i,)) for i in range(3)]
    for t in waiters:
        t.start()
    # At the limit the listener pauses: the three wait in the kernel's backlog or,
    # accepted over the limit (io_uring's multishot accept), in the server's queue.
    time.sleep(1)
    assert not results                       # nobody was answered or refused
    with open(cfg) as f:                     # a reload: the same listener, a new certificate
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace(pki["a"][0], pki["b"][0]).replace(pki["a"][1], pki["b"][1]))
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reloaded" in srv.read_stderr() or
                    "SIGHUP: reload failed" in srv.read_stderr(), timeout=10)
    for s in held:
        s.close()
    for t in waiters:
        t.join(timeout=20)
    assert len(results) == 3 and all(r.startswith(b"HTTP/1.1 200") for r in results), results
    bodies = sorted(len(r.split(b"\r\n\r\n", 1)[1]) for r in results)
    assert bodies == [1, 2, 3], bodies
    assert waiting_now() == 0


# The findings a scan makes of any test certificate, not of the server: no CRL or
# OCSP address in a certificate made by `openssl x509` in a test.
CERT_ONLY_FINDINGS = {"cert_revocation"}


@pytest.mark.skipif(os.environ.get("VEX_TEST_TESTSSL") != "1",
                    reason="testssl.sh scan takes about 90 s per backend: make test-testssl")
@pytest.mark.skipif(not shutil.which("testssl"), reason="testssl.sh not installed (make deps)")
def test_testssl_finds_nothing_high_or_critical(start_server, pki, tmp_path):
    """testssl.sh (Debian's 3.0) against a TLS listener with the default settings,
    the test CA added as trusted: its JSON has no HIGH or CRITICAL finding but
    those about the certificate the test made."""
    cfg = str(tmp_path / "tls.yaml")
    tp, _ = tls_config(cfg, pki, plain=False)
    start_server("--config", cfg, "--threads", "2", listen=False)
    out = tmp_path / "testssl.json"
    r = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "batch",
                        "--add-ca", pki["ca"], "--jsonfile", str(out), f"127.0.0.1:{tp}"],
                       capture_output=True, text=True, timeout=400)
    assert out.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    findings = json.loads(out.read_text())
    assert len(findings) > 100, findings                  # a whole scan ran
    bad = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL")
           and f["id"] not in CERT_ONLY_FINDINGS]
    assert not bad, bad
    by_id = {f["id"]: f for f in findings}
    # what the README promises: 1.2 and 1.3 only, ALPN http/1.1
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[old]["finding"].startswith("not offered"), by_id[old]
    assert by_id["TLS1_2"]["finding"].startswith("offered"), by_id["TLS1_2"]
    assert by_id["TLS1_3"]["finding"].startswith("offered"), by_id["TLS1_3"]
    assert by_id["ALPN"]["finding"] == "http/1.1", by_id["ALPN"]


# ---- redirect-https: a plain listener that sends every request to HTTPS ----------

def redirect_server(start_server, pki, tmp_path, to=None):
    cfg = str(tmp_path / "redir.yaml")
    tp, _ = tls_config(cfg, pki, plain=False)
    pp = free_port()
    with open(cfg, "a") as f:
        f.write(f"  - {{address: 127.0.0.1, port: {pp}, redirect-https: {to or tp}}}\n")
    srv = start_server("--config", cfg, "--threads", "2", listen=False)
    return srv, tp, pp


def plain_exchange(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        rd = Reader(s)
        return rd.response(), rd, s.recv


def test_redirect_https_sends_every_request_to_the_same_target(start_server, pki, tmp_path):
    srv, tp, pp = redirect_server(start_server, pki, tmp_path)
    cases = [
        (b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % pp, 301,
         f"https://localhost:{tp}/a/b?x=1&y=2"),
        (b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n", 301, f"https://localhost:{tp}/"),
        (b"GET http://localhost:%d/abs HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (pp, pp), 301,
         f"https://localhost:{tp}/abs"),
        (b"GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 301, f"https://[::1]:{tp}/v6"),
        (b"DELETE /x HTTP/1.1\r\nHost: localhost\r\n\r\n", 308, f"https://localhost:{tp}/x"),
    ]
    for raw, status, loc in cases:
        r, _, _ = plain_exchange(pp, raw)
        assert (r.status, r.header("location")) == (status, loc), raw
        assert r.header("content-length") == "0"
    # a POST keeps its method (308); its body is never parsed as a request: the
    # connection closes after the answer
    with socket.create_connection(("127.0.0.1", pp), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
                  b"GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n")
        rd = Reader(s)
        r1 = rd.response()
        assert r1.status == 308 and r1.header("connection") == "close"
        assert wait_closed(s)
    # keep-alive otherwise: two requests on one connection
    with socket.create_connection(("127.0.0.1", pp), timeout=5) as s:
        s.sendall(b"GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        rd = Reader(s)
        assert [rd.response().header("location") for _ in range(2)] == \
            [f"https://localhost:{tp}/1", f"https://localhost:{tp}/2"]
    # no host to send the client to: 400
    for host in (b"", b"Host: a/b\r\n", b"Host: [::1\r\n", b"Host: x:8a\r\n"):
        raw = b"GET / HTTP/1.0\r\n" + host + b"\r\n"
        r, _, _ = plain_exchange(pp, raw)
        assert r.status == 400, host
    # curl follows it to the TLS listener
    r = curl(pki, "--resolve", f"localhost:{tp}:127.0.0.1", "--resolve",
             f"localhost:{pp}:127.0.0.1", "-L", "-w", "\n%{http_code} %{num_redirects}",
             f"http://localhost:{pp}/json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("200 1") and '"message":"Hello, World!"' in r.stdout, r.stdout


def test_redirect_https_to_443_names_no_port(start_server, pki, tmp_path):
    srv, tp, pp = redirect_server(start_server, pki, tmp_path, to=443)
    r, _, _ = plain_exchange(pp, b"GET /p HTTP/1.1\r\nHost: example.test:80\r\n\r\n")
    assert (r.status, r.header("location")) == (301, "https://example.test/p")


@pytest.mark.parametrize("entry,why", [
    ("{address: 127.0.0.1, port: 1, redirect-https: 0}", "listen.redirect-https"),
    ("{address: 127.0.0.1, port: 1, redirect-https: 70000}", "listen.redirect-https"),
    ("{address: 127.0.0.1, port: 1, redirect-https: https}", "listen.redirect-https"),
])
def test_redirect_https_bad_values(binary, tmp_path, entry, why):
    path = tmp_path / "c.yaml"
    path.write_text(f"listen:\n  - {entry}\n")
    r = run(binary, "--config", str(path), "--check-config")
    assert r.returncode == 2 and f"c.yaml:2: {why}" in r.stderr, r.stderr


def test_redirect_https_not_on_a_tls_listener(binary, pki, tmp_path):
    path = tmp_path / "c.yaml"
    pem, key = pki["a"]
    path.write_text("listen:\n  - {address: 127.0.0.1, port: 1, tls: true, "
                    f"certificate: {pem}, key: {key}, redirect-https: 443}}\n")
    r = run(binary, "--config", str(path), "--check-config")
    assert r.returncode == 2 and "listen.redirect-https" in r.stderr, r.stderr
