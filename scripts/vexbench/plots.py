"""PNG plots of a results doc (matplotlib, Agg). Each function writes one file and returns
its path, or None when the run has nothing to show for it."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from .progress import human  # noqa: E402
from .report import case_order, target_order  # noqa: E402
from .results import summary_index  # noqa: E402

# Backends and peers draw from palettes that share no colour (a variant run has twice the
# targets: poll+tls must not look like nginx).
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#e377c2", "#17becf", "#aec7e8",
           "#ffbb78"]
PEER_PALETTE = ["#7f7f7f", "#8c564b", "#bcbd22"]
PCTS = (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99))
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                     "legend.fontsize": 9, "figure.dpi": 100})


def colors(doc: dict) -> dict:
    kinds = {t["name"]: t["kind"] for t in doc["targets"]}
    out, b, p = {}, 0, 0
    for name in target_order(doc):
        if kinds.get(name) == "peer":
            out[name] = PEER_PALETTE[p % len(PEER_PALETTE)]
            p += 1
        else:
            out[name] = PALETTE[b % len(PALETTE)]
            b += 1
    return out


def _grid(n: int, ncols: int = 3, w: float = 4.6, h: float = 3.4):
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.8), squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def _trials_note(doc: dict) -> str:
    plan = doc["options"].get("plan", {})
    return (f"median of {plan.get('trials')} trials, bars = min–max; "
            f"run {doc['run_id']}; {doc['pinning'].get('note', '')}")


def _footer(fig, text: str) -> float:
    """Wrap a footnote to the figure's width; return the bottom margin it needs (0-1)."""
    width_chars = int(fig.get_figwidth() * 100 / 6.3)
    lines = textwrap.wrap(text, width_chars) or [""]
    fig.text(0.5, 0.005, "\n".join(lines), ha="center", va="bottom", fontsize=8, color="#444")
    return (0.16 + 0.15 * len(lines)) / fig.get_figheight()


