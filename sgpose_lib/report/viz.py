"""Plots of results: training curves and DWA weights of run folders, bars with t-intervals,
the radius ablation.

`plot_training_curves` and `plot_dwa_weights` read each run's train/log.jsonl (one JSON object per
step: step, l_key, l_seg, w_key, w_seg); `plot_group_bars` and `plot_radius_ablation` draw
estimates duck-typed as any object with mean, lo, hi, n (and optionally values) attributes, e.g.
`stats.Estimate`; None = no run ("—"). Every function returns its figure.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .canvas import plt
from .formatting import NO_RUN

GROUP_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def read_log(run_dir: str | Path):
    """(steps, validations) of a run folder's log.jsonl as two pandas DataFrames (empty when
    absent); `run_dir` is the train/ folder or runs/<name>."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file() and (Path(run_dir) / "train" / "log.jsonl").is_file():
        path = Path(run_dir) / "train" / "log.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
    frame = pd.DataFrame(rows)
    if frame.empty or "kind" not in frame:
        return pd.DataFrame(), pd.DataFrame()
    steps = frame[frame["kind"] == "step"].dropna(axis=1, how="all").reset_index(drop=True)
    vals = frame[frame["kind"] == "val"].dropna(axis=1, how="all").reset_index(drop=True)
    return steps, vals


def _run_groups(runs) -> dict[str, list[Path]]:
    """A folder, a list of folders or {label: folder(s)} -> {label: [folders]}."""
    def name(p: Path) -> str:
        return p.parent.name if p.name == "train" else p.name
    if isinstance(runs, (str, Path)):
        return {name(Path(runs)): [Path(runs)]}
    if isinstance(runs, dict):
        return {k: [Path(v)] if isinstance(v, (str, Path)) else [Path(x) for x in v]
                for k, v in runs.items()}
    return {name(Path(r)): [Path(r)] for r in runs}


def _smooth(values, span: float | None):
    s = pd.Series(np.asarray(values, dtype=np.float64))
    span = span or max(1.0, len(s) / 25)
    return s.ewm(span=span, adjust=True).mean().to_numpy()


