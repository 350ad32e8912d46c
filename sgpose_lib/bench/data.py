"""The data bench section: each track's training data pipeline beside the `cpu` profile's step.

For each track of the `cpu` profile (the embedded data, prepared by `sgpose prepare`): the
training loader's samples/s (decode + affine warp + targets + collate, shuffled; DataLoader with
0, 1, 2 workers; start-up = seconds to the first batch), the profile's training step alone (img/s,
random batch) and fed by the loader with the profile's worker count (the real loop). Without the
prepared data the section says why it is not available.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch.utils.data import DataLoader

from ..config import TRACKS, Config
from ..params import load_config, project_root
from ..data import build_dataset
from ..engine.runtime import to_device
from ..engine.step import train_step
from ..errors import SgposeError
from ..losses import DynamicWeightAverage
from ..model import PoseHighResolutionNet
from .models import VARIANTS, bench_model, make_train_step, step_config
from .timing import seconds, sync

Log = Callable[[str], None]


def bench_data(device: str, repeats: int, log: Log = print, max_batches: int = 12) -> dict:
    """For each track of the `cpu` profile: the training data pipeline's samples/s beside the
    profile's train step alone and fed by the loader; {"available": False, "reason"} when no
    track's data can be loaded."""
    try:
        params = project_root() / "params.yaml"
        load_config("cpu", params)
    except (SgposeError, OSError) as e:
        reason = f"{type(e).__name__}: {e}"
        log(f"data pipeline not available ({reason})")
        return {"available": False, "reason": reason}
    res: dict = {"available": False, "profile": "cpu", "tracks": {}}
    for track in TRACKS:
        try:
            cfg = load_config("cpu", params, track=track, variant="baseline")
            dataset = build_dataset(cfg, "train")
        except (ImportError, SgposeError, OSError) as e:
            reason = f"{type(e).__name__}: {e}"
            log(f"data pipeline of the {track} track not available ({reason})")
            res["tracks"][track] = {"available": False, "reason": reason}
            continue
        res["tracks"][track] = bench_track(cfg, dataset, device, repeats, log, max_batches)
        res["available"] = True
    if not res["available"]:
        res["reason"] = "; ".join(f"{t}: {r['reason']}" for t, r in res["tracks"].items())
    return res


def bench_track(cfg: Config, dataset, device: str, repeats: int, log: Log, max_batches: int) -> dict:
    """One track: loader rates over `max_batches` batches (at most), then for each variant the
    train step alone (`repeats` steps after one warm-up) and fed by the loader."""
    dataset.set_epoch(0)
    batch, (w, h), cl = cfg.train.batch_size, cfg.data.input_size, cfg.train.channels_last
    n = max(2, min(max_batches, len(dataset) // batch))
    res = {"available": True, "preset": cfg.model.preset, "input_hw": [h, w], "batch": batch,
           "channels_last": cl, "batches": n, "samples": len(dataset), "profile_workers": cfg.data.workers,
           "loader": {}, "train": {}, "end_to_end": {}}

    def loader(workers: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                          generator=torch.Generator().manual_seed(0))

    for workers in (0, 1, 2):
        t0 = time.perf_counter()
        it = iter(loader(workers))
        next(it)
        t1 = time.perf_counter()
        for _ in range(n - 1):
            next(it)
        t2 = time.perf_counter()
        del it
        res["loader"][workers] = {"first_batch_s": t1 - t0, "samples_per_s": (n - 1) * batch / (t2 - t1)}
        log(f"data, {cfg.data.track}: {workers} workers: {res['loader'][workers]['samples_per_s']:.0f} samples/s")
    for v in VARIANTS:
        model = bench_model(cfg.model.preset, v == "sg", device, cfg.model.num_joints)
        step = make_train_step(model, batch, (w, h), device, channels_last=cl)
        step()
        samples = [seconds(step, device) for _ in range(repeats)]
        res["train"][v] = {"samples_per_s": batch / statistics.median(samples), "samples_s": samples}
        res["end_to_end"][v] = {"samples_per_s": _fed_by_loader(model, loader(cfg.data.workers), n, device, cl)}
        log(f"data, {cfg.data.track}: {v} train step {res['train'][v]['samples_per_s']:.0f} img/s, fed by the "
            f"loader ({cfg.data.workers} workers) {res['end_to_end'][v]['samples_per_s']:.0f} img/s")
    return res


def _fed_by_loader(model: PoseHighResolutionNet, loader: DataLoader, n: int, device: str, channels_last: bool) -> float:
    """img/s of the real loop over n batches, timed from the second batch on (workers started,
    first step done): the loader feeding the engine's train step, with a fresh optimizer."""
    cfg = step_config(loader.batch_size, channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    dwa = DynamicWeightAverage.for_training(cfg.loss, len(model.sgm) > 0)
    t0, it = None, iter(loader)
    for k in range(n):
        b = next(it)
        if k == 1:
            sync(device)
            t0 = time.perf_counter()
        train_step(model, to_device(b, torch.device(device), channels_last), optimizer, dwa, cfg, k)
    sync(device)
    del it
    return (n - 1) * loader.batch_size / (time.perf_counter() - t0)
