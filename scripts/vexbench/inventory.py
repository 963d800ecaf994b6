"""Hosts of a multi-host run: a small TOML inventory naming the server host and the client
hosts, and how each is reached: `ssh` (OpenSSH, key-based, BatchMode), `netns` (a Linux
network namespace on this machine: tests and single-machine use) or `local`.

    server = "srv"                 # the host that runs the servers
    clients = ["c1", "c2"]         # the hosts that run the load generators
    [hosts.srv]
    via = "netns"                  # local | netns | ssh
    netns = "vexsrv"
    address = "198.18.0.1"         # the server's address as the clients reach it
    [hosts.c1]
    via = "ssh"
    ssh = "bench@10.0.0.2"         # ssh destination
    ssh_options = ["-p", "2222"]   # optional
    loadgen = "/opt/vex/vex_loadgen"   # optional: the generator's path there
    wrk = "wrk"                    # optional
    cpu = 1                        # optional: pin the load generator there

A client host needs only the load tools (vex_loadgen: `make BACKEND=epoll` there or a
copy of build/epoll/vex_loadgen, its only dependencies are libc (and liburing for an
io_uring build); wrk for closed-loop profiles) and `sh`; results come back on stdout, and
the only file written there is wrk's Lua script (in `workdir`, default /tmp).
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

from .profiles import ROOT

VIAS = ("local", "netns", "ssh")
HOST_KEYS = {"via", "netns", "ssh", "ssh_options", "address", "loadgen", "wrk", "cpu",
             "workdir", "server_binary_dir"}


class InventoryError(ValueError):
    pass


@dataclasses.dataclass
class Host:
    name: str
    via: str = "local"
    netns: str = ""
    ssh: str = ""
    ssh_options: tuple = ()
    address: str = ""
    loadgen: str = ""
    wrk: str = "wrk"
    cpu: int | None = None
    workdir: str = "/tmp"
    server_binary_dir: str = ""     # where build/<backend>/production_server is on a server host

    def wrap(self, argv: list) -> list:
        """argv as run on this host."""
        argv = [str(a) for a in argv]
        if self.via == "netns":
            return ["ip", "netns", "exec", self.netns] + argv
        if self.via == "ssh":
            return ["ssh", "-o", "BatchMode=yes", *self.ssh_options, self.ssh, "--",
                    shlex.join(argv)]
        return argv

    def pin(self, argv: list) -> list:
        return (["taskset", "-c", str(self.cpu)] if self.cpu is not None else []) + list(argv)

    def run(self, argv: list, *, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(self.wrap(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)

    def put(self, text: str, name: str) -> str:
        """Write `text` to workdir/name on this host; return the path there."""
        path = f"{self.workdir.rstrip('/')}/{name}"
        if self.via == "ssh":
            r = self.run(["sh", "-c", f"cat > {shlex.quote(path)}"], input=text)
            if r.returncode != 0:
                raise OSError(f"{self.name}: cannot write {path}: {r.stderr.strip()}")
        else:
            Path(path).write_text(text)
        return path

    def loadgen_path(self) -> str:
        if self.loadgen:
            return self.loadgen
        if self.via == "ssh":
            return "vex_loadgen"
        return str(ROOT / "build" / "epoll" / "vex_loadgen")

    def environment(self) -> dict:
        """The host's kernel, CPU, cores, load and tool versions (one sh round trip)."""
        script = ("uname -sr; nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; "
                  "cut -d' ' -f1-3 /proc/loadavg; "
                  f"{shlex.quote(self.wrk)} -v 2>&1 | head -1; "
                  f"{shlex.quote(self.loadgen_path())} --help 2>/dev/null | sed -n 2p; "
                  "ip -brief addr 2>/dev/null | tr -s ' ' | paste -sd ';'")
        try:
            r = self.run(["sh", "-c", script], timeout=20)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"name": self.name, "via": self.via, "error": str(e)}
        lines = (r.stdout.splitlines() + [""] * 7)[:7]
        env = {"name": self.name, "via": self.via, "kernel": lines[0].strip(),
               "cores": int(lines[1]) if lines[1].strip().isdigit() else None,
               "cpu_model": lines[2].strip(), "loadavg": lines[3].split(),
               "wrk": lines[4].strip(), "loadgen": lines[5].strip(),
               "addresses": lines[6].strip()}
        if self.via == "netns":
            env["netns"] = self.netns
        if self.via == "ssh":
            env["ssh"] = self.ssh
        return env

    def describe(self) -> dict:
        d = dataclasses.asdict(self)
        d["ssh_options"] = list(self.ssh_options)
        return d


