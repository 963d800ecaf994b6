"""What the run ran on: kernel, CPU, compiler and flags, liburing, tool versions, commit."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cmd(args, cwd=ROOT, timeout=10) -> str | None:
    try:
        r = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (r.stdout or "") + (r.stderr or "")
    return out.strip() if (r.returncode == 0 or out.strip()) else None


def _first(text: str | None) -> str | None:
    return text.splitlines()[0].strip() if text else None


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def git_info() -> dict:
    commit = _cmd(["git", "rev-parse", "HEAD"])
    status = _cmd(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit if commit and re.fullmatch(r"[0-9a-f]{40}", commit) else None,
            "short": commit[:7] if commit and re.fullmatch(r"[0-9a-f]{40}", commit) else "nogit",
            "dirty": bool(status) if status is not None else None}


def make_cflags() -> str | None:
    """CFLAGS the Makefile uses for a backend build (from `make -pnq`)."""
    out = _cmd(["make", "-pnq", "BACKEND=epoll", "all"], timeout=20)
    if not out:
        return None
    vals = {}
    for line in out.splitlines():
        m = re.match(r"^(CFLAGS_BASE|CFLAGS|OPT|SAN_FLAGS|EXTRA_DEFS) :?= ?(.*)$", line)
        if m and m.group(1) not in vals:
            vals[m.group(1)] = m.group(2).strip()
    if "CFLAGS_BASE" not in vals:
        return None
    return " ".join(v for v in (vals.get("CFLAGS_BASE"), vals.get("EXTRA_DEFS"),
                                vals.get("CFLAGS")) if v)


def tool_versions() -> dict:
    v = {}
    if shutil.which("wrk"):
        v["wrk"] = _first(_cmd(["wrk", "-v"]))
    if shutil.which("ab"):
        v["ab"] = _first(_cmd(["ab", "-V"]))
    if shutil.which("hyperfine"):
        v["hyperfine"] = _first(_cmd(["hyperfine", "--version"]))
    for name in ("nginx", "h2o"):
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if path:
            v[name] = _first(_cmd([path, "-v"]))
    return v


def collect() -> dict:
    cc = os.environ.get("CC", "cc")
    return {
        "kernel": platform.release(),
        "os": os_name(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "compiler": _first(_cmd([cc, "--version"])),
        "cflags": make_cflags(),
        "liburing": _cmd(["dpkg-query", "-W", "-f=${Version}", "liburing-dev"]),
        "python": sys.version.split()[0],
        "tools": tool_versions(),
        "git": git_info(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
    }
