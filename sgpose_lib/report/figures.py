"""The study's figures, written to reports/figures/study/ by `build_report`.

- `study_figures`: training_curves.png (L_key, L_seg per step), dwa_weights.png, pckh_bars.png and
  coco_bars.png (mean over seeds, 95 % t-interval, dots = seeds; PCKh and AP in %),
  radius_ablation.png (Table 3 analogue beside the paper's values);
- `robustness_figures`: robustness_oks.png (mean per-person OKS x 100 per background condition,
  CIs over persons) and robustness_conditions.png (`plot_conditions`: the perturbed images with
  both models' skeletons; only images whose licence allows derivatives);
- `attention_stats_figure`: attention_stats.png (% of map mass inside the disc target per site).
Every title names the profile and the data (`figure_title`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..analysis.backgrounds import CONDITIONS, READ_FLAGS
from ..analysis.robustness import load_condition_results, read_manifest
from ..config import TRACKS
from ..errors import DataError
from ..layouts import COCO17
from . import viz
from .canvas import plt, save_figure
from .findings import person_estimate, per_person_oks, robustness_runs
from .paper import COCO_COLUMNS, PAPER_RADII, PAPER_TABLE1, PAPER_TABLE3, PCKH_COLUMNS
from .runs import Study


def figure_title(study: Study, what: str, tracks: Sequence[str] = TRACKS) -> str:
    profiles = sorted({r.config["profile"] for r in study.used if r.config and r.track in tracks}
                      ) or [study.profile]
    data = {"mpii": "MPII-style track (LSPET, PCKh@0.5)", "coco": "COCO track (60 val2017 images)"}
    return (f"{what} — profile {'/'.join(profiles)}, embedded data: "
            + "; ".join(data[t] for t in tracks))


def group_label(variant: str, radius: float | None) -> str:
    return "HRNet baseline" if radius is None else f"SG-HRNet r={radius:g}" if variant == "sg" \
        else f"{variant} r={radius:g}"


def run_groups(study: Study, track: str) -> dict[str, list[Path]]:
    """label -> the train folders of the group's usable runs (for the curve figures)."""
    out: dict[str, list[Path]] = {}
    for r in study.runs:
        log = r.folder / "train" / "log.jsonl"
        if r.track == track and log.is_file() and not r.excluded:  # excluded: a damaged file
            out.setdefault(group_label(r.variant, r.radius), []).append(r.folder / "train")
    return out


