"""The attention-map figure: what each SGM of a trained SG model attends to, image by image.

For validation samples: the input crop, the ground-truth disc map (Eq. 2), the sigmoid of each
SGM's logits (stage2, stage3, stage4, final; heatmap pixels drawn over the crop in input pixels)
and the flip-test skeletons of the SG model and of the baseline. `attention_figure` loads two runs'
checkpoints (runs/<name>/train/last.pt) and draws `plot_attention_maps`.
"""
from __future__ import annotations

import re
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.lines import Line2D

from ..analysis.attention_stats import sgm_map_sites
from ..data import build_dataset
from ..engine.inference import load_checkpoint_model, predict
from ..geometry import affine_points, get_affine_transform
from ..layouts import Layout
from ..metrics import PCKH_EXCLUDED
from .canvas import plt, save_figure
from .samples import LEFT, MIDDLE, RIGHT, denormalize, figure_safe, joint_colors, pick_indices
from .wording import input_size


FONT = 11  # points: panel titles, labels and the key, readable at the page's scale


def last_checkpoint(run_dir: str | Path) -> Path:
    """The last.pt of a run folder given as its train/ folder or as runs/<name>."""
    run_dir = Path(run_dir)
    path = run_dir / "last.pt"
    return path if path.is_file() else run_dir / "train" / "last.pt"


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
    indices = _figure_indices(dataset, indices, n_images)
    sub = _Subset(dataset, indices)
    dev = torch.device(device)
    sg_model.to(dev)
    preds = [predict(sg_model, sub, cfg, dev, keep_seg=True)]
    if baseline_model is not None:
        baseline_model.to(dev)
        preds.append(predict(baseline_model, sub, cfg, dev))
    seg = preds[0].get("seg")
    n_maps = 0 if seg is None else seg.shape[1]
    cols = _column_names(cfg, n_maps, labels, with_baseline=len(preds) > 1)
    w, h = cfg.data.input_size
    cell = 1.9
    fig, axes = plt.subplots(len(indices), len(cols), figsize=(cell * len(cols) * w / h + 0.8,
                                                               cell * len(indices) + 1.6),
                             squeeze=False)
    image_ax = None
    for row, index in enumerate(indices):
        sample = dataset[index]
        img = denormalize(sample["image"])
        ax = axes[row]
        ax[0].imshow(img)
        ax[0].set_ylabel(f"val #{index}", fontsize=FONT)
        maps = [np.asarray(sample["seg"], dtype=np.float64)]
        if n_maps:
            maps += [seg[row, s] for s in range(n_maps)]
        image_ax = _draw_maps(fig, ax[1:1 + len(maps)], img, maps, cfg, alpha,
                              bar_font=FONT - 1)
        _draw_skeletons(ax[1 + len(maps):], img, sample, [p["preds"][row] for p in preds],
                        cfg, dataset.layout)
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
            a.set_xlim(-0.5, w - 0.5)
            a.set_ylim(h - 0.5, -0.5)
    for k, name in enumerate(cols):
        axes[0, k].set_title(name, fontsize=FONT)
    _caption(fig, cfg, dataset.layout)
    if image_ax is not None:
        cax = fig.add_axes((0.945, 0.3, 0.012, 0.4))
        fig.colorbar(image_ax, cax=cax).ax.tick_params(labelsize=FONT - 1)
        cax.set_ylabel("disc target (0–1)", fontsize=FONT - 1)
    if out_png is not None:
        save_figure(fig, out_png, 100, close=False)
    return fig


def _figure_indices(dataset, indices, n_images: int) -> list[int]:
    """`indices` as a list (a warning if any is a COCO image whose licence forbids publishing a
    derivative), or `n_images` publishable ones spread over the set."""
    if indices is None:
        return pick_indices(dataset, n_images)
    indices = list(indices)
    if getattr(dataset, "coco", None) is not None:
        safe = figure_safe(dataset)
        if not all(safe[i] for i in indices):
            warnings.warn("plot_attention_maps: some of `indices` are COCO images whose "
                          "licence forbids derivatives or commercial use: do not publish "
                          "this figure (the default indices avoid them)", stacklevel=3)
    return indices


