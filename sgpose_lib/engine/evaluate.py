"""Batched inference with flip test, decoding to image pixels, and the track's metrics.

MPII-format data: PCKh@0.5 per joint group. COCO data: the standard keypoint results JSON (official
rescoring and OKS-NMS per image) scored by pycocotools; for the embedded COCO track also the
body-only AP (face keypoints removed from the ground truth), labelled as such.

Files (written atomically, under the output folder's lock): `metrics.json` holds the metrics at
the top level (NaN written as null, e.g. the PCKh of a joint with no labelled instance), their
`units` (METRIC_UNITS: PCKh in percent, COCO AP/AR/OKS as fractions in [0, 1]) and the `settings`
they were made with (checkpoint, flip test, decoder, boxes, annotation file, samples scored);
`keypoints_results.json` (COCO track) the standard results list; `persons.json` one value per
validation person, for a bootstrap over persons: MPII track, the joints correct and counted of
the PCKh Mean (metrics.pckh_person_counts); COCO track with ground-truth boxes, the OKS of each
person (null where undefined; empty with detector boxes). `evaluate_checkpoint` decodes the
network's heatmaps (computed once) with both decoders: the standard decoder's files at the top of
the output folder, the DARK decoder's in `dark/` (same schema, settings.decoder = "dark").
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..config import DECODERS, GT_BOXES, Config
from ..data import build_dataset, load_coco_gt
from ..errors import ConfigError
from ..geometry import PIXEL_STD
from ..layouts import Layout
from ..metrics import (coco_keypoint_metrics, oks_nms, person_oks, pckh, pckh_person_counts,
                       rescore)
from .checkpoint_io import atomic_write_text, folder_lock, json_safe, require_folder_path
from .inference import compile_for_set, load_checkpoint_model, predict, with_decoder

# unit of each key family of a track's metrics: MPII track, every key (joint groups, Mean,
# Mean@0.1) is a PCKh in percent (0-100); COCO track, AP* and body_AP* (AP family), AR* and
# body_AR* (AR family) are pycocotools fractions in [0, 1] (-1 where undefined), mean_oks (OKS
# family) a fraction in [0, 1]
METRIC_UNITS: dict[str, dict[str, str]] = {
    "mpii": {"PCKh": "percent"},
    "coco": {"AP": "fraction", "AR": "fraction", "OKS": "fraction"},
}
PERSON_FILE = "persons.json"  # per validation person: the unit of a bootstrap over persons
EVAL_FILES = ("metrics.json", "keypoints_results.json",
              PERSON_FILE)  # what `evaluate_checkpoint` writes,
DECODER_FOLDERS = {"standard": "", "dark": "dark"}       # ... per decoder, in these folders


def primary_metric(metrics: dict, track: str) -> float:
    """The number a run is ranked by: PCKh@0.5 Mean (MPII) or AP (COCO)."""
    return float(metrics["Mean"] if track == "mpii" else metrics["AP"])


def coco_results(pred: dict, layout: Layout, in_vis_thre: float, oks_thre: float) -> list[dict]:
    """Standard COCO keypoint results, as the official HRNet `evaluate`: each instance rescored
    (box score x mean of its keypoint scores > in_vis_thre), then greedy OKS-NMS at `oks_thre`
    within each image on all keypoints (the visibility threshold is not used by the NMS) with the
    layout's sigmas. pred: `predict`'s dict (preds (N, K, 2) image pixels, maxvals (N, K),
    scale (N, 2) in units of PIXEL_STD, score (N,) box scores, image_id (N,))."""
    kpts = np.concatenate([pred["preds"], pred["maxvals"][..., None]], axis=2)
    scores = rescore(kpts, pred["score"], in_vis_thre)
    areas = np.prod(pred["scale"] * PIXEL_STD, axis=1)
    sigmas = np.asarray(layout.oks_sigmas)
    results = []
    by_image = defaultdict(list)
    for i, image_id in enumerate(pred["image_id"].tolist()):
        by_image[image_id].append(i)
    for image_id, idx in by_image.items():
        idx = np.asarray(idx)
        keep = oks_nms(kpts[idx], scores[idx], areas[idx], oks_thre, sigmas)
        for j in idx[keep]:
            results.append({"image_id": int(image_id), "category_id": 1,
                            "keypoints": [float(v) for v in kpts[j].reshape(-1)],
                            "score": float(scores[j])})
    return results


def person_results(pred: dict) -> list[dict]:
    """One results entry per predicted person, in the COCO results format (keypoints [x, y,
    maxval] x K in image pixels, score = the box score), in the order of the predictions."""
    kpts = np.concatenate([pred["preds"], pred["maxvals"][..., None]], axis=2)
    return [{"image_id": int(i), "category_id": 1, "keypoints": [float(v) for v in k.reshape(-1)],
             "score": float(s)} for i, k, s in zip(pred["image_id"].tolist(), kpts, pred["score"])]


def evaluate_dataset(model, dataset, cfg: Config, device: torch.device,
                     out_dir: str | Path | None = None, flip: bool | None = None) -> dict:
    """The track's metrics of `model` on `dataset`; with `out_dir`, also the files behind them."""
    return score_predictions(predict(model, dataset, cfg, device, flip), dataset, cfg, out_dir)


