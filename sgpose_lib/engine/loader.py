"""The training loader: one DataLoader per run, its workers kept alive across epochs.

The order of an epoch depends only on (seed, epoch), which is what makes resume exact:
- one process: the permutation `torch.randperm(n)` of a generator seeded with
  seed * 100_003 + epoch, after one int64 draw from it (the draw the DataLoader itself made for
  its worker seeds when the generator was handed to it; kept, so that every run since the first
  sees the same order);
- under torchrun: `DistributedSampler` (its own seed + epoch), each process its share.

`EpochSampler` yields `(epoch, index)` keys, so that persistent workers, which keep the copy of
the dataset they were started with, still draw each sample's augmentation from (seed, epoch,
index) (see data/dataset.py). With workers, each keeps `PREFETCH` batches ready.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ..config import Config
from .runtime import Dist

PREFETCH = 4  # batches each worker prepares ahead (DataLoader's prefetch_factor)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The single-process training order of `epoch`: a permutation of range(n)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.empty((), dtype=torch.int64).random_(generator=g)  # the worker-seed draw, see above
    return torch.randperm(n, generator=g).tolist()


class EpochSampler(Sampler):
    """(epoch, index) keys of one epoch of training, in the order of `epoch_order` (one process)
    or of `DistributedSampler` (this process's share); `set_epoch` before each epoch."""

    def __init__(self, n: int, seed: int, ddp: Dist):
        self.n, self.seed, self.epoch = n, seed, 0
        self.shard = (DistributedSampler(range(n), ddp.world_size, ddp.rank, shuffle=True,
                                         seed=seed, drop_last=True)
                      if ddp.world_size > 1 else None)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.shard is not None:
            self.shard.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.shard) if self.shard is not None else self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = list(self.shard) if self.shard is not None else epoch_order(self.n, self.seed,
                                                                             self.epoch)
        return ((self.epoch, i) for i in order)


def train_loader(dataset, cfg: Config, ddp: Dist) -> tuple[DataLoader, EpochSampler]:
    """The run's training loader and its sampler (call `sampler.set_epoch(e)` before each epoch);
    batches of train.batch_size / world_size, the last incomplete one dropped."""
    sampler = EpochSampler(len(dataset), cfg.train.seed, ddp)
    workers = cfg.data.workers
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size // ddp.world_size,
                        sampler=sampler, num_workers=workers, drop_last=True,
                        pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                        prefetch_factor=PREFETCH if workers > 0 else None,
                        generator=torch.Generator().manual_seed(cfg.train.seed))
    return loader, sampler
