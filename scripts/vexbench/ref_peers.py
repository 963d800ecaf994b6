"""The minimal reference servers (bench/ref_epoll.c, bench/ref_uring.c) as peers.

`--peers ref` (or `ref-epoll`, `ref-uring`) starts build/bench/ref_epoll and
build/bench/ref_uring (`make ref`) beside the backends. They answer every request with
production_server's canned GET / response and nothing else, so they run only the profiles
that send exactly that (`serves`: wrk, GET /, no body); the runner skips them elsewhere.
Each backend's CPU per request is then put over the reference on the same kernel
interface (`cpu_ratios`): epoll over ref-epoll, io_uring over ref-uring.
"""
from __future__ import annotations

from pathlib import Path

from .server import ServerProcess

# peer name -> (binary under build/bench/, backend it is the floor of)
REFS = {"ref-epoll": ("ref_epoll", "epoll"), "ref-uring": ("ref_uring", "io_uring")}
ALIAS = "ref"
NOTE = ("canned GET / response only: runs the wrk GET / profiles; CPU per request uses the "
        "load generator's count (no server-side counter)")


def expand(names: list, backends: list | None = None) -> list:
    """`ref` -> the references of `backends` (None: every backend, so ref-epoll and
    ref-uring); other names unchanged, order kept, no duplicates."""
    mine = [r for r, (_, b) in REFS.items() if backends is None or b in backends]
    out: list = []
    for n in names:
        for m in (mine if n == ALIAS else [n]):
            if m not in out:
                out.append(m)
    return out


def serves(profile) -> bool:
    """What a canned-response server can answer truthfully: keep-alive GET / over wrk
    (pipelined or not), no extra headers, no request body."""
    return (profile.tool == "wrk" and profile.method.upper() == "GET" and profile.path == "/"
            and profile.keepalive and not profile.headers and not profile.body_data()
            and profile.expect_status == 200)


def reference_of(backend: str) -> str | None:
    return next((name for name, (_, b) in REFS.items() if b == backend), None)


def make(name: str, *, build_dir, cpu: int | None = 0, log_dir=None) -> ServerProcess:
    from .peers import PeerUnavailable
    binary = Path(build_dir) / "bench" / REFS[name][0]
    if not (binary.is_file() and binary.stat().st_mode & 0o111):
        raise PeerUnavailable(f"{binary} not found: build it with `make ref`"
                              + (" (needs liburing-dev)" if name == "ref-uring" else ""))
    srv = ServerProcess([str(binary), "--host", "{host}", "--port", "{port}"], name=name,
                        cpu=cpu, log_dir=log_dir, counters=None)
    srv.serves = serves
    srv.notes = [NOTE]
    return srv


def cpu_ratios(doc: dict) -> dict:
    """{(case, backend): {"reference", "ratio", "cpu_us_per_req", "reference_cpu_us_per_req"}}
    for every backend summary whose reference ran the same case (medians over trials)."""
    idx = {(s["case"], s["target"]): s for s in doc["summaries"]}
    kinds = {t["name"]: t["kind"] for t in doc["targets"]}
    out = {}
    for (case, target), s in idx.items():
        ref = reference_of(target)
        if kinds.get(target) != "backend" or not ref or (case, ref) not in idx:
            continue
        mine = (s["metrics"].get("cpu_us_per_req") or {}).get("median")
        floor = (idx[(case, ref)]["metrics"].get("cpu_us_per_req") or {}).get("median")
        if mine and floor:
            out[(case, target)] = {"reference": ref, "ratio": round(mine / floor, 4),
                                   "cpu_us_per_req": mine, "reference_cpu_us_per_req": floor}
    return out


def annotate(doc: dict) -> None:
    """Store cpu_ratios() in the backend summaries as `cpu_vs_ref`."""
    for (case, target), r in cpu_ratios(doc).items():
        for s in doc["summaries"]:
            if s["case"] == case and s["target"] == target:
                s["cpu_vs_ref"] = r