def plot_training_curves(runs, ax=None, dwa: bool | None = None, smooth: float | None = None,
                         title: str | None = None):
    """L_key and L_seg per step (EMA-smoothed, raw values faint) of one or more runs, and with
    `dwa` the DWA weights w_k, w_s. `runs`: a run folder (its train/ folder or runs/<name>), a list
    of them, or {label: folder or [folders]} (one colour per label, e.g. one label per group of
    seeds). `ax`: None (a new figure; `dwa` defaults to True) or a sequence of 2 axes (L_key,
    L_seg) or 3 (+ DWA weights). Baseline runs (no SGM) have no L_seg or DWA lines.
    Returns the figure."""
    groups = _run_groups(runs)
    if ax is None:
        dwa = True if dwa is None else dwa
        fig, axes = plt.subplots(1, 3 if dwa else 2, figsize=(13 if dwa else 9, 3.4))
    else:
        axes = list(np.atleast_1d(ax))
        dwa = len(axes) >= 3 if dwa is None else dwa
        fig = axes[0].figure
    ax_key, ax_seg = axes[0], axes[1]
    ax_w = axes[2] if dwa and len(axes) >= 3 else None
    any_seg = False
    for g, (label, folders) in enumerate(groups.items()):
        color = GROUP_COLORS[g % len(GROUP_COLORS)]
        for k, folder in enumerate(folders):
            steps, _ = read_log(folder)
            if steps.empty:
                continue
            lab = label if k == 0 else None
            x = steps["step"].to_numpy()
            ax_key.plot(x, steps["l_key"], color=color, alpha=0.15, lw=0.6)
            ax_key.plot(x, _smooth(steps["l_key"], smooth), color=color, lw=1.3, label=lab)
            has_seg = bool((steps["w_seg"] > 0).any() or (steps["l_seg"] > 0).any())
            if has_seg:
                any_seg = True
                ax_seg.plot(x, steps["l_seg"], color=color, alpha=0.15, lw=0.6)
                ax_seg.plot(x, _smooth(steps["l_seg"], smooth), color=color, lw=1.3, label=lab)
    if ax_w is not None:
        plot_dwa_weights(groups, ax=ax_w, smooth=smooth)
    ax_key.set_yscale("log")
    ax_key.set_ylabel("L_key (log)")
    ax_seg.set_ylabel("L_seg")
    if not any_seg:
        ax_seg.text(0.5, 0.5, "no SGM in these runs:\nno L_seg", ha="center", va="center",
                    transform=ax_seg.transAxes, fontsize=8, color="0.4")
    for a in (ax_key, ax_seg):
        a.set_xlabel("step")
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    if ax is None:
        ax_key.set_title("L_key: heatmap MSE", fontsize=9)
        ax_seg.set_title("L_seg: BCE of the segmentation maps", fontsize=9)
        fig.suptitle(title or "Training curves: " + ", ".join(groups), fontsize=9)
        fig.tight_layout()
    elif title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_dwa_weights(runs, ax=None, smooth: float | None = None, title: str | None = None):
    """DWA task weights over steps: w_k solid, w_s dashed, one colour per label (runs as in
    `plot_training_curves`). Runs without an SGM (w_s = 0 throughout) are skipped."""
    groups = _run_groups(runs)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
    fig = ax.figure
    drawn = False
    for g, (label, folders) in enumerate(groups.items()):
        color = GROUP_COLORS[g % len(GROUP_COLORS)]
        for k, folder in enumerate(folders):
            steps, _ = read_log(folder)
            if steps.empty or not (steps["w_seg"] > 0).any():
                continue
            drawn = True
            x = steps["step"].to_numpy()
            for col, ls, name in (("w_key", "-", "w_k"), ("w_seg", "--", "w_s")):
                ax.plot(x, steps[col], color=color, alpha=0.15, lw=0.6, ls=ls)
                ax.plot(x, _smooth(steps[col], smooth), color=color, lw=1.2, ls=ls,
                        label=f"{label}: {name}" if k == 0 else None)
    ax.axhline(1.0, color="0.5", lw=0.6, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("DWA weight (sum = 2)")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no SGM run: fixed weights", ha="center", va="center",
                transform=ax.transAxes, fontsize=8, color="0.4")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _est_parts(e):
    """(mean, lower error, upper error, values) of a duck-typed estimate; None/undefined -> nan."""
    if e is None or not getattr(e, "n", 0) or not np.isfinite(e.mean):
        return np.nan, 0.0, 0.0, ()
    has_ci = e.n >= 2 and np.isfinite(e.lo) and np.isfinite(e.hi)
    lo = e.mean - e.lo if has_ci else 0.0
    hi = e.hi - e.mean if has_ci else 0.0
    return e.mean, lo, hi, tuple(getattr(e, "values", ()) or ())


def plot_group_bars(groups: dict, columns, ax=None, ylabel: str = "", title: str | None = None,
                    min_top: float | None = None, digits: int = 1):
    """Grouped bars: one group of bars per column (metric), one bar per label of `groups`
    ({label: {column: estimate or None}}), error bars = the 95 % t-interval where n ≥ 2, dots =
    the seeds' values, each bar's value printed above it (`digits` decimals). A bar without runs
    is left out and marked '—'; n is given in the legend, beside the axes so that it covers no
    bar. The y axis starts at 0 (or below the lowest value) and reaches at least `min_top`, so
    that values near 0 look near 0 rather than filling the axis."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    columns = list(columns)
    n_groups = max(len(groups), 1)
    width = 0.8 / n_groups
    x = np.arange(len(columns))
    low, top = 0.0, 0.0
    for g, (label, est) in enumerate(groups.items()):
        color = GROUP_COLORS[g % len(GROUP_COLORS)]
        xs = x - 0.4 + width * (g + 0.5)
        parts = [_est_parts(est.get(c)) for c in columns]
        means = np.array([p[0] for p in parts])
        err = np.array([[p[1] for p in parts], [p[2] for p in parts]])
        ns = sorted({getattr(e, "n", 0) for e in est.values() if e is not None} or {0})
        ax.bar(xs, np.nan_to_num(means), width * 0.92, color=color, alpha=0.85,
               label=f"{label} (n = {'/'.join(map(str, ns))}{', no CI' if ns[-1] < 2 else ''})")
        ok = np.isfinite(means)
        ax.errorbar(xs[ok], means[ok], yerr=err[:, ok], fmt="none", ecolor="k", elinewidth=0.9,
                    capsize=2.5)
        for xi, p in zip(xs, parts):
            if p[3]:
                ax.scatter(np.full(len(p[3]), xi), p[3], s=7, color="k", zorder=3, alpha=0.7)
            if np.isfinite(p[0]):
                high = max([p[0] + p[2], *p[3]])
                low, top = min([low, p[0] - p[1], *p[3]]), max(top, high)
                ax.annotate(f"{p[0]:.{digits}f}", (xi, high), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7)
            else:
                ax.text(xi, 0, NO_RUN, ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_ylim(low * 1.15, max(top * 1.15, min_top or 0.0) or None)
    ax.set_xticks(x, columns)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    outside_legend(ax)
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def outside_legend(ax, fontsize: float = 8) -> None:
    """The axes' legend beside it, on the right, where it cannot cover what is drawn."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)

