"""Inference-only rewrites of a trained model that change no results (up to float rounding).

- BN folding: in eval mode a BatchNorm2d is a per-channel affine map of its input, so a Conv2d followed
  by a BatchNorm2d is one conv with weight w * g / sqrt(var + eps) and bias (b - mean) * g /
  sqrt(var + eps) + beta (`torch.nn.utils.fusion.fuse_conv_bn_eval`); the BN becomes nn.Identity.
  Every conv+BN pair of HRNet and of the SGM folds, so no BatchNorm2d is left.
- channels_last: weights (and, by the caller, inputs) in NHWC memory order, which oneDNN on CPU and
  cuDNN on GPU convolve without reordering.

Where the pairs are (the official HRNet layout, see hrnet.py): consecutive (Conv2d, BatchNorm2d)
children of an nn.Sequential (conv_bn units of the transitions, fuse layers and downsample shortcuts),
and named attribute pairs in the modules of FOLD_PAIRS (stem, blocks, SGM), whose forward applies the
BN directly to the conv's output. A BatchNorm2d left over means a structure this file does not know:
`fuse_conv_bn_for_inference` raises rather than return a half-folded model.

    fast = prepare_for_inference(model, channels_last=True, fuse_bn=True)
    heatmaps, seg = fast(x.to(memory_format=torch.channels_last))   # same outputs as model.eval()(x)

The measured effect of each option is in reports/bench_cpu.md (`sgpose bench`).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .hrnet import BasicBlock, Bottleneck, PoseHighResolutionNet
from .sgm import SGM

# (conv attribute, BN attribute) pairs where forward computes bn(conv(x)) with nothing in between
FOLD_PAIRS: dict[type, tuple[tuple[str, str], ...]] = {
    PoseHighResolutionNet: (("conv1", "bn1"), ("conv2", "bn2")),
    BasicBlock: (("conv1", "bn1"), ("conv2", "bn2")),
    Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    SGM: (("conv1", "bn"),),
}


def _fold(module: nn.Module) -> int:
    """Fold the conv+BN pairs that are direct children of `module`; returns how many."""
    folded = 0
    if isinstance(module, nn.Sequential):
        children = list(module)
        for k in range(len(children) - 1):
            conv, bn = children[k], children[k + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module[k], module[k + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
                folded += 1
    for cls, pairs in FOLD_PAIRS.items():
        if isinstance(module, cls):
            for conv_name, bn_name in pairs:
                conv, bn = getattr(module, conv_name), getattr(module, bn_name)
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                    setattr(module, bn_name, nn.Identity())
                    folded += 1
    return folded


def fuse_conv_bn_for_inference(model: nn.Module) -> nn.Module:
    """A deep copy of `model` in eval mode with every BatchNorm2d folded into the conv before it.

    The copy has the same module names minus the BN parameters (each BN is an nn.Identity, each
    folded conv gains a bias) and must not be trained: its BNs no longer normalise batches.
    Raises RuntimeError if a BatchNorm2d is left (a structure not listed in FOLD_PAIRS)."""
    fused = copy.deepcopy(model).eval()
    for module in list(fused.modules()):
        _fold(module)
    left = [name for name, m in fused.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise RuntimeError(f"fuse_conv_bn_for_inference: {len(left)} BatchNorm2d not after a known "
                           f"conv (first: {left[0]}); add the pair to FOLD_PAIRS")
    return fused


def prepare_for_inference(model: nn.Module, channels_last: bool = False, fuse_bn: bool = False) -> nn.Module:
    """A copy of `model` in eval mode for inference only, with BN folded (`fuse_bn`) and weights in
    channels_last memory order (`channels_last`; pass inputs as x.to(memory_format=torch.channels_last)
    to save a reorder). Neither option changes the outputs beyond float rounding (~1e-6 relative)."""
    out = fuse_conv_bn_for_inference(model) if fuse_bn else copy.deepcopy(model).eval()
    if channels_last:
        out = out.to(memory_format=torch.channels_last)
    return out
