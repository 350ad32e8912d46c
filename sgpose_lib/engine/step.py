"""One optimisation step of training: the loss of Eq. 7, backward, Adam.

L = w_key * L_key + lam * w_seg * L_seg (losses.total_loss): L_key the joints MSE of the heatmaps
(1/4 of the input size), L_seg the BCE of the SGM logits against the disc maps (sum over the SGM
sites), (w_key, w_seg) the Dynamic Weight Averaging weights (1, 0 for the baseline). `train_step`
runs one step on a batch already on the device; `read_steps` reads the records of unsynchronised
steps with one host read. A non-finite loss stops training with TrainingError (the last good
checkpoint is kept).
"""
from __future__ import annotations

import math

import torch

from ..config import Config
from ..errors import TrainingError
from ..losses import DynamicWeightAverage, joints_mse_loss, seg_bce_loss, total_loss


def train_step(model, batch: dict, optimizer, dwa: DynamicWeightAverage, cfg: Config,
               step: int, sync: bool = True) -> dict:
    """One optimisation step on a batch already on the device; returns the logged values.

    sync (train.log_every = 1): floats, read after the step; a non-finite loss raises
    TrainingError before the update. Otherwise 0-d tensors on the device and no host read at all
    (DWA works on the device; `read_steps` reads and checks them later)."""
    use_bf16 = cfg.train.bf16 and batch["image"].is_cuda
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
        heatmaps, seg_logits = model(batch["image"])
    l_key = joints_mse_loss(heatmaps.float(), batch["heatmaps"], batch["target_weight"])
    l_seg = seg_bce_loss([s.float() for s in seg_logits], batch["seg"])
    w_key, w_seg = dwa.weights() if seg_logits else (1.0, 0.0)
    loss = total_loss(l_key, l_seg, w_key, w_seg, cfg.loss.lam)
    if sync and not torch.isfinite(loss):
        raise _not_finite(step, l_key.item(), l_seg.item())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if not sync:
        if seg_logits:
            dwa.update(torch.stack([l_key, l_seg]).detach())
        return {"l_key": l_key.detach(), "l_seg": l_seg.detach(), "w_key": w_key,
                "w_seg": w_seg, "loss": loss.detach()}
    lk, ls = l_key.item(), l_seg.item()
    if seg_logits:
        dwa.update([lk, ls])
    return {"l_key": lk, "l_seg": ls, "w_key": w_key, "w_seg": w_seg, "loss": loss.item()}


def read_steps(records: list[dict]) -> list[dict]:
    """The step records of `train_step(sync=False)` as floats, with one host read for all of
    them; TrainingError at the first step whose loss is not finite."""
    keys = ("l_key", "l_seg", "w_key", "w_seg", "loss")
    values = torch.stack([torch.as_tensor(r[k], dtype=torch.float64, device=r["loss"].device)
                          for r in records for k in keys]).tolist()
    out = []
    for n, r in enumerate(records):
        row = dict(r, **dict(zip(keys, values[n * len(keys):(n + 1) * len(keys)])))
        if not math.isfinite(row["loss"]):
            raise _not_finite(row["step"], row["l_key"], row["l_seg"])
        out.append(row)
    return out


def _not_finite(step: int, l_key: float, l_seg: float) -> TrainingError:
    term = "L_key" if not math.isfinite(l_key) else "L_seg" if not math.isfinite(l_seg) else "L"
    return TrainingError(f"step {step}: loss term {term} is not finite (L_key={l_key}, "
                         f"L_seg={l_seg}); training stopped, the last good checkpoint is kept")
