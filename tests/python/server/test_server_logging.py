"""Access and event logs with the real binary, every backend: one JSON line per
response matching what was sent (count and fields), X-Request-Id kept when well
formed and made otherwise, SIGUSR1 reopening after a rename, a FIFO nobody reads
not stalling the server (lines dropped and counted instead), syslog, and bad
flag values (exit 2 naming the flag)."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from server_helpers import Reader, wait_for

HEX16 = re.compile(r"^[0-9a-f]{16}$")
FIELDS = {"time", "client", "port", "method", "target", "status", "bytes", "duration_us",
          "user_agent", "referer", "request_id"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def send(srv, raw):
    """One request on its own connection; the response."""
    with srv.connect() as s:
        s.sendall(raw)
        return Reader(s).response(head_only=raw.startswith(b"HEAD"))


def test_access_lines_match_the_requests(start_server, tmp_path):
    log = str(tmp_path / "access.log")
    srv = start_server("--threads", "2", "--access-log", log)
    reqs = [
        (b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: ua-one\r\n\r\n",
         "GET", "/", 200, 13, "ua-one", None),
        (b"GET /json?x=1&y=%22 HTTP/1.1\r\nHost: t\r\nReferer: http://r.example/p?q=1\r\n"
         b"User-Agent: two \"quoted\" \\ back\r\n\r\n",
         "GET", "/json?x=1&y=%22", 200, 27, 'two "quoted" \\ back', "http://r.example/p?q=1"),
        (b"HEAD /bytes/100 HTTP/1.1\r\nHost: t\r\n\r\n", "HEAD", "/bytes/100", 200, 0, None, None),
        (b"GET /bytes/70000 HTTP/1.1\r\nHost: t\r\n\r\n", "GET", "/bytes/70000", 200, 70000,
         None, None),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nUser-Agent: \xffbin\xc3\xa9\r\n"
         b"\r\nhello", "POST", "/echo", 200, 5, "\u00ffbin\u00e9", None),
        (b"GET /nope HTTP/1.1\r\nHost: t\r\nX-Request-Id: mine-1\r\n\r\n",
         "GET", "/nope", 404, None, None, None),
    ]
    got = []
    for raw, *_ in reqs:
        r = send(srv, raw)
        got.append(r)
    assert srv.stop() == 0
    lines = read_lines(log)
    assert len(lines) == len(reqs), lines
    # Two threads: lines of different threads may interleave; match by id.
    by_id = {ln["request_id"]: ln for ln in lines}
    assert len(by_id) == len(reqs)
    for (raw, method, target, status, nbytes, ua, ref), resp in zip(reqs, got):
        rid = resp.header("x-request-id")
        assert rid, resp
        ln = by_id[rid]
        assert set(ln) == FIELDS, ln
        assert ln["method"] == method and ln["target"] == target
        assert ln["status"] == status == resp.status
        assert ln["bytes"] == (len(resp.body) if nbytes is None else nbytes)
        assert ln["user_agent"] == ua and ln["referer"] == ref
        assert ln["client"] == "127.0.0.1" and 0 < ln["port"] < 65536
        assert TIME_RE.match(ln["time"]), ln["time"]
        assert isinstance(ln["duration_us"], int) and 0 <= ln["duration_us"] < 10_000_000
    assert by_id["mine-1"]["status"] == 404


def test_pipelined_keep_alive_lines_in_order(start_server, tmp_path):
    log = str(tmp_path / "a.log")
    srv = start_server("--threads", "1", "--access-log", log)
    n = 50
    with srv.connect() as s:
        s.sendall(b"".join(f"GET /bytes/{i} HTTP/1.1\r\nHost: t\r\nX-Request-Id: r{i}\r\n\r\n"
                           .encode() for i in range(n)))
        rd = Reader(s)
        for i in range(n):
            r = rd.response()
            assert r.status == 200 and r.header("x-request-id") == f"r{i}"
    assert srv.stop() == 0
    lines = read_lines(log)
    assert [ln["target"] for ln in lines] == [f"/bytes/{i}" for i in range(n)]
    assert [ln["bytes"] for ln in lines] == list(range(n))
    assert [ln["request_id"] for ln in lines] == [f"r{i}" for i in range(n)]


def test_responses_cut_short_are_logged_as_far_as_they_went(start_server, tmp_path):
    """A download the client abandons, and a request whose body never came,
    each leave one line: the head's status and the body octets handed to the
    kernel (short of the whole), or 499 with no bytes when no response had
    begun, as nginx logs them."""
    log = str(tmp_path / "a.log")
    srv = start_server("--threads", "1", "--access-log", log)
    total = 64 << 20
    with srv.connect() as s:
        s.sendall(f"GET /bytes/{total} HTTP/1.1\r\nHost: t\r\nX-Request-Id: cut-1\r\n\r\n"
                  .encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    # /echo streams the body back as it comes: its head is out at once.
    for rid, target in (("cut-2", "/echo"), ("cut-3", "/nope")):
        with srv.connect() as s:
            s.sendall(f"POST {target} HTTP/1.1\r\nHost: t\r\nX-Request-Id: {rid}\r\n"
                      "Content-Length: 100\r\n\r\nonly ten..".encode())
            time.sleep(0.2)      # the server has read what came
    # Whether the server sees the closes first or ends them itself at stop,
    # each leaves its line.
    assert send(srv, b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: after\r\n\r\n").status == 200
    assert srv.stop() == 0
    by_id = {ln["request_id"]: ln for ln in read_lines(log)}
    assert set(by_id) == {"cut-1", "cut-2", "cut-3", "after"}, by_id
    cut = by_id["cut-1"]
    assert cut["status"] == 200 and cut["target"] == f"/bytes/{total}"
    assert 0 < cut["bytes"] < total, cut
    echo = by_id["cut-2"]
    assert echo["status"] == 200 and echo["bytes"] == 10, echo
    gone = by_id["cut-3"]
    assert gone["status"] == 499 and gone["bytes"] == 0 and gone["method"] == "POST", gone


def test_request_id_kept_or_generated(start_server, tmp_path):
    log = str(tmp_path / "a.log")
    srv = start_server("--threads", "2", "--access-log", log)
    valid = ["abc", "A-Z_a.z:0+9/=@", "x" * 128]
    invalid = ["", "has space", "x" * 129, "semi;colon", "quo\"te", "caf\xe9"]
    seen = []
    for v in valid:
        r = srv.get("/", headers=f"X-Request-Id: {v}\r\n")
        assert r.status == 200 and r.header("x-request-id") == v
        seen.append(v)
    gen = []
    for v in invalid:
        raw = (b"GET /json HTTP/1.1\r\nHost: t\r\nX-Request-Id: " + v.encode("latin-1")
               + b"\r\n\r\n")
        r = send(srv, raw)
        assert r.status == 200
        rid = r.header("x-request-id")
        assert HEX16.match(rid), rid
        gen.append(rid)
    for path in ("/", "/bytes/10", "/nope"):     # fixed, dynamic and error responses
        r = srv.get(path)
        assert HEX16.match(r.header("x-request-id")), r
        assert len(r.headers["x-request-id"]) == 1
        gen.append(r.header("x-request-id"))
    r = send(srv, b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: a\r\nX-Request-Id: b\r\n\r\n")
    assert len(r.headers["x-request-id"]) == 1
    assert len(set(gen)) == len(gen), gen       # unique
    assert srv.stop() == 0
    logged = [ln["request_id"] for ln in read_lines(log)]
    assert len(logged) == len(valid) + len(gen) + 1
    assert set(seen + gen) <= set(logged)


def test_generated_ids_differ_between_runs(start_server):
    a = start_server("--threads", "1")
    b = start_server("--threads", "1")
    ida = a.get("/").header("x-request-id")
    idb = b.get("/").header("x-request-id")
    assert HEX16.match(ida) and HEX16.match(idb) and ida != idb


def test_sigusr1_after_rename_makes_a_new_file(start_server, tmp_path):
    log = str(tmp_path / "access.log")
    srv = start_server("--threads", "2", "--access-log", log, "--log-flush-interval", "0.1")
    for i in range(5):
        assert srv.get(f"/bytes/{i}").status == 200
    assert wait_for(lambda: len(read_lines(log)) == 5, timeout=10), read_lines(log)
    os.rename(log, log + ".1")
    srv.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: os.path.exists(log), timeout=5), "no new file after SIGUSR1"
    for i in range(5, 12):
        assert srv.get(f"/bytes/{i}").status == 200
    assert wait_for(lambda: len(read_lines(log)) == 7, timeout=10), read_lines(log)
    assert srv.alive()
    assert srv.stop() == 0
    old = read_lines(log + ".1")
    new = read_lines(log)
    assert sorted(ln["bytes"] for ln in old) == list(range(5))
    assert sorted(ln["bytes"] for ln in new) == list(range(5, 12))
    assert srv.stderr.count("production_server: SIGUSR1:") == 1, srv.stderr


def test_fifo_nobody_reads_does_not_stall_serving(start_server, tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    # Held open read-write and never read: the server's open succeeds, its
    # writes fill the pipe and then find it full forever.
    hold = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        srv = start_server("--threads", "1", "--access-log", fifo, "--log-buffer", "4096",
                           "--log-flush-interval", "0.1")
        n = 4000
        done = 0
        with srv.connect(timeout=5) as s:       # each response within 5 s, or the test fails
            rd = Reader(s)
            for batch in range(0, n, 100):
                s.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: t\r\n"
                          b"User-Agent: a-fairly-long-user-agent-string-to-fill-the-pipe/1.0\r\n"
                          b"\r\n" * 100)
                for _ in range(100):
                    assert rd.response().status == 200
                    done += 1
        assert done == n
        m = srv.metrics()
        assert m["vex_log_lines_dropped_total"] > 0, m
        # Everything not dropped is written or in a bounded buffer: the pipe
        # holds at most 64 KiB of ~250-byte lines, 4 buffers of 4 KiB a few more.
        assert m["vex_log_lines_written_total"] + m["vex_log_lines_dropped_total"] <= n + 1
        assert m["vex_log_lines_written_total"] < 1000
        assert srv.get("/healthz").status == 200
        assert srv.stop(timeout=15) == 0        # the stuck writer gives up at shutdown
    finally:
        os.close(hold)


def test_syslog_destination_does_not_crash(start_server):
    srv = start_server("--threads", "2", "--access-log", "syslog", "--error-log", "syslog",
                       "--log-level", "debug")
    for _ in range(20):
        assert srv.get("/").status == 200
    srv.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert srv.get("/json").status == 200
    assert srv.stop() == 0


def test_error_log_events_with_levels(start_server, tmp_path):
    err = str(tmp_path / "error.log")
    srv = start_server("--threads", "1", "--error-log", err, "--log-level", "debug",
                       "--header-timeout", "0.3")
    s = srv.connect()
    s.sendall(b"GET / HTTP/1.1\r\n")              # never finished: a header timeout
    assert wait_for(lambda: any("timeout" in e["msg"] for e in read_lines(err)), timeout=10), \
        read_lines(err)
    s.close()
    assert srv.stop() == 0
    events = read_lines(err)
    assert all(set(e) == {"time", "level", "msg"} for e in events), events
    assert all(e["level"] in ("debug", "info", "warn", "error") for e in events)
    msgs = [e["msg"] for e in events]
    assert any(m.startswith("listening on 127.0.0.1:%d" % srv.port) and "backend=" in m
               for m in msgs), msgs
    assert any(m.startswith("stopped") for m in msgs), msgs
    assert [e["level"] for e in events if "timeout" in e["msg"]] == ["debug"]


def test_log_level_filters_events(start_server, tmp_path):
    err = str(tmp_path / "error.log")
    srv = start_server("--threads", "1", "--error-log", err, "--log-level", "warn")
    assert srv.get("/").status == 200
    assert srv.stop() == 0
    assert read_lines(err) == []


def test_access_log_off_by_default_and_stderr_destination(start_server):
    srv = start_server("--threads", "1")
    assert srv.get("/").status == 200
    assert srv.stop() == 0
    assert '"request_id"' not in srv.stderr
    srv = start_server("--threads", "1", "--access-log", "stderr", "--error-log", "off")
    assert srv.get("/", headers="X-Request-Id: on-stderr\r\n").status == 200
    assert srv.stop() == 0
    lines = [json.loads(x) for x in srv.stderr.splitlines() if x.startswith("{")]
    assert [x["request_id"] for x in lines] == ["on-stderr"], srv.stderr


@pytest.mark.parametrize("flag,value", [
    ("--access-log", ""), ("--error-log", ""),
    ("--log-level", "verbose"), ("--log-level", "INFO"),
    ("--log-buffer", "4095"), ("--log-buffer", "16777217"), ("--log-buffer", "64k"),
    ("--log-flush-interval", "0"), ("--log-flush-interval", "1s"),
    ("--log-flush-interval", "3601"),
])
def test_bad_values_exit_2_naming_the_flag(binary, flag, value):
    r = subprocess.run([binary, "--port", "0", flag, value], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, r
    assert f"invalid value for {flag}: '{value}'" in r.stderr, r.stderr
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr


@pytest.mark.parametrize("flag", ["--access-log", "--error-log"])
@pytest.mark.parametrize("where", ["missing-dir", "directory", "read-only"])
def test_unwritable_log_file_exits_2(binary, tmp_path, flag, where):
    if where == "missing-dir":
        path = str(tmp_path / "no" / "such" / "dir" / "x.log")
    elif where == "directory":
        path = str(tmp_path)
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write a read-only file")
        path = str(tmp_path / "ro.log")
        open(path, "w").close()
        os.chmod(path, stat.S_IRUSR)
    r = subprocess.run([binary, "--host", "127.0.0.1", "--port", "0", "--threads", "2",
                        "--access-log", str(tmp_path / "ok.log"), flag, path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert flag in r.stderr and path in r.stderr, r.stderr
    assert "listening" not in r.stdout
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr


def test_help_lists_the_log_flags(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for f in ("--access-log", "--error-log", "--log-level", "--log-buffer",
              "--log-flush-interval"):
        assert f in r.stdout


def test_stderr_pipe_nobody_reads_does_not_stall(binary):
    """--access-log stderr into a pipe nobody reads: stderr stays blocking
    (it is shared), the writer waits for room with poll(2); serving goes on,
    lines are dropped, and SIGTERM still exits 0 promptly."""
    r, w = os.pipe()
    p = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--threads", "1",
                          "--stats-interval", "0", "--access-log", "stderr",
                          "--log-buffer", "4096"], stdout=subprocess.PIPE, stderr=w, text=True)
    os.close(w)
    try:
        line = p.stdout.readline()
        port = int(re.search(r":(\d+) backend=", line).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            rd = Reader(s)
            for _ in range(30):
                s.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n" * 100)
                for _ in range(100):
                    assert rd.response().status == 200
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            body = Reader(s).response().body.decode()
        dropped = int(re.search(r"^vex_log_lines_dropped_total (\d+)$", body, re.M).group(1))
        assert dropped > 0, body
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(r)


def test_sighup_reload_switches_the_access_log_live(start_server, tmp_path):
    """access-log in the --config file: a reload to a new path sends later lines
    there (log_apply); a reload to an unwritable path fails, naming it, and
    logging goes on to the current file."""
    conf = tmp_path / "c.yaml"
    a, b = str(tmp_path / "a.log"), str(tmp_path / "b.log")
    conf.write_text(f"access-log: {a}\nlog-flush-interval: 0.1\n")
    srv = start_server("--threads", "2", "--config", str(conf))
    for i in range(3):
        assert srv.get(f"/bytes/{i}").status == 200
    # Lines still in a worker's buffer at the switch go to the new file: wait
    # for these to be written first.
    assert wait_for(lambda: len(read_lines(a)) == 3, timeout=10), read_lines(a)
    conf.write_text(f"access-log: {b}\nlog-flush-interval: 0.1\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reloaded" in srv.read_stderr(), timeout=10), srv.read_stderr()
    for i in range(3, 7):
        assert srv.get(f"/bytes/{i}").status == 200
    bad = str(tmp_path / "no" / "dir" / "c.log")
    conf.write_text(f"access-log: {bad}\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reload failed" in srv.read_stderr(), timeout=10), srv.read_stderr()
    assert bad in srv.read_stderr()
    for i in range(7, 9):
        assert srv.get(f"/bytes/{i}").status == 200
    assert srv.stop() == 0
    assert sorted(ln["bytes"] for ln in read_lines(a)) == [0, 1, 2]
    assert sorted(ln["bytes"] for ln in read_lines(b)) == [3, 4, 5, 6, 7, 8]
    assert not os.path.exists(bad)


def test_check_config_checks_the_log_files(binary, tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text(f"access-log: {tmp_path}/no/such/a.log\n")
    r = subprocess.run([binary, "--config", str(conf), "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "access-log" in r.stderr and "no/such/a.log" in r.stderr, r
    conf.write_text("log-level: loud\n")
    r = subprocess.run([binary, "--config", str(conf), "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and ":1: log-level:" in r.stderr, r
    conf.write_text(f"access-log: {tmp_path}/ok.log\nerror-log: syslog\nlog-level: debug\n"
                    "log-buffer: 4096\nlog-flush-interval: 0.5\n")
    r = subprocess.run([binary, "--config", str(conf), "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r
