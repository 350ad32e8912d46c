"""The training loop: Adam, a step learning-rate schedule, the loss of Eq. 7 with DWA, exact resume.

A run folder holds `config.json`, `log.jsonl` (one line per step and per validation; the same bits
on every run with the same seed), `timing.jsonl` (throughput, data wait), `epochs.csv` (one row per
epoch: mean losses, DWA weights, validation metrics; the learning curve), `last.pt` and `best.pt`.
Checkpoints are written every epoch atomically; `resume=True` continues after the last completed
epoch and gives the same weights and log as an uninterrupted run.

A run folder is never overwritten by accident: one process at a time holds it (a lock); a new run
into a folder holding a run, or a resume with another config, stops with an error naming the
differing keys unless `restart=True` (start over). Keys that do not change the result
(`RESULT_FREE_KEYS`) may differ, and `train.epochs` may grow: the run continues with the learning
rate of `lr_at` (milestones are absolute epochs, so a run extended past its last milestone goes on
at the decayed rate).

Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel; `batch_size` is
the global batch, split evenly over the processes; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..config import Config
from ..data import build_dataset
from ..errors import ConfigError, TrainingError
from ..losses import DynamicWeightAverage, joints_mse_loss, seg_bce_loss, total_loss
from ..model import build_model
from .checkpoint_io import (atomic_save, atomic_write_text, check_writable, folder_lock,
                            load_checkpoint, load_model_state)
from .evaluate import evaluate_dataset, primary_metric
from .provenance import environment
from .runtime import Dist, init_distributed, resolve_device, to_device


def lr_at(epoch: int, cfg: Config) -> float:
    """Learning rate of 0-based `epoch`: lr x factor^(number of milestones <= epoch).

    With milestones (170, 200) the first 170 epochs use 1e-3, as the paper states (the official
    code steps its scheduler at epoch start and so decays one epoch earlier)."""
    t = cfg.train
    return t.lr * t.lr_factor ** sum(epoch >= m for m in t.lr_steps)


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
                f.write(json.dumps(json_safe(record)) + "\n")

    def records(self, timing: bool = False) -> list[dict]:
        path = self.timing if timing else self.log
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        return out

    def last_validation(self) -> dict:
        vals = [r for r in self.records() if r.get("kind") == "val"]
        return {k: v for k, v in vals[-1].items() if k not in ("kind", "epoch", "step")} \
            if vals else {}

    def write_epochs(self, path: Path) -> None:
        """One CSV row per completed epoch (1-based `epoch`): lr, the epoch means of the step
        losses and DWA weights, seconds and img/s, and the validation metrics where validated."""
        if not self.enabled:
            return
        rows: dict[int, dict] = {}
        sums: dict[int, dict] = {}
        for r in self.records():
            e = r["epoch"]
            row = rows.setdefault(e, {"epoch": e + 1})
            if r.get("kind") == "step":
                acc = sums.setdefault(e, {"n": 0})
                acc["n"] += 1
                row["lr"] = r["lr"]
                for k in ("loss", "l_key", "l_seg", "w_key", "w_seg"):
                    acc[k] = acc.get(k, 0.0) + r[k]
            elif r.get("kind") == "val":
                row.update({f"val_{k}": v for k, v in r.items()
                            if k not in ("kind", "epoch", "step")})
        for e, acc in sums.items():
            rows[e].update({k: v / acc["n"] for k, v in acc.items() if k != "n"})
        for t in self.records(timing=True):
            if t["epoch"] in rows:
                rows[t["epoch"]].update(seconds=t["seconds"], img_per_s=t["img_per_s"])
        table = [rows[e] for e in sorted(rows)]
        fields = list(dict.fromkeys(k for row in table for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in table)
        atomic_write_text(path, text.getvalue())


def json_safe(value):
    """`value` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _csv_value(v):
    return "" if isinstance(v, float) and not math.isfinite(v) else v


def _complete_before(line: str, epoch: int) -> bool:
    try:
        return json.loads(line)["epoch"] < epoch
    except (json.JSONDecodeError, KeyError):
        return False  # a line cut by a crash


RESULT_FREE_KEYS = ("data.workers", "train.device", "eval.batch_size")  # may differ on resume


