"""Evaluation metrics: MPII PCKh and COCO OKS AP, with the official rescoring and OKS-NMS.

- `pckh`: the official MPII evaluation (as in the HRNet code): a joint is correct when its error
  divided by the head size is <= threshold; per-joint PCKh, groups (Head, Sho, ...) as the mean
  of their joints, and Mean weighted by joint counts with pelvis and thorax left out.
- `coco_keypoint_metrics`: pycocotools `COCOeval(iouType="keypoints")` on standard results.
- `rescore`, `oks_nms`: the official post-processing of detector boxes (top-down COCO).

All positions and sizes are image pixels. OKS `sigmas` are in pycocotools' convention (nose
0.026), as the layout declares them (`layouts.COCO17.oks_sigmas`).
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from pycocotools.cocoeval import COCOeval

from .layouts import COCO17, MPII16, Layout

SC_BIAS = 0.6                          # official: head size = 0.6 x head-box diagonal
PCKH_EXCLUDED = ("pelvis", "thorax")   # left out of the MPII Mean, official
COCO_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
COCO_SIGMAS = np.array(COCO17.oks_sigmas)


def headsize_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N,) head sizes, pixels: SC_BIAS (0.6) x the diagonal of (N, 4) head boxes x1, y1, x2, y2."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return SC_BIAS * np.linalg.norm(boxes[:, 2:4] - boxes[:, 0:2], axis=1)


def pckh(preds: np.ndarray, gts: np.ndarray, visible: np.ndarray, headsize: np.ndarray,
         layout: Layout = MPII16, threshold: float = 0.5) -> dict[str, float]:
    """PCKh in percent, official MPII rules.

    preds, gts: (N, K, 2) pixels; visible: (N, K) > 0 where the joint is labelled (the official
    `1 - jnt_missing`); headsize: (N,) pixels (see `headsize_from_boxes`). A joint is correct when
    ||pred - gt|| / headsize <= threshold.

    Returns a flat dict: one entry per joint name, one per group of `layout.pckh_groups`
    (mean of its joints' PCKh), "Mean" (joints weighted by their labelled count, pelvis and
    thorax left out) and "Mean@0.1" (the same at threshold 0.1). A joint with no labelled
    instance has PCKh nan and weight 0. (The official code's "Mean@0.1" reads row 11 of a table
    built on arange(0, 0.51, 0.01), i.e. threshold 0.11; here it is 0.1.)"""
    visible = np.asarray(visible) > 0
    err = np.linalg.norm(np.asarray(preds, np.float64) - np.asarray(gts, np.float64), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = err / np.asarray(headsize, np.float64)[:, None]
    count = visible.sum(axis=0).astype(np.float64)                       # (K,)
    included = np.array([name not in PCKH_EXCLUDED for name in layout.joints]) & (count > 0)
    ratio = np.where(included, count, 0.0) / max(np.where(included, count, 0.0).sum(), 1.0)

    def per_joint(thr: float) -> np.ndarray:
        correct = ((scaled <= thr) & visible).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, 100.0 * correct / count, np.nan)

    pck, pck01 = per_joint(threshold), per_joint(0.1)
    result = {name: float(v) for name, v in zip(layout.joints, pck)}
    result.update({g: float(np.mean(pck[list(idx)])) for g, idx in layout.pckh_groups.items()})
    result["Mean"] = float(np.sum(np.where(included, pck, 0.0) * ratio))
    result["Mean@0.1"] = float(np.sum(np.where(included, pck01, 0.0) * ratio))
    return result


def pckh_person_counts(preds: np.ndarray, gts: np.ndarray, visible: np.ndarray,
                       headsize: np.ndarray, layout: Layout = MPII16,
                       threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per person (N,): the joints correct at `threshold` and the joints counted, over the joints
    that `pckh`'s "Mean" includes (labelled somewhere in the set, pelvis and thorax left out), so
    that 100 · Σ correct / Σ counted is that Mean: the unit a bootstrap over persons resamples.
    Arguments as `pckh`."""
    visible = np.asarray(visible) > 0
    err = np.linalg.norm(np.asarray(preds, np.float64) - np.asarray(gts, np.float64), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = err / np.asarray(headsize, np.float64)[:, None]
    included = (np.array([name not in PCKH_EXCLUDED for name in layout.joints])
                & (visible.sum(axis=0) > 0))
    counted = visible & included
    return ((scaled <= threshold) & counted).sum(axis=1), counted.sum(axis=1)


def coco_keypoint_metrics(coco_gt, results: list[dict], sigmas: np.ndarray | None = None,
                          quiet: bool = True, img_ids: list[int] | None = None) -> dict[str, float]:
    """OKS AP/AR of keypoint `results` against `coco_gt` (a pycocotools COCO), via COCOeval.

    results: standard COCO keypoint results, {"image_id", "category_id": 1,
    "keypoints": [x, y, score] * K, "score"}. sigmas: per-keypoint OKS sigmas (pycocotools
    convention; default COCO's 17). Returns AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL
    as floats in [0, 1]; a value pycocotools cannot define (-1, e.g. no medium-size person in the
    ground truth) is nan. Empty results give zeros, with a warning. `quiet` silences its prints.
    `img_ids` restricts the evaluation to those images (default: every image of `coco_gt`)."""
    if len(results) == 0:
        warnings.warn("coco_keypoint_metrics: no results, all metrics are 0", stacklevel=2)
        return {name: 0.0 for name in COCO_STATS}
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        coco_dt = coco_gt.loadRes([dict(r) for r in results])  # loadRes edits its input
        coco_eval = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        coco_eval.params.useSegm = None
        if img_ids is not None:
            coco_eval.params.imgIds = sorted(set(int(i) for i in img_ids))
        if sigmas is not None:
            coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {name: (float(v) if v >= 0 else float("nan"))
            for name, v in zip(COCO_STATS, coco_eval.stats)}


def oks_matrix(kpts: np.ndarray, areas: np.ndarray, sigmas: np.ndarray | None = None,
               in_vis_thre: float | None = None) -> np.ndarray:
    """(N, N) OKS between N instances (N, K, 3) (x, y, score), official `oks_iou` formula.

    Entry [g, d]: mean over joints of exp(-e), e = (dx^2 + dy^2) / vars / ((a_g + a_d) / 2 + eps)
    / 2 with vars = (2 sigma)^2; with `in_vis_thre`, only joints whose score is > in_vis_thre in
    both instances count (0 if none). (The official `list(vg > t) and list(vd > t)` evaluates to
    the second list only; both are required here, which is what it means.)"""
    kpts = np.asarray(kpts, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    sigmas = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    variances = (sigmas * 2) ** 2
    d2 = ((kpts[:, None, :, :2] - kpts[None, :, :, :2]) ** 2).sum(-1)        # (N, N, K)
    mean_area = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    e = d2 / variances / mean_area[..., None] / 2
    if in_vis_thre is None:
        return np.exp(-e).mean(-1)
    vis = kpts[..., 2] > in_vis_thre
    both = vis[:, None, :] & vis[None, :, :]
    n = both.sum(-1)
    return np.where(n > 0, (np.exp(-e) * both).sum(-1) / np.maximum(n, 1), 0.0)


def oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float = 0.9,
            sigmas: np.ndarray | None = None, in_vis_thre: float | None = None) -> list[int]:
    """Indices of the instances kept by greedy OKS-NMS, highest score first (official `oks_nms`).

    kpts: (N, K, 3) x, y pixels and score; scores, areas (pixels^2): (N,). An instance is dropped
    when its OKS with a kept, higher-scored instance is > thresh. Equal scores: lower index
    first."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return []
    oks = oks_matrix(kpts, areas, sigmas, in_vis_thre)
    suppressed = np.zeros(len(scores), dtype=bool)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if not suppressed[i]:
            keep.append(int(i))
            suppressed |= oks[i] > thresh
    return keep


def rescore(kpts: np.ndarray, box_scores: np.ndarray, in_vis_thre: float = 0.2) -> np.ndarray:
    """(N,) official instance scores: box score x mean of the keypoint scores > in_vis_thre
    (0 when no keypoint score passes). kpts: (N, K, 3) with the score in [..., 2]."""
    joint_scores = np.asarray(kpts, dtype=np.float64)[..., 2]
    valid = joint_scores > in_vis_thre
    n = valid.sum(-1)
    mean = np.where(n > 0, (joint_scores * valid).sum(-1) / np.maximum(n, 1), 0.0)
    return np.asarray(box_scores, dtype=np.float64) * mean


def person_oks(preds: np.ndarray, joints: np.ndarray, areas: np.ndarray,
               sigmas: np.ndarray) -> np.ndarray:
    """(N,) COCO OKS of each prediction against its own person's ground truth.

    preds: (N, K, 2) image pixels; joints: (N, K, 3) ground truth (x, y, v) in image pixels,
    v > 0 = labelled; areas: (N,) the annotations' `area` (pixels^2, the s^2 of OKS); sigmas:
    (K,) in pycocotools' convention (layout.oks_sigmas). OKS = mean over labelled joints
    of exp(-d^2 / (2 s^2 k^2)) with k = 2 sigma, as pycocotools `computeOks` (area + eps).
    A person with no labelled joint gets nan."""
    preds = np.asarray(preds, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    k2 = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    d2 = ((preds - joints[..., :2]) ** 2).sum(-1)
    e = d2 / k2[None] / (np.asarray(areas, dtype=np.float64)[:, None] + np.spacing(1)) / 2.0
    labelled = joints[..., 2] > 0
    n = labelled.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (np.exp(-e) * labelled).sum(-1) / n, np.nan)
