"""Prometheus text exposition format (0.0.4) parser, independent of metric names.

parse() returns a Scrape: samples (name, labels, value, timestamp) plus the # TYPE and
# HELP of each family. Helpers read one value, take the delta of counters between two
scrapes and estimate a quantile from histogram buckets.
"""
from __future__ import annotations

import dataclasses
import math
import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


class ParseError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple          # sorted ((key, value), ...)
    value: float
    timestamp: int | None = None

    @property
    def key(self) -> str:
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f'{k}="{v}"' for k, v in self.labels) + "}"


@dataclasses.dataclass
class Scrape:
    samples: list
    types: dict            # family -> counter|gauge|histogram|summary|untyped
    help: dict

    def get(self, name: str, default=None, **labels) -> float | None:
        want = {k: str(v) for k, v in labels.items()}
        for s in self.samples:
            if s.name == name and all(dict(s.labels).get(k) == v for k, v in want.items()):
                return s.value
        return default

    def family_type(self, sample_name: str) -> str:
        if sample_name in self.types:
            return self.types[sample_name]
        for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
            if sample_name.endswith(suffix):
                base = sample_name[: -len(suffix)]
                if base in self.types:
                    return self.types[base]
        return "untyped"

    def as_dict(self) -> dict:
        return {s.key: s.value for s in self.samples}


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), "\\" + m.group(1)), v)


def parse_labels(text: str) -> tuple:
    labels, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            raise ParseError(f"bad labels: {text!r}")
        labels.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
    return tuple(sorted(labels))


def parse_value(text: str) -> float:
    t = text.strip()
    special = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if t in special:
        return special[t]
    return float(t)


def parse(text: str) -> Scrape:
    samples, types, helps = [], {}, {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].split(None, 2)
            if len(parts) >= 2 and parts[0] == "TYPE":
                types[parts[1]] = parts[2].strip() if len(parts) > 2 else "untyped"
            elif len(parts) >= 2 and parts[0] == "HELP":
                helps[parts[1]] = parts[2] if len(parts) > 2 else ""
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ParseError(f"line {n}: cannot parse {raw!r}")
        try:
            value = parse_value(m.group(3))
        except ValueError:
            raise ParseError(f"line {n}: bad value {m.group(3)!r}") from None
        ts = int(m.group(4)) if m.group(4) else None
        samples.append(Sample(m.group(1), parse_labels(m.group(2) or ""), value, ts))
    return Scrape(samples, types, helps)


def delta(before: Scrape, after: Scrape) -> dict:
    """Per-sample change for counters and histogram/summary series; gauges keep their
    latest value. Keyed by the sample's `name{labels}` string."""
    old = before.as_dict() if before else {}
    out = {}
    for s in after.samples:
        kind = after.family_type(s.name)
        if kind in ("counter", "histogram", "summary") and not s.name.endswith("_created"):
            if kind == "summary" and "quantile" in dict(s.labels):
                out[s.key] = s.value
            else:
                out[s.key] = s.value - old.get(s.key, 0.0)
        else:
            out[s.key] = s.value
    return out


def histogram_buckets(values: dict, family: str, **labels) -> list:
    """[(upper_bound, cumulative_count)] of `family` from a {key: value} dict (a delta or
    Scrape.as_dict()), sorted by bound."""
    out = []
    prefix = family + "_bucket{"
    for key, v in values.items():
        if not key.startswith(prefix):
            continue
        lab = dict(parse_labels(key[len(prefix):-1]))
        if any(lab.get(k) != str(val) for k, val in labels.items()):
            continue
        out.append((parse_value(lab["le"]), v))
    return sorted(out)


def histogram_quantile(q: float, buckets: list) -> float | None:
    """Prometheus-style linear interpolation within the bucket holding quantile q."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return buckets[-1][0]
