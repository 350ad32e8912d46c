"""The data figure: augmented training samples of both tracks with their targets.

`plot_augmented_samples` draws, per track, `n` training samples as the training loop sees them
(epoch 0: crop with labelled joints and skeleton; heatmap sum with the outline of the disc
segmentation target, in input pixels) and the histograms of 20,000 augmentation draws (rotation in
degrees, scale factor). Only crops that `figure_safe` allows are shown: COCO images whose licence
forbids derivatives or commercial use stay out of published figures.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import TRACKS
from ..data import IMAGENET_MEAN, IMAGENET_STD, build_dataset
from ..data.licences import restricted_licences
from ..layouts import Layout
from .canvas import plt, save_figure

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
                           tracks: tuple[str, ...] = TRACKS) -> Path:
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
    return save_figure(fig, out_png, 100)


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
