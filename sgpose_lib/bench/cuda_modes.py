"""GPU throughput modes: baseline vs SG train and eval img/s in fp32, bf16 autocast, channels_last
and torch.compile, plus the top ops of a profiled train step.

Writes `<out>/bench_cuda_modes.md` and `.json` (on CPU, a dry run of the code path:
`bench_gpu_script_dryrun.*`). Entry point: `python scripts/gpu_bench.py --out reports`. Each mode
times `iters` back-to-back calls after 3 warm-up calls (`timing.throughput`); the train step is the
training loop's (`models.make_train_step`: loss of Eq. 7 with DWA, finite-loss check, .item()
reads), with bf16 autocast on CUDA as `train.bf16` (on CPU the step runs in fp32, as in training).
The report is rewritten after each mode, so that a timeout keeps what was done.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch

from .models import VARIANTS, bench_model, make_train_step, step_config, train_batch
from .ops import bench_ops
from .render_sections import ops_lines
from .timing import sync, throughput

MODES = {  # name: (bf16 autocast, channels_last, torch.compile)
    "fp32": (False, False, False),
    "bf16": (True, False, False),
    "bf16 + channels_last": (True, True, False),
    "bf16 + channels_last + compile": (True, True, True),
}
WARMUP = 3


def bench_mode(preset: str, input_size: tuple[int, int], device: str, batch: int, iters: int,
               mode: str) -> dict:
    """Train and eval img/s of baseline and SG in `mode` at input_size = (width, height), and the
    first train step's seconds (with torch.compile: the compilation); peak GiB on CUDA."""
    bf16, cl, compiled = MODES[mode]
    out = {}
    for variant in VARIANTS:
        model = bench_model(preset, variant == "sg", device)
        net = torch.compile(model) if compiled else model
        step = make_train_step(model, batch, input_size, device, cl, step_config(batch, cl, bf16), net)
        x = train_batch(batch, input_size, model.num_joints, device, cl)["image"]
        eval_step = make_eval_step(net, x, device, bf16)
        t0 = time.perf_counter()
        step()
        sync(device)
        first = time.perf_counter() - t0
        model.train()
        tr = throughput(step, batch, device, iters, WARMUP)
        model.eval()
        ev = throughput(eval_step, batch, device, iters, WARMUP)
        out[variant] = {"train_img_s": tr, "eval_img_s": ev, "first_step_s": first}
        if device == "cuda":
            out[variant]["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
            torch.cuda.reset_peak_memory_stats()
        del model, net, step, eval_step, x  # free the device memory before the next variant
    return out


def make_eval_step(net: Callable, x: torch.Tensor, device: str, bf16: bool) -> Callable[[], None]:
    """One eval forward of net on x, under inference_mode and bf16 autocast if asked."""
    def run() -> None:
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            net(x)
    return run


def run_cuda_modes(preset: str, input_size: tuple[int, int], device: str, batch: int, iters: int,
                   out: Path) -> dict:
    """Every mode of MODES, the profiled train step before the first torch.compile mode (which may
    not finish); writes the report after each. Returns {mode: result or {"error"}}."""
    torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (dry run)"
    out.mkdir(parents=True, exist_ok=True)
    results, ops = {}, None
    for mode in MODES:
        if MODES[mode][2] and ops is None:
            ops = bench_ops(preset, input_size, device, batch, steps=5, channels_last=True, bf16=True)
            write_modes_report(out, device, card, preset, input_size, batch, iters, results, ops)
        try:
            results[mode] = bench_mode(preset, input_size, device, batch, iters, mode)
        except Exception as e:  # torch.compile may be unavailable
            results[mode] = {"error": f"{e.__class__.__name__}: {str(e)[:200]}"}
        print(mode, json.dumps(results[mode]), flush=True)
        write_modes_report(out, device, card, preset, input_size, batch, iters, results, ops)
    return results


def write_modes_report(out: Path, device: str, card: str, preset: str, input_size: tuple[int, int],
                       batch: int, iters: int, results: dict, ops: dict | None) -> None:
    """`<out>/bench_cuda_modes.{md,json}` (CPU: `bench_gpu_script_dryrun.*`)."""
    w, h = input_size
    lines = [f"# GPU benchmark — {preset} at {h}x{w} (h x w), batch {batch}", "",
             f"Card: **{card}**; torch {torch.__version__}; cudnn.benchmark on; "
             f"{iters} timed iterations after {WARMUP} warm-up ones; random tensors (the model's cost "
             "alone; data loading is measured by `sgpose bench` and the training log). Train = the "
             "training loop's step: forward, the loss of Eq. 7 (JointsMSE + lambda x BCE, weighted by "
             "DWA), the finite-loss check, backward, Adam and the .item() reads of the logged losses "
             "(earlier reports timed it without DWA and the .item() reads). "
             "Generated by `scripts/gpu_bench.py`.", "",
             "| mode | variant | train img/s | eval img/s | peak memory GiB |",
             "|---|---|--:|--:|--:|"]
    for mode, res in results.items():
        if "error" in res:
            lines.append(f"| {mode} | — | {res['error']} | | |")
            continue
        for v in VARIANTS:
            r = res[v]
            lines.append(f"| {mode} | {v} | {r['train_img_s']:.0f} | {r['eval_img_s']:.0f} | "
                         f"{r.get('peak_mem_gib', float('nan')):.1f} |")
        lines.append(f"| {mode} | SG / baseline | {res['sg']['train_img_s'] / res['baseline']['train_img_s']:.3f} "
                     f"| {res['sg']['eval_img_s'] / res['baseline']['eval_img_s']:.3f} | |")
    if ops:
        lines += [""] + ops_lines(ops)
    stem = "bench_cuda_modes" if device == "cuda" else "bench_gpu_script_dryrun"
    (out / f"{stem}.json").write_text(json.dumps({"card": card, "results": results}, indent=2))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
