"""Declarative load profiles (bench/profiles/*.toml) and profile sets (sets.toml).

A profile says what load to apply; a set picks profiles and the run settings (duration,
warm-up, trials). A *case* is one profile at one connection count: the unit that the
runner measures, interleaving targets trial by trial.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

from .variants import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = ROOT / "bench" / "profiles"
SETS_FILE = "sets.toml"

# curve: closed-loop max rate (wrk), then open-loop levels (vex_loadgen), see curve.py
# s_time: `openssl s_time`, one TLS connection after another (-new: full handshakes;
# -reuse: resumed ones), for https targets only (see s_time.py)
# h2load: a fixed request count from concurrent clients (h2load.py)
TOOLS = ("wrk", "ab", "hyperfine", "idle", "curve", "openloop", "s_time", "h2load")
HTTPS_ONLY = ("s_time",)
PLAIN_ONLY = ("idle", "curve", "openloop")   # plain sockets / vex_loadgen: no TLS
SCHEDULES = ("constant", "poisson")
METHODS = ("GET", "POST", "PUT", "HEAD", "DELETE")


class ProfileError(ValueError):
    """A profile or set file is malformed or a name is unknown."""


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    tool: str = "wrk"
    description: str = ""
    method: str = "GET"
    path: str = "/"
    headers: tuple = ()              # ((name, value), ...)
    body_bytes: int = 0              # generated body of this many bytes ("x" repeated)
    body: str = ""                   # or a literal body
    content_type: str = "application/octet-stream"
    connections: tuple = (100,)
    threads: int = 1                 # wrk threads (the load generator has one core)
    pipeline: int = 1                # requests per write (wrk only)
    keepalive: bool = True
    min_duration: float = 0.0        # trials last at least this long (e.g. 10k connects)
    requests: int = 0                # ab: cap on requests; hyperfine: fixed work per run
    runs: int = 3                    # hyperfine runs per trial
    timeout: float = 2.0             # per-request timeout, seconds
    expect_status: int = 200
    expect_body_bytes: int = -1      # -1: not checked
    sweep: bool = True               # --connections may replace `connections`
    levels: tuple = (10, 25, 50, 75, 90, 95, 100)  # curve: % of the measured max rate
    slo_ms: float = 1.0              # curve: the p99 objective for the SLO figure
    schedule: str = "constant"       # curve/openloop: constant | poisson
    tls_resume: bool = False         # s_time: resume the session (-reuse), else -new

    @classmethod
    def from_dict(cls, name: str, data: dict) -> "Profile":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f"profile {name}: unknown keys {sorted(unknown)}")
        d = dict(data)
        d["name"] = d.get("name", name)
        if "connections" in d:
            c = d["connections"]
            d["connections"] = tuple(c) if isinstance(c, (list, tuple)) else (c,)
        if "levels" in d:
            d["levels"] = tuple(d["levels"])
        if "headers" in d:
            h = d["headers"]
            d["headers"] = tuple(sorted(h.items())) if isinstance(h, dict) else tuple(map(tuple, h))
        p = cls(**d)
        p.validate()
        return p

    def validate(self) -> None:
        err = lambda msg: ProfileError(f"profile {self.name}: {msg}")  # noqa: E731
        if self.tool not in TOOLS:
            raise err(f"tool must be one of {TOOLS}, not {self.tool!r}")
        if self.method.upper() not in METHODS:
            raise err(f"method {self.method!r} not supported")
        if not self.path.startswith("/"):
            raise err("path must start with /")
        if not self.connections or any(int(c) < 1 for c in self.connections):
            raise err("connections must be positive")
        if self.pipeline < 1 or (self.pipeline > 1 and self.tool != "wrk"):
            raise err("pipeline > 1 needs tool wrk")
        if self.tool in ("hyperfine", "h2load") and self.requests < 1:
            raise err(f"{self.tool} profiles need requests (fixed work per run)")
        if self.tool == "h2load" and (self.method.upper() != "GET" or self.body_data()):
            raise err("h2load profiles send GET without a body")
        if self.body and self.body_bytes:
            raise err("give body or body_bytes, not both")
        if self.threads < 1 or self.runs < 1 or self.timeout <= 0:
            raise err("threads, runs and timeout must be positive")
        if self.tls_resume and self.tool != "s_time":
            raise err("tls_resume needs tool s_time")
        if self.tool == "s_time" and (self.method.upper() != "GET" or self.headers
                                      or self.body_data() or self.connections != (1,)):
            raise err("s_time sends one GET without headers or body on one connection "
                      "at a time: connections = [1]")
        if self.tool in ("curve", "openloop"):
            if not self.levels or any(not 0 < float(x) <= 200 for x in self.levels):
                raise err("levels must be percentages in (0, 200]")
            if self.slo_ms <= 0:
                raise err("slo_ms must be positive")
            if self.schedule not in SCHEDULES:
                raise err(f"schedule must be one of {SCHEDULES}")
            if self.pipeline != 1:
                raise err("curve/openloop profiles send one request at a time per connection")

    @property
    def schemes(self) -> tuple:
        """The target schemes this profile can load (an https target's TLS port)."""
        if self.tool in HTTPS_ONLY:
            return ("https",)
        if self.tool in PLAIN_ONLY:
            return ("http",)
        return ("http", "https")

    @property
    def accept_encodings(self) -> tuple:
        """The content codings the profile's Accept-Encoding names (q > 0), or ()."""
        value = next((v for k, v in self.headers if k.lower() == "accept-encoding"), "")
        out = []
        for part in str(value).split(","):
            coding, _, params = part.strip().partition(";")
            q = params.strip().lower()
            try:
                refused = q.startswith("q=") and float(q[2:] or 0) == 0
            except ValueError:
                refused = False          # a malformed q is ignored, as the server does
            if coding.strip() and not refused:
                out.append(coding.strip().lower())
        return tuple(out)

    def body_data(self) -> bytes:
        return self.body.encode() if self.body else b"x" * self.body_bytes

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["connections"] = list(self.connections)
        d["headers"] = dict(self.headers)
        d["levels"] = list(self.levels)
        return d

    def replace(self, **kw) -> "Profile":
        if "levels" in kw:
            kw["levels"] = tuple(kw["levels"])
        if "connections" in kw and not isinstance(kw["connections"], tuple):
            c = kw["connections"]
            kw["connections"] = tuple(c) if isinstance(c, (list, tuple)) else (c,)
        return dataclasses.replace(self, **kw)


@dataclasses.dataclass(frozen=True)
class Case:
    """One profile at one connection count, with the run's duration settled."""
    profile: Profile
    connections: int
    duration: float
    warmup: float

    @property
    def id(self) -> str:
        return f"{self.profile.name}@c{self.connections}"

    def to_dict(self) -> dict:
        return {"id": self.id, "profile": self.profile.name, "tool": self.profile.tool,
                "connections": self.connections, "duration_s": self.duration,
                "warmup_s": self.warmup, "spec": self.profile.to_dict()}


@dataclasses.dataclass
class Plan:
    name: str                     # set name or comma list given
    cases: list
    trials: int
    duration: float
    warmup: float
    time_builds: bool = False
    variants: tuple = ()          # target variants (variants.py): feature on, same run

    def paths(self) -> set:
        return {c.profile.path for c in self.cases}

    def max_connections(self) -> int:
        return max((c.connections for c in self.cases), default=1)

    def to_dict(self) -> dict:
        return {"name": self.name, "trials": self.trials, "duration_s": self.duration,
                "warmup_s": self.warmup, "time_builds": self.time_builds,
                "variants": list(self.variants),
                "cases": [c.id for c in self.cases]}


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path}: {e}") from None


