"""Fixtures for the open-loop generator's tests (bench/loadgen, scripts/vexbench)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE))

# VEX_TEST_SAN=1: the ASan+UBSan builds (build/<backend>-san/), as in the server tests
SAN = "-san" if os.environ.get("VEX_TEST_SAN") == "1" else ""
BACKENDS = [b for b in os.environ.get("VEX_TEST_BACKENDS", "epoll io_uring poll").replace(",", " ").split()
            if (ROOT / "build" / f"{b}{SAN}" / "vex_loadgen").exists()]


def runnable(backend: str) -> str | None:
    """None if build/<backend> can run here, else the reason (vex_probe's)."""
    probe = ROOT / "build" / backend / "vex_probe"
    r = subprocess.run([str(probe)], capture_output=True, text=True, timeout=10)
    return None if r.returncode == 0 else (r.stdout + r.stderr).strip() or f"exit {r.returncode}"


@pytest.fixture(params=BACKENDS or ["epoll"])
def loadgen(request):
    """build/<backend>/vex_loadgen, for every backend built here."""
    b = request.param
    path = ROOT / "build" / f"{b}{SAN}" / "vex_loadgen"
    if not path.exists():
        pytest.skip(f"{path} not built: make BACKEND={b}")
    why = runnable(b)
    if why:
        pytest.skip(f"backend {b} cannot run here: {why}")
    return path


@pytest.fixture
def loadgen_epoll():
    path = ROOT / "build" / f"epoll{SAN}" / "vex_loadgen"
    if not path.exists():
        pytest.skip(f"{path} not built: make BACKEND=epoll")
    return path


class Proc:
    """A helper server started with `ready port=P` on stdout; killed by pid at the end."""
    def __init__(self, argv, timeout=10):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        line = self.p.stdout.readline()
        if not line.startswith("ready port=") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start: {line!r} {self.p.stderr.read()}")
        self.port = int(line.split("=")[1].split()[0])

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def stall_server():
    """stall_server(stall_at=4, stall_s=1) -> Proc with .port."""
    procs = []

    def start(stall_at=4.0, stall_s=1.0, max_seconds=60):
        p = Proc([sys.executable, str(HERE / "stall_server.py"), "--port", "0",
                  "--stall-at", str(stall_at), "--stall-s", str(stall_s),
                  "--max-seconds", str(max_seconds)])
        procs.append(p)
        return p
    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def vex_server():
    """build/epoll/production_server on a free loopback port (one thread)."""
    from vexbench.server import ServerProcess
    binary = ROOT / "build" / "epoll" / "production_server"
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    srv = ServerProcess.vex(binary, cpu=None, stats_interval=0).start()
    yield srv
    srv.stop()
