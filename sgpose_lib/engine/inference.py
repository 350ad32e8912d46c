"""Inference: a trained checkpoint as a ready model, and flip-tested keypoints of a dataset.

`load_checkpoint_model` restores a run's model strictly (every tensor must match by name and
shape); `fuse_for_inference` is the one place that turns a model into the inference path (BN
folded into the convs, channels_last weights; outputs equal to the eager model's up to float
rounding). `predict` returns keypoints in image pixels (see its docstring for the arrays), decoded
by one or more heatmap decoders from the same network outputs (`with_decoder` picks one).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, config_from_dict
from ..decode import average_flip, decode_heatmaps
from ..model import build_model
from ..model.fuse import prepare_for_inference
from .checkpoint_io import load_checkpoint, load_model_state
from .runtime import resolve_device


def fuse_for_inference(model, cfg: Config):
    """`model` on the inference path (BN folded, channels_last weights); sets
    cfg.train.channels_last so that `predict` feeds inputs in the weights' memory order."""
    model = prepare_for_inference(model, channels_last=True, fuse_bn=True)
    cfg.train.channels_last = True
    return model


def load_checkpoint_model(checkpoint: str | Path, fused: bool = True):
    """(model in eval mode on its device, Config, device) of a training checkpoint: the run's
    config, no pretrained weights loaded (the checkpoint holds them all), strict weight loading.
    `fused` (default): the inference path, BN folded into the convs and channels_last weights
    (model.fuse.prepare_for_inference; outputs equal to the eager model's up to float rounding,
    1.3-1.4x faster on CPU); False: the plain eager model."""
    ckpt = load_checkpoint(checkpoint)
    cfg = config_from_dict(ckpt["config"], f"{checkpoint}: config")
    cfg.model.pretrained = ""
    device = resolve_device(cfg.train.device)
    model = build_model(cfg.model)
    load_model_state(model, ckpt["model"], checkpoint)
    model.to(device)
    if fused:
        model = fuse_for_inference(model, cfg)
    elif cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    return model.eval(), cfg, device


@torch.inference_mode()
def predict(model, dataset, cfg: Config, device: torch.device, flip: bool | None = None,
            keep_seg: bool = False, progress: bool = False,
            decoders: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Keypoints of every sample in image pixels: preds (N, K, 2), maxvals (N, K), plus the
    sample metadata (center, scale, image_id, score, joints, headsize) and, with `keep_seg`,
    the sigmoid of each SGM map (N, S, h, w). `progress`: a tqdm bar over the batches on
    stderr (off by default, so that notebooks and tests stay quiet).

    `decoders` (config.DECODERS; default: cfg.eval.decoder alone) decode the same heatmaps:
    preds are those of the first; with more than one, `preds_<decoder>` holds each decoder's
    (see `with_decoder`). maxvals, the heatmap peaks, do not depend on the decoder."""
    flip = cfg.eval.flip_test if flip is None else flip
    decoders = tuple(decoders or (cfg.eval.decoder,))
    sigma = cfg.data.sigma * cfg.data.heatmap_scale  # the targets' std, heatmap pixels
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=cfg.eval.batch_size, shuffle=False,
                        num_workers=cfg.data.workers)
    flip_index = dataset.layout.flip_index()
    out: dict[str, list] = defaultdict(list)
    batches = tqdm(loader, desc="evaluate", unit="batch", leave=False, disable=not progress,
                   dynamic_ncols=True)
    for batch in batches:
        images = batch["image"].to(device)
        if cfg.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        heatmaps, seg = model(images)
        if flip:
            flipped, _ = model(images.flip(3))
            heatmaps = average_flip(heatmaps, flipped, flip_index, cfg.eval.shift_heatmap)
        heatmaps = heatmaps.float().cpu().numpy()
        for i, decoder in enumerate(decoders):
            preds, maxvals = decode_heatmaps(heatmaps, batch["center"].numpy(),
                                             batch["scale"].numpy(), decoder, sigma)
            if i == 0:
                out["preds"].append(preds)
                out["maxvals"].append(maxvals.reshape(len(preds), -1))
            if len(decoders) > 1:
                out[f"preds_{decoder}"].append(preds)
        for key in ("center", "scale", "image_id", "score", "joints", "headsize"):
            out[key].append(batch[key].numpy())
        if keep_seg and seg:
            out["seg"].append(torch.sigmoid(torch.cat(seg, 1)).float().cpu().numpy())
    model.train(was_training)
    return {k: np.concatenate(v) for k, v in out.items()}


def with_decoder(pred: dict[str, np.ndarray], decoder: str) -> dict[str, np.ndarray]:
    """`predict`'s output made with several decoders, laid out as if made with `decoder`
    alone: its `preds_<decoder>` as preds, the other decoders' preds left out."""
    key = f"preds_{decoder}"
    if key not in pred:
        raise KeyError(f"no predictions of decoder {decoder!r} (predict(..., decoders=...))")
    return {**{k: v for k, v in pred.items() if not k.startswith("preds_")}, "preds": pred[key]}
