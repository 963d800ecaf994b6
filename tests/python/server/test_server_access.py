"""Access control (issue #12): allow/deny CIDR lists (first match wins),
HTTP Basic against a crypt(3) password file with a cache of verified
credentials, Bearer tokens stored as SHA-256 digests, authorization per
route prefix by user/token and method, the failed-authentication limit,
SIGHUP reload of the rules, and --check-config errors naming the key."""
import base64
import ctypes
import ctypes.util
import hashlib
import signal
import socket
import subprocess

import pytest

from server_helpers import Reader, Server, free_port, wait_for

TOKEN = "s3cret-token-for-ci"
TOKEN_SHA = hashlib.sha256(TOKEN.encode()).hexdigest()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def sha512_crypt(pw):
    return subprocess.run(["openssl", "passwd", "-6", pw], capture_output=True, text=True,
                          check=True).stdout.strip()


def yescrypt(pw):
    """A $y$ hash through libcrypt itself (mkpasswd is in whois, often absent)."""
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        pytest.skip(f"libcrypt not loadable for a yescrypt hash: {e}")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt.restype = ctypes.c_char_p
    setting = lib.crypt_gensalt(b"$y$", 0, None, 0)
    if not setting:
        pytest.skip("this libcrypt has no yescrypt")
    return lib.crypt(pw.encode(), setting).decode()


def basic(user, pw):
    return "Authorization: Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode() + "\r\n"


def bearer(tok):
    return f"Authorization: Bearer {tok}\r\n"


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=20)


def reloaded(srv, n, what="reloaded"):
    return wait_for(lambda: srv.read_stderr().count(f"SIGHUP: {what}") >= n, timeout=10)


ROUTES = "".join(f"  - path: /{p}\n    body: {p.upper()}\n" for p in "abcdef")


def metric(srv, name, headers=""):
    resp = srv.get("/metrics", headers=headers)
    assert resp.status == 200
    for line in resp.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def decision(srv, d, headers=""):
    return metric(srv, f'vex_access_decisions_total{{decision="{d}"}}', headers)


# ---- allow/deny --------------------------------------------------------------

def test_allow_deny_first_match_wins(start_server, tmp_path):
    path = write(tmp_path / "c.yaml", "routes:\n" + ROUTES + """access:
  - path: /a
    rules: [allow 127.0.0.1/32, deny all]
  - path: /b
    rules: [deny 127.0.0.0/8, allow all]
  - path: /c
    rules: [deny 10.0.0.0/8, deny ::1/128, allow ::ffff:127.0.0.0/104, deny all]
  - path: /d
    rules: [allow 10.0.0.0/8]
  - path: /e
    rules: [deny 0.0.0.0/0]
  - path: /f
    rules: [allow 127.0.0.2, deny 127.0.0.1, allow all]
""")
    srv = start_server("--config", path)
    want = {"/a": 200, "/b": 403, "/c": 200, "/d": 200, "/e": 403, "/f": 403}
    for p, st in want.items():
        r = srv.get(p)
        assert r.status == st, p
        if st == 200:
            assert r.body == p[1:].upper().encode()
    assert srv.get("/").status == 200              # no rule matches: not counted
    assert decision(srv, "allowed") == 3
    assert decision(srv, "denied") == 3


def test_rules_see_the_forwarded_client_behind_a_trusted_proxy(start_server, tmp_path):
    """With trusted-proxies, the rules judge the X-Forwarded-For client, not the
    proxy; an untrusted peer's header changes nothing."""
    path = write(tmp_path / "c.yaml", "routes:\n" + ROUTES + """trusted-proxies: [127.0.0.1]
access:
  - path: /a
    rules: [allow 10.0.0.0/8, deny all]
""")
    srv = start_server("--config", path)
    assert srv.get("/a", headers="X-Forwarded-For: 10.1.2.3\r\n").status == 200
    assert srv.get("/a", headers="X-Forwarded-For: 11.1.2.3\r\n").status == 403
    assert srv.get("/a").status == 403             # the proxy itself is not in 10/8
    path2 = write(tmp_path / "d.yaml", "routes:\n" + ROUTES + """trusted-proxies: [192.0.2.1]
access:
  - path: /a
    rules: [allow 10.0.0.0/8, deny all]
""")
    srv2 = start_server("--config", path2)
    assert srv2.get("/a", headers="X-Forwarded-For: 10.1.2.3\r\n").status == 403