def load_profiles(directory: Path = PROFILE_DIR) -> dict:
    """All profiles in `directory`, by name (file stem)."""
    out = {}
    for path in sorted(Path(directory).glob("*.toml")):
        if path.name == SETS_FILE:
            continue
        out[path.stem] = Profile.from_dict(path.stem, _read_toml(path))
    return out


def load_sets(directory: Path = PROFILE_DIR) -> dict:
    path = Path(directory) / SETS_FILE
    return _read_toml(path) if path.exists() else {}


SET_KEYS = {"description", "profiles", "duration", "warmup", "trials", "time_builds", "overrides",
            "variants"}
DEFAULTS = {"duration": 5.0, "warmup": 2.0, "trials": 3}


def make_plan(selection: str = "quick", *, directory: Path = PROFILE_DIR,
              duration: float | None = None, trials: int | None = None,
              warmup: float | None = None, connections: list | None = None) -> Plan:
    """Resolve `selection` (a set name, a profile name, or a comma list of them) into cases.

    Command-line values (duration, trials, warmup, connections) win over the set's.
    `connections` replaces the connection list of every profile with sweep = true.
    """
    profiles = load_profiles(directory)
    sets = load_sets(directory)
    chosen: list = []
    variants: list = []
    settings = dict(DEFAULTS, time_builds=False)
    for token in [t.strip() for t in selection.split(",") if t.strip()]:
        if token in sets:
            s = sets[token]
            bad = set(s) - SET_KEYS
            if bad:
                raise ProfileError(f"set {token}: unknown keys {sorted(bad)}")
            for k in ("duration", "warmup", "trials", "time_builds"):
                if k in s:
                    settings[k] = s[k]
            for v in s.get("variants", []):
                if v not in VARIANTS:
                    raise ProfileError(f"set {token}: unknown variant {v!r}; known: "
                                       f"{sorted(VARIANTS)}")
                if v not in variants:
                    variants.append(v)
            overrides = s.get("overrides", {})
            for name in s.get("profiles", []):
                if name not in profiles:
                    raise ProfileError(f"set {token}: unknown profile {name!r}")
                p = profiles[name]
                if name in overrides:
                    try:
                        p = p.replace(**overrides[name])
                    except TypeError as e:
                        raise ProfileError(f"set {token}: override of {name}: {e}") from None
                    p.validate()
                chosen.append(p)
        elif token in profiles:
            chosen.append(profiles[token])
        else:
            raise ProfileError(f"unknown profile or set {token!r}; sets: {sorted(sets)}, "
                               f"profiles: {sorted(profiles)}")
    if duration is not None:
        settings["duration"] = duration
    if trials is not None:
        settings["trials"] = trials
    if warmup is not None:
        settings["warmup"] = warmup
    if settings["trials"] < 1:
        raise ProfileError("trials must be at least 1")
    if settings["duration"] <= 0:
        raise ProfileError("duration must be positive")
    cases, seen = [], set()
    for p in chosen:
        conns = p.connections
        if connections and p.sweep:
            conns = tuple(connections)
        d = max(p.min_duration, settings["duration"])
        for c in conns:
            case = Case(p, int(c), float(d), float(min(settings["warmup"], d)))
            if case.id not in seen:
                seen.add(case.id)
                cases.append(case)
    return Plan(selection, cases, int(settings["trials"]), float(settings["duration"]),
                float(settings["warmup"]), bool(settings["time_builds"]), tuple(variants))


def wrk_seconds(seconds: float) -> int:
    """wrk takes whole seconds."""
    return max(1, math.ceil(seconds))