def study_figures(study: Study, folder: str | Path) -> list[Path]:
    """training_curves.png, dwa_weights.png, pckh_bars.png, coco_bars.png, radius_ablation.png."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [t for t in TRACKS if run_groups(study, t)] or ["mpii"]
    figures = {"training_curves.png": _loss_figure(study, rows),
               "dwa_weights.png": _dwa_figure(study, rows),
               "pckh_bars.png": _bar_figure(study, "mpii", PCKH_COLUMNS, 1.0, "PCKh@0.5 (%)"),
               "coco_bars.png": _bar_figure(study, "coco", COCO_COLUMNS, 100.0,
                                            "OKS AP / AR (%)"),
               "radius_ablation.png": _radius_figure(study)}
    return [save_figure(fig, folder / name, 130, bbox_inches="tight")
            for name, fig in figures.items()]


def _loss_figure(study: Study, rows: list[str]) -> plt.Figure:
    """Training losses per step: one row per track, L_key and L_seg."""
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 3.4 * len(rows)), squeeze=False)
    for i, t in enumerate(rows):
        viz.plot_training_curves(run_groups(study, t), ax=axes[i], dwa=False)
        axes[i, 0].set_title(f"{t} track: L_key (heatmap MSE)", fontsize=9)
        axes[i, 1].set_title(f"{t} track: L_seg (BCE, mean of the 4 maps)", fontsize=9)
    fig.suptitle(figure_title(study, "Training losses per step (smoothed; faint: raw)", rows),
                 fontsize=9)
    fig.tight_layout()
    return fig


def _dwa_figure(study: Study, rows: list[str]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.4), squeeze=False)
    for i, t in enumerate(rows):
        viz.plot_dwa_weights(run_groups(study, t), ax=axes[0, i])
        axes[0, i].set_title(f"{t} track", fontsize=9)
    fig.suptitle(figure_title(study, "DWA task weights w_k (solid), w_s (dashed)", rows),
                 fontsize=9)
    fig.tight_layout()
    return fig


def _bar_figure(study: Study, track: str, cols: list[str], scale: float,
                ylabel: str) -> plt.Figure:
    """Baseline vs SG per column of `track`: mean over seeds with its t-interval (where n ≥ 2),
    the mean-pose floor; the y axis from 0 to at least BAR_MIN_TOP points (bars_caption)."""
    groups = {group_label(study.baseline, None):
              {c: study.est(track, study.baseline, None, c, scale) for c in cols},
              group_label(study.sg, study.sg_radius):
              {c: study.est(track, study.sg, study.sg_radius, c, scale) for c in cols}}
    fig, ax = plt.subplots(figsize=(9, 3.6))
    viz.plot_group_bars(groups, cols, ax=ax, ylabel=ylabel, min_top=BAR_MIN_TOP)
    floors = study.floors.get(track) or {}
    mp = (floors.get("mean_pose") or {}).get(cols[-1] if track == "mpii" else "AP")
    if mp is not None and math.isfinite(mp):
        ax.axhline(mp * scale, color="0.4", lw=0.8, ls=":",
                   label=f"mean-pose floor ({'Mean' if track == 'mpii' else 'AP'})")
        viz.outside_legend(ax)
    fig.suptitle(figure_title(study, bars_caption(groups), [track]), fontsize=9)
    fig.tight_layout()
    return fig


BAR_MIN_TOP = 10.0  # points: a bar chart's y axis reaches at least 10 %


def bars_caption(groups: dict) -> str:
    """The bar figure's title: what a bar, an error bar and a dot are, promising a CI only where
    some group has n ≥ 2 seeds."""
    n = max((e.n for est in groups.values() for e in est.values() if e is not None), default=0)
    if n < 2:
        return "Baseline vs SG-HRNet: one run each (n = 1, no CI), values above the bars"
    return ("Baseline vs SG-HRNet: mean over seeds, error bars = 95 % t-interval, dots = seeds; "
            "values above the bars")


def _radius_figure(study: Study) -> plt.Figure:
    """The disc radius r (Table 3 analogue): PCKh Mean of SG per radius, beside the paper's."""
    radii = sorted(set(PAPER_RADII) | {r.radius for r in study.runs
                                       if r.track == "mpii" and r.variant == study.sg and r.radius})
    ours = {r: study.est("mpii", study.sg, float(r), "Mean") for r in radii}
    fig = viz.plot_radius_ablation(ours, {r: v["Mean"] for r, v in PAPER_TABLE3.items()},
                                   baseline=study.est("mpii", study.baseline, None, "Mean"),
                                   paper_baseline=PAPER_TABLE1["HRNet-W32"]["Mean"])
    fig.suptitle(figure_title(study, "Disc radius r (Table 3 analogue), PCKh@0.5 Mean",
                              ["mpii"]), fontsize=9)
    fig.tight_layout()
    return fig


def robustness_figures(study: Study, perturbed_root: Path, folder: Path) -> list[Path]:
    """robustness_oks.png (mean OKS per condition, both models, CIs over persons) and
    robustness_conditions.png (the same images under each condition, both models' predictions)."""
    groups = {"HRNet baseline": (study.baseline, None),
              f"SG-HRNet r={study.sg_radius:g}": (study.sg, study.sg_radius)}
    runs = {label: robustness_runs(study, *g) for label, g in groups.items()}
    if not all(runs.values()):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    width = 0.38
    for j, (label, rr) in enumerate(runs.items()):
        est = [person_estimate(per_person_oks(rr, c)[0], 100.0, study.n_resamples, study.seed)
               for c in CONDITIONS]
        x = np.arange(len(CONDITIONS)) + (j - 0.5) * width
        ax.bar(x, [e.mean for e in est], width, label=label,
               yerr=[[e.mean - e.lo for e in est], [e.hi - e.mean for e in est]], capsize=3)
    ax.set_xticks(np.arange(len(CONDITIONS)), CONDITIONS)
    ax.set_ylabel("mean per-person OKS (× 100)")
    fig.suptitle(f"Background swaps, COCO track — profile {study.profile}, embedded data "
                 "(60 val2017 images)\nmean per-person OKS, error bars: 95 % CI over persons",
                 fontsize=9)  # two lines: one would run past the figure's edges
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.tight_layout()
    paths = [save_figure(fig, folder / "robustness_oks.png", 130)]
    predictions = {}
    for label, (variant, radius) in groups.items():
        run = next(r for r in study.used if r.group == ("coco", variant, radius)
                   and r.seed == sorted(runs[label])[0])
        predictions[label] = load_condition_results(run.folder / "analysis" / "robustness")
    safe = [e for e in read_manifest(perturbed_root)["images"] if e.get("figure_safe", True)]
    largest = sorted(safe, key=lambda e: -e["mask_fraction"])[:3]  # persons large enough to see
    fig = plot_conditions(perturbed_root, predictions, [e["image_id"] for e in largest],
                          title=f"Background swaps — profile {study.profile}, embedded COCO track; "
                                "lines: each model's prediction for every ground-truth box")
    # photographs: dpi 100 keeps the committed page small
    paths.append(save_figure(fig, folder / "robustness_conditions.png", 100))
    return paths


