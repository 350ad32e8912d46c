"""The official pose HRNet (Sun et al., CVPR 2019) with optional Segmentation Guided Modules (SGM).

Module names and structure follow `lib/models/pose_hrnet.py` of leoxiaobin/deep-high-resolution-net.pytorch
(conv1, bn1, conv2, bn2, layer1, transition1..3, stage2..4 with branches and fuse_layers, final_layer), so
that with no SGM the state_dict has exactly the official keys and shapes and an official checkpoint loads
strictly. The SGMs live under new names `sgm.<site>` that never collide with official keys.

    input  (B, 3, H, W), H and W multiples of 32 (the fusions work at strides 4, 8, 16, 32)
    stem   two 3x3 stride-2 convs                                        -> (B, 64, H/4, W/4)
    layer1 Bottleneck blocks                                             -> (B, 256, H/4, W/4)
    stage2..4: parallel branches of widths C, 2C, 4C, 8C at strides 4..32, fused by summation
    final_layer 1x1 conv on the highest-resolution branch                -> heatmaps (B, K, H/4, W/4)

SGM sites: "stage2", "stage3", "stage4" act on branch 0 in the stage's last module, after its branches
and before its fusion; "final" acts on stage 4's fused output, right before final_layer.

Upsampling in the fusions (`upsample`, not a config key: it changes no output): "size" (default)
brings a lower-resolution branch to the target's exact size, F.interpolate(size=..., "nearest"),
which also holds when a side is not a multiple of 32; "scale_factor" is the official path,
nn.Upsample(scale_factor=2**(j-i), "nearest"). For inputs that are multiples of 32 both give the
same values (nearest upsampling by an integer factor) and the same state_dict; `sgpose bench`
times them against each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import SGM_SITES, ModelConfig
from ..errors import ConfigError
from .checkpoint import load_weights
from .sgm import SGM

BN_MOMENTUM = 0.1
UPSAMPLE_MODES = ("size", "scale_factor")  # ours (default), the official path
Attend = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class StageSpec:
    num_modules: int                # HighResolutionModules in the stage
    block: str                      # "BASIC" or "BOTTLENECK"
    num_blocks: tuple[int, ...]     # blocks per branch
    num_channels: tuple[int, ...]   # channels per branch (before the block's expansion)


@dataclass(frozen=True)
class Preset:
    name: str
    stem_width: int                 # channels of the stem convs and planes of layer1 (official: 64)
    layer1_blocks: int              # Bottlenecks in layer1 (output 4 * stem_width channels)
    stages: tuple[StageSpec, StageSpec, StageSpec]  # stage2, stage3, stage4


def _hrnet(name: str, width: int, layer1_blocks: int = 4, modules=(1, 4, 3), blocks: int = 4) -> Preset:
    """Stage s (s = 2, 3, 4) has s branches of widths width * (1, 2, 4, 8)[:s], BASIC blocks."""
    stages = tuple(StageSpec(m, "BASIC", (blocks,) * n, tuple(width * 2 ** b for b in range(n)))
                   for n, m in zip((2, 3, 4), modules))
    return Preset(name, 64, layer1_blocks, stages)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    _hrnet("hrnet_w32", 32),                                                  # official W32
    _hrnet("hrnet_w48", 48),                                                  # official W48
    _hrnet("hrnet_small", 16, layer1_blocks=1, modules=(1, 1, 1), blocks=2),  # CPU study
    _hrnet("hrnet_tiny", 8, layer1_blocks=1, modules=(1, 1, 1), blocks=1),    # tests
)}


# ------------------------------------------------------------------------------------------ blocks
def conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """Conv (no bias) + BN (+ ReLU): keys `0.weight`, `1.weight`, `1.bias`, `1.running_*`."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
              nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)), inplace=True)


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def make_blocks(block: type, inplanes: int, planes: int, num_blocks: int) -> nn.Sequential:
    """`num_blocks` blocks; the first gets a 1x1 conv+BN shortcut when the width changes (official)."""
    out = planes * block.expansion
    downsample = conv_bn(inplanes, out, 1, 1, relu=False) if inplanes != out else None
    return nn.Sequential(block(inplanes, planes, 1, downsample),
                         *[block(out, planes) for _ in range(1, num_blocks)])


def make_transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapt the branches of one stage to the next: keep existing ones (a 3x3 conv only if the width
    changes), create each new branch from the lowest-resolution one by strided 3x3 convs."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(conv_bn(pre[i], c, 3, 1, relu=True) if pre[i] != c else None)
        else:
            steps = i + 1 - len(pre)
            layers.append(nn.Sequential(*[conv_bn(pre[-1], c if k == steps - 1 else pre[-1], 3, 2, relu=True)
                                          for k in range(steps)]))
    return nn.ModuleList(layers)


