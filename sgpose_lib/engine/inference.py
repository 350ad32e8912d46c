"""Inference: a trained checkpoint as a ready model, and flip-tested keypoints of a dataset.

`load_checkpoint_model` restores a run's model strictly (every tensor must match by name and
shape); `fuse_for_inference` is the one place that turns a model into the inference path (BN
folded into the convs, channels_last weights; outputs equal to the eager model's up to float
rounding). `predict` returns keypoints in image pixels (see its docstring for the arrays), decoded
by one or more heatmap decoders from the same network outputs (`with_decoder` picks one).

`compile_for_set` puts the inference path through torch.compile (inductor, weights frozen as
constants: oneDNN's prepacked convolutions on CPU) where the set is large enough to repay the
compilation (eval.compile = "auto"): when the set's forward passes add up to COMPILE_MIN_GMACS
multiply-adds. Measured on 2 AMD EPYC cores (reports/bench_cpu.md, HRNet-W32 at 256x192, batch
8): the compilation costs 20-60 s (the inductor cache on disk keeps it for the next run) and saves
about a fifth of each eager forward, so it pays from a few hundred W32 images on; the cpu
profile's sets (hrnet_small, inputs of 96x96) stay eager. Every batch of a compiled model is padded
to eval.batch_size, so that one shape is compiled once.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, config_from_dict
from ..decode import average_flip, decode_heatmaps
from ..model import build_model, count_parameters, model_complexity
from ..model.fuse import prepare_for_inference
from .checkpoint_io import load_checkpoint, load_model_state
from .runtime import compile_cache, resolve_device

# eval.compile = "auto" compiles when the set's forwards (flip test: two per sample) add up to
# this many multiply-adds (1 G = 1e9): 655 samples of HRNet-W32 at 256x192 with flip test
# (7.6 G per forward), 32,000 of the cpu profile's hrnet_small at 96x96 (0.16 G)
COMPILE_MIN_GMACS = 10_000.0


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


class FixedBatch(torch.nn.Module):
    """`model` called on batches zero-padded to `batch` samples (outputs cut back to the input's
    samples): one input shape, so a compiled model compiles once. In eval mode every sample's
    outputs depend on that sample alone, so the padding changes none of them."""

    def __init__(self, model, batch: int):
        super().__init__()
        self.model, self.batch = model, batch

    def forward(self, images: torch.Tensor):
        n = images.shape[0]
        if n < self.batch:
            pad = images.new_zeros((self.batch - n, *images.shape[1:]))
            images = torch.cat([images, pad]).contiguous(memory_format=torch.channels_last)
        heatmaps, seg = self.model(images)
        return heatmaps[:n], [s[:n] for s in seg]


def compile_wanted(cfg: Config, samples: int, flip: bool, parameters: int) -> bool:
    """Whether eval.compile asks for torch.compile on a set of `samples` samples: "on", "off", or
    "auto" = the set's forward multiply-adds (model_complexity at the track's input size, two
    forwards per sample with the flip test) reach COMPILE_MIN_GMACS. `parameters` (the model's
    count) gives a bound checked first: a convolution makes one multiply-add per weight and output
    pixel, and none outputs more than ceil(H/2) x ceil(W/2) pixels (the stem's first has stride
    2); a set below the threshold even at that bound needs no exact count, whose tracing
    machinery takes seconds to import."""
    if cfg.eval.compile != "auto":
        return cfg.eval.compile == "on"
    forwards = samples * (2 if flip else 1)
    width, height = cfg.data.input_size
    if forwards * parameters * -(-height // 2) * -(-width // 2) / 1e9 < COMPILE_MIN_GMACS:
        return False
    _, macs = model_complexity(cfg.model.preset, tuple(cfg.model.sgm_sites),
                               cfg.model.num_joints, tuple(cfg.data.input_size))
    return forwards * macs / 1e9 >= COMPILE_MIN_GMACS


def compile_for_set(model, cfg: Config, samples: int, flip: bool):
    """(model, compiled): the inference-path `model` compiled with torch.compile (default mode,
    weights frozen; kernels cached on disk, runtime.compile_cache) and fed fixed batches of
    eval.batch_size when `compile_wanted`, else `model` itself. The compilation runs here, on a
    batch of zeros: where it fails (no C++ compiler, an unsupported op) a warning names the error
    and the eager `model` is returned. Call the result under torch.inference_mode (as `predict`
    does): frozen weights need it."""
    if not compile_wanted(cfg, samples, flip, count_parameters(model)):
        return model, False
    compile_cache()
    fixed = FixedBatch(torch.compile(model, options={"freezing": True}), cfg.eval.batch_size).eval()
    width, height = cfg.data.input_size
    p = next(model.parameters())
    zeros = torch.zeros(1, 3, height, width, device=p.device, dtype=p.dtype)
    try:
        with torch.inference_mode():
            fixed(zeros.contiguous(memory_format=torch.channels_last))
    except Exception as e:  # the compiler's many failure types: fall back to the eager path
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        warnings.warn(f"eval.compile: torch.compile failed ({type(e).__name__}: {first[:200]}); "
                      "evaluating with the eager inference path (same outputs, slower)",
                      stacklevel=2)
        return model, False
    return fixed, True


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
