"""Drawing the learning curves: per variant the mean validation metric per epoch with its
95 % t-interval band over seeds, and beside it SG − baseline paired by seed with its band.

Input: the tables of `curves.per_epoch` (one row per validated epoch; `baseline`, `sg` and `diff`
hold `stats.Estimate`s or None). Units: the metric's points (PCKh %, COCO OKS / AP x 100).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .canvas import plt, save_figure
from .wording import count

DIFF_MIN_SPAN = 1.0  # points: an SG − baseline axis spans at least −1 to +1


def plot_curves(ax_metric, ax_diff, table: pd.DataFrame, label: str,
                colors: tuple[str, str] = ("#4c72b0", "#dd8452"),
                drops: Sequence[tuple[str, int]] = ()) -> None:
    """Mean over seeds per variant, with its 95 % t-interval as a band where n ≥ 2 (left), and
    SG − baseline paired by seed, with its band where n ≥ 2 pairs (right); a legend names a band
    only where one is drawn. `drops`: (variant, epoch) of each run's first lr drop, dotted lines
    (left) with one legend entry per variant. Both panels span the same epochs: where one run of
    a pair ends before the other, the right panel shades the epochs left without a pair."""
    for key, name, color in (("baseline", "HRNet baseline", colors[0]),
                             ("sg", "SG-HRNet", colors[1])):
        rows = [(r["epoch"], r[key]) for _, r in table.iterrows() if r[key] is not None]
        if not rows:
            continue
        x = np.array([e for e, _ in rows])
        band = any(est.has_ci for _, est in rows)
        ax_metric.plot(x, [est.mean for _, est in rows], marker="o", ms=3, color=color,
                       label=f"{name}, {_n_text(max(est.n for _, est in rows), 'seed', band)}")
        if band:
            ax_metric.fill_between(x, [e.lo if e.has_ci else e.mean for _, e in rows],
                                   [e.hi if e.has_ci else e.mean for _, e in rows],
                                   color=color, alpha=0.2, lw=0)
    labelled = set()
    for variant, epoch in drops:
        runs = sum(v == variant for v, _ in drops)
        text = (f"first lr drop, {'baseline' if variant == 'baseline' else 'SG'} "
                f"run{'s' if runs > 1 else ''}")
        ax_metric.axvline(epoch, color=colors[variant != "baseline"], ls=":", lw=0.9,
                          label=None if variant in labelled else text)
        labelled.add(variant)
    ax_metric.set_ylabel(label)
    ax_metric.legend(fontsize=7, loc="best")
    rows = [(r["epoch"], r["diff"]) for _, r in table.iterrows() if r["diff"] is not None]
    if rows:
        x = np.array([e for e, _ in rows])
        band = any(d.has_ci for _, d in rows)
        ax_diff.plot(x, [d.mean for _, d in rows], marker="o", ms=3, color="#55a868",
                     label=f"SG − baseline, {_n_text(max(d.n for _, d in rows), 'pair', band)}")
        if band:
            ax_diff.fill_between(x, [d.lo if d.has_ci else d.mean for _, d in rows],
                                 [d.hi if d.has_ci else d.mean for _, d in rows],
                                 color="#55a868", alpha=0.2, lw=0)
    ax_diff.axhline(0, color="k", lw=0.8)
    lo, hi = ax_diff.get_ylim()  # at least ±DIFF_MIN_SPAN: noise of a few hundredths stays flat
    ax_diff.set_ylim(min(lo, -DIFF_MIN_SPAN), max(hi, DIFF_MIN_SPAN))
    ax_diff.set_xlim(ax_metric.get_xlim())
    ended = _ended_first(table)
    if rows and ended and rows[-1][0] < table["epoch"].max():
        ax_diff.axvspan(rows[-1][0], ax_diff.get_xlim()[1], color="0.85", lw=0,
                        label=f"no pair after epoch {int(rows[-1][0])}: {ended}")
    if rows:
        ax_diff.legend(fontsize=7, loc="best")
    ax_diff.set_ylabel("SG − baseline (points)")
    ax_diff.set_title(f"SG − baseline: {label}", fontsize=9)
    for a in (ax_metric, ax_diff):
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        a.grid(alpha=0.3)


def _ended_first(table: pd.DataFrame) -> str:
    """'the SG run ends at epoch 74' (or 'the baseline runs end by epoch 173'): the variant whose
    last validated epoch comes first; '' where both end together."""
    last = {key: max((int(r["epoch"]) for _, r in table.iterrows() if r[key] is not None),
                     default=0) for key in ("baseline", "sg")}
    if last["baseline"] == last["sg"] or not all(last.values()):  # together, or one has none
        return ""
    key = min(last, key=last.get)
    n = max(r[key].n for _, r in table.iterrows() if r[key] is not None)
    name = "baseline" if key == "baseline" else "SG"
    return (f"the {name} run ends at epoch {last[key]}" if n == 1
            else f"the {name} runs end by epoch {last[key]}")


def _n_text(n: int, unit: str, band: bool) -> str:
    """'n = 2 seeds (band: 95 % t-interval)' or 'n = 1 seed, no CI'."""
    return f"n = {count(n, unit)}" + (" (band: 95 % t-interval)" if band else ", no CI")


TITLE_WIDTH = 150  # characters of a 9-point title line across curve_figure's 10-inch width


def curve_figure(tables: Mapping[str, pd.DataFrame], labels: Mapping[str, str], title: str,
                 out_png: str | Path,
                 drops: Mapping[str, Sequence[tuple[str, int]]] | None = None) -> Path:
    """One row per curve (`tables`: name -> per_epoch table): metric per epoch, SG − baseline;
    `drops`: name -> (variant, epoch) of each run's first lr drop (plot_curves). Each line of
    `title` is wrapped at TITLE_WIDTH characters, the width of the figure at its font size."""
    fig, axes = plt.subplots(len(tables), 2, figsize=(10, 3.2 * len(tables)), squeeze=False,
                             layout="constrained")
    for (name, table), row in zip(tables.items(), axes):
        plot_curves(row[0], row[1], table, labels[name], drops=(drops or {}).get(name, ()))
        row[0].set_title(name, fontsize=9)
    fig.suptitle("\n".join(textwrap.fill(line, TITLE_WIDTH) for line in title.splitlines()),
                 fontsize=9)
    return save_figure(fig, out_png, 120)