class HighResolutionModule(nn.Module):
    """Parallel branches, then every output i sums all branches brought to i's resolution and width:
    lower resolutions by 1x1 conv+BN then nearest upsampling, higher ones by (i - j) strided 3x3 convs.
    multi_scale_output=False keeps only output 0 (stage 4's last module, official); `upsample` is
    one of UPSAMPLE_MODES (see the module docstring)."""

    def __init__(self, in_channels: list[int], spec: StageSpec, multi_scale_output: bool = True,
                 upsample: str = "size"):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"upsample: {upsample!r} is not one of {UPSAMPLE_MODES}")
        self.upsample = upsample
        block = BLOCKS[spec.block]
        self.branches = nn.ModuleList(make_blocks(block, cin, c, n) for cin, c, n in
                                      zip(in_channels, spec.num_channels, spec.num_blocks))
        self.out_channels = [c * block.expansion for c in spec.num_channels]
        n = len(self.out_channels)
        self.fuse_layers = None if n == 1 else nn.ModuleList(
            nn.ModuleList(self._fuse_path(j, i) for j in range(n))
            for i in range(n if multi_scale_output else 1))

    def _fuse_path(self, j: int, i: int) -> nn.Module | None:
        """From branch j to output i."""
        c = self.out_channels
        if j == i:
            return None
        if j > i:  # lower resolution: 1x1 conv to the target width; the upsampling is in forward
            return conv_bn(c[j], c[i], 1, 1, relu=False)
        steps = [conv_bn(c[j], c[j], 3, 2, relu=True) for _ in range(i - j - 1)]
        return nn.Sequential(*steps, conv_bn(c[j], c[i], 3, 2, relu=False))

    def forward(self, xs: list[torch.Tensor], attend: Attend | None = None) -> list[torch.Tensor]:
        """`attend`, if given, maps branch 0 after the branches and before the fusion (the SGM)."""
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if attend is not None:
            xs[0] = attend(xs[0])
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if row[0] is None else row[0](xs[0])
            for j in range(1, len(xs)):
                z = xs[j] if row[j] is None else row[j](xs[j])
                if j > i:
                    z = self._upsample(z, xs[i], j - i)
                y = y + z
            out.append(F.relu(y))
        return out

    def _upsample(self, z: torch.Tensor, target: torch.Tensor, levels: int) -> torch.Tensor:
        """Nearest upsampling of z (B, C, h, w) to target's (H, W) = (h, w) * 2**levels."""
        if self.upsample == "size":  # same kernel and speed as the official path (measured)
            return F.interpolate(z, size=target.shape[-2:], mode="nearest")
        # the call the official nn.Upsample(scale_factor=2**levels, mode="nearest") makes
        return F.interpolate(z, scale_factor=float(2 ** levels), mode="nearest")


# ------------------------------------------------------------------------------------------- model
class PoseHighResolutionNet(nn.Module):
    def __init__(self, preset: Preset, num_joints: int = 17, sgm_sites: tuple[str, ...] = (),
                 attention: str = "multiply", upsample: str = "size"):
        super().__init__()
        bad = [s for s in sgm_sites if s not in SGM_SITES]
        if bad:
            raise ConfigError(f"model.sgm_sites: {bad} not in {SGM_SITES}")
        self.preset, self.num_joints = preset, num_joints
        w = preset.stem_width
        self.conv1 = nn.Conv2d(3, w, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(w, w, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w, momentum=BN_MOMENTUM)
        self.layer1 = make_blocks(Bottleneck, w, w, preset.layer1_blocks)
        channels, sgm_channels = [w * Bottleneck.expansion], {}
        for n, spec in zip((2, 3, 4), preset.stages):
            cur = [c * BLOCKS[spec.block].expansion for c in spec.num_channels]
            setattr(self, f"transition{n - 1}", make_transition(channels, cur))
            modules = []
            for m in range(spec.num_modules):
                last_of_net = n == 4 and m == spec.num_modules - 1
                modules.append(HighResolutionModule(cur, spec, multi_scale_output=not last_of_net,
                                                    upsample=upsample))
                cur = modules[-1].out_channels
            setattr(self, f"stage{n}", nn.Sequential(*modules))
            channels, sgm_channels[f"stage{n}"] = cur, cur[0]
        sgm_channels["final"] = channels[0]
        self.final_layer = nn.Conv2d(channels[0], num_joints, 1)  # official FINAL_CONV_KERNEL = 1
        self.sgm = nn.ModuleDict({s: SGM(sgm_channels[s], attention, BN_MOMENTUM)
                                  for s in SGM_SITES if s in sgm_sites})  # site order, always
        self.init_weights()

    def init_weights(self) -> None:
        """Official init: conv weights normal(0, 0.001), biases 0; BN weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _attend(self, site: str, seg: list[torch.Tensor]) -> Attend | None:
        """The SGM of `site` as a map of branch 0 that records its logits in `seg`, or None."""
        if site not in self.sgm:
            return None

        def attend(x: torch.Tensor) -> torch.Tensor:
            y, logits = self.sgm[site](x)
            seg.append(logits)
            return y
        return attend

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, 3, H, W) -> (high-resolution features (B, C, H/4, W/4), SGM logits [(B, 1, H/4, W/4)])."""
        seg: list[torch.Tensor] = []
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = F.relu(self.bn2(self.conv2(x)), inplace=True)
        xs = [self.layer1(x)]
        for n in (2, 3, 4):
            transition = getattr(self, f"transition{n - 1}")
            xs = [xs[i] if t is None else t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(transition)]
            stage = getattr(self, f"stage{n}")
            for m, module in enumerate(stage):
                xs = module(xs, self._attend(f"stage{n}", seg) if m == len(stage) - 1 else None)
        x = xs[0]
        if "final" in self.sgm:
            x = self._attend("final", seg)(x)
        return x, seg

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, 3, H, W) -> (heatmaps (B, K, H/4, W/4), SGM logits in site order; [] without SGM)."""
        features, seg = self.forward_features(x)
        return self.final_layer(features), seg


def build_model(cfg: ModelConfig) -> PoseHighResolutionNet:
    """The model of `cfg` (preset, num_joints, sgm_sites, attention), loading `cfg.pretrained` if set."""
    if cfg.preset not in PRESETS:
        raise ConfigError(f"model.preset: {cfg.preset!r} is not one of {sorted(PRESETS)}")
    model = PoseHighResolutionNet(PRESETS[cfg.preset], cfg.num_joints, tuple(cfg.sgm_sites), cfg.attention)
    if cfg.pretrained:
        load_weights(model, cfg.pretrained)
    return model
