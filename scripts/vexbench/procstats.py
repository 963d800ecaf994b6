"""CPU time, memory and context switches of a process and its descendants, from /proc.

CPU: utime + stime of /proc/PID/stat (covers every thread of the process), summed over
the process tree (nginx: master + worker). Memory: VmRSS / VmHWM of /proc/PID/status.
Context switches: summed over /proc/PID/task/*/status (the process file shows one thread).
On-CPU time in nanoseconds: /proc/PID/task/*/schedstat (first field), summed over threads.
utime/stime come in clock ticks (10 ms at 100 Hz), too coarse for trials of one or two
seconds; schedstat gives the same quantity (user + system on-CPU time) to the nanosecond,
so CPU per request uses it when the kernel provides it, and utime/stime otherwise.
"""
from __future__ import annotations

import dataclasses
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class ProcSnapshot:
    pids: tuple = ()
    user_s: float = 0.0
    sys_s: float = 0.0
    rss_bytes: int = 0
    hwm_bytes: int = 0              # peak RSS (max over the tree's processes, summed)
    ctx_voluntary: int = 0
    ctx_involuntary: int = 0
    threads: int = 0
    sched_ns: int | None = None     # on-CPU ns from schedstat (None: not available)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pids"] = list(self.pids)
        return d


def parse_stat(text: str) -> dict:
    """Fields of /proc/PID/stat that we use. comm may contain spaces and parentheses."""
    rparen = text.rindex(")")
    rest = text[rparen + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime 15, ppid 4, num_threads 20
    return {"state": rest[0], "ppid": int(rest[1]), "utime": int(rest[11]),
            "stime": int(rest[12]), "num_threads": int(rest[17])}


def parse_status(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
        elif key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches", "Threads"):
            out[key] = int(value)
    return out


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def children_map() -> dict:
    kids: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        text = _read(f"/proc/{entry}/stat")
        if text:
            try:
                kids.setdefault(parse_stat(text)["ppid"], []).append(int(entry))
            except (ValueError, IndexError):
                pass
    return kids


def process_tree(pid: int, include_children: bool = True) -> list:
    if not include_children:
        return [pid]
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def snapshot(pid: int, include_children: bool = True) -> ProcSnapshot:
    snap = ProcSnapshot()
    pids = []
    for p in process_tree(pid, include_children):
        stat_text = _read(f"/proc/{p}/stat")
        status_text = _read(f"/proc/{p}/status")
        if not stat_text or not status_text:
            continue
        st, status = parse_stat(stat_text), parse_status(status_text)
        pids.append(p)
        snap.user_s += st["utime"] / CLK_TCK
        snap.sys_s += st["stime"] / CLK_TCK
        snap.rss_bytes += status.get("VmRSS", 0)
        snap.hwm_bytes += status.get("VmHWM", 0)
        snap.threads += status.get("Threads", 0)
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            tids = []
        for tid in tids:
            t = parse_status(_read(f"/proc/{p}/task/{tid}/status") or "")
            snap.ctx_voluntary += t.get("voluntary_ctxt_switches", 0)
            snap.ctx_involuntary += t.get("nonvoluntary_ctxt_switches", 0)
            ss = _read(f"/proc/{p}/task/{tid}/schedstat")
            if ss:
                snap.sched_ns = (snap.sched_ns or 0) + int(ss.split()[0])
    snap.pids = tuple(pids)
    return snap


def delta(before: ProcSnapshot, after: ProcSnapshot) -> dict:
    return {
        "cpu_user_s": round(after.user_s - before.user_s, 6),
        "cpu_sys_s": round(after.sys_s - before.sys_s, 6),
        "cpu_s": round(after.cpu_s - before.cpu_s, 6),
        "ctx_voluntary": after.ctx_voluntary - before.ctx_voluntary,
        "ctx_involuntary": after.ctx_involuntary - before.ctx_involuntary,
        "cpu_sched_s": (round((after.sched_ns - before.sched_ns) / 1e9, 9)
                        if after.sched_ns is not None and before.sched_ns is not None else None),
        "rss_bytes": after.rss_bytes,
        "rss_delta_bytes": after.rss_bytes - before.rss_bytes,
        "hwm_bytes": after.hwm_bytes,
    }
