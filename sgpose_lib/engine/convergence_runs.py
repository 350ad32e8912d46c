"""The runs of the convergence pipeline: their Config, with the paper's schedule shape.

`convergence/params.yaml` names a `setting` (a profile of params.yaml, `val_every`, and either the
epochs of each track or `until_plateau`) and the runs (track, variant, radius, seed).
- `epochs: {track: n}`: a run trains n epochs with lr x 0.1 at the same fractions of training as
  epochs 170 and 200 of the paper's 210 (schedule.paper_milestones).
- `until_plateau: {min_epochs: {track: n}, max_epochs: {track: n}}` (optionally `tol`, points):
  a run trains at the constant rate until its validation curve stops improving (validated every
  `val_every` epochs, decided from min_epochs on, at the latest at max_epochs), then through the
  paper's two drops placed around that epoch (until_plateau.py).
- `run_epochs: {run: n}` in the setting overrides either for that run: n epochs with the
  paper's milestones. It gives an SG run the schedule the plateau rule picked for its seed's baseline (n = the
  baseline's epochs, whose milestones paper_milestones(n) reproduces), so that the pair's two
  runs train the same schedule.
until_plateau.train_convergence_run trains one run either way (the notebook and `sgpose
convergence train` call it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

from ..config import TRACKS, Config, ConfigError
from ..config_fields import check_entry
from ..params import apply_overrides, load_config, read_yaml
from .schedule import PLATEAU_TOL, PlateauRule, paper_milestones


def read_params(path: str | Path = "convergence/params.yaml") -> dict:
    """convergence/params.yaml with its setting resolved: {'setting', 'spec', 'runs'}; every
    setting and run checked (_check_setting, _check_run): ConfigError naming the file and the key
    for an unknown or missing key, a value of the wrong type or out of range."""
    params = read_yaml(path)
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping with 'setting', 'settings' and 'runs'")
    params = check_entry(params, f"{path}:", {"setting": str, "settings": dict, "runs": dict})
    settings = {name: _check_setting(spec, f"{path}: settings.{name}")
                for name, spec in params["settings"].items()}
    setting = params["setting"]
    if setting not in settings:
        raise ConfigError(f"{path}: setting {setting!r} is not one of {sorted(settings)}")
    runs = {name: _check_run(item, f"{path}: runs.{name}") for name, item in params["runs"].items()}
    for name, spec in settings.items():
        stray = [run for run in spec.get("run_epochs", {}) if run not in runs]
        if stray:
            raise ConfigError(f"{path}: settings.{name}.run_epochs.{stray[0]}: not a run of "
                              "`runs`")
    return {"setting": setting, "spec": settings[setting], "runs": runs}


_PER_TRACK = {track: int for track in TRACKS}  # {mpii: n, coco: n}; a track may be left out


def _check_setting(spec, where: str) -> dict:
    """One entry of `settings`: profile, val_every >= 1 and either `epochs` (per track, > 0) or
    `until_plateau` (min_epochs <= max_epochs per track, optional tol >= 0); optional `set` and
    `run_epochs` (per run, > 0)."""
    spec = check_entry(spec, where, {"profile": str, "val_every": int},
                       {"epochs": dict, "until_plateau": dict, "set": dict, "run_epochs": dict})
    if spec["val_every"] < 1:
        raise ConfigError(f"{where}.val_every: {spec['val_every']} must be >= 1")
    if "run_epochs" in spec:
        own = spec["run_epochs"]
        spec["run_epochs"] = check_entry(own, f"{where}.run_epochs", {}, {k: int for k in own})
        _at_least(spec["run_epochs"], 1, f"{where}.run_epochs")
    if ("epochs" in spec) == ("until_plateau" in spec):
        raise ConfigError(f"{where}: needs either 'epochs' or 'until_plateau' (one of them)")
    if "epochs" in spec:
        spec["epochs"] = check_entry(spec["epochs"], f"{where}.epochs", {}, _PER_TRACK)
        _at_least(spec["epochs"], 1, f"{where}.epochs")
        return spec
    until = check_entry(spec["until_plateau"], f"{where}.until_plateau",
                        {"min_epochs": dict, "max_epochs": dict}, {"tol": float})
    for key in ("min_epochs", "max_epochs"):
        until[key] = check_entry(until[key], f"{where}.until_plateau.{key}", {}, _PER_TRACK)
        _at_least(until[key], 1, f"{where}.until_plateau.{key}")
    for track, low in until["min_epochs"].items():
        high = until["max_epochs"].get(track, low)
        if low > high:
            raise ConfigError(f"{where}.until_plateau: min_epochs.{track} = {low} is more than "
                              f"max_epochs.{track} = {high}")
    tol = until.get("tol", PLATEAU_TOL)
    if not (math.isfinite(tol) and tol >= 0):
        raise ConfigError(f"{where}.until_plateau.tol: {tol} must be >= 0 (a finite number)")
    spec["until_plateau"] = until
    return spec


def _check_run(item, where: str) -> dict:
    """One entry of `runs`: track (required), variant (required), radius, seed; the values' ranges
    are checked when its Config is built (run_config)."""
    item = check_entry(item, where, {"track": str, "variant": str}, {"radius": float, "seed": int})
    if item["track"] not in TRACKS:
        raise ConfigError(f"{where}.track: {item['track']!r} is not one of {TRACKS}")
    return item


def _at_least(values: dict, low: int, where: str) -> None:
    for key, value in values.items():
        if value < low:
            raise ConfigError(f"{where}.{key}: {value} must be >= {low}")


def run_config(params: Mapping, run: str, study_params: str | Path = "params.yaml") -> Config:
    """The Config of convergence run `run`: the setting's profile, the run's track/variant/
    radius/seed, val_every, the setting's `set` overrides (dotted keys, as `--set`), and the
    schedule: the run's own or the track's epochs with the paper's milestones, or
    (until_plateau) the longest constant phase and no milestone, which until_plateau.py then
    fixes from the run's curve."""
    if run not in params["runs"]:
        raise ConfigError(f"run {run!r} is not one of {sorted(params['runs'])}")
    spec, item = params["spec"], params["runs"][run]
    try:
        cfg = load_config(spec["profile"], study_params, track=item["track"],
                          variant=item["variant"], radius=item.get("radius", 5),
                          seed=item.get("seed", 0))
    except ConfigError as e:
        raise ConfigError(f"run {run}: {e}") from None
    rule = plateau_rule(params, cfg.data.track)
    own = (spec.get("run_epochs") or {}).get(run)
    if own is not None or rule is None:  # the run's own length, or the track's
        cfg.train.epochs = int(own if own is not None else spec["epochs"][cfg.data.track])
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
