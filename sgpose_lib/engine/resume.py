"""Whether a run folder may be continued, and what its checkpoints hold.

A run folder is never overwritten or mixed by accident: a folder holding any file of a run
(RUN_FILES: last.pt, best.pt, the logs, config.json ...) holds a run. A new run into it stops
unless `restart`, which deletes those files unread (so that it works on a damaged last.pt too);
in the pipeline's mode (`resume` and `restart`) a last.pt that cannot be read, or is missing,
starts the run over with a note. A resume with another config stops with an error
naming the differing keys (`config.config_differences`; keys of `config.RESULT_FREE_KEYS` may
differ, `train.epochs` may grow and `train.lr_steps` may move where the completed epochs keep
their learning rates, `schedule.same_rates`) unless `restart`; on the CPU the instruction-set
variables of `numerics.dispatch()` count as keys, since they change the bits. A checkpoint
(`checkpoint_state`) holds the weights, Adam and DWA states, the config, the completed epochs, the
best metric, the step, the CPU dispatch variables, the lr schedule and the torch RNG: all a resume
needs to continue bit for bit, and what the resume checks compare; and the checksum of its
tensors (checkpoint_io.py).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config, config_differences, config_from_dict
from ..errors import SgposeError, TrainingError
from ..losses import DynamicWeightAverage
from ..numerics import CHOICE_VARIABLE, dispatch, dispatch_differences
from .checkpoint_io import load_checkpoint
from .schedule import same_rates


# the files a training run writes into its folder (train.py); any of them makes the folder a run's
RUN_FILES = ("last.pt", "best.pt", "log.jsonl", "timing.jsonl", "epochs.csv", "config.json",
             "environment.json")


def run_files(out: Path) -> list[str]:
    """The RUN_FILES that `out` holds (none: the folder holds no run)."""
    return [name for name in RUN_FILES if (out / name).exists()]


def nothing_to_resume(out: Path) -> TrainingError:
    """The error of a resume where `out` holds no last.pt (naming the run files it does hold)."""
    found = run_files(out) if out.is_dir() else []
    hint = (f"; it holds {', '.join(found)}: --restart deletes them and starts over" if found
            else "; leave out --resume to start a new run there")
    return TrainingError(f"{out}: nothing to resume (no last.pt){hint}")


def resume_checkpoint(out: Path, cfg: Config, device: torch.device, resume: bool, restart: bool,
                       say) -> dict | None:
    """The checkpoint to continue from, or None to start afresh (the caller then deletes the
    RUN_FILES); TrainingError where going on would lose or mix a run (see the module
    docstring)."""
    found = run_files(out)
    if not found or (restart and not resume):
        return None
    if not resume:
        raise TrainingError(f"{out}: holds a run ({', '.join(found)}); --resume continues it, "
                            "--restart deletes it and starts over")
    last = out / "last.pt"
    if not last.exists():
        if not restart:
            raise nothing_to_resume(out)
        say(f"{out}: no last.pt to continue (it holds {', '.join(found)}): starting over")
        return None
    try:
        ckpt = load_checkpoint(last)
        # the stored config read as a Config: a key added since then counts as its default
        stored = config_from_dict(ckpt["config"], f"{last}: config").to_dict()
    except SgposeError as e:
        if not restart:
            raise
        say(f"{e}: starting over")
        return None
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
    resume bit for bit (`model`: the bare model, not its DDP or compiled wrapper);
    checkpoint_io.atomic_save adds the checksum of its tensors."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "dwa": dwa.state_dict(), "config": cfg.to_dict(), "epoch": epoch,
            "best": best, "step": step, "cpu_dispatch": dispatch(),
            "lr_schedule": {"lr": cfg.train.lr, "steps": list(cfg.train.lr_steps),
                            "factor": cfg.train.lr_factor},
            "rng": {"torch": torch.get_rng_state()}}