def plot_radius_ablation(ours: dict, paper: dict | None = None, baseline=None,
                         paper_baseline: float | None = None, ax=None, metric: str = "Mean"):
    """The disc radius r: ours ({r: estimate or None}, bars with CI and seed dots, the baseline
    as a band) beside the paper's values ({r: number}, with its HRNet-W32 line). `ax`: None or a
    pair of axes. Separate panels because the levels differ by an order of magnitude."""
    if ax is None:
        fig, axes = plt.subplots(1, 2 if paper else 1, figsize=(9 if paper else 5, 3.4),
                                 squeeze=False)
        axes = axes[0]
    else:
        axes = list(np.atleast_1d(ax))
        fig = axes[0].figure
    a = axes[0]
    radii = sorted(ours)
    xs = np.arange(len(radii))
    for i, r in enumerate(radii):
        m, lo, hi, vals = _est_parts(ours[r])
        if np.isfinite(m):
            a.bar(i, m, 0.6, color=GROUP_COLORS[1], alpha=0.85)
            if lo or hi:
                a.errorbar(i, m, yerr=[[lo], [hi]], fmt="none", ecolor="k", capsize=3)
            if vals:
                a.scatter(np.full(len(vals), i), vals, s=8, color="k", zorder=3)
            a.annotate(f"n={ours[r].n}", (i, max([m + hi, *vals])), xytext=(0, 5),
                       textcoords="offset points", ha="center", fontsize=7)
        else:
            a.annotate("no run" if ours[r] is None else "n/a", (i, 0), xytext=(0, 3),
                       textcoords="offset points", ha="center", fontsize=7, color="0.3")
    bm, blo, bhi, _ = _est_parts(baseline)
    if np.isfinite(bm):
        a.axhline(bm, color=GROUP_COLORS[0], lw=1.2, label=f"HRNet baseline (n={baseline.n})")
        if blo or bhi:
            a.axhspan(bm - blo, bm + bhi, color=GROUP_COLORS[0], alpha=0.15)
        a.legend(fontsize=7, loc="lower right")
    a.margins(y=0.12)
    a.set_xticks(xs, [f"r={r:g}" for r in radii])
    a.set_ylabel(f"PCKh@0.5 {metric} (%)")
    a.set_title("ours: SG-HRNet, mean over seeds, ± 95 % t-interval where n ≥ 2", fontsize=9)
    a.grid(axis="y", alpha=0.3)
    if paper and len(axes) > 1:
        b = axes[1]
        pr = sorted(paper)
        vals = [paper[r] for r in pr]
        b.bar(np.arange(len(pr)), vals, 0.6, color=GROUP_COLORS[2], alpha=0.85)
        for i, v in enumerate(vals):
            b.annotate(f"{v:.1f}", (i, v), xytext=(0, 2), textcoords="offset points",
                       ha="center", fontsize=7)
        if paper_baseline is not None:
            b.axhline(paper_baseline, color=GROUP_COLORS[0], lw=1.2,
                      label=f"HRNet-W32 (paper) {paper_baseline:.1f}")
            b.legend(fontsize=7, loc="lower right")
        lo = min(vals + ([paper_baseline] if paper_baseline else [])) - 0.6
        b.set_ylim(lo, max(vals) + 0.4)
        b.set_xticks(np.arange(len(pr)), [f"r={r:g}" for r in pr])
        b.set_title("paper, Table 3 (full MPII val, single runs; y axis cut)", fontsize=9)
        b.grid(axis="y", alpha=0.3)
    return fig