def attention_stats_figure(summary: dict, profile: str, folder: Path) -> list[Path]:
    """attention_stats.png: disc share vs uniform per site, for each (track, radius)."""
    if not summary:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(summary)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        part = summary[key]
        sites = list(part)
        x = np.arange(len(sites))
        for j, (col, label) in enumerate((("disc share", "SGM map"),
                                          ("disc share (uniform)", "uniform map"))):
            vals = [part[s][col]["mean"] if part[s][col] else math.nan for s in sites]
            ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=label)
        ax.set_xticks(x, sites, fontsize=8)
        ax.set_title(key.replace("_", ", "), fontsize=9)
        ax.set_ylabel("% of map mass inside the disc target")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.suptitle(f"Attention mass inside the disc target — profile {profile}, embedded data",
                 fontsize=9)
    fig.tight_layout()
    return [save_figure(fig, folder / "attention_stats.png", 130)]


def plot_conditions(perturbed_root: Path, predictions: dict[str, dict[str, list[dict]]] | None = None,
                    image_ids: Sequence[int] | None = None, n_images: int = 3,
                    out_png: Path | None = None, min_score: float | None = None,
                    title: str = "Background swaps: persons (dilated masks) kept, background replaced"):
    """Rows: images; columns: the CONDITIONS of `perturbed_root`, each the whole perturbed image
    with, if given, the predicted skeletons of every model in `predictions` ({model label:
    {condition: standard COCO keypoint results, image pixels}}), one colour per model; joints
    with score <= `min_score` left out (all drawn when None). Default images: `n_images` spread
    over those the manifest marks figure-safe (licence allows derivatives). Saved to `out_png`
    if given; returns the figure."""
    perturbed_root = Path(perturbed_root)
    manifest = read_manifest(perturbed_root)
    by_id = {e["image_id"]: e for e in manifest["images"]}
    if image_ids is None:
        safe = [e["image_id"] for e in manifest["images"] if e.get("figure_safe", True)]
        if not safe:
            raise DataError(f"{perturbed_root}: no figure-safe image in the manifest")
        image_ids = [safe[int(j)] for j in np.unique(np.linspace(0, len(safe) - 1,
                                                                 n_images).round())]
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise DataError(f"{perturbed_root}: image ids not in the manifest: {missing[:5]}")
    conditions = manifest.get("conditions", list(CONDITIONS))
    colours = dict(zip(predictions or {}, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    fig, axes = plt.subplots(len(image_ids), len(conditions), squeeze=False,
                             figsize=(2.6 * len(conditions), 2.1 * len(image_ids) + 0.7))
    for row, image_id in enumerate(image_ids):
        entry = by_id[image_id]
        for col, condition in enumerate(conditions):
            ax = axes[row, col]
            path = perturbed_root / condition / entry["file_name"]
            image = cv2.imread(str(path), READ_FLAGS)
            if image is None:
                raise DataError(f"{path}: image missing or unreadable")
            ax.imshow(image[:, :, ::-1])
            for label, results in (predictions or {}).items():
                for res in results.get(condition, []):
                    if int(res["image_id"]) == image_id:
                        _draw_pose(ax, np.asarray(res["keypoints"], np.float64).reshape(-1, 3),
                                   COCO17.skeleton, colours[label], min_score)
            ax.set_xlim(-0.5, entry["width"] - 0.5)
            ax.set_ylim(entry["height"] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(condition, fontsize=9)
        axes[row, 0].set_ylabel(f"image {image_id}\nmask {entry['mask_fraction']:.0%}",
                                fontsize=7)
    if colours:
        handles = [plt.Line2D([], [], color=c, lw=2, label=label) for label, c in colours.items()]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05 if colours else 0, 1, 1))
    if out_png is not None:
        save_figure(fig, out_png, 140, close=False)
    return fig


def _draw_pose(ax, kpts: np.ndarray, skeleton, colour: str, min_score: float | None) -> None:
    """One person's skeleton in one colour; kpts (K, 3) = x, y (image pixels), score."""
    valid = np.ones(len(kpts), bool) if min_score is None else kpts[:, 2] > min_score
    for a, b in skeleton:
        if valid[a] and valid[b]:
            ax.plot(kpts[[a, b], 0], kpts[[a, b], 1], "-", color=colour, lw=1.1, alpha=0.9)
    ax.scatter(kpts[valid, 0], kpts[valid, 1], s=6, c=colour, edgecolors="k", linewidths=0.3,
               zorder=3)