def config_differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for every leaf that differs between two `Config.to_dict()`s, leaving out
    RESULT_FREE_KEYS and train.epochs (a run may be continued for more epochs)."""
    out = []
    for key in sorted(set(stored) | set(current)):
        name = f"{prefix}{key}"
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{name}.")
        elif name not in (*RESULT_FREE_KEYS, "train.epochs") and _canon(a) != _canon(b):
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def _canon(value):
    return json.dumps(value, sort_keys=True)


def _resume_checkpoint(out: Path, cfg: Config, resume: bool, restart: bool, say) -> dict | None:
    """The checkpoint to continue from, or None to start afresh; TrainingError where going on
    would lose or mix a run (see the module docstring)."""
    last = out / "last.pt"
    if not last.exists():
        return None
    ckpt = load_checkpoint(last)
    if not resume:
        if restart:
            return None
        raise TrainingError(f"{out}: holds a run (last.pt after epoch {ckpt['epoch']}); --resume "
                            "continues it, --restart deletes it and starts over")
    diff = config_differences(ckpt["config"], cfg.to_dict())
    if diff:
        if restart:
            say(f"{last} was trained with another config ({'; '.join(diff[:3])}): starting over")
            return None
        more = f" (+{len(diff) - 6} more)" if len(diff) > 6 else ""
        raise TrainingError(f"{last} was trained with another config: {'; '.join(diff[:6])}{more}"
                            "; --restart deletes the run and starts over")
    if ckpt["epoch"] > cfg.train.epochs:
        raise TrainingError(f"{last}: already trained {ckpt['epoch']} epochs, more than "
                            f"train.epochs = {cfg.train.epochs}")
    return ckpt


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
        raise TrainingError(f"{out}: nothing to resume (no last.pt); leave out --resume to "
                            "start a new run there")
    with folder_lock(out) if ddp.main else nullcontext():
        return _train(cfg, out, ddp, resume, restart, progress, max_epochs)


def _train(cfg: Config, out: Path, ddp: "Dist", resume: bool, restart: bool, progress: bool,
           max_epochs: int | None) -> dict:
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
    ckpt = _resume_checkpoint(out, cfg, resume, restart, print if ddp.main else lambda _: None)
    if ckpt is not None:
        load_model_state(model, ckpt["model"], out / "last.pt")
        optimizer.load_state_dict(ckpt["optimizer"])
        dwa.load_state_dict(ckpt["dwa"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        start_epoch, best, step = ckpt["epoch"], ckpt["best"], ckpt["step"]
        log.truncate_after(start_epoch)
        if ddp.main:
            atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
    elif ddp.main:
        for path in (log.log, log.timing, out / "epochs.csv", out / "best.pt", out / "last.pt",
                     out / "environment.json"):
            path.unlink(missing_ok=True)
        atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
        if progress:
            print(f"sgpose train: profile={cfg.profile} variant={cfg.variant} "
                  f"track={cfg.data.track} seed={cfg.train.seed} -> {out}")

    if ddp.main:  # the software and machine of this (part of the) run
        atomic_write_text(out / "environment.json", json.dumps(environment(), indent=2))
    net = model
    if ddp.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    last_metrics: dict = log.last_validation() if ckpt is not None else {}
    end_epoch = min(cfg.train.epochs, max_epochs or cfg.train.epochs)
    if start_epoch >= end_epoch and ddp.main and progress:
        print(f"{out}: already trained {start_epoch} epochs, nothing to do (the metrics are "
              "those of its last validation)")
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
            log.write_epochs(out / "epochs.csv")
        if ddp.world_size > 1:
            dist.barrier()
    return {"best": best, "epochs": max(end_epoch, start_epoch), "metrics": json_safe(last_metrics),
            "finished_before": start_epoch >= end_epoch}


def _metric_name(cfg: Config) -> str:
    return "PCKh@0.5 Mean" if cfg.data.track == "mpii" else "AP"


def _state(model, optimizer, dwa, cfg: Config, epoch: int, best: float, step: int) -> dict:
    """Everything a checkpoint needs to explain itself and to resume bit for bit."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "dwa": dwa.state_dict(), "config": cfg.to_dict(), "epoch": epoch, "best": best,
            "step": step, "lr_schedule": {"lr": cfg.train.lr, "steps": list(cfg.train.lr_steps),
                                          "factor": cfg.train.lr_factor},
            "rng": {"torch": torch.get_rng_state()}}
