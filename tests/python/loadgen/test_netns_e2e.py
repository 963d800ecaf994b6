"""End to end across network namespaces: bench/netns_lab.py makes a server namespace and two
client namespaces joined by veth pairs (198.18.0.0/24, no route out), `bench.py
--inventory` runs wrk and open-loop profiles from both clients at one moment, and the
merged figures add up; the lab is removed at the end."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import netns_lab  # noqa: E402

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2 (ip)"),
    pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk"),
]


@pytest.fixture
def lab(tmp_path):
    prefix = f"vt{os.getpid() % 100000}"
    netns_lab.down(prefix)
    try:
        text = netns_lab.up(prefix, 2)
    except RuntimeError as e:
        pytest.skip(f"cannot create network namespaces here: {e}")
    inv = tmp_path / "hosts.toml"
    inv.write_text(text)
    yield prefix, inv
    netns_lab.down(prefix)
    assert netns_lab.existing(prefix) == []


def test_lab_has_no_route_out(lab):
    prefix, _ = lab
    r = subprocess.run(["ip", "netns", "exec", f"{prefix}-c1", "ip", "route"], capture_output=True,
                       text=True, timeout=10)
    routes = [line for line in r.stdout.splitlines() if line.strip()]
    assert routes and all(line.startswith("198.18.0.0/24") for line in routes), routes
    assert "default" not in r.stdout


def test_two_clients_across_veth_merge_exactly(lab, tmp_path):
    binary = ROOT / "build" / "epoll" / "production_server"
    if not binary.exists() or not (ROOT / "build" / "epoll" / "vex_loadgen").exists():
        pytest.skip("needs build/epoll (make BACKEND=epoll)")
    prefix, inv = lab
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--backend", "epoll",
                        "--profile", "plaintext,curve-smoke", "--connections", "8", "--duration", "1",
                        "--trials", "1", "--warmup", "0", "--inventory", str(inv), "--out", str(out),
                        "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((out / "latest" / "results.json").read_text())
    hosts = doc["environment"]["hosts"]
    assert set(hosts) == {"srv", "c1", "c2"}
    assert "198.18.0.11/24" in hosts["c1"]["addresses"] and "198.18.0.1/24" in hosts["srv"]["addresses"]
    assert doc["inventory"]["server"]["netns"] == f"{prefix}-srv"
    (srv,) = [t for t in doc["targets"] if t["name"] == "epoll"]
    assert srv["status"] == "ok" and "198.18.0.1" in srv["command"] and srv["exit_code"] == 0
    by_case = {}
    for t in doc["trials"]:
        by_case.setdefault(t["case"], []).append(t)
    # closed loop (wrk) from both clients: counts add up and the server saw them all
    (w,) = by_case["plaintext@c8"]
    assert w["ok"] and [c["host"] for c in w["clients"]] == ["c1", "c2"]
    f = w["figures"]
    assert f["requests"] == sum(c["requests"] for c in w["clients"]) > 0
    assert abs(f["server_requests"] - f["requests"]) <= 8 + 16
    assert f["histogram"]["total"] >= f["requests"]      # wrk's correction may add samples
    # open loop from both clients: half the rate each, started at one moment
    (lv,) = by_case["latency-curve@c8@L25"]
    assert lv["ok"], lv["error"]
    a, b = lv["clients"]
    assert a["rate_rps"] == pytest.approx(b["rate_rps"]) == pytest.approx(lv["rate_rps"] / 2, rel=1e-3)
    assert abs(a["start_unix_ns"] - b["start_unix_ns"]) < 20_000_000      # the barrier
    g = lv["figures"]
    assert g["requests"] == a["requests"] + b["requests"] == g["histogram"]["total"]
    assert abs(g["requests"] - lv["rate_rps"] * 1.0) <= 2
    assert doc["curves"][0]["target"] == "epoll" and len(doc["curves"][0]["levels"]) == 2
