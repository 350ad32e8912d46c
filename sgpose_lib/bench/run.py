"""`sgpose bench`: what the SGM costs and how fast the model runs, baseline and SG-HRNet side by side.

One run measures the sections asked for and merges them into `<out>/bench_<device>.json` (every
sample), then re-renders `<out>/bench_<device>.md` from the whole JSON (`render`):
- `main` (with `data`, by default): baseline vs SG of one preset, the inference options and the
  official upsampling path (`main`); each track's data pipeline beside the `cpu` profile's train
  step (`data`);
- `scaling=True`: train step time over widths x input sizes, with a log-log plot (`scaling`);
- `ops=True`: torch.profiler's top ops of an SG train step (`ops`);
- `shared_load=True`: the `cpu` profile's train step alone and beside a busy process, under
  OpenMP wait settings, and two one-thread steps side by side, as the study's pairs train
  (`shared_load`; CPU only);
- `roofline=True`: the eval paths' time and rate against a GEMM's, baseline and SG of the
  preset (`roofline`);
- `train_settings=True`: whole training epochs of the `cpu` profile's runs under each training
  setting against the profile's own, alternating rounds (`train_settings`; CPU only);
- `side_by_side=True`: the profile's pair of runs one after the other (its threads) against side
  by side (one thread each), alternating rounds (`side_by_side`; CPU only).
Timing (`timing`): warm-up, then `repeats` timed calls, wall-clock, medians; on CPU the report
gives the CPU share of the timed calls: below ~0.9, other processes took the cores and the times
are inflated. The GPU modes (bf16, channels_last, torch.compile) are in `cuda_modes`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import ConfigError
from ..model import PRESETS
from .data import bench_data
from .main import bench_main
from .ops import bench_ops
from .render import write_report
from .roofline import bench_roofline
from .scaling import bench_scaling
from .shared_load import PAIR_WAITS, bench_shared_load, pair_config, shared_load_config
from .side_by_side import bench_side_by_side
from .train_settings import bench_train_settings
from .timing import cpu_name, load_average


def run_bench(model: str, input_size: tuple[int, int], device: str, batch: int, out: str, repeats: int,
              scaling: bool = False, threads: int = 0, compile: bool = True, data: bool = True,
              ops: bool = False, shared_load: bool = False, train_settings: bool = False,
              roofline: bool = False, side_by_side: bool = False, limit_train: int = 0) -> dict:
    """`sgpose bench`: baseline vs SG of preset `model` at input_size = (width, height), `batch`
    images, `repeats` timed calls; writes `<out>/bench_<device>.md` and `.json` and returns the result.

    scaling=True runs the scaling study (figure in `<out>/figures/bench_scaling.png`), ops=True the
    torch.profiler top ops of an SG train step, roofline=True the eval paths against the GEMM
    rate (`roofline`), shared_load=True the shared-load case (the `cpu`
    profile's step, `repeats` timed steps per measurement; model, input and batch do not apply),
    train_settings=True the training settings (the `cpu` profile's runs, `repeats` rounds of
    whole epochs; model, input and batch do not apply), side_by_side=True the pair of runs one
    after the other vs side by side (`repeats` rounds; both on the first `limit_train` samples of
    each track, 0 = all); any of them runs instead of the main and
    data sections and is merged into the existing report.
    threads > 0 sets torch.set_num_threads; compile=False skips torch.compile; data=False skips
    the data section."""
    if model not in PRESETS:
        raise ConfigError(f"--model: {model!r} is not one of {sorted(PRESETS)}")
    check_arguments(input_size, device)
    if batch <= 0 or repeats <= 0:
        raise ConfigError("--batch and --repeats must be > 0")
    if shared_load and device != "cpu":
        raise ConfigError("--shared-load: the shared-load case runs on the CPU (--device cpu)")
    if (train_settings or side_by_side) and device != "cpu":
        flag = "--train-settings" if train_settings else "--side-by-side"
        raise ConfigError(f"{flag}: the cpu profile's runs train on the CPU (--device cpu)")
    if threads > 0:
        torch.set_num_threads(threads)
    out_dir = Path(out)
    print(f"sgpose bench: device {device}, torch {torch.__version__}, "
          f"torch.get_num_threads() = {torch.get_num_threads()}, CPU {cpu_name()}", flush=True)
    load = load_average()
    if device == "cpu" and load is not None and load > 1.0:
        print(f"warning: 1-minute load average {load}: other processes use (or just used) the CPUs; "
              "CPU timings are inflated while they run (see the CPU share in the report)", flush=True)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    sections = {}
    if scaling:
        sections["scaling"] = bench_scaling(device, repeats, out_dir, log)
    if ops:
        sections["ops"] = bench_ops(model, input_size, device, batch, log=log)
    if roofline:
        sections["roofline"] = bench_roofline(model, input_size, device, batch, repeats, compile, log=log)
    if shared_load:
        sections["shared_load"] = bench_shared_load(shared_load_config(), repeats, log)
        sections["shared_load_pair"] = bench_shared_load(pair_config(), repeats, log, PAIR_WAITS,
                                                         together=2)
    if train_settings:
        sections["train_settings"] = bench_train_settings(repeats, log=log,
                                                          limit_train=limit_train)
    if side_by_side:
        sections["side_by_side"] = bench_side_by_side(repeats, log=log, limit_train=limit_train)
    if not sections:
        sections["main"] = bench_main(model, input_size, device, batch, repeats, compile, log)
        sections["data"] = (bench_data(device, repeats, log) if data else
                            {"available": False, "reason": "skipped (data=False)"})
    md_path, json_path = write_report(out_dir, device, sections)
    print(md_path.read_text())
    print(f"wrote {md_path} and {json_path}")
    return json.loads(json_path.read_text())


def check_arguments(input_size: tuple[int, int], device: str) -> None:
    """Raise ConfigError unless input_size = (width, height) are positive multiples of 32 and
    `device` is "cpu" or an available "cuda"."""
    w, h = input_size
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise ConfigError(f"--input: {h}x{w} (height x width) must be positive multiples of 32")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device: {device!r} is not 'cpu' or 'cuda'")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available to torch")
