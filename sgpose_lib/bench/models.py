"""What the bench times: the baseline and SG models of a preset, a random training batch, and the
training step of `sgpose train` on it.

Models use the official init with non-trivial BN statistics and affine parameters (as after
training), so that folding BN is not a no-op; speed does not depend on the weights' values.
The training step is the engine's (`sgpose_lib.engine.step.train_step`): forward, the loss of
Eq. 7 (keypoint MSE + lambda x seg BCE over the SGM maps, weighted by Dynamic Weight Averaging),
the finite-loss check, backward, Adam step, and the .item() reads of the logged losses.
Batches: images (B, 3, H, W), heatmaps (B, K, H/4, W/4), target weight (B, K), seg (B, H/4, W/4).
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch
import torch.nn as nn

from ..config import SGM_SITES, Config, ModelConfig
from ..engine.runtime import to_device
from ..engine.step import train_step
from ..losses import DynamicWeightAverage
from ..model import PoseHighResolutionNet, build_model

VARIANTS = ("baseline", "sg")
VARIANT_TITLES = {"baseline": "baseline", "sg": "SG (" + ", ".join(SGM_SITES) + ")"}


def bench_model(preset: str, sgm: bool, device: str, num_joints: int = 17,
                seed: int = 0) -> PoseHighResolutionNet:
    """The baseline (sgm=False) or SG model (all four sites) of `preset`, official init with
    trained-looking BN statistics and affine parameters, on `device`."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(preset=preset, num_joints=num_joints,
                                    sgm_sites=SGM_SITES if sgm else ()))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
    return model.to(device)


def with_upsample(model: PoseHighResolutionNet, upsample: str) -> PoseHighResolutionNet:
    """A copy of `model` (same weights, device and mode) whose fusions upsample by `upsample`
    (sgpose_lib.model.hrnet.UPSAMPLE_MODES; "scale_factor" is the official path)."""
    attention = next((m.attention for m in model.sgm.values()), "multiply")
    twin = PoseHighResolutionNet(model.preset, model.num_joints, tuple(model.sgm), attention,
                                 upsample=upsample)
    twin.load_state_dict(model.state_dict())
    device = next(model.parameters()).device
    return twin.to(device).train(model.training)


def train_batch(batch: int, input_size: tuple[int, int], num_joints: int, device: str,
                channels_last: bool = False) -> dict[str, torch.Tensor]:
    """A random batch of the training shapes at input_size = (width, height), on `device` as the
    training loop puts it there (image in channels_last memory order if asked)."""
    w, h = input_size
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, h, w, generator=g)
    heatmaps = torch.rand(batch, num_joints, h // 4, w // 4, generator=g)
    weight = torch.ones(batch, num_joints)
    seg = (torch.rand(batch, h // 4, w // 4, generator=g) > 0.8).float()
    cpu_batch = {"image": x, "heatmaps": heatmaps, "target_weight": weight, "seg": seg}
    return to_device(cpu_batch, torch.device(device), channels_last)


def step_config(batch: int, channels_last: bool = False, bf16: bool = False) -> Config:
    """The settings the training step reads: the study's loss (lambda, DWA mode and temperature:
    LossConfig's defaults) and the train section's batch, memory format and bf16 autocast."""
    cfg = Config()
    cfg.train.batch_size, cfg.train.channels_last, cfg.train.bf16 = batch, channels_last, bf16
    return cfg


def make_train_step(model: PoseHighResolutionNet, batch: int, input_size: tuple[int, int], device: str,
                    channels_last: bool = False, cfg: Config | None = None,
                    net: nn.Module | None = None) -> Callable[[], dict]:
    """A closure doing one engine training step of `model` (put in train mode, and in channels_last
    memory order if asked, as `train.channels_last`) on a fixed random batch, with its own Adam
    optimizer and DWA state as `sgpose train` sets them up; returns the step's logged floats.
    `cfg` defaults to step_config(batch, channels_last); `net` (default `model`) runs the forward,
    e.g. torch.compile(model)."""
    cfg = cfg if cfg is not None else step_config(batch, channels_last)
    net = net if net is not None else model  # a compiled module has no truth value
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    dwa = DynamicWeightAverage.for_training(cfg.loss, len(model.sgm) > 0)
    data = train_batch(batch, input_size, model.num_joints, device, channels_last)
    steps = itertools.count()
    return lambda: train_step(net, data, optimizer, dwa, cfg, next(steps))

