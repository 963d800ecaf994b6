"""scripts/tls_hs_cost.py: the deterministic cost of one TLS handshake (README "What TLS
and compression cost"). Its strace table parser, and short runs against the real server:
the counts it prints must be those of a real handshake (one accept per connection, tickets
really reused in --mode resume), not of a connection that failed early."""
import re
import shutil
import subprocess
import sys

import pytest

from vexbench_testlib import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import tls_hs_cost  # noqa: E402

SERVER = ROOT / "build" / "epoll" / "production_server"
SCRIPT = [sys.executable, str(ROOT / "scripts" / "tls_hs_cost.py"), "--server", str(SERVER)]

STRACE_C = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 41.20    0.000412          45         9           getpid
 30.00    0.000300          30        10         2 accept4
 28.80    0.000288          28        10           close
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000          34        29         2 total
"""


def test_strace_summary_is_read_per_call_with_errors_column():
    assert tls_hs_cost.parse_strace_c(STRACE_C) == {"getpid": 9, "accept4": 10, "close": 10}


needs = pytest.mark.skipif(not SERVER.exists() or shutil.which("openssl") is None,
                           reason="needs build/epoll/production_server and openssl")


def run(*args):
    p = subprocess.run(SCRIPT + list(args), capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@needs
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is needed")
def test_system_calls_per_full_handshake():
    out = run("--tool", "strace", "-n", "5", "--warmup", "2")
    counts = dict(re.findall(r"^\s+(\w+)\s+([\d.]+)$", out, re.M))
    assert float(counts["accept4"]) == 1.0 and float(counts["close"]) == 1.0, out
    assert 10 <= float(counts["total"]) <= 40, out


@needs
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is needed")
@pytest.mark.parametrize("mode,resumed", [("full", 0), ("resume", 3)])
def test_instructions_per_handshake(mode, resumed):
    out = run("--tool", "callgrind", "--mode", mode, "-n", "3", "--warmup", "2")
    m = re.search(r"3 connections \((\w+); resumed (\d+); .*\): ([\d,]+) instructions", out)
    assert m, out
    assert int(m.group(2)) == resumed
    # An ECDHE P-256 handshake with an ECDSA signature is millions of instructions; an
    # aborted connection would be tens of thousands.
    assert 1_000_000 < int(m.group(3).replace(",", "")) < 10_000_000, out