def _column_names(cfg, n_maps: int, labels: tuple | None, with_baseline: bool) -> list[str]:
    """Panel titles: crop, disc target, one per SGM map, the SG (and baseline) skeletons."""
    sites = sgm_map_sites(cfg.model.sgm_sites)
    names = ["input crop", "ground-truth disc (r=" + f"{cfg.data.radius:g})"]
    names += [f"SG map: {sites[s] if s < len(sites) else s}" for s in range(n_maps)]
    names.append(f"SG skeleton\n{labels[1]}" if labels else "SG skeleton")
    if with_baseline:
        names.append(f"baseline skeleton\n{labels[0]}" if labels else "baseline skeleton")
    return names


def _draw_maps(fig, axes, img: np.ndarray, maps: list[np.ndarray], cfg, alpha: float,
               target: bool = True, bar_font: float = 8):
    """The disc target (maps[0], on the shared 0-1 scale; returned for the right-hand bar) and
    each predicted map on its own scale with a small bar, over the dimmed crop. Maps are in
    heatmap pixels, drawn over the crop in input pixels. `target` False: no disc target, every
    map is a predicted one. `bar_font`: the size of the small bar's two labels (min, max), drawn
    inside the panel left of the bar."""
    w, h = cfg.data.input_size
    hw, hh = cfg.data.heatmap_size
    sx, sy = w / hw, h / hh
    extent = (-0.5 * sx, (hw - 0.5) * sx, (hh - 0.5) * sy, -0.5 * sy)
    image_ax = None
    for k, (a, m) in enumerate(zip(axes, maps)):
        a.imshow(img * 0.6)
        if k == 0 and target:  # the disc target: 0 or 1, on the shared scale of the right-hand bar
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
        cax = a.inset_axes((0.86, 0.04, 0.07, 0.5))
        bar = fig.colorbar(im, cax=cax, ticks=[float(m.min()), float(m.max())])
        # the labels left of the bar, inside the panel (on its right they ran into the next
        # panel), white with a dark edge to read over the map
        bar.ax.yaxis.set_ticks_position("left")
        bar.ax.tick_params(labelsize=bar_font, colors="w", length=2, pad=1.5)
        bar.ax.yaxis.set_major_formatter(_bar_format(float(m.min()), float(m.max())))
        for label in bar.ax.get_yticklabels():
            label.set_path_effects([patheffects.withStroke(linewidth=2.2, foreground="k")])
    return image_ax


def _bar_format(lo: float, hi: float) -> str:
    """The format of a map's bar labels: 2 decimals, more (up to 4) where min and max would print
    alike."""
    digits = 2
    while digits < 4 and f"{lo:.{digits}f}" == f"{hi:.{digits}f}":
        digits += 1
    return f"{{x:.{digits}f}}"


def _draw_skeletons(axes, img: np.ndarray, sample: dict, preds: list[np.ndarray], cfg,
                    layout: Layout) -> None:
    """One panel per model: its flip-test keypoints (image pixels, mapped to the crop) as a
    skeleton over the crop, + at the labelled ground truth, and the share of labelled joints
    within 0.5 x head size (MPII track) or 10 % of the crop (COCO track)."""
    w, h = cfg.data.input_size
    excluded = np.array([n in PCKH_EXCLUDED for n in layout.joints])
    gt = np.asarray(sample["joints_input"])
    gt_valid = (gt[:, 2] > 0) & ~excluded
    to_input = get_affine_transform(np.asarray(sample["center"]), np.asarray(sample["scale"]),
                                    0.0, (w, h))
    if cfg.data.track == "mpii" and sample["headsize"] > 0:  # image pixels -> input pixels
        norm = 0.5 * float(sample["headsize"]) * float(np.hypot(*to_input[0, :2]))
    else:
        norm = 0.1 * max(w, h)
    for a, pred in zip(axes, preds):
        xy = affine_points(pred, to_input)
        ok = np.linalg.norm(xy - gt[:, :2], axis=1) <= norm
        score = ok[gt_valid].mean() * 100 if gt_valid.any() else np.nan
        a.imshow(img)
        dxy, dvalid = _display_joints(xy, gt_valid.copy(), layout)
        _draw_skeleton(a, dxy, dvalid, layout)
        a.scatter(gt[gt_valid, 0], gt[gt_valid, 1], s=8, marker="+", c="w", lw=0.6, zorder=4)
        a.text(0.03, 0.97, f"{score:.0f} % correct", transform=a.transAxes, fontsize=FONT - 1,
               va="top", color="w", bbox=dict(boxstyle="round,pad=0.2", fc="k", alpha=0.5,
                                              lw=0))


