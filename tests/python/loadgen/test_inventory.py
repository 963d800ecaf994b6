"""The inventory parser (scripts/vexbench/inventory.py) and how commands reach each host."""
import pytest

from vexbench import inventory as I

GOOD = """
server = "srv"
clients = ["c1", "remote"]
[hosts.srv]
via = "netns"
netns = "lab-srv"
address = "198.18.0.1"
[hosts.c1]
via = "netns"
netns = "lab-c1"
cpu = 1
[hosts.remote]
via = "ssh"
ssh = "bench@198.18.5.5"
ssh_options = ["-p", "2222"]
loadgen = "/opt/vex/vex_loadgen"
"""


def test_parse_good_inventory():
    inv = I.parse(GOOD)
    assert inv.server.name == "srv" and inv.server.address == "198.18.0.1"
    assert [c.name for c in inv.clients] == ["c1", "remote"]
    c1, remote = inv.clients
    assert c1.wrap(["wrk", "-c", "2"]) == ["ip", "netns", "exec", "lab-c1", "wrk", "-c", "2"]
    assert c1.pin(["x"]) == ["taskset", "-c", "1", "x"]
    w = remote.wrap(["/opt/vex/vex_loadgen", "--url", "http://198.18.0.1:1/a b"])
    assert w[:6] == ["ssh", "-o", "BatchMode=yes", "-p", "2222", "bench@198.18.5.5"]
    assert w[6] == "--" and w[7] == "/opt/vex/vex_loadgen --url 'http://198.18.0.1:1/a b'"
    assert remote.loadgen_path() == "/opt/vex/vex_loadgen"
    assert I.Host("l").wrap(["a"]) == ["a"]
    d = inv.describe()
    assert d["server"]["netns"] == "lab-srv" and d["clients"][1]["ssh_options"] == ["-p", "2222"]


@pytest.mark.parametrize("text,msg", [
    ("server = 'x'\nclients = ['x']", "no [hosts"),
    (GOOD.replace('server = "srv"', 'server = "nope"'), "names no host"),
    (GOOD.replace('clients = ["c1", "remote"]', 'clients = []'), "non-empty list"),
    (GOOD.replace('clients = ["c1", "remote"]', 'clients = ["c1", "ghost"]'), "'ghost' names no host"),
    (GOOD.replace('clients = ["c1", "remote"]', 'clients = ["c1", "c1"]'), "listed twice"),
    (GOOD.replace('via = "ssh"', 'via = "telnet"'), "via must be one of"),
    (GOOD.replace('netns = "lab-c1"', 'netns = "bad name"'), "needs netns"),
    (GOOD.replace('ssh = "bench@198.18.5.5"', ''), "needs ssh"),
    (GOOD.replace('address = "198.18.0.1"', 'address = "server.example"'), "not a numeric IP"),
    (GOOD.replace('address = "198.18.0.1"', ''), "needs address"),
    (GOOD.replace('cpu = 1', 'cpu = -1'), "CPU number"),
    (GOOD.replace('cpu = 1', 'colour = "red"'), "unknown keys"),
    ("extra = 1\n" + GOOD, "unknown top-level"),
    (GOOD.replace('ssh_options = ["-p", "2222"]', 'ssh_options = "-p 2222"'), "list of strings"),
    ("server = [", "Expected"),
    (GOOD.replace('via = "netns"\nnetns = "lab-srv"', 'via = "ssh"\nssh = "a@b"'), "not supported"),
])
def test_bad_inventories_say_what_is_wrong(text, msg):
    import re
    with pytest.raises(I.InventoryError, match=re.escape(msg) if msg != "Expected" else None):
        I.parse(text)


def test_load_missing_file(tmp_path):
    with pytest.raises(I.InventoryError, match="not found"):
        I.load(tmp_path / "none.toml")


def test_bench_py_reports_a_bad_inventory_with_exit_2(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    bad = tmp_path / "hosts.toml"
    bad.write_text("server = 1\n")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--inventory", str(bad),
                        "--out", str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "hosts.toml" in r.stderr
