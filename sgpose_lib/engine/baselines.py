"""Floors any trained model must clear: an untrained model and the mean-pose predictor.

Both are scored on each track's validation split exactly as `sgpose evaluate` scores a run
(PCKh in percent, COCO AP as a fraction); `sgpose baselines` writes them to <out>/<track>.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..config import TRACKS, Config
from ..data import build_dataset
from ..geometry import PIXEL_STD
from ..model import build_model
from .checkpoint_io import atomic_write_text, folder_lock, json_safe
from .evaluate import METRIC_UNITS, evaluate_dataset, score_predictions
from .inference import fuse_for_inference


def mean_pose_predictions(train_set, val_set) -> dict[str, np.ndarray]:
    """The 'mean pose' predictor: the average training pose, in box-normalised coordinates,
    placed in every validation box (a floor any trained model must clear)."""
    def normalised(records):
        joints = np.stack([r.joints for r in records])
        center = np.stack([r.center for r in records])[:, None]
        size = np.stack([r.scale for r in records])[:, None] * PIXEL_STD
        return (joints[..., :2] - center) / size, joints[..., 2] > 0, center, size

    xy, vis, _, _ = normalised(train_set.records)
    mean = (xy * vis[..., None]).sum(0) / np.maximum(vis.sum(0), 1)[:, None]
    _, _, center, size = normalised(val_set.records)
    n = len(val_set.records)
    return {"preds": center + mean[None] * size, "maxvals": np.ones((n, mean.shape[0])),
            "center": center[:, 0], "scale": size[:, 0] / PIXEL_STD,
            "image_id": np.array([r.image_id for r in val_set.records]),
            "score": np.array([r.score for r in val_set.records], dtype=np.float64),
            "joints": np.stack([r.joints for r in val_set.records]),
            "headsize": np.array([r.headsize for r in val_set.records], dtype=np.float64)}


def reference_baselines(cfg: Config, out_dir: str | Path, fused: bool = True) -> dict:
    """Metrics of an untrained model (seeded official init; `fused`: through the BN-folded
    inference path) and of the mean-pose predictor on the validation split of each track,
    written to out_dir/<track>.json (atomically, with the metrics' `units`, NaN as null) while
    holding the folder's lock."""
    device = torch.device("cpu")
    summary = {}
    with folder_lock(out_dir) as out:
        for track in TRACKS:
            tcfg = cfg.with_run(track=track, variant="baseline")
            train_set, val_set = build_dataset(tcfg, "train"), build_dataset(tcfg, "val")
            torch.manual_seed(tcfg.train.seed)
            model = build_model(tcfg.model).eval()
            if fused:
                model = fuse_for_inference(model, tcfg)
            untrained = evaluate_dataset(model, val_set, tcfg, device)
            mean_pose = score_predictions(mean_pose_predictions(train_set, val_set), val_set, tcfg)
            summary[track] = {"untrained": untrained, "mean_pose": mean_pose}
            document = {**summary[track], "units": METRIC_UNITS[track]}
            atomic_write_text(out / f"{track}.json", json.dumps(json_safe(document), indent=2))
    return summary
