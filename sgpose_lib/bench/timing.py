"""How the bench measures: wall-clock seconds, CPU share, memory, and the machine it ran on.

Times are wall-clock seconds (time.perf_counter) of one call, with torch.cuda.synchronize() before
and after on CUDA. On CPU a timed call can also report its CPU share, process CPU time /
(wall time x torch threads): ~1 when the process had its cores, lower when other processes took
them (the time is then inflated). Memory is in bytes: `PeakMemory` gives the peak of a phase above
what was in use before it, `saved_activation_bytes` the exact tensor bytes kept for backward.
Ratios of times are taken per round of round-robin timing (`paired_ratio`), so that a machine
that speeds up or slows down between rounds affects numerator and denominator alike.
"""
from __future__ import annotations

import ctypes
import datetime
import gc
import os
import platform
import resource
import statistics
import sys
import time
from typing import Callable

import torch
import torch.nn as nn

from ..numerics import dispatch

MIB = 2 ** 20


# ------------------------------------------------------------------------------------------- time
def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA); a no-op on CPU."""
    if device == "cuda":
        torch.cuda.synchronize()


def seconds(fn: Callable[[], object], device: str, shares: list | None = None) -> float:
    """Wall-clock seconds of fn(). With `shares`, also appends this process' CPU time over
    (wall time x torch threads): ~1 when it had its cores, lower when other processes took them."""
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync(device)
    wall = time.perf_counter() - t0
    if shares is not None:
        shares.append((time.process_time() - c0) / (wall * torch.get_num_threads()))
    return wall


def throughput(fn: Callable[[], object], batch: int, device: str, iters: int, warmup: int) -> float:
    """Images per second of `iters` back-to-back calls of fn() on `batch` images, after `warmup`
    untimed calls; one synchronisation at each end (the calls overlap on an asynchronous device)."""
    for _ in range(warmup):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return batch * iters / (time.perf_counter() - t)


def cpu_share(shares: list[float]) -> float | None:
    """Median CPU share of the timed calls, 3 decimals (None if none was recorded)."""
    return round(statistics.median(shares), 3) if shares else None


def median_ms_per_img(samples: list[float], batch: int) -> float:
    """Median of per-call seconds on `batch` images, as milliseconds per image."""
    return 1000 * statistics.median(samples) / batch


def paired_ratio(num: list[float], den: list[float]) -> tuple[float, list[float]]:
    """Median and range over the round-robin rounds of num[i] / den[i]: robust to a machine
    that speeds up or slows down between rounds, which a ratio of medians is not."""
    ratios = [a / b for a, b in zip(num, den)]
    return statistics.median(ratios), [min(ratios), max(ratios)]


def ratio_summary(ratios: list[float]) -> dict | None:
    """{"median", "min", "max", "n"} of per-round ratios (as the bench reports store them), or
    None without any."""
    if not ratios:
        return None
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "n": len(ratios)}


# ----------------------------------------------------------------------------------------- memory
def _rss_bytes() -> int | None:
    """Current resident set size of this process (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    """getrusage ru_maxrss: the process' peak resident set size (kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _reset_rss_peak() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0), so that ru_maxrss measures
    from now; also hand freed heap pages back to the OS (glibc malloc_trim). True if reset."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of the code in a `with` block above what was in use before it, bytes (`.peak`).

    CUDA: torch.cuda.max_memory_allocated (tensors only). CPU: peak resident set size of the
    process (ru_maxrss, its high-water mark reset on entry) minus the resident size on entry: the
    tensors (activations, gradients, Adam state) plus allocator and oneDNN scratch memory.
    Without a reset (non-Linux) ru_maxrss is the lifetime peak and `.exact` is False."""

    def __init__(self, device: str):
        self.device, self.peak, self.exact = device, 0, True

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated()
        else:
            self.exact = _reset_rss_peak()
            rss = _rss_bytes()
            self.exact = self.exact and rss is not None
            self.before = rss if rss is not None else _maxrss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.before
        else:
            self.peak = max(0, _maxrss_bytes() - self.before)


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors one training forward keeps for backward (activations; the parameters,
    also saved by the convs, are left out), each storage counted once: exact, allocator-free."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t
    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
        del out
    finally:
        model.train(was_training)
    return sum(seen.values())


def memory_note(device: str) -> str:
    """What the peak-memory numbers of `device` count, for the report."""
    if device == "cuda":
        return ("torch.cuda.max_memory_allocated during the phase minus the memory "
                "allocated before it (tensors only: activations, gradients, Adam state; not the weights)")
    return ("peak resident set size of the process during the phase (getrusage "
            "ru_maxrss, high-water mark reset through /proc/self/clear_refs) minus the resident size "
            "before it: activations, gradients and Adam state plus allocator and oneDNN scratch "
            "memory, not the weights; an OS-level number, not a count of tensor bytes")


# ---------------------------------------------------------------------------------------- machine
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """1-minute load average: other processes' demand for the CPUs (it inflates CPU timings)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def settings(device: str, **extra) -> dict:
    """Date, device, versions, threads, CPU, the CPU kernels' instruction set (torch's level and
    the numerics.py variables) and load at the start of a section, plus `extra`."""
    s = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device,
         "torch": torch.__version__, "python": platform.python_version(),
         "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
         "cpu": cpu_name(), "logical_cpus": os.cpu_count(), "load_start": load_average(),
         "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_dispatch": dispatch(),
         **extra}
    if device == "cuda":
        s["gpu"] = torch.cuda.get_device_name()
    return s
