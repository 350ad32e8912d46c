"""The training-settings bench: whole epochs of the `cpu` profile's runs, each setting against the
profile's own, in alternating rounds.

Each measurement trains the `cpu` profile's SG run of one track (`engine.train.train`: the data
loader with the profile's workers, augmentation, targets, the train step, the epoch's checkpoint)
for `epochs` epochs without validation, in a fresh process (`workers`) and a temporary run folder,
and reads the run's own `timing.jsonl` (`engine_epochs.bench_engine_setting`).
Steady img/s = the median of the epochs after the first (the first holds the loader's start-up
and torch.compile's compilation). A round measures every setting once on each track, the
profile's own first; ratio = a setting's steady img/s over the profile's in the same round, so
that a host that speeds up or slows down between rounds moves both. Reported per setting: each
round's img/s and the median (range) of the ratios.

Run as a module, this file is the worker: `python -m sgpose_lib.bench.train_settings JOB_JSON`
prints one JSON line with the run's epochs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from ..config import config_from_dict
from ..errors import ConfigError
from ..params import apply_overrides, load_config, project_root
from .engine_epochs import bench_engine_setting
from .timing import load_average, ratio_summary, settings
from .workers import run_worker

REFERENCE = "the profile's own"
# name -> `--set` overrides on the profile's run; the reference first
TRAIN_SETTINGS: dict[str, list[str]] = {
    REFERENCE: [],
    "contiguous memory (channels_last off)": ["train.channels_last=false"],
    "torch.compile of the step (default mode)": ["train.compile=default"],
    "losses read every 50 steps (fewer host reads)": ["train.log_every=50"],
}
TRACKS = ("mpii", "coco")


def run_config(track: str, overrides: list[str], limit_train: int = 0, profile: str = "cpu",
               prepared: Path | None = None, variant: str = "sg"):
    """The `profile`'s `variant` run of `track` with `overrides`, no validation, on the embedded
    data as prepared in `prepared` (default: the study's data/prepared); its first `limit_train`
    training samples (0 = all)."""
    root = project_root()
    cfg = load_config(profile, root / "params.yaml", track=track, variant=variant)
    cfg.data.root = str(prepared or root / "data" / "prepared")
    cfg.data.image_root = str(root / "data" / "embedded")
    if not (Path(cfg.data.root) / f"{track}_train.json").is_file():
        raise ConfigError(f"--train-settings: {cfg.data.root}/{track}_train.json is missing: "
                          "prepare the data first (dvc repro prepare)")
    cfg.train.val_every = 0
    cfg.data.limit_train = limit_train
    return apply_overrides(cfg, overrides)


def bench_train_settings(rounds: int, epochs: int = 2, log: Callable[[str], None] = print,
                         train_settings: dict[str, list[str]] = TRAIN_SETTINGS,
                         tracks: tuple[str, ...] = TRACKS, limit_train: int = 0,
                         profile: str = "cpu", prepared: Path | None = None) -> dict:
    """Steady img/s of every setting on every track over `rounds` alternating rounds, and each
    setting's ratio to the reference (the first setting) within each round."""
    if epochs < 2:
        raise ValueError("epochs must be >= 2: the first epoch holds the start-up")
    first = run_config(tracks[0], [], limit_train, profile, prepared)
    res: dict = {"settings": settings("cpu", profile=profile, model=first.model.preset,
                                      variant="sg", batch=first.train.batch_size,
                                      threads=first.train.threads, workers=first.data.workers,
                                      epochs=epochs, rounds=rounds, limit_train=limit_train),
                 "tracks": {t: {name: {"overrides": o, "rounds": []}
                                for name, o in train_settings.items()} for t in tracks}}
    for r in range(rounds):
        for track in tracks:
            for name, overrides in train_settings.items():
                cfg = run_config(track, overrides, limit_train, profile, prepared)
                run = run_worker(__name__, {"config": cfg.to_dict(), "epochs": epochs})
                res["tracks"][track][name]["rounds"].append(run)
                log(f"round {r + 1}, {track}, {name}: " + (run["error"] if "error" in run else
                                                           f"{run['steady_img_s']:.1f} img/s"))
    reference = next(iter(train_settings))
    for rows in res["tracks"].values():
        ref = rows[reference]["rounds"]
        for row in rows.values():
            ratios = [a["steady_img_s"] / b["steady_img_s"] for a, b in zip(row["rounds"], ref)
                      if "steady_img_s" in a and "steady_img_s" in b]
            if ratios:
                row["ratio"] = ratio_summary(ratios)
    res["settings"]["load_end"] = load_average()
    return res


def measure(job: dict) -> dict:
    """The worker: job["config"] trained for job["epochs"] epochs in a temporary folder
    (`engine_epochs.bench_engine_setting`: each epoch's img/s, steady img/s, data-wait share)."""
    cfg = config_from_dict(job["config"])
    cfg.train.epochs, cfg.train.lr_steps = job["epochs"], (job["epochs"] + 1,)
    return bench_engine_setting(cfg, log=lambda _: None)


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