def _caption(fig, cfg, layout: Layout) -> None:
    """The figure's title: profile, track, input size and how to read the panels; below the
    panels, the key of the skeleton colours. Sizes are for the page, which shows the figure at
    about 0.7 of its pixels."""
    w, h = cfg.data.input_size
    crit = "within 0.5 × head size" if cfg.data.track == "mpii" else "within 10 % of the crop"
    note = (f"Maps: sigmoid of the SGM logits over the crop, each on its own scale from its min "
            f"to its max (the two numbers beside the bar in the panel); the disc target on 0–1 "
            f"(bar on the right). Skeletons: flip-test predictions of the labelled joints; "
            f"correct = {crit}"
            + ("; pelvis and thorax drawn at the hip and shoulder midpoints."
               if layout.name == "mpii" else "."))
    width, height = fig.get_size_inches()
    chars = int(width * 72 * 0.9 / (0.6 * (FONT + 1)))  # what one line holds
    fig.suptitle(f"Segmentation (attention) maps per SGM site — profile '{cfg.profile}', "
                 f"{cfg.data.track} track validation images, input {input_size((w, h))}\n"
                 + textwrap.fill(note, chars), fontsize=FONT + 1)
    fig.legend(handles=skeleton_key(), loc="lower center", bbox_to_anchor=(0.47, 0.0),
               ncol=5, fontsize=FONT, facecolor="0.3", edgecolor="0.3", labelcolor="w",
               framealpha=1.0)
    fig.tight_layout(rect=(0, 0.55 / height, 0.93, 1.0))


def skeleton_key() -> list[Line2D]:
    """Legend handles of what the skeleton and disc panels draw (samples.joint_colors)."""
    return [Line2D([], [], color=RIGHT, marker="o", mec="k", lw=1.6, label="right joints"),
            Line2D([], [], color=LEFT, marker="o", mec="k", lw=1.6, label="left joints"),
            Line2D([], [], color=MIDDLE, marker="o", mec="k", lw=0,
                   label="centre joints (head, neck, pelvis, thorax)"),
            Line2D([], [], color="w", marker="+", lw=0, ms=8, label="ground truth"),
            Line2D([], [], color="cyan", lw=1.0, label="disc target outline")]

def attention_figure(runs_dir: str | Path = "runs", baseline_run: str | None = "mpii_baseline_s0",
                     sg_run: str = "mpii_sg_r5_s0", n_images: int = 4,
                     indices: Sequence[int] | None = None,
                     out_png: str | Path | None = "reports/figures/attention/attention_maps.png",
                     workers: int = 0):
    """Load the two runs' checkpoints and the SG run's validation set, and draw
    `plot_attention_maps` (baseline optional: None or a missing run shows SG only). The models
    are the plain eager ones (`load_checkpoint_model(fused=False)`), on the CPU."""
    sg_model, cfg, _ = load_checkpoint_model(last_checkpoint(Path(runs_dir) / sg_run), fused=False)
    base_model = None
    if baseline_run:
        base_dir = Path(runs_dir) / baseline_run
        if last_checkpoint(base_dir).is_file():
            base_model, base_cfg, _ = load_checkpoint_model(last_checkpoint(base_dir), fused=False)
            if base_cfg.data.track != cfg.data.track:
                raise ValueError(f"{baseline_run} ({base_cfg.data.track}) and {sg_run} "
                                 f"({cfg.data.track}) are on different tracks")
        else:
            warnings.warn(f"{base_dir}: no checkpoint, the baseline column is left out",
                          stacklevel=2)
    cfg.data.workers = workers
    dataset = build_dataset(cfg, "val")
    if isinstance(indices, str):  # papermill -p passes text: "5,50,150" or "[5, 50, 150]"
        indices = [int(v) for v in re.findall(r"-?\d+", indices)] or None
    bad = [i for i in (indices or []) if not 0 <= int(i) < len(dataset)]
    if bad:
        raise IndexError(f"indices {bad}: the validation set of {sg_run} has {len(dataset)} "
                         "samples")
    return plot_attention_maps(sg_model, dataset, cfg, indices=indices, n_images=n_images,
                               baseline_model=base_model, out_png=out_png,
                               labels=(baseline_run, sg_run))