def score_predictions(pred: dict, dataset, cfg: Config, out_dir: str | Path | None = None,
                      settings: dict | None = None) -> dict:
    """PCKh (MPII track, percent) or COCO AP (fraction) of predictions laid out as `predict`
    returns them. With `out_dir`, also writes metrics.json (with `settings` added to those
    `scoring_settings` finds) and keypoints_results.json (COCO track: the standard results after
    rescoring and OKS-NMS; MPII track: one entry per person, same format), atomically."""
    if cfg.data.track == "mpii":
        joints = pred["joints"]
        metrics = pckh(pred["preds"], joints[..., :2], joints[..., 2] > 0, pred["headsize"],
                       dataset.layout)
        if out_dir is not None:
            atomic_write_text(Path(out_dir, "keypoints_results.json"),
                              json.dumps(person_results(pred)))
            correct, counted = pckh_person_counts(pred["preds"], joints[..., :2],
                                                  joints[..., 2] > 0, pred["headsize"],
                                                  dataset.layout)
            atomic_write_text(Path(out_dir, PERSON_FILE), json.dumps(
                {"metric": "PCKh@0.5 Mean", "correct": correct.tolist(),
                 "counted": counted.tolist()}))
    else:
        results = coco_results(pred, dataset.layout, cfg.eval.in_vis_thre, cfg.eval.oks_thre)
        # a limited split (smoke profile) is scored on its own images only
        img_ids = pred["image_id"].tolist() if cfg.data.limit_val else None
        metrics = coco_keypoint_metrics(dataset.coco, results, img_ids=img_ids)
        if getattr(dataset, "gt_file_body", None):
            body_metrics = coco_keypoint_metrics(load_coco_gt(dataset.gt_file_body), results,
                                                 img_ids=img_ids)
            metrics.update({f"body_{k}": v for k, v in body_metrics.items()})
        oks = None
        if cfg.eval.boxes == GT_BOXES and "joints" in pred:  # one prediction per annotated person
            oks = dataset_person_oks(pred, dataset)
            metrics["mean_oks"] = float(np.nanmean(oks))
        if out_dir is not None:
            atomic_write_text(Path(out_dir, "keypoints_results.json"), json.dumps(results))
            atomic_write_text(Path(out_dir, PERSON_FILE), json.dumps(
                {"metric": "mean_oks" if oks is not None else None,
                 "oks": [] if oks is None else json_safe([float(v) for v in oks])}))
    metrics = {k: float(v) for k, v in metrics.items()}
    if out_dir is not None:
        write_metrics(Path(out_dir, "metrics.json"), metrics, cfg.data.track,
                      {**scoring_settings(pred, dataset, cfg), **(settings or {})})
    return metrics


def scoring_settings(pred: dict, dataset, cfg: Config) -> dict:
    """What a set of metrics was scored on: track, annotation file, image folder, boxes ('gt' or
    the detector-results file), data.limit_val (0 = the whole file), samples (persons or
    detector boxes scored) and images."""
    ann_file = getattr(dataset, "ann_file", None)
    image_root = getattr(dataset, "image_root", None)
    return {"track": cfg.data.track, "val_ann": str(ann_file) if ann_file else None,
            "image_root": str(image_root) if image_root else None,
            "boxes": cfg.eval.boxes if cfg.data.track == "coco" else "annotated centre and scale",
            "limit_val": int(cfg.data.limit_val), "samples": int(len(pred["preds"])),
            "images": int(len(np.unique(pred["image_id"])))}


