"""The training loop: Adam, a step learning-rate schedule, the loss of Eq. 7 with DWA, exact resume.

A run folder holds `config.json`, `log.jsonl` (one line per step and per validation; the same bits
on every run with the same seed), `timing.jsonl` (throughput, data wait), `last.pt` and `best.pt`.
Checkpoints are written every epoch atomically; `resume=True` continues after the last completed
epoch and gives the same weights and log as an uninterrupted run.

Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel; `batch_size` is
the global batch, split evenly over the processes; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoint_io import atomic_save, check_writable, load_checkpoint, load_model_state
from .config import Config
from .data import build_dataset
from .errors import ConfigError, TrainingError
from .evaluate import evaluate_dataset, primary_metric
from .losses import DynamicWeightAverage, joints_mse_loss, seg_bce_loss, total_loss
from .model import build_model


def lr_at(epoch: int, cfg: Config) -> float:
    """Learning rate of 0-based `epoch`: lr x factor^(number of milestones <= epoch).

    With milestones (170, 200) the first 170 epochs use 1e-3, as the paper states (the official
    code steps its scheduler at epoch start and so decays one epoch earlier)."""
    t = cfg.train
    return t.lr * t.lr_factor ** sum(epoch >= m for m in t.lr_steps)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' requested but no CUDA device is available")
    return torch.device(name)


@dataclass
class Dist:
    """Process-group facts; world_size 1 without torchrun."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Join the process group that torchrun describes in the environment (no-op otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device_name != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and device_name != "cpu":
        torch.cuda.set_device(local)
    return Dist(dist.get_rank(), dist.get_world_size(), local)


def to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    out = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
    if channels_last:
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    return out


def train_step(model, batch: dict, optimizer, dwa: DynamicWeightAverage, cfg: Config,
               step: int) -> dict:
    """One optimisation step on a batch already on the device; returns the logged floats."""
    use_bf16 = cfg.train.bf16 and batch["image"].is_cuda
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
        heatmaps, seg_logits = model(batch["image"])
    l_key = joints_mse_loss(heatmaps.float(), batch["heatmaps"], batch["target_weight"])
    l_seg = seg_bce_loss([s.float() for s in seg_logits], batch["seg"])
    w_key, w_seg = dwa.weights() if seg_logits else (1.0, 0.0)
    loss = total_loss(l_key, l_seg, w_key, w_seg, cfg.loss.lam)
    if not torch.isfinite(loss):
        term = "L_key" if not torch.isfinite(l_key) else "L_seg" if not torch.isfinite(l_seg) else "L"
        raise TrainingError(f"step {step}: loss term {term} is not finite "
                            f"(L_key={l_key.item()}, L_seg={l_seg.item()}); training stopped, "
                            "the last good checkpoint is kept")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    lk, ls = l_key.item(), l_seg.item()
    if seg_logits:
        dwa.update([lk, ls])
    return {"l_key": lk, "l_seg": ls, "w_key": w_key, "w_seg": w_seg, "loss": loss.item()}


def make_loader(dataset, cfg: Config, epoch: int, ddp: Dist, train: bool) -> DataLoader:
    """A loader whose order depends only on (seed, epoch): what makes resume exact."""
    per_rank = cfg.train.batch_size // ddp.world_size
    sampler, generator = None, None
    if ddp.world_size > 1:
        sampler = DistributedSampler(dataset, ddp.world_size, ddp.rank, shuffle=train,
                                     seed=cfg.train.seed, drop_last=train)
        sampler.set_epoch(epoch)
    elif train:
        generator = torch.Generator().manual_seed(cfg.train.seed * 100_003 + epoch)
    workers = cfg.data.workers
    return DataLoader(dataset, batch_size=per_rank, shuffle=(train and sampler is None),
                      sampler=sampler, generator=generator, num_workers=workers,
                      drop_last=train, pin_memory=torch.cuda.is_available(),
                      persistent_workers=False)


class RunLog:
    """Append-only JSON-lines logs of a run; on resume, lines past the checkpoint are dropped."""

    def __init__(self, folder: Path, enabled: bool):
        self.enabled = enabled
        self.log = folder / "log.jsonl"
        self.timing = folder / "timing.jsonl"

    def truncate_after(self, epoch: int) -> None:
        """Keep only lines of epochs < `epoch` (what the checkpoint being resumed has seen)."""
        if not self.enabled:
            return
        for path in (self.log, self.timing):
            if path.exists():
                lines = [ln for ln in path.read_text().splitlines()
                         if ln.strip() and _complete_before(ln, epoch)]
                path.write_text("".join(ln + "\n" for ln in lines))

    def write(self, record: dict, timing: bool = False) -> None:
        if self.enabled:
            with open(self.timing if timing else self.log, "a") as f:
                f.write(json.dumps(record) + "\n")


def _complete_before(line: str, epoch: int) -> bool:
    try:
        return json.loads(line)["epoch"] < epoch
    except (json.JSONDecodeError, KeyError):
        return False  # a line cut by a crash


