"""Whether a run folder may be continued, and what its checkpoints hold.

A run folder is never overwritten or mixed by accident: a new run into a folder holding one
(last.pt) stops unless `restart` (start over); a resume with another config stops with an error
naming the differing keys (`config.config_differences`; keys of `config.RESULT_FREE_KEYS` may
differ, `train.epochs` may grow and `train.lr_steps` may move where the completed epochs keep
their learning rates, `schedule.same_rates`) unless `restart`; on the CPU the instruction-set
variables of `numerics.dispatch()` count as keys, since they change the bits. A checkpoint
(`checkpoint_state`) holds the weights, Adam and DWA states, the config, the completed epochs, the
best metric, the step, the CPU dispatch variables, the lr schedule and the torch RNG: all a resume
needs to continue bit for bit, and what the resume checks compare.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config, config_differences, config_from_dict
from ..errors import TrainingError
from ..losses import DynamicWeightAverage
from ..numerics import CHOICE_VARIABLE, dispatch, dispatch_differences
from .checkpoint_io import load_checkpoint
from .schedule import same_rates


def resume_checkpoint(out: Path, cfg: Config, device: torch.device, resume: bool, restart: bool,
                       say) -> dict | None:
    """The checkpoint to continue from, or None to start afresh; TrainingError where going on
    would lose or mix a run (see the module docstring)."""
    last = out / "last.pt"
    if not last.exists():
        return None
    ckpt = load_checkpoint(last)
    if not resume:
        if restart:
            return None
        raise TrainingError(f"{out}: holds a run (last.pt after epoch {ckpt['epoch']}); --resume "
                            "continues it, --restart deletes it and starts over")
    # the stored config read as a Config: a key added since then counts as its default
    stored = config_from_dict(ckpt["config"], f"{last}: config").to_dict()
    diff = config_differences(stored, cfg.to_dict())
    # the milestones may move where the epochs trained so far keep their learning rates
    if same_rates(tuple(stored["train"]["lr_steps"]), cfg.train.lr_steps, ckpt["epoch"]):
        diff = [d for d in diff if not d.startswith("train.lr_steps:")]
    # the CPU kernels' instruction set changes the bits (numerics.py)
    isa = dispatch_differences(ckpt.get("cpu_dispatch"), dispatch()) if device.type == "cpu" else []
    diff += isa
    if diff:
        if restart:
            say(f"{last} was trained with another config ({'; '.join(diff[:3])}): starting over")
            return None
        more = f" (+{len(diff) - 6} more)" if len(diff) > 6 else ""
        hint = (f"; {CHOICE_VARIABLE} (avx2 or native) chooses the dispatch: set it as the run "
                "was trained to continue it" if isa else "")
        raise TrainingError(f"{last} was trained with another config: {'; '.join(diff[:6])}{more}"
                            f"; --restart deletes the run and starts over{hint}")
    if ckpt["epoch"] > cfg.train.epochs:
        raise TrainingError(f"{last}: already trained {ckpt['epoch']} epochs, more than "
                            f"train.epochs = {cfg.train.epochs}")
    return ckpt


def checkpoint_state(cfg: Config, epoch: int, model: torch.nn.Module,
                     optimizer: torch.optim.Optimizer, dwa: DynamicWeightAverage, best: float,
                     step: int) -> dict:
    """Everything a checkpoint after `epoch` completed epochs needs to explain itself and to
    resume bit for bit (`model`: the bare model, not its DDP or compiled wrapper)."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "dwa": dwa.state_dict(), "config": cfg.to_dict(), "epoch": epoch,
            "best": best, "step": step, "cpu_dispatch": dispatch(),
            "lr_schedule": {"lr": cfg.train.lr, "steps": list(cfg.train.lr_steps),
                            "factor": cfg.train.lr_factor},
            "rng": {"torch": torch.get_rng_state()}}
