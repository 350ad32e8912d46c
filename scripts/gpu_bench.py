"""The GPU benchmarks of HRNet-W32 (baseline vs SG) at 256x192; `scripts/gpu_check.sh` runs both
sections within about 8 minutes of an H200.

- `--section engine` (sgpose_lib.bench.engine_epochs): whole training epochs through the engine,
  data included (eager at batch 64 and 128, one host read per step vs every 50, torch.compile
  cold and on a warm cache), and the fused eval speed: <out>/bench_cuda_engine.{md,json}.
- `--section modes` (sgpose_lib.bench.cuda_modes): the model alone in fp32, bf16, channels_last
  and torch.compile, and the profiler's top ops of a train step: <out>/bench_cuda_modes.{md,json}.

`--device cpu --model hrnet_tiny --input 64x64 --limit 64` is a dry run of the code paths.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sgpose_lib.bench.cuda_modes import run_cuda_modes
from sgpose_lib.bench.engine_epochs import GPU_SETTINGS, EngineSetting, run_engine_bench


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--section", choices=("engine", "modes"), default="modes")
    p.add_argument("--model", default="hrnet_w32")
    p.add_argument("--input", default="256x192", help="HEIGHTxWIDTH")
    p.add_argument("--batch", type=int, default=64, help="modes: the batch")
    p.add_argument("--iters", type=int, default=20, help="modes: timed iterations")
    p.add_argument("--epochs", type=int, default=4, help="engine: epochs per setting")
    p.add_argument("--workers", type=int, default=12, help="engine: DataLoader workers")
    p.add_argument("--limit", type=int, default=0, help="engine: first N training persons (0 = all)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="reports")
    args = p.parse_args()
    h, w = (int(v) for v in args.input.split("x"))
    device = torch.device(args.device).type  # "cuda:0" -> "cuda"
    if args.section == "modes":
        run_cuda_modes(args.model, (w, h), device, args.batch, args.iters, Path(args.out))
        return
    settings = GPU_SETTINGS if device == "cuda" else (
        EngineSetting("baseline", 16, False, 1), EngineSetting("sg", 16, False, 4))
    run_engine_bench(Path(args.out), device, settings, args.epochs, args.workers, args.model,
                     (w, h), eval_batch=256 if device == "cuda" else 8, limit_train=args.limit)


if __name__ == "__main__":
    main()
