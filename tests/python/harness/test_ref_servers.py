"""The minimal reference servers (bench/ref_epoll.c, bench/ref_uring.c) and the harness's
`--peers ref`: exact responses, pipelining, many connections, the CPU ratio column."""
import re
import selectors
import socket
import subprocess
import sys
import time

import pytest

from vexbench_testlib import ROOT, built, have, make_doc
from vexbench import idle, ref_peers, report, results
from vexbench.profiles import load_profiles
from vexbench.peers import PeerUnavailable
from vexbench.server import BackendUnavailable, ServerProcess

PY = sys.executable
REFS = ["ref-epoll", "ref-uring"]
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
RESPONSE = re.compile(rb"HTTP/1\.1 200 OK\r\nServer: vex_net\r\n"
                      rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"
                      rb"Content-Type: text/plain\r\nContent-Length: 13\r\n"
                      rb"X-Request-Id: [0-9a-f]{16}\r\n\r\nHello, World!")
DATE = re.compile(rb"Date: [^\r]*\r\n")


@pytest.fixture(scope="module", autouse=True)
def ref_binaries():
    """make ref once: the tests run the real programs."""
    r = subprocess.run(["make", "--no-print-directory", "ref"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(params=REFS)
def ref(request, tmp_path):
    try:                            # ref_uring needs liburing-dev and a kernel allowing io_uring
        srv = ref_peers.make(request.param, build_dir=ROOT / "build", cpu=None,
                             log_dir=tmp_path).start()
    except (PeerUnavailable, BackendUnavailable) as e:
        pytest.skip(f"{request.param}: {e}")
    yield srv
    res = srv.stop()
    assert res["exit_code"] == 0, res       # SIGTERM is a clean stop


def read_exactly(sock, n, timeout=3.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        d = sock.recv(65536)
        if not d:
            break
        data += d
    return data


def nothing_more(sock, wait=0.3):
    sock.settimeout(wait)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return b""


RID = re.compile(rb"X-Request-Id: [0-9a-f]{16}\r\n")


def one_response_len(srv):
    with socket.create_connection((srv.host, srv.port)) as s:
        s.sendall(REQUEST)
        data = read_exactly(s, 100, timeout=2)
        data += nothing_more(s, 0.2)
    m = RESPONSE.fullmatch(data)
    assert m, data
    return len(data), data


def test_single_request_same_bytes_as_production_server(ref, tmp_path):
    n, data = one_response_len(ref)
    with ServerProcess.vex(built("epoll"), cpu=None, log_dir=tmp_path / "ps") as ps:
        with socket.create_connection((ps.host, ps.port)) as s:
            s.sendall(REQUEST)
            theirs = read_exactly(s, n, timeout=2) + nothing_more(s, 0.2)
    # Date and the (generated) X-Request-Id differ from response to response
    norm = lambda b: RID.sub(b"X-Request-Id: X\r\n", DATE.sub(b"Date: X\r\n", b))  # noqa: E731
    assert norm(data) == norm(theirs)
    assert len(data) == len(theirs)


def test_pipelined_burst_gets_exactly_100_responses(ref):
    n, _ = one_response_len(ref)
    with socket.create_connection((ref.host, ref.port)) as s:
        s.sendall(REQUEST * 100)                    # one write, 100 requests
        data = read_exactly(s, 100 * n)
        extra = nothing_more(s)
    assert len(data) == 100 * n and extra == b""
    assert len(RESPONSE.findall(data)) == 100
    assert all(RESPONSE.fullmatch(data[i * n:(i + 1) * n]) for i in range(100))


def test_terminator_split_across_writes(ref):
    n, _ = one_response_len(ref)
    with socket.create_connection((ref.host, ref.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(REQUEST[:-3])
        assert nothing_more(s, 0.2) == b""          # no answer to half a request
        s.sendall(REQUEST[-3:] + REQUEST[:-1])
        first = read_exactly(s, n)
        assert RESPONSE.fullmatch(first) and nothing_more(s, 0.2) == b""
        s.sendall(REQUEST[-1:])
        assert RESPONSE.fullmatch(read_exactly(s, n))


def test_many_connections(ref):
    conns = 800
    idle.raise_nofile(conns + 256)
    n, _ = one_response_len(ref)
    socks = [socket.create_connection((ref.host, ref.port), timeout=5) for _ in range(conns)]
    try:
        for s in socks:
            s.sendall(REQUEST * 2)
        sel = selectors.DefaultSelector()
        got = {}
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        deadline = time.monotonic() + 10
        pending = conns
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                d = key.fileobj.recv(65536)
                got[key.fileobj] += d
                if not d or len(got[key.fileobj]) >= 2 * n:
                    sel.unregister(key.fileobj)
                    pending -= 1
        sel.close()
        assert pending == 0
        assert all(len(v) == 2 * n and len(RESPONSE.findall(v)) == 2 for v in got.values())
    finally:
        for s in socks:
            s.close()
    one_response_len(ref)              # still serving after 800 closes


def test_peer_names_and_profiles():
    assert ref_peers.expand(["nginx", "ref", "ref-epoll"]) == ["nginx", "ref-epoll", "ref-uring"]
    assert ref_peers.expand(["ref"], ["io_uring"]) == ["ref-uring"]       # BACKEND=io_uring
    assert ref_peers.expand(["ref", "ref-epoll"], ["io_uring"]) == ["ref-uring", "ref-epoll"]
    assert ref_peers.expand(["ref"], ["poll"]) == []
    assert ref_peers.reference_of("epoll") == "ref-epoll"
    assert ref_peers.reference_of("io_uring") == "ref-uring"
    assert ref_peers.reference_of("poll") is None
    prof = load_profiles()
    runs = {name for name, p in prof.items() if ref_peers.serves(p)}
    assert {"plaintext", "pipeline", "c10k"} <= runs
    assert not runs & {"json", "echo-4k", "bytes-64k", "static-64k", "churn", "ab-keepalive",
                       "memory-idle", "fixed-work", "latency-curve"}


def test_ratio_from_medians():
    doc = make_doc(targets=("epoll", "io_uring", "poll", "ref-epoll", "ref-uring"))
    for t in doc["targets"]:
        if t["name"].startswith("ref-"):
            t["kind"] = "peer"
    cpu = {"epoll": 4.2, "io_uring": 5.5, "poll": 6.0, "ref-epoll": 4.0, "ref-uring": 5.0}
    for s in doc["summaries"]:
        if s["case"] == "plaintext@c100":
            s["metrics"]["cpu_us_per_req"]["median"] = cpu[s["target"]]
    r = ref_peers.cpu_ratios(doc)
    assert r[("plaintext@c100", "epoll")]["ratio"] == pytest.approx(1.05)
    assert r[("plaintext@c100", "io_uring")]["reference"] == "ref-uring"
    assert r[("plaintext@c100", "io_uring")]["ratio"] == pytest.approx(1.1)
    assert ("plaintext@c100", "poll") not in r and ("plaintext@c100", "ref-epoll") not in r
    table = report.summary_table(doc)
    assert "CPU ×ref" in table.splitlines()[0]
    line = next(x for x in table.splitlines() if x.startswith("plaintext@c100") and " epoll " in x)
    assert "1.05× ref-epoll" in line
    assert "| 1.10× ref-uring |" in report.markdown(doc, [])
    plain = make_doc()                  # no reference ran: no column
    assert "CPU ×ref" not in report.summary_table(plain)


@pytest.mark.e2e
@pytest.mark.skipif(not have("wrk", "taskset"), reason="wrk and taskset needed")
def test_ratio_column_in_a_tiny_run(tmp_path):
    built("epoll")
    backends = "epoll,io_uring" if (ROOT / "build/io_uring/production_server").is_file() else "epoll"
    r = subprocess.run([PY, str(ROOT / "scripts/bench.py"), "--seed", "7", "--backend", backends,
                        "--peers", "ref", "--profile", "plaintext,json", "--connections", "10",
                        "--duration", "1", "--warmup", "0", "--trials", "1", "--quiet",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    head = next(x for x in r.stdout.splitlines() if x.startswith("case"))
    assert "CPU ×ref" in head
    lines = [x for x in r.stdout.splitlines() if x.startswith("plaintext@c10 ")]
    assert any(re.search(r" epoll .* \d+\.\d\d× ref-epoll ", x) for x in lines), r.stdout
    doc = results.load((tmp_path / "latest").resolve())
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["ref-epoll"]["status"] == "ok" and targets["ref-epoll"]["exit_code"] == 0
    assert targets["ref-epoll"]["command"][:3] == ["taskset", "-c", "0"]
    idx = results.summary_index(doc)
    ran = {t for (c, t) in idx if c == "json@c10"}
    assert "epoll" in ran and not ran & set(REFS)       # a canned server skips /json
    for ref in REFS:
        if targets.get(ref, {}).get("status") == "ok":
            s = idx[("plaintext@c10", ref)]
            assert s["ok_trials"] == 1 and s["non_2xx"] == 0 and s["socket_errors"] == 0, s
    s = idx[("plaintext@c10", "epoll")]
    assert s["cpu_vs_ref"]["reference"] == "ref-epoll" and s["cpu_vs_ref"]["ratio"] > 0
    if targets.get("io_uring", {}).get("status") == "ok" and targets["ref-uring"]["status"] == "ok":
        assert idx[("plaintext@c10", "io_uring")]["cpu_vs_ref"]["reference"] == "ref-uring"
    md = report.markdown(doc, [])
    assert "CPU ×ref" in md and "× ref-epoll" in md
