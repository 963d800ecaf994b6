"""Parser for the `=== SERVER STATISTICS ===` blocks that production_server prints.

Each `Key:   value [unit]` line becomes a snake_case key with the unit as suffix
(`Uptime: 10.0 s` -> uptime_s, `Latency p99: 0.180 ms` -> latency_p99_ms). Values with a
decimal point are floats, other numbers ints, anything else a string. Unknown lines are
kept the same way, so new counters need no change here.
"""
from __future__ import annotations

import re

START = "=== SERVER STATISTICS ==="
_END = re.compile(r"^=+\s*$")
_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")
_NUM = re.compile(r"^([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?:\s+(\S+))?$")


def _key(label: str, unit: str | None) -> str:
    k = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower()
    if unit:
        unit = unit.replace("µ", "u").replace("%", "pct")
        k += "_" + re.sub(r"[^0-9a-zA-Z]+", "_", unit).strip("_").lower()
    return k


def parse_value(text: str):
    m = _NUM.match(text)
    if not m:
        return None, text
    raw, unit = m.group(1), m.group(2)
    value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    return unit, value


def parse_blocks(text: str) -> list:
    """Every complete statistics block in `text` (e.g. a server's stdout), oldest first."""
    blocks, cur = [], None
    for line in text.splitlines():
        s = line.strip()
        if s == START:
            cur = {}
            continue
        if cur is None:
            continue
        if _END.match(s):
            blocks.append(cur)
            cur = None
            continue
        m = _LINE.match(line)
        if not m:
            continue
        unit, value = parse_value(m.group(2))
        cur[_key(m.group(1), unit)] = value
    return blocks


def last_block(text: str) -> dict | None:
    blocks = parse_blocks(text)
    return blocks[-1] if blocks else None