def test_ipv6_and_ipv4_loopback_see_their_own_rules(binary, tmp_path):
    try:
        p6 = free_port(socket.AF_INET6, "::1")
    except OSError as e:
        pytest.skip(f"no IPv6 loopback: {e}")
    p4 = free_port(socket.AF_INET, "127.0.0.1")
    path = write(tmp_path / "c.yaml", f"""listen:
  - 127.0.0.1:{p4}
  - {{address: "::1", port: {p6}, ipv6-only: true}}
routes:
{ROUTES}access:
  - path: /a
    rules: [deny ::1, allow all]
  - path: /b
    rules: [allow ::/0, deny all]
""")
    srv = Server(binary, ["--config", path], listen=False)
    try:
        def get(host, fam, port, p):
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect((host, port))
                s.sendall(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                return Reader(s).response().status
        assert get("127.0.0.1", socket.AF_INET, p4, "/a") == 200
        assert get("::1", socket.AF_INET6, p6, "/a") == 403
        # ::/0 is IPv6 only: v4-mapped addresses are inside it too, since
        # IPv4 is held as ::ffff:a.b.c.d, so both are allowed
        assert get("::1", socket.AF_INET6, p6, "/b") == 200
        assert get("127.0.0.1", socket.AF_INET, p4, "/b") == 200
    finally:
        assert srv.stop() == 0


def test_listener_deny_closes_at_accept(binary, tmp_path):
    p1, p2 = free_port(socket.AF_INET, "127.0.0.1"), free_port(socket.AF_INET, "127.0.0.1")
    path = write(tmp_path / "c.yaml", f"""listen:
  - {{address: 127.0.0.1, port: {p1}, access: [allow 10.0.0.0/8, deny 127.0.0.1, allow all]}}
  - {{address: 127.0.0.1, port: {p2}, access: [allow 127.0.0.0/8, deny all]}}
""")
    srv = Server(binary, ["--config", path], listen=False)
    try:
        with socket.create_connection(("127.0.0.1", p1), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            assert data == b""                     # closed unread, no response
        with socket.create_connection(("127.0.0.1", p2), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            r = Reader(s).response()
            assert r.status == 200
            assert "vex_access_connections_refused_total 1\n" in r.body.decode()
    finally:
        assert srv.stop() == 0


# ---- Basic ---------------------------------------------------------------------

def basic_server(start_server, tmp_path, extra="", users=None):
    users = users or {"alice": sha512_crypt("wonderland"), "bob": sha512_crypt("builder")}
    pw = write(tmp_path / "htpasswd", "".join(f"{u}:{h}\n" for u, h in users.items()))
    path = write(tmp_path / "c.yaml", "routes:\n" + ROUTES + f"""auth:
  realm: test area
  password-file: {pw}
{extra}access:
  - path: /a
    auth: basic
  - path: /b
    auth: basic
    users: [alice]
    methods: [GET]
""")
    return start_server("--config", path), path


def test_basic_missing_wrong_right(start_server, tmp_path):
    srv, _ = basic_server(start_server, tmp_path)
    r = srv.get("/a")
    assert r.status == 401
    assert r.header("www-authenticate") == 'Basic realm="test area", charset="UTF-8"'
    r = srv.get("/a", basic("alice", "wrong"))
    assert r.status == 401 and r.header("www-authenticate").startswith("Basic ")
    assert srv.get("/a", basic("nobody", "wonderland")).status == 401
    assert srv.get("/a", "Authorization: Basic !!!notbase64\r\n").status == 401
    r = srv.get("/a", basic("alice", "wonderland"))
    assert r.status == 200 and r.body == b"A"
    assert srv.get("/a", basic("bob", "builder")).status == 200
    assert decision(srv, "unauthenticated") == 1
    assert decision(srv, "auth_failed") == 3
    assert metric(srv, "vex_auth_failures_total") == 3
    assert decision(srv, "allowed") == 2
    # the event log is written by its own thread: wait for the line
    assert wait_for(lambda: "access: basic authentication failed client=127.0.0.1 user=alice "
                            "path=/a" in srv.read_stderr())


def test_yescrypt_hash(start_server, tmp_path):
    srv, _ = basic_server(start_server, tmp_path, users={"yes": yescrypt("crypt!")})
    assert srv.get("/a", basic("yes", "crypt!")).status == 200
    assert srv.get("/a", basic("yes", "crypt?")).status == 401


def test_authorization_by_user_and_method(start_server, tmp_path):
    srv, _ = basic_server(start_server, tmp_path)
    assert srv.get("/b", basic("alice", "wonderland")).status == 200
    assert srv.get("/b", basic("bob", "builder")).status == 403        # wrong user
    assert srv.get("/b", basic("alice", "wonderland"), method="DELETE").status == 403
    assert srv.get("/b", basic("alice", "nope")).status == 401         # authn first
    assert decision(srv, "forbidden") == 2


def test_cache_hits_on_keep_alive(start_server, tmp_path):
    srv, _ = basic_server(start_server, tmp_path)
    with srv.connect() as s:
        rd = Reader(s)
        for _ in range(5):
            s.sendall(f"GET /a HTTP/1.1\r\nHost: t\r\n{basic('alice', 'wonderland')}\r\n".encode())
            r = rd.response()
            assert r.status == 200 and r.body == b"A"
    assert metric(srv, 'vex_auth_basic_checks_total{result="hashed"}') == 1
    assert metric(srv, 'vex_auth_basic_checks_total{result="cached"}') == 4
    # a wrong password is never answered from the cache
    assert srv.get("/a", basic("alice", "wonderlanD")).status == 401


def test_failed_authentications_are_limited(start_server, tmp_path):
    srv, _ = basic_server(start_server, tmp_path, "  failure-limit: 3\n  failure-window: 60\n")
    for _ in range(3):
        assert srv.get("/a", basic("alice", "guess")).status == 401
    r = srv.get("/a", basic("alice", "wonderland"))   # right, but over the limit
    assert r.status == 429 and r.header("retry-after") == "60"
    assert srv.get("/a").status == 401                # no credentials: still a challenge
    assert decision(srv, "throttled") == 1
    assert decision(srv, "auth_failed") == 3


# ---- Bearer ------------------------------------------------------------------------

def test_bearer_tokens_and_restricted_metrics(start_server, tmp_path):
    path = write(tmp_path / "c.yaml", "routes:\n" + ROUTES + f"""auth:
  realm: api
  tokens:
    - name: ci
      sha256: {TOKEN_SHA}
    - name: other
      sha256: {hashlib.sha256(b"other").hexdigest().upper()}
access:
  - path: /metrics
    auth: bearer
    users: [ci]
  - path: /a
    auth: bearer
""")
    srv = start_server("--config", path)
    r = srv.get("/a")
    assert r.status == 401 and r.header("www-authenticate") == 'Bearer realm="api"'
    assert srv.get("/a", bearer(TOKEN + "x")).status == 401
    assert srv.get("/a", bearer(TOKEN_SHA)).status == 401   # the digest is not the token
    assert srv.get("/a", bearer(TOKEN)).status == 200
    assert srv.get("/a", bearer("other")).status == 200
    assert srv.get("/metrics").status == 401
    assert srv.get("/metrics", bearer("other")).status == 403
    assert decision(srv, "auth_failed", bearer(TOKEN)) == 2
    assert wait_for(lambda: "access: bearer token rejected client=127.0.0.1" in srv.read_stderr())


# ---- reload ---------------------------------------------------------------------------

def test_reload_changes_rules_and_a_broken_file_keeps_them(start_server, tmp_path):
    body = "routes:\n" + ROUTES + "access:\n  - path: /a\n    rules: [%s]\n"
    path = write(tmp_path / "c.yaml", body % "deny all")
    srv = start_server("--config", path, "--threads", "2")
    assert srv.get("/a").status == 403
    write(path, body % "allow 127.0.0.1, deny all")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1)
    assert wait_for(lambda: srv.get("/a").status == 200)
    write(path, body % "deny 127.0.0.1/8")             # host bits: an error
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1, "reload failed")
    assert f"{path}:16: access.rules: invalid entry 'deny 127.0.0.1/8'" in srv.read_stderr()
    for _ in range(10):
        assert srv.get("/a").status == 200


def test_reload_rereads_the_password_file(start_server, tmp_path):
    srv, path = basic_server(start_server, tmp_path)
    assert srv.get("/a", basic("alice", "wonderland")).status == 200   # now cached
    write(tmp_path / "htpasswd", f"alice:{sha512_crypt('changed')}\n")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1)
    assert wait_for(lambda: srv.get("/a", basic("alice", "wonderland")).status == 401)
    assert srv.get("/a", basic("alice", "changed")).status == 200
    assert srv.get("/a", basic("bob", "builder")).status == 401


