"""The runs of the convergence pipeline: their Config, with the paper's schedule shape.

`convergence/params.yaml` names a `setting` (a profile of params.yaml, the epochs of each track,
`val_every`) and the runs (track, variant, radius, seed). A run trains for its track's epochs with
lr x 0.1 at the same fractions of training as epochs 170 and 200 of the paper's 210
(`paper_milestones`: 0-based epochs at which the lower rate starts).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from ..config import Config, ConfigError
from ..params import apply_overrides, load_config, read_yaml

PAPER_EPOCHS, PAPER_MILESTONES = 210, (170, 200)


def paper_milestones(epochs: int) -> tuple[int, ...]:
    """Epochs (0-based starts) of the two lr drops at the paper's fractions 170/210 and 200/210."""
    return tuple(int(round(epochs * m / PAPER_EPOCHS)) for m in PAPER_MILESTONES)


def read_params(path: str | Path = "convergence/params.yaml") -> dict:
    """convergence/params.yaml with its setting resolved: {'setting', 'spec', 'runs'}."""
    params = read_yaml(path)
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping with 'setting', 'settings' and 'runs'")
    setting = params.get("setting")
    settings = params.get("settings") or {}
    if setting not in settings:
        raise ConfigError(f"{path}: setting {setting!r} is not one of {sorted(settings)}")
    return {"setting": setting, "spec": settings[setting], "runs": params.get("runs") or {}}


def run_config(params: Mapping, run: str, study_params: str | Path = "params.yaml") -> Config:
    """The Config of convergence run `run`: the setting's profile, the run's track/variant/
    radius/seed, the setting's epochs for the track, the paper's schedule shape, val_every, and
    the setting's `set` overrides (dotted keys, as `--set`)."""
    if run not in params["runs"]:
        raise ConfigError(f"run {run!r} is not one of {sorted(params['runs'])}")
    spec, item = params["spec"], params["runs"][run]
    cfg = load_config(spec["profile"], study_params, track=item["track"], variant=item["variant"],
                      radius=item.get("radius", 5), seed=item.get("seed", 0))
    epochs = int(spec["epochs"][cfg.data.track])
    cfg.train.epochs = epochs
    cfg.train.lr_steps = paper_milestones(epochs)
    cfg.train.val_every = int(spec["val_every"])
    overrides = spec.get("set") or {}  # e.g. {train.bf16: true}: keys as for `--set`
    return apply_overrides(cfg, [f"{key}={json.dumps(value)}" for key, value in overrides.items()])