@dataclasses.dataclass
class Inventory:
    server: Host
    clients: list
    path: str = ""

    def describe(self) -> dict:
        return {"path": self.path, "server": self.server.describe(),
                "clients": [c.describe() for c in self.clients]}


def _host(name: str, d: dict) -> Host:
    if not isinstance(d, dict):
        raise InventoryError(f"hosts.{name} must be a table")
    bad = set(d) - HOST_KEYS
    if bad:
        raise InventoryError(f"hosts.{name}: unknown keys {sorted(bad)} (known: {sorted(HOST_KEYS)})")
    via = d.get("via", "local")
    if via not in VIAS:
        raise InventoryError(f"hosts.{name}.via must be one of {VIAS}, not {via!r}")
    if via == "netns" and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", str(d.get("netns", ""))):
        raise InventoryError(f"hosts.{name}: via = \"netns\" needs netns = \"<name>\"")
    if via == "ssh" and not d.get("ssh"):
        raise InventoryError(f"hosts.{name}: via = \"ssh\" needs ssh = \"user@host\"")
    opts = d.get("ssh_options", [])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise InventoryError(f"hosts.{name}.ssh_options must be a list of strings")
    cpu = d.get("cpu")
    if cpu is not None and (not isinstance(cpu, int) or cpu < 0):
        raise InventoryError(f"hosts.{name}.cpu must be a CPU number")
    addr = d.get("address", "")
    if addr:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise InventoryError(f"hosts.{name}.address {addr!r} is not a numeric IP address") from None
    return Host(name=name, via=via, netns=str(d.get("netns", "")), ssh=str(d.get("ssh", "")),
                ssh_options=tuple(opts), address=addr, loadgen=str(d.get("loadgen", "")),
                wrk=str(d.get("wrk", "wrk")), cpu=cpu, workdir=str(d.get("workdir", "/tmp")),
                server_binary_dir=str(d.get("server_binary_dir", "")))


def parse(text: str, path: str = "<inventory>") -> Inventory:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InventoryError(f"{path}: {e}") from None
    bad = set(data) - {"server", "clients", "hosts"}
    if bad:
        raise InventoryError(f"{path}: unknown top-level keys {sorted(bad)}")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise InventoryError(f"{path}: no [hosts.<name>] tables")
    parsed = {n: _host(n, d) for n, d in hosts.items()}
    srv = data.get("server")
    if srv not in parsed:
        raise InventoryError(f"{path}: server = {srv!r} names no host (hosts: {sorted(parsed)})")
    clients = data.get("clients")
    if not isinstance(clients, list) or not clients:
        raise InventoryError(f"{path}: clients must be a non-empty list of host names")
    for c in clients:
        if c not in parsed:
            raise InventoryError(f"{path}: client {c!r} names no host (hosts: {sorted(parsed)})")
    if len(set(clients)) != len(clients):
        raise InventoryError(f"{path}: a client host is listed twice")
    server = parsed[srv]
    if not server.address:
        raise InventoryError(f"{path}: hosts.{srv} (the server) needs address = \"<IP>\"")
    if server.via == "ssh":
        raise InventoryError(f"{path}: a server host reached by ssh is not supported yet "
                             "(server CPU and statistics are read from /proc on this machine); "
                             "run the harness on the server host (via = \"local\")")
    return Inventory(server=server, clients=[parsed[c] for c in clients], path=path)


def load(path) -> Inventory:
    p = Path(path)
    try:
        return parse(p.read_text(), str(p))
    except FileNotFoundError:
        raise InventoryError(f"inventory {p} not found") from None