# ---- --check-config -----------------------------------------------------------------

@pytest.mark.parametrize("text,where", [
    ("access:\n  - path: /a\n    rules: [allow 10.0.0.0/33]\n", ":3: access.rules: invalid entry"),
    ("access:\n  - path: /a\n    rules: [permit all]\n", ":3: access.rules: invalid entry"),
    ("access:\n  - path: a\n", ":2: access.path: invalid value"),
    ("access:\n  - path: /a\n    methods: [GETT]\n", ":3: access.methods: invalid method 'GETT'"),
    ("access:\n  - path: /a\n    auth: digest\n", ":3: access.auth: invalid value 'digest'"),
    ("access:\n  - path: /a\n    colour: red\n", ":3: colour: unknown key in an access rule"),
    ("access:\n  - path: /a\n    users: [x]\n", ":2: access.users: users need auth"),
    ("auth:\n  tokens:\n    - name: t\n      sha256: abc\n", ":4: auth.tokens.sha256: invalid value"),
    ("auth:\n  tokens:\n    - name: t\n      sha256: " + "g" * 64 + "\n",
     ":4: auth.tokens.sha256: invalid value"),
    ("auth:\n  password-file: /nonexistent/pw\n", ":2: auth.password-file: cannot read"),
    ("listen:\n  - {port: 0, access: [deny 1.2.3.4/40]}\n", ":2: listen.access: invalid entry"),
    ("auth:\n  failure-limit: lots\n", ":2: auth.failure-limit: invalid value 'lots'"),
    ("auth:\n  realm: 'a\"b'\n", ":2: auth.realm: invalid value"),
    ("access:\n  - path: /a\n    auth: basic\n", ":2: auth: basic needs auth.password-file"),
    ("access:\n  - path: /a\n    auth: bearer\n", ":2: auth: bearer needs auth.tokens"),
])
def test_bad_values_exit_2_naming_the_key(binary, tmp_path, text, where):
    path = write(tmp_path / "c.yaml", text)
    r = run(binary, "--config", path, "--check-config")
    assert r.returncode == 2, r
    assert path + where in r.stderr, r.stderr


