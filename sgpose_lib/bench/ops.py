"""The profiler bench section: where the time of an SG training step goes.

torch.profiler over a few training steps of the SG model (after two warm-up steps); ops sorted by
self time on the device (CUDA kernels on a GPU, CPU time otherwise), in ms per step, share of the
profiled self time, and calls per step.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from .models import bench_model, make_train_step, step_config
from .timing import sync


def bench_ops(preset: str, input_size: tuple[int, int], device: str, batch: int, steps: int = 3,
              channels_last: bool = False, bf16: bool = False, rows: int = 15,
              log: Callable[[str], None] = print) -> dict:
    """Where the time of an SG train step goes: torch.profiler over `steps` train steps (after two
    warm-up steps) of the SG model, ops sorted by self time on `device` (CUDA kernels on a GPU, CPU
    time otherwise). Returns the `rows` top ops with self ms per step, share and calls per step."""
    model = bench_model(preset, True, device)
    cfg = step_config(batch, channels_last, bf16)
    step = make_train_step(model, batch, input_size, device, channels_last, cfg)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)  # the step's own is CUDA-only
    for _ in range(2):
        with autocast:
            step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with autocast:
                step()
        sync(device)
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr, 0) > 0]
    total_us = sum(getattr(e, attr) for e in events)
    events.sort(key=lambda e: getattr(e, attr), reverse=True)
    top = [{"op": e.key, "self_ms_per_step": getattr(e, attr) / 1000 / steps,
            "share": getattr(e, attr) / total_us, "calls_per_step": e.count / steps} for e in events[:rows]]
    log(f"profiled {steps} SG train steps of {preset}: {total_us / 1000 / steps:.1f} ms/step of self time")
    w, h = input_size
    return {"settings": {"model": preset, "input_hw": [h, w], "batch": batch, "steps": steps,
                         "device": device, "channels_last": channels_last, "bf16": bf16,
                         "threads": torch.get_num_threads(), "torch": torch.__version__},
            "total_ms_per_step": total_us / 1000 / steps, "ops": top}
