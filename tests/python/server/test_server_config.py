"""The --config file, --check-config, several listeners, and SIGHUP reload
(issue #10): errors name file, line and key; a broken reload keeps the old
configuration serving; a good one changes limits, routes and listeners live
with no request failed and no connection refused."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from server_helpers import Reader, free_port, wait_for

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(REPO, "conf", "production_server.yaml")


def run(binary, *args, timeout=10):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)


def write(path, text):
    with open(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    return str(path)




def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def reloaded(srv, n, what="reloaded"):
    """Wait until the n-th SIGHUP result line (of kind what) is on stderr."""
    return wait_for(lambda: srv.read_stderr().count(f"SIGHUP: {what}") >= n, timeout=10)


def get(port, path, host="127.0.0.1", family=socket.AF_INET, raw=None):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(raw or f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return Reader(s).response()


# ---- --check-config and errors ----------------------------------------------

def test_example_file_is_valid(binary):
    r = run(binary, "--config", EXAMPLE, "--check-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"production_server: configuration file {EXAMPLE} is valid\n"
    assert r.stderr == ""


def test_check_config_without_file_checks_the_flags(binary):
    assert run(binary, "--check-config", "--threads", "2").returncode == 0
    r = run(binary, "--check-config", "--threads", "0")
    assert r.returncode == 2
    assert "invalid value for --threads: '0' (1-1024)" in r.stderr


BAD_FILES = [
    ("threads: 2\nmax-clients: 10k\n", ":2: max-clients: invalid value '10k' (1-10000000)"),
    ("threads: 2\n\nmax-clint: 5\n", ":3: max-clint: unknown key"),
    ("idle-timeout: [1, 2]\n", ":1: idle-timeout: expects a single value"),
    ("header-timeout: -1\n", ":1: header-timeout: invalid value '-1' (seconds, 0.001-86400)"),
    ("threads: 2\nthreads: 3\n", ":2: threads: given twice (first at line 1)"),
    # An error at the end of the input names the last line, not one past it
    # (libyaml's mark is there); a reader error names its own line.
    ("threads: [2\n", ":1: did not find expected ',' or ']'"),
    ("threads: 2\nbacklog: [2", ":2: did not find expected ',' or ']'"),
    ("---\n#", ":2: the file must be a mapping"),
    (b"threads: 2\nroutes:\n  - path: /\xff\n", ":3: invalid leading UTF-8 octet"),
    ("limits:\n  - name: ''\n    rate: 1r/s\n", ":2: limits.name: invalid value ''"),
    ("limits:\n  - name: &a\n    rate: 1r/s\n", ":2: limits.name: invalid value ''"),
    ("- a\n- b\n", ":1: the file must be a mapping"),
    ("listen:\n  - 127.0.0.1:80800\n", ":2: listen: invalid listener '127.0.0.1:80800'"),
    ("listen:\n  - address: 300.1.1.1\n    port: 80\n",
     ":2: listen.address: invalid value '300.1.1.1'"),
    ("listen:\n  - address: 127.0.0.1\n", ":2: listen: a listener needs a port"),
    ("listen:\n  - address: 127.0.0.1\n    port: 80\n    ipv6-only: true\n",
     ":2: listen.ipv6-only: only for an IPv6 address"),
    ("listen:\n  - 127.0.0.1:8080\n  - 127.0.0.1:8080\n",
     ":3: listen: 127.0.0.1 port 8080 is listed twice"),
    ("listen: [127.0.0.1:1]\nport: 5\n",
     ":2: port: use either listen or host/port, not both (listen at line 1)"),
    ("host: 127.0.0.1\nthreads: 1\nport: 5\nlisten: [127.0.0.1:1]\n",
     ":4: listen: use either listen or host/port, not both (host at line 1)"),
    ("routes:\n  - path: /x\n    status: 301\n", ":2: routes.location: a 301 redirect needs a location"),
    ("routes:\n  - path: x\n", ":2: routes.path: invalid value 'x' (an absolute path)"),
    ("routes:\n  - path: /x\n    status: 204\n", ":2: routes.status: 204 is not supported"),
    ("routes:\n  - path: /x\n    colour: red\n", ":3: colour: unknown key in a route"),
    ("root: /nonexistent/dir\n", "root: cannot open '/nonexistent/dir' as a directory"),
]


@pytest.mark.parametrize("text,want", BAD_FILES, ids=[w.split(":")[-1][:30] for _, w in BAD_FILES])
def test_bad_file_exits_2_naming_line_and_key(binary, tmp_path, text, want):
    path = write(tmp_path / "bad.yaml", text)
    for extra in (["--check-config"], ["--port", "0"]):
        r = run(binary, "--config", path, *extra)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.startswith("production_server: " + (path if want.startswith(":") else ""))
        assert want in r.stderr, r.stderr
        assert r.stdout == ""


def test_missing_file_exits_2(binary, tmp_path):
    r = run(binary, "--config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert r.stderr == f"production_server: {tmp_path / 'nope.yaml'}: cannot open: " \
                       "No such file or directory\n"


def test_empty_file_means_defaults(binary, tmp_path):
    assert run(binary, "--config", write(tmp_path / "e.yaml", ""), "--check-config").returncode == 0


def test_flags_override_the_file(start_server, tmp_path):
    path = write(tmp_path / "c.yaml", "max-body: 10\nthreads: 1\n")
    srv = start_server("--config", path)
    body = b"x" * 50
    post = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n" + body
    assert srv.request(post).status == 413          # the file's limit
    srv2 = start_server("--config", path, "--max-body", "100")
    assert srv2.request(post).status == 200          # the flag's
    assert srv2.request(post).body == body


def test_configured_routes(start_server, tmp_path):
    path = write(tmp_path / "r.yaml", """