def _log_y(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _legend(fig, doc: dict, col: dict, kind: str = "line", top: float = 0.955) -> None:
    """One legend for the whole figure, under the title."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    names = target_order(doc)
    if kind == "line":
        handles = [Line2D([], [], color=col[t], marker="o", ms=5, label=t) for t in names]
    else:
        handles = [Patch(facecolor=col[t], edgecolor="black", linewidth=0.5, label=t) for t in names]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, top),
               ncols=min(len(names), 8), frameon=False, fontsize=10)


def _curve_sub_cases(doc: dict) -> set:
    """Probe and level sub-cases of latency curves: drawn by plot_curves only."""
    return {c["id"] for c in doc["cases"] if c.get("parent")}


def _cases_with(doc: dict, metric: str) -> list:
    idx = summary_index(doc)
    sub = _curve_sub_cases(doc)
    return [c for c in case_order(doc) if c not in sub and
            any(idx.get((c, t), {}).get("metrics", {}).get(metric) for t in target_order(doc))]


def _bars(ax, doc, case, metric, col, fmt):
    idx = summary_index(doc)
    targets = [t for t in target_order(doc) if (case, t) in idx and idx[(case, t)]["metrics"].get(metric)]
    meds, lo, hi = [], [], []
    for t in targets:
        v = idx[(case, t)]["metrics"][metric]
        meds.append(v["median"])
        lo.append(v["median"] - v["min"])
        hi.append(v["max"] - v["median"])
    x = range(len(targets))
    ax.bar(x, meds, yerr=[lo, hi], capsize=4, color=[col[t] for t in targets],
           edgecolor="black", linewidth=0.5, error_kw={"elinewidth": 1})
    many = len(targets) > 5               # e.g. every target and its +variant twin
    ax.set_xticks(list(x), targets, rotation=30 if many else 0, ha="right" if many else "center",
                  fontsize=8 if many else None)
    top = max((m + h for m, h in zip(meds, hi)), default=1)
    ax.set_ylim(0, top * 1.22 if top > 0 else 1)
    for xi, m, h in zip(x, meds, hi):
        ax.text(xi, m + h + top * 0.02, fmt(m), ha="center", va="bottom", fontsize=9)
        flags = idx[(case, targets[xi])]["flags"]
        if flags:
            ax.text(xi, top * 0.05, "⚠", ha="center", va="bottom", fontsize=12, color="red")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return targets


def plot_rps(doc: dict, out: Path) -> Path | None:
    cases = _cases_with(doc, "rps")
    if not cases:
        return None
    col = colors(doc)
    fig, axes = _grid(len(cases))
    for ax, case in zip(axes, cases):
        _bars(ax, doc, case, "rps", col, human)
        ax.set_title(case)
        ax.set_ylabel("requests/s")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    fig.suptitle("Requests per second by profile and target (higher is better)", fontsize=13)
    bottom = _footer(fig, _trials_note(doc) + "; ⚠ = errors or flags, see REPORT.md")
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    path = out / "rps.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_cpu(doc: dict, out: Path) -> Path | None:
    """Server CPU µs per request, one panel per case (each with its own scale: pipelined
    requests cost a tenth of plain ones)."""
    cases = _cases_with(doc, "cpu_us_per_req")
    if not cases:
        return None
    col = colors(doc)
    fig, axes = _grid(len(cases))
    for ax, case in zip(axes, cases):
        _bars(ax, doc, case, "cpu_us_per_req", col, lambda v: f"{v:.2f}" if v < 10 else f"{v:.1f}")
        ax.set_title(case)
        ax.set_ylabel("server CPU µs / request")
    fig.suptitle("Server CPU time per request, user + system (lower is better)", fontsize=13)
    bottom = _footer(fig, _trials_note(doc) + "; CPU = on-CPU time of the server process "
                     "tree ÷ requests the server counted; ⚠ = errors or flags, see REPORT.md")
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    path = out / "cpu_per_request.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _nines(p: float) -> float:
    return -math.log10(1 - p / 100.0)


def plot_latency(doc: dict, out: Path) -> Path | None:
    """Latency percentile curves, log scales, one panel per case."""
    idx = summary_index(doc)
    cases = [c for c in _cases_with(doc, "p50_ms")]
    if not cases:
        return None
    col = colors(doc)
    fig, axes = _grid(len(cases))
    for ax, case in zip(axes, cases):
        for t in target_order(doc):
            s = idx.get((case, t))
            if not s:
                continue
            pts = [(_nines(p), s["metrics"][f"{k}_ms"]) for k, p in PCTS if s["metrics"].get(f"{k}_ms")]
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ax.plot(xs, [v["median"] for _, v in pts], marker="o", ms=4, color=col[t], label=t)
            ax.fill_between(xs, [v["min"] for _, v in pts], [v["max"] for _, v in pts],
                            color=col[t], alpha=0.10, linewidth=0)
        _log_y(ax)
        ax.set_xticks([_nines(p) for _, p in PCTS], [k for k, _ in PCTS])
        ax.set_xlim(_nines(50) - 0.2, _nines(99.99) + 0.2)
        ax.set_title(case)
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_xlabel("percentile")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle("Client-side latency percentiles (lower is better; band = min–max)", fontsize=13)
    _legend(fig, doc, col, "line", top=1 - 0.5 / fig.get_figheight())
    bottom = _footer(fig, _trials_note(doc) + "; ab profiles report p50–p99 only")
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.85 / fig.get_figheight()))
    path = out / "latency.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def sweeps(doc: dict) -> dict:
    """profile -> sorted connection levels, for profiles run at 2+ levels."""
    levels: dict = {}
    for c in doc["cases"]:
        if c.get("status") == "ok" and c["tool"] in ("wrk", "ab"):
            levels.setdefault(c["profile"], set()).add(c["connections"])
    return {p: sorted(v) for p, v in levels.items() if len(v) > 1}


def plot_sweep(doc: dict, out: Path) -> Path | None:
    sw = sweeps(doc)
    if not sw:
        return None
    idx = summary_index(doc)
    col = colors(doc)
    fig, axes = plt.subplots(len(sw), 2, figsize=(11, 3.6 * len(sw) + 0.8), squeeze=False)
    for row, (prof, levels) in zip(axes, sw.items()):
        for ax, metric, ylabel in ((row[0], "rps", "requests/s"),
                                   (row[1], "p99_ms", "latency p99 (ms, log scale)")):
            for t in target_order(doc):
                pts = [(c, idx.get((f"{prof}@c{c}", t), {}).get("metrics", {}).get(metric))
                       for c in levels]
                pts = [(c, v) for c, v in pts if v]
                if not pts:
                    continue
                xs = [c for c, _ in pts]
                med = [v["median"] for _, v in pts]
                err = [[v["median"] - v["min"] for _, v in pts], [v["max"] - v["median"] for _, v in pts]]
                ax.errorbar(xs, med, yerr=err, marker="o", ms=4, capsize=3, color=col[t], label=t)
            ax.set_xscale("log")
            ax.set_xticks(levels, [str(c) for c in levels])
            ax.minorticks_off()
            if metric == "p99_ms":
                _log_y(ax)
            else:
                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
            ax.set_xlabel("concurrent connections (log scale)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{prof}: {'requests/s' if metric == 'rps' else 'p99 latency'} vs connections")
            ax.grid(True, alpha=0.3)
    fig.suptitle("Connection sweep (median, bars = min–max)", fontsize=13)
    _legend(fig, doc, col, "line", top=1 - 0.5 / fig.get_figheight())
    bottom = _footer(fig, _trials_note(doc))
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.85 / fig.get_figheight()))
    path = out / "sweep.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_memory(doc: dict, out: Path) -> Path | None:
    cases = _cases_with(doc, "mem_per_conn_bytes")
    if not cases:
        return None
    col = colors(doc)
    fig, axes = _grid(len(cases), ncols=2, w=5.5, h=3.6)
    for ax, case in zip(axes, cases):
        _bars(ax, doc, case, "mem_per_conn_bytes", col, lambda v: human(v, "B"))
        ax.set_title(case)
        ax.set_ylabel("server RSS per idle connection (bytes)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v, "B")))
    fig.suptitle("Memory per idle keep-alive connection (lower is better)", fontsize=12)
    bottom = _footer(fig, "server RSS delta with N keep-alive connections open (one request "
                     "each), measured on a freshly started server; " + _trials_note(doc))
    fig.tight_layout(rect=(0, bottom, 1, 0.93))
    path = out / "memory_per_connection.png"
    fig.savefig(path)
    plt.close(fig)
    return path


CURVE_PCTS = (("p50_ms", "p50", ":"), ("p99_ms", "p99", "-"), ("p99.9_ms", "p99.9", "--"))


def plot_curves(doc: dict, out: Path) -> Path | None:
    """Latency against offered load, one panel per target (and curve case): p50, p99 and
    p99.9 from each level's merged histograms, the SLO line and the SLO rate."""
    curves = doc.get("curves") or []
    order = {t: i for i, t in enumerate(target_order(doc))}
    panels = sorted((c for c in curves if c["levels"]),
                    key=lambda c: (c["case"], order.get(c["target"], len(order))))
    if not panels:
        return None
    col = colors(doc)
    n = len(panels)
    fig, axes = _grid(n, ncols=min(2, n), w=6.0 if n > 1 else 7.5, h=4.0)
    for ax, c in zip(axes, panels):
        lv = [x for x in c["levels"] if x["offered_rps"]]
        xs = [x["offered_rps"] for x in lv]
        for key, label, style in CURVE_PCTS:
            ys = [x[key] for x in lv]
            ax.plot(xs, ys, linestyle=style, marker="o", ms=3.5, color=col.get(c["target"], "k"),
                    label=label)
        ax.axhline(c["slo_ms"], color="#d62728", lw=0.9, alpha=0.7)
        ax.text(xs[0] if xs else 0, c["slo_ms"] * 1.08, f"SLO p99 ≤ {c['slo_ms']:g} ms",
                color="#d62728", fontsize=8)
        if c.get("slo_rps"):
            ax.axvline(c["slo_rps"], color="#d62728", lw=0.9, ls=":", alpha=0.7)
        _log_y(ax)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
        slo = human(c["slo_rps"]) if c.get("slo_rps") else "none"
        ax.set_title(f"{c['target']} — {c['case']}\nmax {human(c['max_rps'] or 0)} req/s "
                     f"(wrk), SLO rate {slo}", fontsize=10)
        ax.set_xlabel("offered load (req/s, open loop)")
        ax.set_ylabel("latency (ms, log scale)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Latency against offered load (vex_loadgen, from intended send times)",
                 fontsize=13)
    levels = ", ".join(f"{x['pct']:g}" for x in panels[0]["levels"])
    bottom = _footer(fig, f"levels {levels} % of each target's own closed-loop maximum "
                          f"(median of wrk trials); percentiles of each level's trials' "
                          f"histograms merged exactly; run {doc['run_id']}; "
                          f"{doc['pinning'].get('note', '')}")
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.5 / fig.get_figheight()))
    path = out / "latency_curve.png"
    fig.savefig(path)
    plt.close(fig)
    return path


PLOTS = (("Requests per second", plot_rps), ("Server CPU per request", plot_cpu),
         ("Latency percentiles", plot_latency), ("Connection sweep", plot_sweep),
         ("Memory per connection", plot_memory),
         ("Latency against offered load", plot_curves))


def plot_all(doc: dict, out: Path) -> list:
    """[(title, path)] of the PNGs written into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for title, fn in PLOTS:
        p = fn(doc, out)
        if p:
            made.append((title, p))
    return made
