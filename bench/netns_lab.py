#!/usr/bin/python3
"""A benchmarking lab of network namespaces on this machine: one server namespace with a
bridge at 198.18.0.1/24 and N client namespaces joined to it by veth pairs (198.18.0.11,
.12, ...: RFC 2544's benchmarking range, with no route out of the lab). Traffic between
them crosses veth links and separate network stacks, not loopback. `up` writes an
inventory for `make bench INVENTORY=...`; `down` removes everything it made.

    bench/netns_lab.py up --clients 2 --inventory /tmp/lab.toml   # as root
    make bench BACKEND=epoll PROFILE=curve INVENTORY=/tmp/lab.toml
    bench/netns_lab.py down
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys

SUBNET = "198.18.0"


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def names(prefix: str, clients: int) -> dict:
    return {"server": f"{prefix}-srv", "clients": [f"{prefix}-c{i}" for i in range(1, clients + 1)]}


def existing(prefix: str) -> list:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if re.fullmatch(rf"{re.escape(prefix)}-(srv|c\d+)", line.split()[0] if line.split() else "")]


def up(prefix: str, clients: int, cpu: int | None = 1) -> str:
    """Create the lab; return the inventory TOML text."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", prefix):
        raise ValueError("prefix: 1-8 lower-case letters/digits, starting with a letter")
    if not 1 <= clients <= 8:
        raise ValueError("clients: 1..8")
    if existing(prefix):
        raise RuntimeError(f"namespaces {existing(prefix)} exist already: `down --prefix {prefix}` first")
    n = names(prefix, clients)
    srv = n["server"]
    try:
        _ip("netns", "add", srv)
        _ip("-n", srv, "link", "set", "lo", "up")
        _ip("-n", srv, "link", "add", "br0", "type", "bridge")
        _ip("-n", srv, "addr", "add", f"{SUBNET}.1/24", "dev", "br0")
        _ip("-n", srv, "link", "set", "br0", "up")
        for i, c in enumerate(n["clients"], 1):
            a, b = f"{prefix}c{i}a", f"{prefix}c{i}b"
            _ip("netns", "add", c)
            _ip("-n", c, "link", "set", "lo", "up")
            _ip("link", "add", a, "netns", c, "type", "veth", "peer", "name", b, "netns", srv)
            _ip("-n", c, "addr", "add", f"{SUBNET}.{10 + i}/24", "dev", a)
            _ip("-n", c, "link", "set", a, "up")
            _ip("-n", srv, "link", "set", b, "master", "br0")
            _ip("-n", srv, "link", "set", b, "up")
    except Exception:
        down(prefix)
        raise
    lines = [f"# written by bench/netns_lab.py up --prefix {prefix} --clients {clients}",
             'server = "srv"', "clients = [" + ", ".join(f'"c{i}"' for i in range(1, clients + 1)) + "]",
             "", "[hosts.srv]", 'via = "netns"', f'netns = "{srv}"', f'address = "{SUBNET}.1"']
    for i, c in enumerate(n["clients"], 1):
        lines += ["", f"[hosts.c{i}]", 'via = "netns"', f'netns = "{c}"']
        if cpu is not None:
            lines.append(f"cpu = {cpu}")
    return "\n".join(lines) + "\n"


def down(prefix: str) -> list:
    gone = []
    for ns in existing(prefix):
        _ip("netns", "del", ns, check=False)
        gone.append(ns)
    return gone


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="create the namespaces and write an inventory")
    u.add_argument("--prefix", default="vexlab")
    u.add_argument("--clients", type=int, default=2)
    u.add_argument("--cpu", type=int, default=1, help="pin client load generators here (default 1)")
    u.add_argument("--inventory", help="write the inventory TOML here (default: stdout)")
    d = sub.add_parser("down", help="remove the lab's namespaces (and with them the links)")
    d.add_argument("--prefix", default="vexlab")
    a = p.parse_args(argv)
    try:
        if a.cmd == "up":
            text = up(a.prefix, a.clients, a.cpu)
            if a.inventory:
                open(a.inventory, "w").write(text)
                print(f"lab {a.prefix}: server {SUBNET}.1, {a.clients} client(s); inventory {a.inventory}")
            else:
                print(text, end="")
        else:
            print("removed: " + (", ".join(down(a.prefix)) or "nothing"))
    except (RuntimeError, ValueError, OSError) as e:
        print(f"netns_lab.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