routes:
  - path: /hello
    body: "hi\\n"
  - path: /v
    content-type: application/json
    body: '{"a":1}'
  - path: /old/
    prefix: true
    status: 308
    location: https://example.com/new/
  - path: /
    body: "overridden\\n"
""")
    srv = start_server("--config", path)
    r = srv.get("/hello")
    assert (r.status, r.body, r.header("content-type")) == (200, b"hi\n", "text/plain; charset=utf-8")
    r = srv.get("/v")
    assert (r.status, r.body, r.header("content-type")) == (200, b'{"a":1}', "application/json")
    r = srv.get("/old/a/b")
    assert (r.status, r.header("location"), r.header("content-length")) == \
        (308, "https://example.com/new/", "0")
    assert srv.get("/old").status == 404             # a prefix, not the bare word
    assert srv.get("/").body == b"overridden\n"      # before the built-in routes
    with srv.connect() as s:
        s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        r = Reader(s).response(head_only=True)
    assert (r.status, r.body, r.header("content-length")) == (200, b"", "3")
    assert srv.get("/hello", method="DELETE").status == 405
    assert srv.get("/json").status == 200            # the built-in ones still there


# ---- several listeners --------------------------------------------------------

def test_ipv4_and_ipv6_listeners(start_server, tmp_path):
    if not have_ipv6_loopback():
        pytest.skip("::1 cannot be bound here (no IPv6 loopback)")
    p4, p6 = free_port(), free_port(socket.AF_INET6, "::1")
    path = write(tmp_path / "l.yaml", f"""
listen:
  - 127.0.0.1:{p4}
  - address: "::1"
    port: {p6}
    ipv6-only: true
