"""Training until the validation metric stops improving, then the paper's learning-rate drops.

The run trains at the constant rate `train.lr`, `every` epochs at a time, validating after each
chunk. After each chunk of k epochs (k >= min_epochs) the plateau rule (schedule.plateau_gain) is
applied to the validation curve of those k epochs, for each of the rule's metrics (points: PCKh
in percent, COCO OKS and AP x 100). At the first k where every metric gained less than `tol` over
the last fifth, or at k = max_epochs, the constant phase ends: the run goes on to
round(k x 210/170) epochs with lr x 0.1 from epoch k and from round(epochs x 200/210) on
(schedule.schedule_after), the paper's shape around its measured plateau.

Each chunk is a resume of the same run folder (train.py), and only the milestones still ahead
change, so the folder ends as an uninterrupted run of its final config (config.json: epochs and
lr_steps) would leave it. The decision is read again from the folder's log on every call, so an
interrupted run continues where it stopped.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Mapping

from ..config import Config, config_differences, config_from_dict
from ..errors import SgposeError, TrainingError
from .checkpoint_io import load_checkpoint
from .convergence_runs import plateau_rule
from .resume import nothing_to_resume, run_files
from .run_log import RunLog
from .schedule import RULE_METRICS, PlateauRule, first_drop, rule_met, schedule_after
from .train import train


def validation_curves(folder: str | Path, track: str) -> dict[str, dict[int, float]]:
    """metric -> {1-based epoch: value in points} from the `val` lines of folder/log.jsonl."""
    curves: dict[str, dict[int, float]] = {name: {} for name, _ in RULE_METRICS[track]}
    for r in RunLog(Path(folder), enabled=False).records():
        if r.get("kind") == "val":
            for name, factor in RULE_METRICS[track]:
                if r.get(name) is not None:
                    curves[name][r["epoch"] + 1] = r[name] * factor
    return curves


def train_until_plateau(cfg: Config, out_dir: str | Path, rule: PlateauRule,
                        restart: bool = False, progress: bool = True) -> dict:
    """Train `cfg` (its lr, model, data; its epochs and lr_steps are set here) into `out_dir`
    until its constant-lr phase stops improving, then through the paper's two drops; returns
    train()'s result with 'first_drop' and 'checks'. A run of this config and rule in `out_dir`
    is continued; another run there stops with TrainingError, or is started over with
    `restart`."""
    out = Path(out_dir)
    done, fresh = _folder_run(out, cfg, rule, restart)
    while True:
        curves = validation_curves(out, cfg.data.track) if not fresh else {}
        k, checks = first_drop(curves or _no_curves(cfg), rule, done)
        if k is not None:
            break
        chunk = copy.deepcopy(cfg)
        chunk.train.epochs = min((done // rule.every + 1) * rule.every, rule.max_epochs)
        chunk.train.lr_steps = ()
        train(chunk, out, resume=not fresh, restart=fresh, progress=progress)
        done, fresh = _epochs_done(out), False
    final = copy.deepcopy(cfg)
    final.train.epochs, final.train.lr_steps = schedule_after(k)
    if progress:
        why = "plateau" if rule_met(checks, rule) else "max_epochs"
        print(f"{out}: constant-lr phase ends after epoch {k} ({why}); {final.train.epochs} "
              f"epochs, lr drops at {final.train.lr_steps}")
    result = train(final, out, resume=True, restart=False, progress=progress)
    return {**result, "first_drop": k, "checks": checks}


def _folder_run(out: Path, cfg: Config, rule: PlateauRule, restart: bool) -> tuple[int, bool]:
    """(epochs done, fresh) of the run in `out`: (0, True) without one, or where it is another
    run, or one without a readable last.pt, and `restart`; TrainingError (SgposeError for a
    damaged last.pt) where it is another run (other config, or a schedule this rule would not
    have chosen) and not `restart`."""
    last = out / "last.pt"
    if not last.exists():
        if run_files(out) and not restart:
            raise nothing_to_resume(out)
        return 0, True
    try:
        ckpt = load_checkpoint(last)
        stored = config_from_dict(ckpt["config"], f"{last}: config")
    except SgposeError as e:
        if not restart:
            raise
        print(f"{e}: starting over")
        return 0, True
    done = int(ckpt["epoch"])
    diff = [d for d in config_differences(stored.to_dict(), cfg.to_dict())
            if not d.startswith("train.lr_steps:")]
    steps = tuple(stored.train.lr_steps)
    if not diff and steps:  # the drops are fixed: they must be those the curve gives
        k, _ = first_drop(validation_curves(out, cfg.data.track), rule, done)
        if k is None or schedule_after(k) != (stored.train.epochs, steps):
            diff = [f"train.lr_steps: {list(steps)} are not the drops this rule gives"]
    if not diff:
        return done, False
    if restart:
        return 0, True
    raise TrainingError(f"{last} holds another run: {'; '.join(diff[:6])}; restart starts over")


def _no_curves(cfg: Config) -> dict[str, dict[int, float]]:
    return {name: {} for name, _ in RULE_METRICS[cfg.data.track]}


def _epochs_done(out: Path) -> int:
    """Completed epochs of the run in `out` (its last.pt)."""
    return int(load_checkpoint(out / "last.pt")["epoch"])


def train_convergence_run(params: Mapping, cfg: Config, out: str | Path,
                          progress: bool = True) -> dict:
    """Train a convergence run (`cfg` from convergence_runs.run_config) into `out`: a fixed
    number of epochs, or until its plateau (the setting's until_plateau); a run of the same
    config there is continued, one of another started over (the pipeline's mode)."""
    rule = plateau_rule(params, cfg.data.track)
    if rule is None or cfg.train.lr_steps:  # a fixed schedule (the track's or the run's own)
        return train(cfg, out, resume=True, restart=True, progress=progress)
    return train_until_plateau(cfg, out, rule, restart=True, progress=progress)
