"""One progress line on stderr while a run goes on (rewritten in place on a terminal,
one line per step otherwise), with an ETA from the planned work."""
from __future__ import annotations

import sys
import time


def human(n, unit: str = "") -> str:
    if n is None:
        return "-"
    if n == 0:
        return f"0{unit}"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}{unit}"
    return f"{n:.0f}{unit}" if abs(n) >= 10 else f"{n:.2f}{unit}"


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total_weight: float, stream=None, enabled: bool = True):
        self.total = max(total_weight, 1e-9)
        self.done = 0.0
        self.start = time.monotonic()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = 0

    def eta(self) -> float:
        elapsed = time.monotonic() - self.start
        if self.done <= 0:
            return self.total
        return elapsed / self.done * (self.total - self.done)

    def line(self, text: str) -> str:
        pct = 100.0 * self.done / self.total
        return f"[{pct:3.0f}% {clock(time.monotonic() - self.start)} ETA {clock(self.eta())}] {text}"

    def show(self, text: str, transient: bool = False) -> None:
        """transient lines (what is running now) are shown on a terminal only."""
        if not self.enabled or (transient and not self.tty):
            return
        s = self.line(text)
        if self.tty:
            pad = max(0, self.width - len(s))
            self.stream.write("\r" + s + " " * pad)
            self.width = len(s)
        else:
            self.stream.write(s + "\n")
        self.stream.flush()

    def advance(self, weight: float, text: str) -> None:
        self.done = min(self.total, self.done + weight)
        self.show(text)

    def note(self, text: str) -> None:
        """A message on its own line (does not disturb the progress line)."""
        if not self.enabled:
            return
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
