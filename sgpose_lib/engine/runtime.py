"""Where a run executes: the device, the torchrun process group, batches moved to the device.

`Dist` describes the process group (world size 1 without torchrun); only rank 0 writes files.
`compile_cache` points torch.compile's on-disk kernel cache at a folder that outlives /tmp, so a
second run of the same model and shapes reuses the compiled kernels instead of compiling again;
one folder per CPU dispatch (numerics.py), whose kernels another dispatch must not load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' requested but no CUDA device is available")
    return torch.device(name)


def dispatch_folder() -> str:
    """The name of this process's CPU dispatch, e.g. "aten-avx2_onednn-avx2" under the AVX2 pin,
    "aten-avx512_onednn-native" without it: ATen's kernel level (inductor generates its C++
    for it) and oneDNN's instruction-set cap (the frozen weights are packed for it)."""
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA") or "native"
    return f"aten-{torch.backends.cpu.get_cpu_capability()}_onednn-{onednn}".lower()


def compile_cache() -> Path:
    """The folder of torch.compile's kernel and graph caches, set as $TORCHINDUCTOR_CACHE_DIR for
    the compiler to read: the subfolder `dispatch_folder()` of $TORCHINDUCTOR_CACHE_DIR when set,
    else of ~/.cache/sgpose/inductor. Keyed by the dispatch because torch's cache is not: kernels
    compiled under the AVX2 pin abort a native AVX-512 process (heap corruption), and kernels
    compiled natively give NaN under the pin (torch 2.13, AMD EPYC). Calling it again returns the
    same folder."""
    name = dispatch_folder()
    base = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR")
                or Path.home() / ".cache" / "sgpose" / "inductor")
    folder = base if base.name == name else base / name
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


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
