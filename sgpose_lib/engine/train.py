"""The training loop: Adam, a step learning-rate schedule, the loss of Eq. 7 with DWA, exact resume.

A run folder holds `config.json`, `log.jsonl` (one line per step and per validation; the same bits
on every run with the same seed), `timing.jsonl` (throughput, data wait), `epochs.csv` (one row per
epoch: mean losses, DWA weights, validation metrics; the learning curve; see run_log.py),
`environment.json` (provenance.py), `last.pt` and `best.pt`. Checkpoints are written every epoch
atomically; `resume=True` continues after the last completed epoch and gives the same weights and
log as an uninterrupted run.

A run folder is never overwritten by accident: one process at a time holds it (a lock, which
also clears the temporary files of saves a crash cut short), and resume.py decides whether it
holds a run and whether its last.pt may be continued (same config up to the keys that do not
change the result; `train.epochs` may grow: the run continues with the learning rate of
schedule.py's `lr_at`, whose milestones are absolute epochs, so a run extended past its last
milestone goes on at the decayed rate; `train.lr_steps` may change where the epochs already trained
keep their rates, as when until_plateau.py fixes the drops). Each step is step.py's
`train_step`.

Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel; `batch_size` is
the global batch, split evenly over the processes; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config
from ..data import TopDownDataset, build_dataset
from ..errors import ConfigError
from ..losses import DynamicWeightAverage
from ..model import build_model
from .checkpoint_io import (atomic_save, atomic_write_text, check_writable, folder_lock,
                            json_safe, load_model_state)
from .evaluate import evaluate_dataset, primary_metric
from .provenance import environment
from .loader import EpochSampler, train_loader
from .resume import RUN_FILES, checkpoint_state, nothing_to_resume, resume_checkpoint
from .run_log import RunLog
from .schedule import lr_at
from .runtime import Dist, compile_cache, init_distributed, resolve_device, to_device
from .step import read_steps, train_step


def train(cfg: Config, out_dir: str | Path, resume: bool = False, progress: bool = True,
          max_epochs: int | None = None, restart: bool = False) -> dict:
    """Train `cfg` into `out_dir`; returns {'best': metric, 'epochs': n, 'metrics': last
    validation metrics, 'finished_before': whether the run had already finished}.

    resume: continue the run in `out_dir` (it must exist, with the same config up to
    RESULT_FREE_KEYS and a possibly larger train.epochs). restart: start over where the folder
    holds a run (with `resume`: only when the configs differ; the pipeline's mode). `max_epochs`
    stops after that many epochs in total (for tests of resume); the schedule still follows
    `cfg.train.epochs`."""
    cfg.validate()
    ddp = init_distributed(cfg.train.device)
    out = Path(out_dir)
    if resume and not restart and not (out / "last.pt").exists():  # before the lock creates it
        raise nothing_to_resume(out)
    with folder_lock(out) if ddp.main else nullcontext():
        return _train(cfg, out, ddp, resume, restart, progress, max_epochs)


@dataclass
class _Run:
    """What the epochs of one training run share; `best` and `step` advance as it trains."""
    cfg: Config
    out: Path
    ddp: Dist
    device: torch.device
    model: torch.nn.Module      # the bare model: validation and checkpoints
    net: torch.nn.Module        # what the steps call: `model`, its DDP wrapper, compiled
    loader: DataLoader          # the training loader of every epoch (persistent workers)
    sampler: EpochSampler       # its order: set_epoch before each epoch
    optimizer: torch.optim.Optimizer
    dwa: DynamicWeightAverage
    log: RunLog
    progress: bool
    best: float = -math.inf     # best primary metric validated so far
    step: int = 0               # optimisation steps taken


def _train(cfg: Config, out: Path, ddp: Dist, resume: bool, restart: bool, progress: bool,
           max_epochs: int | None) -> dict:
    """`train` in the locked folder: set up, seed, build, start afresh or resume, then each
    epoch: train, validate when due, checkpoint."""
    device = _setup(cfg, out, ddp)
    train_set, val_set = _datasets(cfg)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    model, optimizer, dwa = _build(cfg, ddp, device)
    loader, sampler = train_loader(train_set, cfg, ddp)
    run = _Run(cfg, out, ddp, device, model, model, loader, sampler, optimizer, dwa,
               RunLog(out, ddp.main), progress)
    ckpt = _start(run, resume, restart)
    start_epoch = ckpt["epoch"] if ckpt is not None else 0
    run.net = _stepping_module(model, cfg, ddp, device)

    last_metrics: dict = run.log.last_validation() if ckpt is not None else {}
    end_epoch = min(cfg.train.epochs, max_epochs or cfg.train.epochs)
    if start_epoch >= end_epoch and ddp.main and progress:
        print(f"{out}: already trained {start_epoch} epochs, nothing to do (the metrics are "
              "those of its last validation)")
    for epoch in range(start_epoch, end_epoch):
        _train_epoch(run, epoch)
        metrics = _validate(run, val_set, epoch)
        if metrics is not None:
            last_metrics = metrics
        _end_epoch(run, epoch)
    return {"best": run.best, "epochs": max(end_epoch, start_epoch),
            "metrics": json_safe(last_metrics), "finished_before": start_epoch >= end_epoch}


def _setup(cfg: Config, out: Path, ddp: Dist) -> torch.device:
    """The device of this process; the run folder checked writable (rank 0), torch's threads
    set, and ConfigError for a batch that does not split evenly over the processes."""
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and ddp.world_size > 1:
        device = torch.device("cuda", ddp.local_rank)
    if ddp.main:
        check_writable(out)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.batch_size % ddp.world_size:
        raise ConfigError(f"train.batch_size: {cfg.train.batch_size} is not divisible by the "
                          f"{ddp.world_size} processes")
    return device


def _datasets(cfg: Config) -> tuple[TopDownDataset, TopDownDataset]:
    """(training set, validation set); ConfigError for a batch larger than the training set."""
    train_set = build_dataset(cfg, "train")
    val_set = build_dataset(cfg, "val")
    if cfg.train.batch_size > len(train_set):
        raise ConfigError(f"train.batch_size: {cfg.train.batch_size} is larger than the "
                          f"{len(train_set)} training samples")
    return train_set, val_set


def _build(cfg: Config, ddp: Dist, device: torch.device
           ) -> tuple[torch.nn.Module, torch.optim.Optimizer, DynamicWeightAverage]:
    """(model on `device`, Adam, DWA) of a fresh run, from the seeded RNG's current state."""
    model = build_model(cfg.model)
    if ddp.world_size > 1 and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)  # no weight decay: official
    dwa = DynamicWeightAverage.for_training(cfg.loss, bool(cfg.model.sgm_sites))
    return model, optimizer, dwa


