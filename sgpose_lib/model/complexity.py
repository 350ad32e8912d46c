"""Parameters and multiply-adds (MACs) of a model, and the text of `sgpose info`.

Convention: MACs = multiply-accumulates of the convolutions and matrix products of one forward pass of
one image (batch 1), which is what the field calls "GFLOPs" (the official HRNet tool counts, per conv,
weight elements x output pixels, no bias). BN, ReLU, sums, nearest upsampling and the SGM's sigmoid and
product are not counted. torch's FlopCounterMode counts 2 FLOPs per multiply-add, so MACs = FLOPs / 2.
The official tool prints W32 at 256x192 as 7.12 "GFLOPs" by dividing by 1024^3 (7.645e9 MACs in
decimal units); the paper rounds it to 7.10. We report decimal units (1 G = 1e9).
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ..config import SGM_SITES
from ..errors import ConfigError
from .hrnet import PRESETS, PoseHighResolutionNet


def count_parameters(model: nn.Module, sgm: bool = True) -> int:
    """Number of parameters (learnable tensors' elements; BN running statistics are buffers);
    `sgm=False` leaves out those of the SGMs (the modules under `sgm.`)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if sgm or not name.startswith("sgm."))


def count_macs(model: nn.Module, input_size: tuple[int, int] = (192, 256)) -> int:
    """Multiply-adds of one forward pass of a (1, 3, height, width) input; input_size = (width, height)
    in pixels. Runs the model once in eval mode under no_grad, then restores its mode."""
    width, height = input_size
    p = next(model.parameters())
    x = torch.zeros(1, 3, height, width, device=p.device, dtype=p.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


@functools.lru_cache(maxsize=32)
def model_complexity(preset: str, sgm_sites: tuple = (), num_joints: int = 17,
                     input_size: tuple[int, int] = (192, 256)) -> tuple[int, int]:
    """(parameters, multiply-adds) of the model of `preset` with SGMs at `sgm_sites`, input_size =
    (width, height) pixels; cached. Built and run once on the CPU, its initialisation drawn from
    a forked RNG (the caller's random state is left as it was): a real forward of one image
    costs less than the meta device's decomposed ops (HRNet-W32: 1.4 s against 4 s on 2 cores)."""
    if preset not in PRESETS:
        raise ConfigError(f"preset: {preset!r} is not one of {sorted(PRESETS)}")
    with torch.random.fork_rng(devices=[]):
        model = PoseHighResolutionNet(PRESETS[preset], num_joints, tuple(sgm_sites))
    return count_parameters(model), count_macs(model, tuple(input_size))


def info_text(preset: str, sgm: bool, input_size: tuple[int, int], num_joints: int = 17) -> str:
    """Params and MACs of the baseline `preset` (and with `sgm`, of SG-HRNet with the SGM at all four
    sites and the difference) at input_size = (width, height) pixels, with the convention stated."""
    w, h = input_size
    rows = [("baseline", ())] + ([("SG (" + ", ".join(SGM_SITES) + ")", SGM_SITES)] if sgm else [])
    numbers = [(name, *model_complexity(preset, sites, num_joints, input_size))
               for name, sites in rows]
    lines = [f"{preset}, K={num_joints} joints, input {h}x{w} (height x width), heatmaps {h // 4}x{w // 4}"]
    for name, params, macs in numbers:
        lines.append(f"  {name:<40} params {params:>12,} ({params / 1e6:.3f} M)   "
                     f"MACs {macs:>15,} ({macs / 1e9:.3f} G)")
    if sgm:
        (_, p0, m0), (_, p1, m1) = numbers
        lines.append(f"  {'SG - baseline':<40} params {p1 - p0:>+12,} ({100 * (p1 - p0) / p0:+.3f} %)   "
                     f"MACs {m1 - m0:>+15,} ({100 * (m1 - m0) / m0:+.3f} %)")
    lines.append("  MACs = multiply-adds of convolutions for one image (the field's 'GFLOPs'), 1 G = 1e9; "
                 "the official HRNet tool divides by 1024^3 (W32 256x192: 7.645e9 MACs = 7.12 'GFLOPs').")
    return "\n".join(lines)
