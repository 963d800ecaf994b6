"""History across commits: chosen figures of the stored runs (results/*/results.json),
one point per commit in commit order (git history, oldest first), with the spread of
every counted trial of every run of that commit — the picture Bencher or asv draw, from
our own results folders.

    series = trend.collect(trend.find_runs("results"), metrics=["cpu_us_per_req"],
                           cases=["plaintext@c100"], repo=".")
    trend.plot(series, "trend.png")
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
from pathlib import Path

from . import results
from .results import METRICS

DEFAULT_METRICS = ("cpu_us_per_req", "rps", "p99_ms")


@dataclasses.dataclass
class Point:
    commit: str
    short: str
    order: int | None         # position in the history (0 = oldest), None = not in it
    started: str              # earliest run of the commit (UTC)
    runs: int
    values: list              # every counted trial's value, all runs of this commit
    dirty: bool

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def find_runs(root) -> list:
    """Every results.json under `root` (one level: results/<run>/results.json), or the
    folders/files given."""
    root = Path(root)
    if root.is_file():
        return [root]
    if (root / "results.json").exists():
        return [root / "results.json"]
    return sorted(p for p in root.glob("*/results.json") if not p.parent.is_symlink())


def commit_order(repo, commits) -> dict:
    """commit -> position in `git rev-list --topo-order --reverse --all` (oldest first)."""
    try:
        r = subprocess.run(["git", "-C", str(repo), "rev-list", "--topo-order", "--reverse", "--all"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    pos = {c: i for i, c in enumerate(r.stdout.split())} if r.returncode == 0 else {}
    return {c: pos.get(c) for c in commits}


def collect(paths, *, metrics=DEFAULT_METRICS, cases=None, targets=None, repo=".") -> dict:
    """{(metric, case, target): [Point, ...] in commit order}. Runs that fail to load
    are skipped (listed under key 'skipped')."""
    per: dict = {}
    skipped = []
    meta: dict = {}
    for p in paths:
        try:
            doc = results.load(p)
        except (OSError, ValueError, json.JSONDecodeError) as e:
            skipped.append(f"{p}: {e}")
            continue
        git = doc["environment"].get("git", {})
        commit = git.get("commit") or f"nogit:{doc['run_id']}"
        m = meta.setdefault(commit, {"short": git.get("short") or commit[:7], "started": doc["started_utc"],
                                     "runs": 0, "dirty": False})
        m["runs"] += 1
        m["started"] = min(m["started"], doc["started_utc"])
        m["dirty"] = m["dirty"] or bool(git.get("dirty"))
        for t in doc["trials"]:
            if t.get("warmup") or not t.get("ok"):
                continue
            if (cases and t["case"] not in cases) or (targets and t["target"] not in targets):
                continue
            tm = results.trial_metrics(t["figures"])
            for metric in metrics:
                v = tm.get(metric)
                if v is not None:
                    per.setdefault((metric, t["case"], t["target"]), {}).setdefault(commit, []).append(v)
    order = commit_order(repo, list(meta))
    out: dict = {}
    for key, by_commit in per.items():
        pts = [Point(c, meta[c]["short"], order.get(c), meta[c]["started"], meta[c]["runs"], v,
                     meta[c]["dirty"]) for c, v in by_commit.items()]
        # history order; commits git does not know go last, by time
        pts.sort(key=lambda p: (p.order is None, p.order if p.order is not None else 0, p.started))
        out[key] = pts
    out["skipped"] = skipped
    return out


def table(series: dict) -> str:
    lines = []
    for key, pts in series.items():
        if key == "skipped":
            continue
        metric, case, target = key
        unit = METRICS.get(metric, ("", "", ""))[0]
        lines.append(f"{case} {target} {metric} ({unit})")
        for p in pts:
            lines.append(f"  {p.short}{'+' if p.dirty else ' '} {p.median:12.4g}  "
                         f"[{min(p.values):.4g} .. {max(p.values):.4g}]  n={len(p.values)} "
                         f"runs={p.runs}{'' if p.order is not None else '  (not in git history)'}")
    return "\n".join(lines) + ("\n" if lines else "")


def plot(series: dict, out) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [k for k in series if k != "skipped" and series[k]]
    if not keys:
        return None
    panels = sorted({(m, c) for m, c, _ in keys})
    targets = sorted({t for _, _, t in keys})
    colors = {t: plt.cm.tab10(i % 10) for i, t in enumerate(targets)}
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows + 0.9), squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[len(panels):]:
        a.set_visible(False)
    for ax, (metric, case) in zip(flat, panels):
        commits: list = []
        for t in targets:
            for p in series.get((metric, case, t), []):
                if p.commit not in [c.commit for c in commits]:
                    commits.append(p)
        commits.sort(key=lambda p: (p.order is None, p.order if p.order is not None else 0, p.started))
        xi = {p.commit: i for i, p in enumerate(commits)}
        for j, t in enumerate(targets):
            pts = series.get((metric, case, t), [])
            if not pts:
                continue
            off = (j - (len(targets) - 1) / 2) * min(0.08, 0.6 / max(1, len(targets)))
            xs = [xi[p.commit] + off for p in pts]
            meds = [p.median for p in pts]
            lo = [p.median - min(p.values) for p in pts]
            hi = [max(p.values) - p.median for p in pts]
            ax.errorbar(xs, meds, yerr=[lo, hi], marker="o", ms=4, capsize=3, color=colors[t],
                        label=t)
        ax.set_xlim(-0.5, len(commits) - 0.5)
        ax.set_xticks(range(len(commits)),
                      [p.short + ("+" if p.dirty else "") for p in commits], rotation=45, ha="right",
                      fontsize=8)
        unit, better, label = METRICS.get(metric, ("", "", metric))
        ax.set_title(f"{case}: {label}", fontsize=10)
        ax.set_ylabel(f"{unit} ({better} is better)" if better else unit)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Figures over commits (oldest left; median, bars = min–max of every trial of "
                 "every run of the commit; + = dirty tree)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
