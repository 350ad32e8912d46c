"""The runs of the convergence pipeline: their Config, with the paper's schedule shape.

`convergence/params.yaml` names a `setting` (a profile of params.yaml, `val_every`, and either the
epochs of each track or `until_plateau`) and the runs (track, variant, radius, seed).
- `epochs: {track: n}`: a run trains n epochs with lr x 0.1 at the same fractions of training as
  epochs 170 and 200 of the paper's 210 (schedule.paper_milestones).
- `until_plateau: {min_epochs: {track: n}, max_epochs: {track: n}}` (optionally `tol`, points):
  a run trains at the constant rate until its validation curve stops improving (validated every
  `val_every` epochs, decided from min_epochs on, at the latest at max_epochs), then through the
  paper's two drops placed around that epoch (until_plateau.py).
until_plateau.train_convergence_run trains one run either way (the notebook and `sgpose
convergence train` call it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from ..config import Config, ConfigError
from ..params import apply_overrides, load_config, read_yaml
from .schedule import PLATEAU_TOL, PlateauRule, paper_milestones


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
    radius/seed, val_every, the setting's `set` overrides (dotted keys, as `--set`), and the
    schedule: the track's epochs with the paper's milestones, or (until_plateau) the longest
    constant phase and no milestone, which until_plateau.py then fixes from the run's curve."""
    if run not in params["runs"]:
        raise ConfigError(f"run {run!r} is not one of {sorted(params['runs'])}")
    spec, item = params["spec"], params["runs"][run]
    cfg = load_config(spec["profile"], study_params, track=item["track"], variant=item["variant"],
                      radius=item.get("radius", 5), seed=item.get("seed", 0))
    rule = plateau_rule(params, cfg.data.track)
    if rule is None:
        cfg.train.epochs = int(spec["epochs"][cfg.data.track])
        cfg.train.lr_steps = paper_milestones(cfg.train.epochs)
    else:
        cfg.train.epochs, cfg.train.lr_steps = rule.max_epochs, ()
    cfg.train.val_every = int(spec["val_every"])
    overrides = spec.get("set") or {}  # e.g. {train.bf16: true}: keys as for `--set`
    return apply_overrides(cfg, [f"{key}={json.dumps(value)}" for key, value in overrides.items()])


def plateau_rule(params: Mapping, track: str) -> PlateauRule | None:
    """The setting's until_plateau rule for `track`, or None for a fixed number of epochs."""
    spec = params["spec"]
    until = spec.get("until_plateau")
    if until is None:
        if track not in (spec.get("epochs") or {}):
            raise ConfigError(f"setting {params['setting']!r}: no epochs (or until_plateau) "
                              f"for track {track!r}")
        return None
    try:
        return PlateauRule(every=int(spec["val_every"]),
                           min_epochs=int(until["min_epochs"][track]),
                           max_epochs=int(until["max_epochs"][track]),
                           tol=float(until.get("tol", PLATEAU_TOL)))
    except (KeyError, TypeError) as err:
        raise ConfigError(f"setting {params['setting']!r}: until_plateau needs min_epochs and "
                          f"max_epochs for track {track!r} ({err!r})") from None