def _stepping_module(model: torch.nn.Module, cfg: Config, ddp: Dist,
                     device: torch.device) -> torch.nn.Module:
    """What the training steps call: the model, wrapped in DistributedDataParallel under
    torchrun, compiled with torch.compile when train.compile names a mode (its kernels cached on
    disk, see runtime.compile_cache)."""
    net = model
    if ddp.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.train.compile:
        compile_cache()
        net = torch.compile(net, mode=cfg.train.compile)
    return net


def _start(run: _Run, resume: bool, restart: bool) -> dict | None:
    """Continue from the folder's last.pt (weights, optimizer, DWA, torch RNG, best, step; the
    logs cut back to it) or start afresh (the files of an earlier run removed); config.json and
    environment.json written (rank 0). Returns the checkpoint continued, or None."""
    cfg, out, main = run.cfg, run.out, run.ddp.main
    say: Callable[[str], None] = print if main else lambda _: None
    ckpt = resume_checkpoint(out, cfg, run.device, resume, restart, say)
    if ckpt is not None:
        load_model_state(run.model, ckpt["model"], out / "last.pt")
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.dwa.load_state_dict(ckpt["dwa"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        run.best, run.step = ckpt["best"], ckpt["step"]
        run.log.truncate_after(ckpt["epoch"])
        if main:
            atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
    elif main:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
        if run.progress:
            print(f"sgpose train: profile={cfg.profile} variant={cfg.variant} "
                  f"track={cfg.data.track} seed={cfg.train.seed} -> {out}")
    if main and (ckpt is None or ckpt["epoch"] < cfg.train.epochs):
        # the software and machine of the epochs about to run; a finished run keeps the record
        # of the one that trained it
        atomic_write_text(out / "environment.json", json.dumps(environment(), indent=2))
    return ckpt


def _train_epoch(run: _Run, epoch: int) -> None:
    """One pass over the training set at the learning rate of `epoch` (0-based): a `step` line
    per batch in log.jsonl (written every train.log_every steps), the epoch's throughput in
    timing.jsonl."""
    cfg, ddp = run.cfg, run.ddp
    lr = lr_at(epoch, cfg)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.sampler.set_epoch(epoch)
    run.net.train()
    bar = tqdm(run.loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False,
               disable=not (run.progress and ddp.main), dynamic_ncols=True)
    sync = cfg.train.log_every == 1
    t_epoch, wait, seen, pending = time.perf_counter(), 0.0, 0, []
    t_ready = time.perf_counter()
    for batch in bar:
        wait += time.perf_counter() - t_ready
        batch = to_device(batch, run.device, cfg.train.channels_last)
        rec = train_step(run.net, batch, run.optimizer, run.dwa, cfg, run.step, sync)
        seen += batch["image"].shape[0] * ddp.world_size
        pending.append({"kind": "step", "epoch": epoch, "step": run.step, "lr": lr, **rec})
        run.step += 1
        if len(pending) == cfg.train.log_every:
            _write_steps(run, pending, bar, seen / (time.perf_counter() - t_epoch))
            pending = []
        t_ready = time.perf_counter()
    if pending:
        _write_steps(run, pending, bar, seen / (time.perf_counter() - t_epoch))
    if cfg.loss.dwa == "epoch":
        run.dwa.end_epoch()
    elapsed = time.perf_counter() - t_epoch
    run.log.write({"epoch": epoch, "seconds": elapsed, "img_per_s": seen / elapsed,
                   "data_wait_share": wait / elapsed}, timing=True)


def _write_steps(run: _Run, records: list[dict], bar, rate: float) -> None:
    """The step lines of `records` (floats, or tensors read now) and the progress line."""
    if not isinstance(records[0]["loss"], float):
        records = read_steps(records)
    for rec in records:
        run.log.write(rec)
    rec = records[-1]
    bar.set_postfix(L_key=f"{rec['l_key']:.2e}", L_seg=f"{rec['l_seg']:.3f}",
                    w_k=f"{rec['w_key']:.2f}", w_s=f"{rec['w_seg']:.2f}", img_s=f"{rate:.0f}")


def _validate(run: _Run, val_set: TopDownDataset, epoch: int) -> dict | None:
    """After `epoch` (0-based), when due (rank 0; every train.val_every epochs and after the
    last): the track's metrics, a `val` line in log.jsonl, the progress line, best.pt on a new
    best. None when not due."""
    cfg = run.cfg
    is_last = epoch + 1 == cfg.train.epochs
    every = cfg.train.val_every
    if not (run.ddp.main and every > 0 and ((epoch + 1) % every == 0 or is_last)):
        return None
    metrics = evaluate_dataset(run.model, val_set, cfg, run.device)
    metric = primary_metric(metrics, cfg.data.track)
    run.log.write({"kind": "val", "epoch": epoch, "step": run.step, **metrics})
    if run.progress:
        print(f"epoch {epoch + 1}: {_metric_name(cfg)} = {metric:.4f}")
    if metric > run.best:
        run.best = metric
        _save(run, epoch + 1, "best.pt")
    return metrics


def _end_epoch(run: _Run, epoch: int) -> None:
    """last.pt and epochs.csv after `epoch` (0-based; rank 0), then wait for every process."""
    if run.ddp.main:
        _save(run, epoch + 1, "last.pt")
        run.log.write_epochs(run.out / "epochs.csv")
    if run.ddp.world_size > 1:
        dist.barrier()


def _metric_name(cfg: Config) -> str:
    return "PCKh@0.5 Mean" if cfg.data.track == "mpii" else "AP"


def _save(run: _Run, epochs_done: int, name: str) -> None:
    """The checkpoint after `epochs_done` completed epochs, written atomically to `run.out/name`."""
    atomic_save(checkpoint_state(run.cfg, epochs_done, run.model, run.optimizer, run.dwa,
                                 run.best, run.step), run.out / name)
