"""GPU throughput of HRNet-W32 (baseline vs SG) at 256x192: train and eval img/s in fp32, bf16
autocast, channels_last and torch.compile, plus the top ops of a profiled train step
(sgpose_lib.bench.cuda_modes). Writes <out>/bench_cuda_modes.md and <out>/bench_cuda_modes.json
(`sgpose bench --device cuda` writes <out>/bench_cuda.md: the side-by-side table with the
inference options). Run on a CUDA machine:

    python scripts/gpu_bench.py --out reports
(`--device cpu --model hrnet_tiny --input 64x64` is a dry run of the code path.)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sgpose_lib.bench.cuda_modes import run_cuda_modes


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="hrnet_w32")
    p.add_argument("--input", default="256x192", help="HEIGHTxWIDTH")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="reports")
    args = p.parse_args()
    h, w = (int(v) for v in args.input.split("x"))
    device = torch.device(args.device).type  # "cuda:0" -> "cuda"
    run_cuda_modes(args.model, (w, h), device, args.batch, args.iters, Path(args.out))


if __name__ == "__main__":
    main()
