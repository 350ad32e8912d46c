"""Figures of the study.

Data: augmented training samples with their targets (`plot_augmented_samples`).
Results: training curves and DWA weights of run folders, bars with bootstrap CIs, the radius
ablation and the SGM attention maps per stage (`plot_training_curves`, `plot_dwa_weights`,
`plot_group_bars`, `plot_radius_ablation`, `plot_attention_maps`). Every function returns its
figure; inside a Jupyter kernel the notebook's inline backend is kept, so figures show in cells.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and the CLI draw off-screen; notebooks stay inline
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..data import IMAGENET_MEAN, IMAGENET_STD, build_dataset  # noqa: E402
from ..layouts import Layout  # noqa: E402

LEFT, RIGHT, MIDDLE = "#33dd33", "#ff9922", "#ffffff"


def joint_colors(layout: Layout) -> list[str]:
    """Left joints green, right joints orange, the others white."""
    return [LEFT if n.startswith(("l_", "left_")) else RIGHT if n.startswith(("r_", "right_"))
            else MIDDLE for n in layout.joints]


def denormalize(image) -> np.ndarray:
    """(3, H, W) normalised tensor -> (H, W, 3) RGB in [0, 1]."""
    img = np.asarray(image).transpose(1, 2, 0) * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
    return np.clip(img, 0.0, 1.0)


def draw_sample(ax_pose, ax_target, sample: dict, layout: Layout) -> None:
    """Left axis: crop with labelled joints and skeleton; right axis: crop with the heatmap sum
    and the outline of the disc segmentation target."""
    img = denormalize(sample["image"])
    h_in, w_in = img.shape[:2]
    heat = np.asarray(sample["heatmaps"]).sum(axis=0)
    seg = np.asarray(sample["seg"])
    hh, hw = heat.shape
    sx, sy = w_in / hw, h_in / hh
    joints = np.asarray(sample["joints_input"])
    weight = np.asarray(sample["target_weight"]) > 0
    colors = joint_colors(layout)
    ax_pose.imshow(img)
    for a, b in layout.skeleton:
        if weight[a] and weight[b]:
            ax_pose.plot(joints[[a, b], 0], joints[[a, b], 1], "-", color=colors[b], lw=1.2)
    ax_pose.scatter(joints[weight, 0], joints[weight, 1], s=9,
                    c=[colors[k] for k in np.flatnonzero(weight)], edgecolors="k", linewidths=0.4)
    ax_target.imshow(img * 0.55)
    # heatmap pixel j covers input pixels [(j - 0.5) s, (j + 0.5) s]: the joint sits at j * s
    extent = (-0.5 * sx, (hw - 0.5) * sx, (hh - 0.5) * sy, -0.5 * sy)
    ax_target.imshow(np.ma.masked_less(heat, 0.05), cmap="hot", vmin=0, vmax=1, alpha=0.85,
                     extent=extent, interpolation="bilinear")
    if seg.any():
        ax_target.contour(np.arange(hw) * sx, np.arange(hh) * sy, seg, levels=[0.5],
                          colors="cyan", linewidths=0.8)
    ax_target.scatter(joints[weight, 0], joints[weight, 1], s=3, c="w", marker="+", lw=0.5)
    info = f"r={sample['rotation']:.0f}°" + (" flip" if sample["flipped"] else "")
    ax_pose.set_title(f"#{sample['index']} {info}", fontsize=6)
    for ax in (ax_pose, ax_target):
        ax.set_xlim(-0.5, w_in - 0.5)
        ax.set_ylim(h_in - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])


def figure_safe(dataset) -> list[bool]:
    """Per record: may a crop of its image be shown in a published figure? COCO images whose
    Flickr licence forbids derivatives (NoDerivs) or commercial use (NonCommercial) are left
    out, so the figure only holds crops of CC BY / BY-SA (or unrestricted) COCO images; the
    LSPET / MPII images have no stated licence (see data/embedded/SOURCES.md)."""
    coco = dataset.coco
    if coco is None:
        return [True] * len(dataset.records)
    restricted = restricted_licences(coco.dataset)
    return [coco.imgs[r.image_id].get("license") not in restricted for r in dataset.records]


def restricted_licences(data: dict) -> set:
    """Ids of the licences of a COCO-format mapping that forbid derivatives (NoDerivs) or
    commercial use (NonCommercial): images under them stay out of published figures."""
    return {lic.get("id") for lic in data.get("licenses", []) if isinstance(lic, dict)
            and ("NoDeriv" in lic.get("name", "") or "NonCommercial" in lic.get("name", ""))}


def pick_indices(dataset, n: int) -> list[int]:
    """`n` evenly spread samples that `figure_safe` allows; on the COCO track half from COCO
    images, half from LSPET."""
    safe = figure_safe(dataset)
    groups = [[i for i, r in enumerate(dataset.records) if safe[i] and not
               r.image.startswith("lspet/")],
              [i for i, r in enumerate(dataset.records) if safe[i] and r.image.startswith("lspet/")]]
    groups = [g for g in groups if g]
    out: list[int] = []
    for k, g in enumerate(groups):
        m = n // len(groups) + (1 if k < n % len(groups) else 0)
        out += [g[int(j)] for j in np.linspace(0, len(g) - 1, m).round()]
    return out


def plot_augmented_samples(cfg, out_png: str | Path, n: int = 8,
                           tracks: tuple[str, ...] = ("mpii", "coco")) -> Path:
    """A grid of `n` augmented training samples per track (two rows per track: joints and
    skeleton; heatmap sum and disc segmentation target), saved as `out_png`."""
    out_png = Path(out_png)
    fig = plt.figure(figsize=(max(1.3 * n, 9.0), 4.1 * len(tracks) + 2.2), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(tracks) + 1, 1,
                                           height_ratios=[4.1] * len(tracks) + [2.2]))
    hist_axes = subfigs[-1].subplots(1, 2)
    for subfig, track in zip(subfigs, tracks):
        tcfg = cfg.with_run(track=track)
        dataset = build_dataset(tcfg, "train")
        w, h = tcfg.data.input_size
        hw, hh = tcfg.data.heatmap_size
        axes = subfig.subplots(2, n, squeeze=False)
        picked = pick_indices(dataset, n)
        for col, index in enumerate(picked):
            draw_sample(axes[0, col], axes[1, col], dataset[index], dataset.layout)
        axes[0, 0].set_ylabel("joints", fontsize=7)
        axes[1, 0].set_ylabel("targets", fontsize=7)
        subfig.suptitle(f"{track} track: {len(dataset)} training samples, input {w}×{h}, "
                        f"heatmap {hw}×{hh}", fontsize=8, weight="bold")
        coco_ids = sorted({dataset.records[i].image_id for i in picked
                           if not dataset.records[i].image.startswith("lspet/")})
        if dataset.coco is not None and coco_ids:
            subfig.text(0.5, 0.0, "COCO images (Flickr, CC BY / BY-SA, see data/embedded/coco/"
                        f"provenance.json for authors' pages): ids {', '.join(map(str, coco_ids))}",
                        ha="center", va="bottom", fontsize=5)
        _plot_augment_draws(hist_axes, dataset, track)
    for ax in hist_axes:
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=6)
    subfigs[-1].suptitle("Distribution of the training augmentation (20,000 draws per track)",
                         fontsize=8, weight="bold")
    fig.suptitle(f"Augmented training samples, profile '{cfg.profile}' (epoch 0, seed "
                 f"{cfg.train.seed}); green = left, orange = right, cyan = disc target",
                 fontsize=9)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def _plot_augment_draws(axes, dataset, track: str, n: int = 20000) -> None:
    """Histograms of the rotation (degrees, rotated samples only) and scale factor drawn by
    `dataset.augment` for its first record, with the share of rotations at the clip."""
    a = dataset.cfg.augment
    draws = [dataset.augment(dataset.records[0], 640, np.random.default_rng([7, i]))
             for i in range(n)]
    r = np.array([d[2] for d in draws])
    s = np.array([d[1][0] for d in draws]) / dataset.records[0].scale[0]
    rotated = r[r != 0]
    clip = a.rotation_clip * a.rotation_factor
    at_clip = np.mean(np.isclose(np.abs(rotated), clip)) if len(rotated) else 0.0
    axes[0].hist(rotated, bins=np.linspace(-clip, clip, 61), alpha=0.5,
                 label=f"{track}: f={a.rotation_factor:g}, clip ±{clip:g}, p={a.rotation_prob:g}; "
                       f"{100 * at_clip:.1f} % at the clip")
    axes[0].set_xlabel("rotation of rotated samples (degrees)", fontsize=7)
    axes[1].hist(s, bins=60, alpha=0.5, label=f"{track}: [{1 - a.scale_factor:g}, "
                 f"{1 + a.scale_factor:g}], half-body p={a.half_body_prob:g}")
    axes[1].set_xlabel("scale factor (box size multiplier; half-body crops lie outside)", fontsize=7)


# ================================================================================ study figures
# Figures of results: training curves, DWA weights, bars with CIs, the radius ablation and the
# attention (segmentation) maps. The estimates they draw are duck-typed: any object with mean, lo,
# hi, n (and optionally values) attributes, e.g. sgpose_lib.report.study.Estimate; None = no run.
GROUP_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def read_log(run_dir: str | Path):
    """(steps, validations) of a run folder's log.jsonl as two pandas DataFrames (empty when
    absent); `run_dir` is the train/ folder or runs/<name>."""
    import json

    import pandas as pd

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
    import pandas as pd

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


def plot_group_bars(groups: dict, columns, ax=None, ylabel: str = "", title: str | None = None):
    """Grouped bars: one group of bars per column (metric), one bar per label of `groups`
    ({label: {column: estimate or None}}), error bars = the 95 % CI, dots = the seeds' values.
    A bar without runs is left out and marked '—'; n is given in the legend."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    columns = list(columns)
    n_groups = max(len(groups), 1)
    width = 0.8 / n_groups
    x = np.arange(len(columns))
    for g, (label, est) in enumerate(groups.items()):
        color = GROUP_COLORS[g % len(GROUP_COLORS)]
        xs = x - 0.4 + width * (g + 0.5)
        parts = [_est_parts(est.get(c)) for c in columns]
        means = np.array([p[0] for p in parts])
        err = np.array([[p[1] for p in parts], [p[2] for p in parts]])
        ns = sorted({getattr(e, "n", 0) for e in est.values() if e is not None} or {0})
        ax.bar(xs, np.nan_to_num(means), width * 0.92, color=color, alpha=0.85,
               label=f"{label} (n={'/'.join(map(str, ns))})")
        ok = np.isfinite(means)
        ax.errorbar(xs[ok], means[ok], yerr=err[:, ok], fmt="none", ecolor="k", elinewidth=0.9,
                    capsize=2.5)
        for xi, p in zip(xs, parts):
            if p[3]:
                ax.scatter(np.full(len(p[3]), xi), p[3], s=7, color="k", zorder=3, alpha=0.7)
            elif not np.isfinite(p[0]):
                ax.text(xi, 0, NO_RUN_MARK, ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_xticks(x, columns)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


NO_RUN_MARK = "—"


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
    a.set_title("ours: SG-HRNet, mean ± 95 % CI over seeds", fontsize=9)
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


class _Subset:
    """Samples `indices` of a TopDownDataset, keeping `layout` (what `predict` needs)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)
        self.layout = dataset.layout

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]


def _display_joints(xy: np.ndarray, valid: np.ndarray, layout: Layout):
    """For the MPII layout, pelvis and thorax (never labelled in LSPET, so not learnt) are drawn
    at the hips' and shoulders' midpoints so that the skeleton stays connected."""
    xy, valid = xy.copy(), valid.copy()
    if layout.name == "mpii":
        for mid, (a, b) in (("pelvis", ("r_hip", "l_hip")),
                            ("thorax", ("r_shoulder", "l_shoulder"))):
            m, i, j = layout.index(mid), layout.index(a), layout.index(b)
            if valid[i] and valid[j]:
                xy[m], valid[m] = (xy[i] + xy[j]) / 2, True
    return xy, valid


def _draw_skeleton(ax, xy: np.ndarray, valid: np.ndarray, layout: Layout, lw: float = 1.6):
    colors = joint_colors(layout)
    for a, b in layout.skeleton:
        if valid[a] and valid[b]:
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color=colors[b], lw=lw,
                    solid_capstyle="round")
    ax.scatter(xy[valid, 0], xy[valid, 1], s=10, c=[colors[k] for k in np.flatnonzero(valid)],
               edgecolors="k", linewidths=0.4, zorder=3)


def plot_attention_maps(sg_model, dataset, cfg, indices=None, n_images: int = 4,
                        baseline_model=None, out_png: str | Path | None = None,
                        device: str = "cpu", labels: tuple | None = None, alpha: float = 0.6):
    """For validation samples `indices` (default: `n_images` spread over the set): the input crop,
    the ground-truth disc map, the SG model's predicted segmentation map (sigmoid of the logits)
    at each SGM site (stage2, stage3, stage4, final), and the predicted skeletons of SG and of the
    baseline (which has no maps). Maps share one colour scale 0..1 and are overlaid on the crop.
    Per skeleton: the share of labelled joints within 0.5 x head size (PCKh@0.5 of the image, MPII
    track) or within 10 % of the box size (COCO track). Saved to `out_png` if given; returns the
    figure."""
    import warnings

    import torch

    from ..engine.inference import predict
    from ..geometry import affine_points, get_affine_transform
    from ..metrics import PCKH_EXCLUDED

    layout = dataset.layout
    if indices is None:
        indices = pick_indices(dataset, n_images)
    else:
        indices = list(indices)
        if getattr(dataset, "coco", None) is not None:
            safe = figure_safe(dataset)
            if not all(safe[i] for i in indices):
                warnings.warn("plot_attention_maps: some of `indices` are COCO images whose "
                              "licence forbids derivatives or commercial use: do not publish "
                              "this figure (the default indices avoid them)", stacklevel=2)
    sub = _Subset(dataset, indices)
    dev = torch.device(device)
    sg_model.to(dev)
    pred_sg = predict(sg_model, sub, cfg, dev, keep_seg=True)
    pred_base = None
    if baseline_model is not None:
        baseline_model.to(dev)
        pred_base = predict(baseline_model, sub, cfg, dev)
    sites = list(cfg.model.sgm_sites)
    seg = pred_sg.get("seg")
    n_maps = 0 if seg is None else seg.shape[1]
    names = ["input crop", "ground-truth disc (r=" + f"{cfg.data.radius:g})"]
    names += [f"SG map: {sites[s] if s < len(sites) else s}" for s in range(n_maps)]
    sk_names = [f"SG skeleton\n{labels[1]}" if labels else "SG skeleton"]
    if pred_base is not None:
        sk_names.append(f"baseline skeleton\n{labels[0]}" if labels else "baseline skeleton")
    cols = names + sk_names
    w, h = cfg.data.input_size
    cell = 1.9
    fig, axes = plt.subplots(len(indices), len(cols), figsize=(cell * len(cols) * w / h + 0.6,
                                                               cell * len(indices) + 0.9),
                             squeeze=False)
    hw, hh = cfg.data.heatmap_size
    sx, sy = w / hw, h / hh
    extent = (-0.5 * sx, (hw - 0.5) * sx, (hh - 0.5) * sy, -0.5 * sy)
    image_ax = None
    excluded = np.array([n in PCKH_EXCLUDED for n in layout.joints])
    for row, index in enumerate(indices):
        sample = dataset[index]
        img = denormalize(sample["image"])
        gt = np.asarray(sample["joints_input"])
        gt_valid = (gt[:, 2] > 0) & ~excluded
        to_input = get_affine_transform(np.asarray(sample["center"]), np.asarray(sample["scale"]),
                                        0.0, (w, h))
        if cfg.data.track == "mpii" and sample["headsize"] > 0:  # image pixels -> input pixels
            norm = 0.5 * float(sample["headsize"]) * float(np.hypot(*to_input[0, :2]))
        else:
            norm = 0.1 * max(w, h)
        ax = axes[row]
        ax[0].imshow(img)
        ax[0].set_ylabel(f"val #{index}", fontsize=8)
        maps = [np.asarray(sample["seg"], dtype=np.float64)]
        if n_maps:
            maps += [seg[row, s] for s in range(n_maps)]
        for k, m in enumerate(maps):
            a = ax[1 + k]
            a.imshow(img * 0.6)
            if k == 0:  # the disc target: 0 or 1, on the shared scale of the right-hand bar
                image_ax = a.imshow(m, cmap="magma", vmin=0, vmax=1, alpha=alpha, extent=extent,
                                    interpolation="bilinear")
                if m.any():
                    a.contour(np.arange(hw) * sx, np.arange(hh) * sy, m, levels=[0.5],
                              colors="cyan", linewidths=0.6)
                continue
            # a predicted map on its own scale (its min to its max), with the panel's colour bar:
            # the maps are soft (they peak well below 1) and vanish on a shared 0-1 scale
            im = a.imshow(m, cmap="magma", vmin=float(m.min()), vmax=max(float(m.max()),
                          float(m.min()) + 1e-6), alpha=alpha, extent=extent,
                          interpolation="bilinear")
            cax = a.inset_axes((0.86, 0.04, 0.05, 0.42))
            bar = fig.colorbar(im, cax=cax, ticks=[float(m.min()), float(m.max())])
            bar.ax.tick_params(labelsize=5, colors="w", length=1.5, pad=1)
            bar.ax.yaxis.set_major_formatter("{x:.2f}")
        for k, pred in enumerate([pred_sg] + ([pred_base] if pred_base is not None else [])):
            a = ax[1 + len(maps) + k]
            xy = affine_points(pred["preds"][row], to_input)
            ok = np.linalg.norm(xy - gt[:, :2], axis=1) <= norm
            score = ok[gt_valid].mean() * 100 if gt_valid.any() else np.nan
            a.imshow(img)
            dxy, dvalid = _display_joints(xy, gt_valid.copy(), layout)
            _draw_skeleton(a, dxy, dvalid, layout)
            a.scatter(gt[gt_valid, 0], gt[gt_valid, 1], s=8, marker="+", c="w", lw=0.6, zorder=4)
            a.text(0.03, 0.97, f"{score:.0f} % correct", transform=a.transAxes, fontsize=6.5,
                   va="top", color="w", bbox=dict(boxstyle="round,pad=0.2", fc="k", alpha=0.5,
                                                  lw=0))
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
            a.set_xlim(-0.5, w - 0.5)
            a.set_ylim(h - 0.5, -0.5)
    for k, name in enumerate(cols):
        axes[0, k].set_title(name, fontsize=8)
    import textwrap

    crit = "within 0.5 × head size" if cfg.data.track == "mpii" else "within 10 % of the crop"
    note = (f"maps: sigmoid of the SGM logits on the crop, each on its own scale (its min to its "
            f"max, the small bar in the panel); disc target on 0–1 (right-hand bar); skeletons: "
            f"flip-test predictions of labelled joints, + = ground truth, correct = {crit}"
            + ("; pelvis/thorax drawn at hip/shoulder midpoints" if layout.name == "mpii"
               else ""))
    chars = int(fig.get_size_inches()[0] * 13)  # about what one line holds at fontsize 8
    fig.suptitle(f"Segmentation (attention) maps per SGM site — profile '{cfg.profile}', "
                 f"{cfg.data.track} track validation images, input {w}×{h}\n"
                 + textwrap.fill(note, chars), fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.93, 0.99))
    if image_ax is not None:
        cax = fig.add_axes((0.94, 0.25, 0.012, 0.5))
        fig.colorbar(image_ax, cax=cax).ax.tick_params(labelsize=7)
        cax.set_title("p", fontsize=7)
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_png, dpi=100)
    return fig
