"""Attention maps of any image: what `sgpose predict` draws and the attention-maps notebook shows.

`plot_prediction` draws one image: the predicted skeleton over the whole image (with the person
box), and for SG models the sigmoid of each SGM map (stage2, stage3, stage4, final) over the
network's input crop, with the drawing helpers of attention_maps.py. `image_attention_figure` runs
a checkpoint on an image file (engine/predict.py) and draws it; `predict_to_folder` (`sgpose
predict`) does so for many images, writing the PNGs and the keypoints as COCO results.
`attention_view` is the notebook's one call: a validation figure, an image figure, or, where the
SG run has no checkpoint yet (a fresh clone), a one-line hint naming what to run and the
committed figure to show meanwhile.
"""
from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..analysis.attention_stats import sgm_map_sites
from ..engine.checkpoint_io import atomic_write_text, folder_lock, json_safe
from ..engine.inference import load_checkpoint_model
from ..engine.predict import (KEYPOINTS_FILE, KPT_THR, coco_keypoint_results, image_names,
                              image_sizes, parse_box, predict_images, read_image)
from ..errors import ConfigError
from ..layouts import LAYOUTS
from ..params import train_stage
from .attention_maps import _display_joints, _draw_maps, _draw_skeleton, attention_figure, \
    last_checkpoint
from .canvas import plt, save_figure
from .samples import LEFT, MIDDLE, RIGHT, denormalize
from .wording import input_size

COMMITTED_FIGURE = Path("reports/figures/attention/attention_maps.png")  # the `attention` stage's
BOX_COLOR = "#ffe119"


def prediction_title(name: str, checkpoint, cfg, flip: bool) -> str:
    """'<image> — <checkpoint> (profile, track, variant), input h×w, flip test on/off'."""
    return (f"{name} — {checkpoint} ({cfg.profile} profile, {cfg.data.track} track, "
            f"{cfg.variant}), input {input_size(cfg.data.input_size)}, flip test "
            f"{'on' if flip else 'off'}")


def plot_prediction(image, keypoints, box, crop, maps, cfg, kpt_thr: float = KPT_THR,
                    title: str = "", baseline=None, labels: tuple[str, str] = ("prediction",
                                                                               "baseline"),
                    alpha: float = 0.6):
    """One image's figure. `image` (H, W, 3) RGB (uint8, or float in [0, 1]); `keypoints` (K, 3)
    [x, y, score] in image pixels, joints scoring >= `kpt_thr` drawn solid, the others faint;
    `box` (x, y, w, h) image pixels, the person box (dashed); `crop` (3, h, w) the normalised
    network input; `maps` (S, h/4, w/4) the sigmoid of the SGM maps in heatmap pixels, drawn over
    the crop each on its own scale, or None (a baseline: no maps); `baseline` (K, 3): a second
    skeleton panel (labels[1]). `cfg`: the checkpoint's config (track, input size, SGM sites).
    Returns the figure."""
    layout = LAYOUTS[cfg.data.track]
    height, width = np.asarray(image).shape[:2]
    w_in, h_in = cfg.data.input_size
    skeletons = [np.asarray(keypoints, float)] + ([np.asarray(baseline, float)]
                                                  if baseline is not None else [])
    n_maps = 0 if maps is None else len(maps)
    ratios = [float(np.clip(width / height, 0.5, 2.5))] * len(skeletons) + [w_in / h_in] * n_maps
    cell, key_in = 3.0, 0.75   # panel height and the colour key below the panels, inches
    fig_w = max(cell * sum(ratios) + 0.6, 7.5)
    lines = textwrap.wrap(title, int(fig_w * 12)) or [""]
    fig_h = cell + 0.75 + key_in + 0.17 * len(lines)
    fig, axes = plt.subplots(1, len(ratios), figsize=(fig_w, fig_h),
                             gridspec_kw={"width_ratios": ratios}, squeeze=False)
    axes = axes[0]
    for a, kpts, label in zip(axes, skeletons, labels):
        a.imshow(image)
        _draw_scored_skeleton(a, kpts, kpt_thr, layout)
        a.add_patch(Rectangle(tuple(box[:2]), box[2], box[3], fill=False, ec=BOX_COLOR, ls="--",
                              lw=1.0))
        a.set_xlim(-0.5, width - 0.5)
        a.set_ylim(height - 0.5, -0.5)
        a.set_title(f"{label}: {int((kpts[:, 2] >= kpt_thr).sum())} of {len(kpts)} joints\n"
                    f"with score ≥ {kpt_thr:g}", fontsize=9)
    if n_maps:
        sites = sgm_map_sites(cfg.model.sgm_sites)
        map_axes = axes[len(skeletons):]
        _draw_maps(fig, map_axes, denormalize(crop), [np.asarray(m) for m in maps], cfg, alpha,
                   target=False)
        for k, a in enumerate(map_axes):
            a.set_title(f"SGM map: {sites[k] if k < len(sites) else k}\n(network input crop)",
                        fontsize=9)
            a.set_xlim(-0.5, w_in - 0.5)
            a.set_ylim(h_in - 0.5, -0.5)
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    _key(fig, layout, n_maps, kpt_thr, key_in / fig_h)
    fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout(rect=(0, key_in / fig_h, 1, 1))
    return fig


