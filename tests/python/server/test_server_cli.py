"""Flags, exit codes, the listening line and the statistics block layout."""
import re
import subprocess
import time

import pytest

from server_helpers import Server, wait_for

FLAGS = ["--host", "--port", "--threads", "--max-clients", "--buffer-size",
         "--header-timeout", "--idle-timeout", "--shutdown-timeout", "--stats-interval",
         "--root", "--max-body", "--help"]


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=10)


def test_help(binary):
    p = run(binary, "--help")
    assert p.returncode == 0
    for f in FLAGS:
        assert f in p.stdout, f


@pytest.mark.parametrize("flag,value", [
    ("--port", "70000"), ("--port", "abc"), ("--port", "-1"), ("--threads", "0"),
    ("--threads", "1x"), ("--max-clients", "0"), ("--max-clients", "10k"),
    ("--buffer-size", "12"), ("--header-timeout", "0"), ("--header-timeout", "-5"),
    ("--idle-timeout", "nan"), ("--shutdown-timeout", "x"), ("--stats-interval", "-1"),
    ("--host", "localhost"), ("--host", "999.1.1.1"), ("--root", "/nonexistent/dir"),
    ("--max-body", "1e6"),
])
def test_bad_values_exit_2_naming_the_flag(binary, flag, value):
    p = run(binary, flag, value)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert flag in p.stderr
    assert p.stderr.count("\n") == 1


def test_unknown_and_missing(binary):
    p = run(binary, "--bogus")
    assert p.returncode == 2 and "--bogus" in p.stderr
    p = run(binary, "--port")
    assert p.returncode == 2 and "--port" in p.stderr


def test_listening_line_and_threads(start_server):
    srv = start_server("--threads", "3")
    assert srv.threads == 3
    assert srv.backend in ("epoll", "io_uring", "poll", "kqueue")
    assert re.match(r"^vex_net production_server listening on 127\.0\.0\.1:\d+ backend=\S+ "
                    r"threads=3 pid=\d+\n$", srv.listen_line)
    for _ in range(20):
        assert srv.get("/").status == 200


STATS_LINES = [
    r"=== SERVER STATISTICS ===",
    r"Backend:              (epoll|io_uring|poll|kqueue)",
    r"Threads:              \d+",
    r"Uptime:               \d+\.\d s",
    r"Connections total:    \d+",
    r"Connections active:   \d+",
    r"Requests total:       \d+",
    r"Requests/sec:         \d+\.\d",
    r"Bytes received:       \d+",
    r"Bytes sent:           \d+",
    r"Responses 2xx:        \d+",
    r"Responses 3xx:        \d+",
    r"Responses 4xx:        \d+",
    r"Responses 5xx:        \d+",
    r"Errors:               \d+",
    r"Timeouts:             \d+",
    r"Rejected connections: \d+",
    r"Config reloads:       \d+ ok, \d+ failed( \(last: (ok|failed)\))?",
    r"Syscalls:             \d+",
    r"Latency p50:          \d+\.\d{3} ms",
    r"Latency p99:          \d+\.\d{3} ms",
    r"=========================",
]


def check_block_layout(text):
    lines = text.splitlines()
    start = lines.index("=== SERVER STATISTICS ===")
    for pat, line in zip(STATS_LINES, lines[start:start + len(STATS_LINES)]):
        assert re.fullmatch(pat, line), (pat, line)


def test_periodic_and_final_stats(binary):
    srv = Server(binary, ["--threads", "2", "--stats-interval", "0.5"])
    try:
        for _ in range(10):
            srv.get("/")
        srv.get("/nope")
        assert wait_for(lambda: len(srv.stats_blocks()) >= 2, timeout=5)
        check_block_layout("".join(srv.out))
        assert srv.stop() == 0
        blocks = srv.stats_blocks()
        final = blocks[-1]
        assert final["Requests total"] == "11"
        assert final["Responses 2xx"] == "10" and final["Responses 4xx"] == "1"
        assert final["Connections total"] == "11"
        assert final["Connections active"] == "0"
        assert final["Threads"] == "2"
        assert int(final["Syscalls"]) > 0
        assert float(final["Latency p99"].split()[0]) >= float(final["Latency p50"].split()[0])
        text = "".join(srv.out)
        check_block_layout(text[text.rindex("=== SERVER STATISTICS ==="):])
    finally:
        srv.kill()


def test_final_stats_when_periodic_disabled(binary):
    srv = Server(binary, ["--threads", "1"])
    srv.get("/json")
    time.sleep(0.2)
    assert srv.stop() == 0
    assert len(srv.stats_blocks()) == 1
    assert srv.stats_blocks()[0]["Requests total"] == "1"


def _deny_io_uring_setup():
    """preexec_fn: a seccomp filter making io_uring_setup fail with EPERM, as
    Docker's default profile does."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    EPERM, NR_IO_URING_SETUP = 1, 425
    insns = [
        (0x20, 0, 0, 0),                                # ld  [nr]
        (0x15, 0, 1, NR_IO_URING_SETUP),                # jeq io_uring_setup
        (0x06, 0, 0, 0x00050000 | EPERM),               # ret ERRNO(EPERM)
        (0x06, 0, 0, 0x7fff0000),                       # ret ALLOW
    ]
    prog = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HxxxxxxQ", len(insns), ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


def test_exit_3_when_backend_refused(binary):
    if "io_uring" not in binary:
        pytest.skip("only io_uring can be refused by a sandbox here")
    p = subprocess.run([binary, "--host", "127.0.0.1", "--port", "0"], capture_output=True,
                       text=True, timeout=10, preexec_fn=_deny_io_uring_setup)
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and "io_uring" in p.stderr, p.stderr