def write_metrics(path: str | Path, metrics: dict, track: str, settings: dict) -> None:
    """metrics.json: the metrics at the top level (non-finite values as null), their `units`
    (METRIC_UNITS of `track`) and the `settings` they were made with; written atomically."""
    document = {**metrics, "units": METRIC_UNITS[track], "settings": settings}
    atomic_write_text(path, json.dumps(json_safe(document), indent=2) + "\n")


def dataset_person_oks(pred: dict, dataset) -> np.ndarray:
    """(N,) OKS of each ground-truth-box prediction against its own person (records' order;
    nan for a person without labelled joints): a paired, continuous measure that moves even where
    the AP of a weak model is 0."""
    areas = np.array([r.area for r in dataset.records], dtype=np.float64)
    sigmas = np.asarray(dataset.layout.oks_sigmas)
    return person_oks(pred["preds"], pred["joints"], areas, sigmas)


def evaluate_checkpoint(checkpoint: str | Path, out_dir: str | Path | None = None,
                        boxes: str = GT_BOXES, flip: bool = True, val_ann: str | None = None,
                        image_root: str | None = None, workers: int | None = None,
                        progress: bool = False, fused: bool = True,
                        compile: str | None = None) -> dict:
    """Evaluate a training checkpoint on its run's validation data, with ground truth boxes or a
    detector-results JSON (COCO track only); returns the metrics (PCKh in percent, COCO AP as a
    fraction). `val_ann`: evaluate this annotation file instead, whole (the run's
    data.limit_val applies to its own validation split only). With `out_dir` (a folder, locked
    while in use) writes metrics.json and the COCO results there; the files of an earlier
    evaluation are removed first, so an interrupted evaluation leaves none. The heatmaps are
    decoded with every decoder of config.DECODERS: the returned metrics and the files at the top
    of `out_dir` are the standard decoder's, those of DARK go to `out_dir/dark/` (settings.decoder
    names the decoder). `progress`: a tqdm bar over the batches. `fused`: the BN-folded inference
    path (see load_checkpoint_model), compiled where eval.compile asks (`compile`, one of
    config.EVAL_COMPILE, overrides the run's; see inference.compile_for_set)."""
    if out_dir is not None:
        require_folder_path(out_dir)
    model, cfg, device = load_checkpoint_model(checkpoint, fused)
    _check_boxes(boxes, cfg.data.track, checkpoint)
    cfg.eval.boxes = boxes
    if val_ann:
        cfg.data.val_ann = str(val_ann)
        cfg.data.limit_val = 0
    if image_root:
        cfg.data.image_root = str(image_root)
    if workers is not None:
        cfg.data.workers = workers
    if compile is not None:
        cfg.eval.compile = compile
        cfg.validate()
    dataset = build_dataset(cfg, "val")
    model, compiled = compile_for_set(model, cfg, len(dataset), flip) if fused else (model, False)
    if out_dir is None:
        return score_predictions(predict(model, dataset, cfg, device, flip, progress=progress,
                                         decoders=("standard",)), dataset, cfg)
    with folder_lock(out_dir) as out:
        for folder in DECODER_FOLDERS.values():
            for name in EVAL_FILES:
                (out / folder / name).unlink(missing_ok=True)
        pred = predict(model, dataset, cfg, device, flip, progress=progress, decoders=DECODERS)
        metrics = {}
        for decoder in sorted(DECODERS, key=lambda d: d == "standard"):  # the top metrics.json last
            folder = out / DECODER_FOLDERS[decoder]
            folder.mkdir(exist_ok=True)
            metrics[decoder] = score_predictions(
                with_decoder(pred, decoder), dataset, cfg, folder,
                {"checkpoint": str(checkpoint), "flip_test": bool(flip),
                 "fused_inference": bool(fused), "compiled": compiled, "decoder": decoder})
        return metrics["standard"]


def _check_boxes(boxes: str, track: str, checkpoint: str | Path) -> None:
    """ConfigError for detector boxes with an MPII-track checkpoint (they would be ignored)."""
    if boxes != GT_BOXES and track == "mpii":
        raise ConfigError(f"{checkpoint}: an MPII-track checkpoint; detector boxes ({boxes}) "
                          "apply to the COCO track only (MPII has no detector boxes: it is scored "
                          "on the annotated person centre and scale), so leave out --boxes")
