#!/usr/bin/env python3
"""Fail when a static library defines a global symbol outside vex_*.

The library's public names start with `vex_` and its internal ones with
`vex__` (see src/loop_internal.h), so a program linking libvex_net.a meets no
name of ours that could clash with its own. This reads `nm -P -g` (POSIX
output: GNU, LLVM and BSD nm all speak it) and lists every defined global
that breaks the rule, by archive member. Exit 0: clean; 1: offenders (listed);
2: nm failed or no archive given.

Two kinds of name are not ours to rename and are let through:
  - `__odr_asan.<name>`: ASan's one-definition-rule marker for a global
    variable <name>; it passes when <name> does;
  - every symbol of the archive member kqshim.o: the kqshim builds
    (make test-kqshim) link a stand-in for the BSD kernel, which has to define
    kqueue(), kevent() and close(), into the library on purpose.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys

PREFIX = "vex_"
ALLOWED_MEMBERS = {"kqshim.o"}
ASAN_ODR = "__odr_asan."


def defined_globals(archive: str, nm: str) -> list[tuple[str, str]]:
    """(member, symbol) for every defined global symbol of archive."""
    out = subprocess.run([nm, "-P", "-g", archive], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{nm} -P -g {archive}: {out.stderr.strip() or 'failed'}")
    member = ""
    found = []
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) == 1 and line.endswith(":"):   # "lib.a[member.o]:"
            head = line[:-1]
            member = head[head.rfind("[") + 1:-1] if head.endswith("]") else head
            continue
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind in ("U", "w", "v"):   # undefined, or weak and undefined
            continue
        found.append((member, name))
    return found


def offenders(symbols: list[tuple[str, str]], strip_underscore: bool) -> tuple[list, int]:
    """(the symbols that break the rule, how many were checked)."""
    bad, checked = [], 0
    for member, name in symbols:
        if member.rsplit("/", 1)[-1] in ALLOWED_MEMBERS:
            continue
        checked += 1
        plain = name[1:] if strip_underscore and name.startswith("_") else name
        if plain.startswith(ASAN_ODR):
            plain = plain[len(ASAN_ODR):]
        if not plain.startswith(PREFIX):
            bad.append((member, name))
    return bad, checked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="e.g. scripts/check_symbols.py build/*/libvex_net.a")
    ap.add_argument("archives", nargs="+", help="static libraries (.a) to check")
    ap.add_argument("--nm", default="nm", help="the nm to run (default: nm)")
    ap.add_argument("--strip-underscore", choices=("auto", "yes", "no"), default="auto",
                    help="drop the leading _ C names carry in Mach-O (auto: on macOS)")
    a = ap.parse_args(argv)
    strip = a.strip_underscore == "yes" or (a.strip_underscore == "auto"
                                            and platform.system() == "Darwin")
    failed = 0
    for archive in a.archives:
        try:
            syms = defined_globals(archive, a.nm)
        except (OSError, RuntimeError) as e:
            print(f"check-symbols: {e}", file=sys.stderr)
            return 2
        bad, checked = offenders(syms, strip)
        for member, name in bad:
            print(f"{archive}: {member}: global symbol {name!r} is not {PREFIX}*")
        if bad:
            failed += 1
        else:
            print(f"{archive}: {checked} global symbols, all {PREFIX}*")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