def _draw_scored_skeleton(ax, kpts: np.ndarray, kpt_thr: float, layout) -> None:
    """(K, 3) [x, y, score] keypoints as a skeleton: every joint faint, those scoring >=
    `kpt_thr` solid on top."""
    for shown, faint in ((np.ones(len(kpts), bool), True), (kpts[:, 2] >= kpt_thr, False)):
        before = len(ax.lines), len(ax.collections)
        xy, valid = _display_joints(kpts[:, :2], shown, layout)
        _draw_skeleton(ax, xy, valid, layout)
        if faint:
            for artist in ax.lines[before[0]:] + ax.collections[before[1]:]:
                artist.set_alpha(0.45)


def _key(fig, layout, n_maps: int, kpt_thr: float, height: float) -> None:
    """The colour key in the bottom `height` (figure fraction): joint sides, the person box,
    the faint low-score joints, and how to read the maps."""
    handles = [Line2D([], [], color=LEFT, marker="o", mec="k", lw=1.6, label="left joints"),
               Line2D([], [], color=RIGHT, marker="o", mec="k", lw=1.6, label="right joints"),
               Line2D([], [], color=MIDDLE, marker="o", mec="k", lw=0, label="centre joints"),
               Line2D([], [], color="0.5", marker="o", mec="k", lw=1.6, alpha=0.45,
                      label=f"faint: score < {kpt_thr:g}"),
               Line2D([], [], color=BOX_COLOR, ls="--", lw=1.0, label="person box")]
    fig.legend(handles=handles, loc="upper center", ncol=5, fontsize=8, facecolor="0.3",
               edgecolor="0.3", labelcolor="w", framealpha=1.0, bbox_to_anchor=(0.5, height),
               handlelength=1.6, columnspacing=1.2)  # dark: the white centre joints show
    notes = []
    if layout.name == "mpii":
        notes.append("pelvis/thorax drawn at the hip/shoulder midpoints")
    if n_maps:
        notes.append("maps: sigmoid of the SGM logits, each on its own scale (bar in the panel)")
    if notes:
        fig.text(0.5, 0.01, "; ".join(notes), ha="center", va="bottom", fontsize=8)


def image_attention_figure(checkpoint, image, box=None, baseline_checkpoint=None,
                           out_png=None, kpt_thr: float = KPT_THR,
                           labels: tuple[str, str] = ("prediction", "baseline")):
    """Run `checkpoint` (eager model, its own track, input size and flip test) on the image file
    `image` with the person `box` "x,y,w,h" or (x, y, w, h) in image pixels (default: the whole
    image) and draw `plot_prediction`; with `baseline_checkpoint` (same track), its skeleton
    too. Saved to `out_png` if given; returns the figure."""
    box = parse_box(box)
    model, cfg, device = load_checkpoint_model(checkpoint, fused=False)
    pred, images = predict_images(model, cfg, device, [image], box)
    baseline = None
    if baseline_checkpoint is not None:
        base_model, base_cfg, base_device = load_checkpoint_model(baseline_checkpoint, fused=False)
        if base_cfg.data.track != cfg.data.track:
            raise ConfigError(f"{baseline_checkpoint} ({base_cfg.data.track} track) and "
                              f"{checkpoint} ({cfg.data.track} track): different joint layouts")
        base, _ = predict_images(base_model, base_cfg, base_device, [image], box)
        baseline = np.concatenate([base["preds"][0], base["maxvals"][0][:, None]], axis=1)
    pixels = read_image(image)
    keypoints = np.concatenate([pred["preds"][0], pred["maxvals"][0][:, None]], axis=1)
    fig = plot_prediction(pixels[:, :, ::-1], keypoints, images.boxes[0], images.crop(0, pixels),
                          pred["seg"][0] if "seg" in pred else None, cfg, kpt_thr,
                          prediction_title(Path(image).name, checkpoint, cfg,
                                           cfg.eval.flip_test), baseline, labels)
    if out_png is not None:
        save_figure(fig, out_png, 100, close=False)
    return fig


