"""Losses of SG-HRNet (Eq. 5-10): keypoint MSE, segmentation BCE and Dynamic Weight Averaging.

- `joints_mse_loss` (L_key, Eq. 5): the official HRNet `JointsMSELoss` with target weights,
  0.5 * mean over batch, joints and pixels of (w * (pred - target))^2.
- `seg_bce_loss` (L_seg, Eq. 6): binary cross-entropy of each of the N predicted maps (logits)
  against the one target map, mean over pixels, averaged over the N maps.
- `DynamicWeightAverage` (Eq. 8-10, Liu et al., MTAN, CVPR 2019): task weights from the ratio of
  each task's last two losses.
- `total_loss` (Eq. 7): w_s * lambda * L_seg + w_k * L_key.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import DWA_MODES


def joints_mse_loss(pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
    """L_key: 0.5 * mean((w * (pred - target))^2) over (B, K, H, W).

    pred, target: (B, K, H, W) heatmaps; target_weight: (B, K) (or (B, K, 1)), 0 for joints that
    are unlabelled or outside the heatmap. Equal to the official per-joint average of
    0.5 * MSE(pred_k * w_k, target_k * w_k)."""
    weight = target_weight.reshape(*target_weight.shape[:2], 1, 1).to(pred.dtype)
    return 0.5 * torch.mean((weight * (pred - target)) ** 2)


def seg_bce_loss(seg_logits: Sequence[Tensor], target: Tensor) -> Tensor:
    """L_seg: mean over the N maps of the pixel-mean binary cross-entropy (stable logits form).

    seg_logits: N tensors (B, 1, H, W) of logits; target: (B, H, W) or (B, 1, H, W) in {0, 1}.
    An empty list gives a zero tensor (a model without SGM)."""
    if len(seg_logits) == 0:
        return torch.zeros((), device=target.device)
    if target.dim() == 3:
        target = target.unsqueeze(1)
    losses = [F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
              for logits in seg_logits]
    return torch.stack(losses).mean()


def total_loss(l_key: Tensor, l_seg: Tensor, w_key: float, w_seg: float, lam: float) -> Tensor:
    """Eq. 7: w_seg * lam * l_seg + w_key * l_key."""
    return w_seg * lam * l_seg + w_key * l_key


class DynamicWeightAverage:
    """Task weights w_n = N * exp(r_n / T) / sum_m exp(r_m / T), r_n = L_n(t-1) / L_n(t-2).

    Tasks are in a fixed order (here [key, seg]); all weights are 1 until two previous loss values
    exist. Modes:
    - "step" (the paper): L_n(t-1), L_n(t-2) are the losses of the previous two steps;
    - "epoch" (MTAN): they are the mean losses of the previous two epochs, and the weights stay
      constant within an epoch (call `end_epoch()` after each epoch);
    - "off": the weights are always 1.
    Losses are plain floats, or a 1-D detached tensor per step (train.log_every > 1: the weights
    are then computed on the losses' device and no value is read to the host); state_dict holds
    plain floats either way, for exact resume.
    """

    def __init__(self, num_tasks: int = 2, mode: str = "step", temperature: float = 1.0):
        if mode not in DWA_MODES:
            raise ValueError(f"DWA mode {mode!r} is not one of {DWA_MODES}")
        if temperature <= 0:
            raise ValueError(f"DWA temperature {temperature} must be > 0")
        self.num_tasks = num_tasks
        self.mode = mode
        self.temperature = float(temperature)
        self.history: list[list[float]] = []      # the last two (step or epoch) loss vectors
        self._epoch_sum = [0.0] * num_tasks
        self._epoch_count = 0

    @classmethod
    def for_training(cls, loss_cfg, has_sgm: bool) -> "DynamicWeightAverage":
        """The DWA of a training run (config.LossConfig `loss_cfg`): its mode and temperature
        for a model with SGMs, fixed weights (mode "off") for one without."""
        return cls(2, loss_cfg.dwa if has_sgm else "off", loss_cfg.temperature)

    def weights(self) -> list[float] | list[Tensor]:
        """The current weights, one per task; they sum to `num_tasks`. Tensors (0-d, on the
        device) when the last losses came as a tensor."""
        if self.mode == "off" or len(self.history) < 2:
            return [1.0] * self.num_tasks
        (prev2, prev1), t = self.history, self.temperature
        if isinstance(prev1, Tensor):
            prev2 = torch.as_tensor(prev2, dtype=prev1.dtype, device=prev1.device)
            ratios = torch.where(prev2 != 0, prev1 / prev2, torch.ones_like(prev1))
            return list((self.num_tasks * torch.softmax(ratios / t, 0)).float())
        ratios = [a / b if b != 0 else 1.0 for a, b in zip(prev1, prev2)]
        top = max(ratios)
        exps = [math.exp((r - top) / t) for r in ratios]   # shifted: same softmax, no overflow
        return [self.num_tasks * e / sum(exps) for e in exps]

    def update(self, losses: Sequence[float] | Tensor) -> None:
        """Record one step's task losses (call after each step): floats, or a 1-D tensor."""
        if len(losses) != self.num_tasks:
            raise ValueError(f"DWA expects {self.num_tasks} losses, got {len(losses)}")
        if not isinstance(losses, Tensor):
            losses = [float(v) for v in losses]
        if self.mode == "step":
            self._push(losses)
        elif self.mode == "epoch":
            if isinstance(losses, Tensor):
                self._epoch_sum = losses.double() + torch.as_tensor(
                    self._epoch_sum, dtype=torch.float64, device=losses.device)
            else:
                self._epoch_sum = [s + v for s, v in zip(self._epoch_sum, losses)]
            self._epoch_count += 1

    def end_epoch(self) -> None:
        """In "epoch" mode, record the epoch's mean losses; a no-op in the other modes."""
        if self.mode == "epoch" and self._epoch_count > 0:
            mean = self._epoch_sum / self._epoch_count if isinstance(self._epoch_sum, Tensor) \
                else [s / self._epoch_count for s in self._epoch_sum]
            self._push(mean)
            self._epoch_sum = [0.0] * self.num_tasks
            self._epoch_count = 0

    def _push(self, losses: list[float]) -> None:
        self.history = (self.history + [losses])[-2:]   # list[float] or 1-D tensors

    def state_dict(self) -> dict:
        return {"num_tasks": self.num_tasks, "mode": self.mode, "temperature": self.temperature,
                "history": [[float(v) for v in h] for h in self.history],
                "epoch_sum": [float(v) for v in self._epoch_sum], "epoch_count": self._epoch_count}

    def load_state_dict(self, state: dict) -> None:
        self.num_tasks = int(state["num_tasks"])
        self.mode = str(state["mode"])
        self.temperature = float(state["temperature"])
        self.history = [[float(v) for v in h] for h in state["history"]]
        self._epoch_sum = [float(v) for v in state["epoch_sum"]]
        self._epoch_count = int(state["epoch_count"])