def test_password_file_errors_name_the_line(binary, tmp_path):
    pw = write(tmp_path / "pw", f"# users\nalice:{sha512_crypt('x')}\nbob:plaintext\n")
    path = write(tmp_path / "c.yaml", f"auth:\n  password-file: {pw}\n")
    r = run(binary, "--config", path, "--check-config")
    assert r.returncode == 2
    assert f"{path}:2: auth.password-file: password file '{pw}' line 3: unrecognised hash " \
           "for 'bob'" in r.stderr
    write(pw, f"alice:{sha512_crypt('x')}\nalice:{yescrypt('y')}\n")
    r = run(binary, "--config", path, "--check-config")
    assert r.returncode == 2 and "line 2: user listed twice" in r.stderr
    write(pw, f"alice:{sha512_crypt('x')}\nbob:{yescrypt('y')}\n")
    r = run(binary, "--config", path, "--check-config")
    assert r.returncode == 0, r.stderr


def test_admin_listener_and_auth_any(start_server, tmp_path):
    pw = write(tmp_path / "htpasswd", f"alice:{sha512_crypt('wonderland')}\n")
    path = write(tmp_path / "c.yaml", f"""auth:
  password-file: {pw}
  tokens:
    - name: ci
      sha256: {TOKEN_SHA}
access:
  - path: /metrics
    auth: any
  - path: /healthz
    rules: [deny all]
""")
    admin = free_port(socket.AF_INET, "127.0.0.1")
    srv = start_server("--config", path, "--admin-port", str(admin))

    def get(port, p, hdr=""):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"GET {p} HTTP/1.1\r\nHost: t\r\n{hdr}\r\n".encode())
            return Reader(s).response()
    r = get(admin, "/metrics")
    assert r.status == 401
    assert r.headers["www-authenticate"] == ['Basic realm="vex_net", charset="UTF-8"',
                                             'Bearer realm="vex_net"']
    assert get(admin, "/metrics", basic("alice", "wonderland")).status == 200
    assert get(admin, "/metrics", bearer(TOKEN)).status == 200
    assert get(admin, "/metrics", bearer("nope")).status == 401
    assert get(admin, "/healthz").status == 403
    assert get(srv.port, "/healthz").status == 403
    assert get(admin, "/readyz").status == 200
