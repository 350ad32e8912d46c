"""Loading pose and ImageNet HRNet weights into `PoseHighResolutionNet`, with a report of what loaded.

Strictness follows from the mode, never a blanket strict=False:
- "pose": an official pose checkpoint (e.g. `pose_hrnet_w32_256x192.pth`) or one of ours. Strict: every
  tensor of the model must be in the file with its shape, and nothing else may be there; only the SGM
  tensors (`sgm.*`, new in SG-HRNet) may be absent and then keep their init. BN `num_batches_tracked`
  counters may also be absent (files saved before PyTorch 0.4.1; they only matter when momentum=None).
- "imagenet": an HRNet-W32 classification checkpoint, official (`hrnet_w32-36af842e.pth`,
  HRNet/HRNet-Image-Classification) or timm's `hrnet_w32` (`hrnetv2_w32-90d8c5fb.pth`). timm's
  `timm/models/hrnet.py` is a copy of the official classification net and keeps its names (conv1 ...
  stage4 with branches/fuse_layers; its head is incre_modules, downsamp_modules, final_layer.0,
  classifier), so both share 1,752 names with the pose model and the name mapping is the identity.
  Non-strict: every tensor whose name and shape match loads; the rest is reported.
- "auto": "pose" if the file has `final_layer.weight` of the model's shape, else "imagenet" (so a pose
  checkpoint with another number of joints loads as a backbone, final_layer left at init).
Files saved from DataParallel/DDP (every name prefixed by `module.`) load after stripping the prefix.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CheckpointError

MODES = ("auto", "pose", "imagenet")
SGM_PREFIX = "sgm."


@dataclass
class LoadReport:
    path: str
    mode: str                                          # "pose" or "imagenet" (after "auto")
    loaded: list[str] = field(default_factory=list)    # copied from the file into the model
    skipped: list[str] = field(default_factory=list)   # in the file, not used
    missing: list[str] = field(default_factory=list)   # in the model, not in the file: kept at init

    def summary(self) -> str:
        lines = [f"load_weights {self.path} (mode={self.mode}): loaded {len(self.loaded)} tensors, "
                 f"skipped {len(self.skipped)} (in the file, unused), "
                 f"missing {len(self.missing)} (in the model, kept at init)"]
        for what, names in (("loaded", self.loaded), ("skipped", self.skipped), ("missing", self.missing)):
            if names:
                lines.append(f"  {what}: {_describe(names)}")
        return "\n".join(lines)


def _describe(names: list[str]) -> str:
    """All names if few, else per module (`stage4.* (900)`, `sgm.final.* (8)`); groups of <= 2 in full."""
    if len(names) <= 8:
        return ", ".join(names)
    groups: dict[str, list[str]] = {}
    for name in names:
        parts = name.split(".")
        groups.setdefault(".".join(parts[:2] if parts[0] == "sgm" else parts[:1]), []).append(name)
    return ", ".join(", ".join(g) if len(g) <= 2 else f"{k}.* ({len(g)})" for k, g in groups.items())


def _listing(items: list[str], first: int = 5) -> str:
    more = f" ... (+{len(items) - first} more)" if len(items) > first else ""
    return "; ".join(items[:first]) + more


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a state_dict, or a dict holding one under "state_dict" or
    "model"; a `module.` prefix is stripped. CheckpointError if the file is not such a checkpoint."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # missing file, not a pickle/zip, or objects that weights_only refuses
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e.__class__.__name__})") from None
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path}: not a checkpoint (expected a mapping of names to tensors, "
                              "or one under 'state_dict' or 'model')")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_weights(model: nn.Module, path: str | Path, mode: str = "auto") -> LoadReport:
    """Copy the weights of the checkpoint at `path` into `model` (see the module docstring for the
    modes); print and return the report. CheckpointError if the file does not fit the model."""
    if mode not in MODES:
        raise CheckpointError(f"load_weights: mode {mode!r} is not one of {MODES}")
    state = read_state_dict(path)
    own = model.state_dict()
    if mode == "auto":
        w = state.get("final_layer.weight")
        fits = w is not None and "final_layer.weight" in own and w.shape == own["final_layer.weight"].shape
        mode = "pose" if fits else "imagenet"
    wrong_shape = [f"{k} {tuple(v.shape)} in file vs {tuple(own[k].shape)} in model"
                   for k, v in state.items() if k in own and v.shape != own[k].shape]
    report = LoadReport(str(path), mode)
    report.loaded = [k for k, v in state.items() if k in own and v.shape == own[k].shape]
    report.skipped = [k for k in state if k not in report.loaded]
    report.missing = [k for k in own if k not in state]

    if mode == "pose":
        optional = lambda k: k.startswith(SGM_PREFIX) or k.endswith("num_batches_tracked")  # noqa: E731
        problems = (wrong_shape + [f"{k} missing from file" for k in report.missing if not optional(k)]
                    + [f"{k} unexpected in file" for k in state if k not in own])
        if problems:
            raise CheckpointError(f"{path}: does not fit the model as a pose checkpoint, "
                                  f"{len(problems)} mismatching tensors: {_listing(problems)}")
    else:
        backbone = [k for k in own if not k.startswith((SGM_PREFIX, "final_layer."))]
        fit = sum(k in state and state[k].shape == own[k].shape for k in backbone)
        if fit < len(backbone) / 2:
            detail = wrong_shape or [f"{k} missing from file" for k in backbone if k not in state]
            raise CheckpointError(f"{path}: only {fit} of the model's {len(backbone)} backbone tensors "
                                  f"are in the file with their shape (another architecture?); "
                                  f"{len(detail)} mismatching tensors: {_listing(detail)}")
    model.load_state_dict({k: state[k] for k in report.loaded}, strict=False)
    print(report.summary())
    return report
