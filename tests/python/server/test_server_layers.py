"""src/server's layers: imports run one way (transport -> http1 -> handlers
-> server) and no include cycle, checked by scripts/check_layers.py; and
the checker itself can fail."""
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CHECKER = os.path.join(REPO, "scripts", "check_layers.py")
sys.path.insert(0, os.path.join(REPO, "scripts"))
import check_layers  # noqa: E402


def test_the_server_obeys_its_layers():
    p = subprocess.run([sys.executable, CHECKER], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "imports run one way, no cycle" in p.stdout


def write(tmp_path, name, *includes):
    (tmp_path / name).write_text("".join(f'#include "{i}"\n' for i in includes))


def test_an_upward_include_fails(tmp_path):
    write(tmp_path, "transport.h", "vex_net.h")
    write(tmp_path, "http1.h", "transport.h")
    write(tmp_path, "transport_tcp.c", "transport.h", "http1.h")   # reaches up
    p = subprocess.run([sys.executable, CHECKER, str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "transport_tcp.c (transport) includes http1.h (http1)" in p.stdout


def test_another_layers_internals_and_a_cycle_fail(tmp_path):
    files = {"handlers.c": ["http1_internal.h"], "routes.h": ["static_files.h"],
             "static_files.h": ["routes.h"]}
    bad = check_layers.violations(files)
    assert any("another layer's internals" in b for b in bad), bad
    assert any(b.startswith("include cycle: ") for b in bad), bad


def test_metrics_count_connections_per_state(server):
    """The state machine's gauges: two idle keep-alive clients are READING,
    the client asking for /metrics is PROCESSING, nothing else is open."""
    from server_helpers import Reader
    idle = [server.connect() for _ in range(2)]
    for s in idle:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Reader(s).response().status == 200
    m = server.metrics()
    got = {k: v for k, v in m.items() if k.startswith("vex_connections{")}
    assert got == {
        'vex_connections{state="accepting"}': 0, 'vex_connections{state="reading"}': 2,
        'vex_connections{state="processing"}': 1, 'vex_connections{state="writing"}': 0,
        'vex_connections{state="closing"}': 0,
    }, got
    for s in idle:
        s.close()
