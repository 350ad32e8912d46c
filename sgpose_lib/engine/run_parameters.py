"""The train notebook's parameters checked, before torch loads, as the Config of one run.

The notebook (notebooks/train.ipynb, run by papermill for each run of the study, the ablations and
the convergence study) gets its run as parameters: the profile, track, variant, radius and seed of
a `runs` entry of params.yaml, or a `convergence_run` of convergence/params.yaml, and the torch
threads of a side-by-side pair. `check_run_parameters` turns them into the run's Config or stops
with a ConfigError naming the file or parameter and the key, importing nothing that loads torch.
"""
from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from ..params import check_runs, config_of, read_params
from .convergence_runs import read_params as read_convergence, run_config


def check_run_parameters(params_file: str | Path, profile: str, track: str, variant: str,
                         radius, seed, convergence_run: str = "",
                         convergence_params: str | Path = "convergence/params.yaml",
                         threads: int = 0) -> Config:
    """The Config of one training run from the train notebook's parameters, checked before
    torch loads: params.yaml with its run matrix (check_runs), then the convergence run of
    `convergence_params` (when `convergence_run` names one) or the run's own profile, track,
    variant, radius and seed; `threads` > 0 replaces the profile's train.threads (the study's
    side-by-side pairs train with 1 each). ConfigError naming the file or parameter and the key."""
    params = read_params(params_file)
    check_runs(params, params_file)
    if not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"threads: {threads!r} must be an integer >= 0 (0: the profile's "
                          "train.threads)")
    if convergence_run:
        cfg = run_config(read_convergence(convergence_params), convergence_run, params_file)
    else:
        cfg = config_of(params, params_file, profile, track=track, variant=variant,
                        radius=radius, seed=seed)
    if threads:
        cfg.train.threads = threads
    return cfg
