"""Build production_server for base and candidate side by side.

Each tree builds into its own build/<backend>[-slowN]/ folder (the base in its own git
worktree), then the binary is copied into the gate's output folder, so a rebuild in the
checkout while the gate runs cannot swap the binary under a trial.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


class BuildError(RuntimeError):
    pass


def binary_path(tree: Path, backend: str, slowdown: int | None = None) -> Path:
    sub = backend + (f"-slow{slowdown}" if slowdown else "")
    return Path(tree) / "build" / sub / "production_server"


def build(tree: Path, backend: str, *, slowdown: int | None = None, jobs: int = 2,
          log: Path | None = None, timeout: float = 900) -> dict:
    """`make -C tree BACKEND=backend [BENCH_SLOWDOWN=N] build/.../production_server`."""
    target = binary_path(Path("."), backend, slowdown)
    cmd = ["make", "-C", str(tree), f"-j{jobs}", "--no-print-directory", f"BACKEND={backend}"]
    if slowdown:
        cmd.append(f"BENCH_SLOWDOWN={slowdown}")
    cmd.append(str(target))
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, WERROR=os.environ.get("WERROR", "1")))
    except subprocess.TimeoutExpired:
        raise BuildError(f"build timed out after {timeout:g}s: {' '.join(cmd)}") from None
    text = p.stdout + p.stderr
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(cmd)}\n{text}")
    binary = binary_path(tree, backend, slowdown)
    if p.returncode != 0 or not binary.exists():
        tail = " | ".join(text.strip().splitlines()[-4:])
        if "No rule to make target" in text:
            raise BuildError(f"{tree}: this tree cannot build production_server ({tail})")
        raise BuildError(f"build failed in {tree} ({' '.join(cmd[3:])}): {tail}")
    return {"binary": str(binary), "seconds": round(time.monotonic() - t0, 2), "command": cmd}


def snapshot(binary: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    return dest
