"""The roofline bench section: how near the eval paths run to this machine's matrix-multiply
rate, and what rate a target time relative to the official code would need.

Each round times, round-robin in one process with the same torch threads: one fp32 GEMM
(torch.mm of two n x n matrices: 2 n^3 FLOP), then one eval forward of `batch` images through
each path of each variant: the official code's (eager, nn.Upsample(scale_factor)), ours eager
(BN folded + channels_last) and ours compiled (torch.compile of that, frozen weights: what
`sgpose evaluate` runs above its compile threshold). A path's rate counts the convolutions'
work only: 2 x multiply-adds per image (model.count_macs) x batch / seconds, in GFLOP/s (1e9);
BN, activations, upsampling and additions come on top, so it is a lower bound of the work done.
Rates and shares are medians over the rounds of per-round values (robust to a machine whose
speed drifts between rounds). The target (ours / official time <= `target`) needs the official
path's rate / target in the same round; a share of the GEMM rate near or above 1 says that no
kernel doing the same multiply-adds reaches it on this machine: it needs fewer of them
(e.g. Winograd convolution), not faster kernels.
"""
from __future__ import annotations

import copy
import statistics
from typing import Callable, Mapping, Sequence

import torch

from ..model import count_macs
from .main import compiled_option, fused_option, official_option
from .models import VARIANT_TITLES, VARIANTS, bench_model
from .timing import cpu_share, load_average, seconds, settings

GEMM_N = 2048        # the GEMM's matrix side: 17.2 GFLOP, long enough to reach MKL's full rate
EVAL_TARGET = 0.6    # the performance goal: ours <= 0.6 x the official code's eval time
NEAR_GEMM = 0.95     # a share of the GEMM rate from which same-work kernels are not expected to gain


def roofline_summary(macs_per_img: float, batch: int, paths: Mapping[str, Sequence[float]],
                     gemm_s: Sequence[float], gemm_flop: float, official: str,
                     target: float = EVAL_TARGET) -> dict:
    """From per-round seconds (`paths`: name -> one forward of `batch` images per round;
    `gemm_s`: one GEMM of `gemm_flop` per round): each path's ms/img, GFLOP/s and share of the
    GEMM rate, its time relative to the `official` path, and the rate that `target` x the
    official time would need (all medians over rounds of per-round values)."""
    gemm_rate = [gemm_flop / t / 1e9 for t in gemm_s]
    flop = 2 * macs_per_img * batch
    out = {"gemm_gflops": statistics.median(gemm_rate), "paths": {}}
    for name, samples in paths.items():
        rate = [flop / t / 1e9 for t in samples]
        out["paths"][name] = {
            "ms_per_img": 1000 * statistics.median(samples) / batch,
            "gflops": statistics.median(rate),
            "share_of_gemm": statistics.median(r / g for r, g in zip(rate, gemm_rate)),
            "vs_official": statistics.median(t / o for t, o in zip(samples, paths[official]))}
    needed = [flop / (target * t) / 1e9 for t in paths[official]]
    out["target"] = {"ratio": target,
                     "ms_per_img": target * out["paths"][official]["ms_per_img"],
                     "gflops": statistics.median(needed),
                     "share_of_gemm": statistics.median(r / g for r, g in zip(needed, gemm_rate))}
    return out


def bench_roofline(preset: str, input_size: tuple[int, int], device: str, batch: int,
                   repeats: int, use_compile: bool = True, gemm_n: int = GEMM_N,
                   log: Callable[[str], None] = print) -> dict:
    """The roofline section for baseline and SG of `preset` at input_size = (width, height)."""
    w, h = input_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(2)).to(device)
    g = torch.Generator().manual_seed(3)
    a, b = (torch.randn(gemm_n, gemm_n, generator=g).to(device) for _ in range(2))
    gemm = lambda: torch.mm(a, b)  # noqa: E731
    paths, macs = {}, {}
    for v in VARIANTS:
        model = bench_model(preset, v == "sg", device)
        macs[v] = count_macs(model, input_size)
        paths[v] = [official_option(copy.deepcopy(model).eval()), fused_option(model)]
        if use_compile:
            paths[v].append(compiled_option(model))
        for opt in paths[v]:
            t = seconds(lambda: opt(x), device)  # warm-up; for torch.compile: compilation
            log(f"{VARIANT_TITLES[v]}: {opt.name}, first call {t:.1f} s")
    seconds(gemm, device)
    info = settings(device, model=preset, input_hw=[h, w], batch=batch, repeats=repeats,
                    gemm_n=gemm_n)
    gemm_s: list[float] = []
    shares: list[float] = []
    samples = {v: {opt.name: [] for opt in paths[v]} for v in VARIANTS}
    for _ in range(repeats):
        gemm_s.append(seconds(gemm, device, shares))
        for v in VARIANTS:
            for opt in paths[v]:
                samples[v][opt.name].append(seconds(lambda: opt(x), device, shares))
    info.update(load_end=load_average(), cpu_share_eval=cpu_share(shares))
    official = paths["baseline"][0].name
    return {"settings": info,
            "variants": {v: {"macs": macs[v], "samples_s": samples[v],
                             **roofline_summary(macs[v], batch, samples[v], gemm_s,
                                                2 * gemm_n ** 3, official)}
                         for v in VARIANTS},
            "gemm_samples_s": gemm_s}