def missing_checkpoint_hint(runs_dir, sg_run: str, baseline_run: str | None = None,
                            committed: str | Path = COMMITTED_FIGURE) -> str:
    """'' when the SG run has a checkpoint; else one line: what to run first (`make repro`, or
    the DVC stages that train the runs, from params.yaml's train_pairs) and, when it exists, the
    committed figure shown meanwhile."""
    checkpoint = last_checkpoint(Path(runs_dir) / sg_run)
    if checkpoint.is_file():
        return ""
    stages = " ".join(dict.fromkeys(train_stage(run) for run in (baseline_run, sg_run) if run))
    shown = (f"; meanwhile the committed figure {committed} is shown below"
             if Path(committed).is_file() else "")
    return (f"No trained checkpoint {checkpoint} yet: run `make repro` (the whole study) or "
            f"`dvc repro {stages}` (the runs these maps need) first{shown}.")


@dataclass
class AttentionView:
    """What the notebook shows: `figure`, or `hint` (one line) and `committed_png` (or None)."""
    figure: object = None
    hint: str = ""
    committed_png: str | None = None


def attention_view(runs_dir="runs", baseline_run: str | None = "mpii_baseline_s0",
                   sg_run: str = "mpii_sg_r5_s0", n_images: int = 4, indices=None, image=None,
                   box=None, out_png=None, kpt_thr: float = KPT_THR) -> AttentionView:
    """The attention maps of the SG run (runs_dir/sg_run) beside the baseline run, for `image`
    (an image file, with an optional person `box` x,y,w,h in image pixels; default the whole
    image) or else validation samples `indices` (an int, a list, "5,50" or None: `n_images`
    spread over the set). Without an SG checkpoint and without `out_png` (the pipeline's
    output, which must not fall back), the hint of `missing_checkpoint_hint` and the committed
    figure instead of a traceback. A missing baseline checkpoint leaves its panel out."""
    if not out_png:
        hint = missing_checkpoint_hint(runs_dir, sg_run, baseline_run)
        if hint:
            return AttentionView(hint=hint, committed_png=str(COMMITTED_FIGURE)
                                 if COMMITTED_FIGURE.is_file() else None)
    if image:
        base = last_checkpoint(Path(runs_dir) / baseline_run) if baseline_run else None
        fig = image_attention_figure(last_checkpoint(Path(runs_dir) / sg_run), image, box,
                                     base if base is not None and base.is_file() else None,
                                     out_png or None, kpt_thr, (sg_run, baseline_run or ""))
        return AttentionView(figure=fig)
    if box not in (None, ""):
        raise ConfigError(f"box {box!r}: applies to `image` only (validation samples are cropped "
                          "at their annotated person box)")
    if isinstance(indices, (int, np.integer)):
        indices = [int(indices)]
    return AttentionView(figure=attention_figure(runs_dir, baseline_run or None, sg_run,
                                                 n_images, indices, out_png or None))


def predict_to_folder(images: Sequence[str | Path], checkpoint: str | Path,
                      out_dir: str | Path, box=None, kpt_thr: float = KPT_THR,
                      fused: bool = True, flip: bool | None = None) -> dict:
    """Run `checkpoint` on `images` (one person `box` "x,y,w,h" or (x, y, w, h) in image pixels
    for every image; default the whole image) and write into `out_dir` (a folder, locked while
    in use): keypoints.json (COCO results, image_id = file name) and <file stem>.png per image
    (the skeleton of joints scoring >= `kpt_thr` and, for SG models, the four SGM maps).
    Inputs are checked first (box, file names, images, then the checkpoint): nothing is written
    when one is wrong. Returns a summary: checkpoint, track, input size (w, h), flip test, files."""
    if not 0.0 <= kpt_thr <= 1.0:
        raise ConfigError(f"kpt_thr {kpt_thr:g}: a keypoint score threshold in [0, 1]")
    box = parse_box(box)
    names = image_names(images)
    sizes = image_sizes(images, box)
    model, cfg, device = load_checkpoint_model(checkpoint, fused=fused)
    flip = cfg.eval.flip_test if flip is None else bool(flip)
    pred, dataset = predict_images(model, cfg, device, images, box, flip, sizes)
    results = coco_keypoint_results(names, pred, cfg.eval.in_vis_thre)
    files = []
    with folder_lock(out_dir) as out:
        atomic_write_text(out / KEYPOINTS_FILE, json.dumps(json_safe(results)) + "\n")
        for i, (path, name) in enumerate(zip(images, names)):
            image = read_image(path)
            fig = plot_prediction(image[:, :, ::-1], np.reshape(results[i]["keypoints"], (-1, 3)),
                                  dataset.boxes[i], dataset.crop(i, image),
                                  pred["seg"][i] if "seg" in pred else None, cfg, kpt_thr,
                                  prediction_title(name, checkpoint, cfg, flip))
            png = save_figure(fig, out / f"{Path(name).stem}.png", 100)
            files.append({"image": str(path), "png": str(png), "score": results[i]["score"]})
    w, h = cfg.data.input_size
    return {"checkpoint": str(checkpoint), "track": cfg.data.track, "input_size": [w, h],
            "flip_test": flip, "sgm_maps": "seg" in pred, "keypoints": str(out / KEYPOINTS_FILE),
            "images": files}