def train(cfg: Config, out_dir: str | Path, resume: bool = False, progress: bool = True,
          max_epochs: int | None = None) -> dict:
    """Train `cfg` into `out_dir`; returns {'best': metric, 'epochs': n, 'metrics': last metrics}.

    `max_epochs` stops after that many epochs in total (for tests of resume); the schedule still
    follows `cfg.train.epochs`."""
    cfg.validate()
    ddp = init_distributed(cfg.train.device)
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and ddp.world_size > 1:
        device = torch.device("cuda", ddp.local_rank)
    out = Path(out_dir)
    if ddp.main:
        check_writable(out)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.batch_size % ddp.world_size:
        raise ConfigError(f"train.batch_size: {cfg.train.batch_size} is not divisible by the "
                          f"{ddp.world_size} processes")

    train_set = build_dataset(cfg, "train")
    val_set = build_dataset(cfg, "val")
    if cfg.train.batch_size > len(train_set):
        raise ConfigError(f"train.batch_size: {cfg.train.batch_size} is larger than the "
                          f"{len(train_set)} training samples")

    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    model = build_model(cfg.model)
    if ddp.world_size > 1 and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)  # no weight decay: official
    dwa = DynamicWeightAverage(2, "off" if not cfg.model.sgm_sites else cfg.loss.dwa,
                               cfg.loss.temperature)
    log = RunLog(out, ddp.main)

    start_epoch, best, step = 0, -math.inf, 0
    ckpt = load_checkpoint(out / "last.pt") if resume and (out / "last.pt").exists() else None
    if ckpt is not None and _comparable(ckpt["config"]) != _comparable(cfg.to_dict()):
        if ddp.main and progress:
            print(f"{out / 'last.pt'} was trained with another config: starting afresh")
        ckpt = None
    if ckpt is not None:
        load_model_state(model, ckpt["model"], out / "last.pt")
        optimizer.load_state_dict(ckpt["optimizer"])
        dwa.load_state_dict(ckpt["dwa"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        start_epoch, best, step = ckpt["epoch"], ckpt["best"], ckpt["step"]
        log.truncate_after(start_epoch)
    elif ddp.main:
        for path in (log.log, log.timing):
            path.unlink(missing_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        if ddp.main and progress:
            print(f"sgpose train: profile={cfg.profile} variant={cfg.variant} "
                  f"track={cfg.data.track} seed={cfg.train.seed} -> {out}")

    net = model
    if ddp.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    last_metrics: dict = {}
    end_epoch = min(cfg.train.epochs, max_epochs or cfg.train.epochs)
    for epoch in range(start_epoch, end_epoch):
        lr = lr_at(epoch, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_set.set_epoch(epoch)
        loader = make_loader(train_set, cfg, epoch, ddp, train=True)
        net.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False,
                   disable=not (progress and ddp.main), dynamic_ncols=True)
        t_epoch, wait, seen = time.perf_counter(), 0.0, 0
        t_ready = time.perf_counter()
        for batch in bar:
            wait += time.perf_counter() - t_ready
            batch = to_device(batch, device, cfg.train.channels_last)
            rec = train_step(net, batch, optimizer, dwa, cfg, step)
            seen += batch["image"].shape[0] * ddp.world_size
            log.write({"kind": "step", "epoch": epoch, "step": step, "lr": lr, **rec})
            step += 1
            rate = seen / (time.perf_counter() - t_epoch)
            bar.set_postfix(L_key=f"{rec['l_key']:.2e}", L_seg=f"{rec['l_seg']:.3f}",
                            w_k=f"{rec['w_key']:.2f}", w_s=f"{rec['w_seg']:.2f}",
                            img_s=f"{rate:.0f}")
            t_ready = time.perf_counter()
        if cfg.loss.dwa == "epoch":
            dwa.end_epoch()
        elapsed = time.perf_counter() - t_epoch
        log.write({"epoch": epoch, "seconds": elapsed, "img_per_s": seen / elapsed,
                   "data_wait_share": wait / elapsed}, timing=True)

        is_last = epoch + 1 == cfg.train.epochs
        every = cfg.train.val_every
        if ddp.main and every > 0 and ((epoch + 1) % every == 0 or is_last):
            last_metrics = evaluate_dataset(model, val_set, cfg, device)
            metric = primary_metric(last_metrics, cfg.data.track)
            log.write({"kind": "val", "epoch": epoch, "step": step, **last_metrics})
            if progress:
                print(f"epoch {epoch + 1}: {_metric_name(cfg)} = {metric:.4f}")
            if metric > best:
                best = metric
                atomic_save(_state(model, optimizer, dwa, cfg, epoch + 1, best, step),
                            out / "best.pt")
        if ddp.main:
            atomic_save(_state(model, optimizer, dwa, cfg, epoch + 1, best, step), out / "last.pt")
        if ddp.world_size > 1:
            dist.barrier()
    return {"best": best, "epochs": end_epoch, "metrics": last_metrics}


def _comparable(config: dict) -> str:
    """A config as canonical JSON, so that a stored and a current config compare equal."""
    return json.dumps(config, sort_keys=True)


def _metric_name(cfg: Config) -> str:
    return "PCKh@0.5 Mean" if cfg.data.track == "mpii" else "AP"


def _state(model, optimizer, dwa, cfg: Config, epoch: int, best: float, step: int) -> dict:
    """Everything a checkpoint needs to explain itself and to resume bit for bit."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "dwa": dwa.state_dict(), "config": cfg.to_dict(), "epoch": epoch, "best": best,
            "step": step, "lr_schedule": {"lr": cfg.train.lr, "steps": list(cfg.train.lr_steps),
                                          "factor": cfg.train.lr_factor},
            "rng": {"torch": torch.get_rng_state()}}