""")
    srv = start_server("--config", path, "--threads", "2", listen=False)
    assert srv.port == p4
    assert f"also listening on [::1]:{p6} (ipv6-only)" in "".join(srv.out) or \
        wait_for(lambda: f"[::1]:{p6}" in "".join(srv.out))
    assert get(p4, "/").status == 200
    assert get(p6, "/", host="::1").status == 200
    # two threads: each has its own socket per listener (4 listening sockets)
    listening = [t for t in srv.fds().values() if t.startswith("socket:")]
    assert len(listening) >= 4


# ---- SIGHUP reload --------------------------------------------------------------

def test_reload_without_config_is_a_no_op(start_server):
    srv = start_server("--threads", "1")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: no --config file to reload; still serving" in srv.read_stderr())
    assert srv.get("/").status == 200
    m = srv.metrics()
    assert m['vex_config_reloads_total{result="ok"}'] == 0
    assert m['vex_config_reloads_total{result="failed"}'] == 0


def test_broken_reload_keeps_the_old_configuration(start_server, tmp_path):
    path = write(tmp_path / "c.yaml", "routes:\n  - path: /a\n    body: A\n")
    srv = start_server("--config", path, "--threads", "2")
    assert srv.get("/a").body == b"A"
    write(path, "routes:\n  - path: /b\n    body: B\nidle-timeout: soon\n")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1, "reload failed")
    assert f"still serving the previous configuration: {path}:4: idle-timeout: invalid value " \
           "'soon'" in srv.read_stderr()
    assert srv.get("/a").body == b"A"               # the old routes serve on
    assert srv.get("/b").status == 404
    m = srv.metrics()
    assert m['vex_config_reloads_total{result="failed"}'] == 1
    assert m['vex_config_reloads_total{result="ok"}'] == 0
    assert m["vex_config_last_reload_success"] == 0
    assert m["vex_config_last_reload_timestamp_seconds"] > time.time() - 60
    assert m["vex_config_generation"] == 0
    write(path, "routes:\n  - path: /b\n    body: B\n")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1)
    assert wait_for(lambda: srv.get("/b").body == b"B")
    assert srv.get("/a").status == 404
    m = srv.metrics()
    assert m["vex_config_last_reload_success"] == 1 and m["vex_config_generation"] == 1
    assert srv.stop() == 0
    assert srv.stats_blocks()[-1]["Config reloads"] == "1 ok, 1 failed (last: ok)"


def test_restart_settings_are_reported_and_kept(start_server, tmp_path):
    path = write(tmp_path / "c.yaml", "threads: 2\nmax-clients: 100\n")
    srv = start_server("--config", path)
    write(path, "threads: 3\nmax-clients: 50\nidle-timeout: 5\n")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1)
    assert wait_for(lambda: '"level":"warn","msg":"reload: needs a restart to change, kept: '
                    'threads, max-clients"' in srv.read_stderr()), srv.read_stderr()
    assert srv.stop() == 0
    assert srv.stats_blocks()[-1]["Threads"] == "2"


def wrk(port, seconds, path="/", conns=8):
    """wrk against 127.0.0.1:port: (requests, failures), failures counting socket
    errors and non-2xx/3xx responses."""
    r = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", f"{seconds}s",
                        f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True, timeout=seconds + 30)
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) requests in", r.stdout)
    bad = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", r.stdout))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return int(m.group(1)), bad + (int(non2xx.group(1)) if non2xx else 0), r.stdout


def test_reload_under_wrk_load_fails_no_request(start_server, tmp_path):
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (make deps installs it)")
    good_a = "max-body: 100\nroutes:\n  - path: /a\n    body: A\n"
    good_b = "max-body: 1000\nroutes:\n  - path: /b\n    body: B\n"
    broken = "max-body: lots\n"
    path = write(tmp_path / "c.yaml", good_a)
    srv = start_server("--config", path, "--threads", "2")
    out = {}
    t = threading.Thread(target=lambda: out.update(r=wrk(srv.port, 4)))
    t.start()
    time.sleep(0.5)
    ok = failed = 0
    for i in range(12):
        text = [good_b, broken, good_a][i % 3]
        write(path, text)
        srv.send_signal(signal.SIGHUP)
        if text is broken:
            failed += 1
            assert reloaded(srv, failed, "reload failed")
        else:
            ok += 1
            assert reloaded(srv, ok)
        time.sleep(0.2)
    t.join()
    n, bad, text = out["r"]
    assert n > 100 and bad == 0, text
    # the last one applied: good_a (a new limit and route)
    assert wait_for(lambda: srv.get("/a").body == b"A")
    assert srv.get("/b").status == 404
    post = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n" + b"y" * 500
    assert srv.request(post).status == 413
    m = srv.metrics()
    assert m['vex_config_reloads_total{result="ok"}'] == 8
    assert m['vex_config_reloads_total{result="failed"}'] == 4
    assert srv.stop() == 0


def test_reload_adds_an_ipv6_listener_and_removes_one(start_server, tmp_path):
    if not have_ipv6_loopback():
        pytest.skip("::1 cannot be bound here (no IPv6 loopback)")
    p4, p4b, p6 = free_port(), free_port(), free_port(socket.AF_INET6, "::1")
    path = write(tmp_path / "c.yaml", f"listen: [127.0.0.1:{p4}, 127.0.0.1:{p4b}]\n")
    srv = start_server("--config", path, "--threads", "2", listen=False)
    keep = socket.create_connection(("127.0.0.1", p4b), timeout=5)   # on the one removed below
    rd = Reader(keep)
    keep.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert rd.response().status == 200
    write(path, f"listen:\n  - 127.0.0.1:{p4}\n  - address: '::1'\n    port: {p6}\n")
    srv.send_signal(signal.SIGHUP)
    assert reloaded(srv, 1)
    # listener changes are event-log lines of their own, right after the result
    assert wait_for(lambda: f"reload: listening on [::1]:{p6}" in srv.read_stderr()
                    and f"reload: stopped listening on 127.0.0.1:{p4b}" in srv.read_stderr()), \
        srv.read_stderr()
    assert wait_for(lambda: get(p6, "/", host="::1").status == 200)
    assert get(p4, "/").status == 200
    # the removed listener refuses new clients; its open connection finishes
    assert wait_for(lambda: _refused(p4b))
    keep.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
    assert rd.response().status == 200
    keep.close()
    assert srv.stop() == 0


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def _churn(port, stop, results):
    """New connection per request until stop: statuses or exception names."""
    while not stop.is_set():
        try:
            results.append(get(port, "/").status)
        except OSError as e:
            results.append(type(e).__name__)


def _swap_under_churn(start_server, tmp_path, port, specs):
    """Start on specs[0], then reload between the specs 10 times while _churn
    opens a connection per request to port; the server and what churn saw."""
    path = write(tmp_path / "c.yaml", specs[0])
    srv = start_server("--config", path, "--threads", "2", listen=False)
    stop, results = threading.Event(), []
    t = threading.Thread(target=_churn, args=(port, stop, results))
    t.start()
    try:
        for i in range(10):
            write(path, specs[(i + 1) % 2])
            srv.send_signal(signal.SIGHUP)
            assert reloaded(srv, i + 1), srv.read_stderr()
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(timeout=20)
    return srv, results


def test_reloads_never_disturb_a_kept_listener(start_server, tmp_path):
    """Listeners added and removed around a kept one, again and again, while a
    client opens a new connection per request to the kept one: every one is
    answered."""
    port, other = free_port(), free_port()
    specs = [f"listen: [127.0.0.1:{port}]\n", f"listen: [127.0.0.1:{port}, 127.0.0.1:{other}]\n"]
    srv, results = _swap_under_churn(start_server, tmp_path, port, specs)
    failures = [r for r in results if r != 200]
    assert len(results) > 50 and not failures, (len(results), failures[:5])
    assert srv.stop() == 0


def test_address_swapped_on_the_same_port_refuses_no_connection(start_server, tmp_path):
    """127.0.0.1:P swapped for 0.0.0.0:P and back while a client opens a new
    connection per request: none is refused, because the new sockets are bound
    before the old ones close. (A connection that lands in the old socket's
    queue in the microseconds between its last accept and its close is reset
    by the kernel: README, Reload, says so.)"""
    port = free_port()
    specs = [f"listen: [127.0.0.1:{port}]\n", f"listen: [0.0.0.0:{port}]\n"]
    srv, results = _swap_under_churn(start_server, tmp_path, port, specs)
    assert len(results) > 50
    assert "ConnectionRefusedError" not in results
    assert results.count(200) >= len(results) - 20, [r for r in results if r != 200][:5]
    assert srv.stop() == 0


def test_readme_key_reference_lists_every_key(binary):
    """Every flag that is also a file key has a row in README's key reference."""
    flags = re.findall(r"^  --([a-z-]+)", run(binary, "--help").stdout, re.M)
    keys = [f for f in flags if f not in ("config", "check-config", "help")]
    assert len(keys) >= 14
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    ref = readme[readme.index("**Key reference.**"):readme.index("**Reload (SIGHUP).**")]
    missing = [k for k in keys + ["listen", "routes"] if f"| `{k}` |" not in ref]
    assert not missing, missing
