"""The main bench section: baseline vs SG-HRNet of one preset, and the inference options.

For the baseline (no SGM) and the SG model (SGM at all four sites): parameters, multiply-adds
(convolutions, one image), eval forward ms/img, train step ms/img (the engine's step, see
`models`), activations saved for backward and peak memory (bytes), and SG / baseline ratios.
Then the inference options that change no results (inference_mode vs no_grad, channels_last, BN
folded into the convs, torch.compile) and the official HRNet upsampling path (the model built with
upsample="scale_factor": nn.Upsample(scale_factor) instead of our F.interpolate(size=)), each with
its speed-up over plain eager and its largest output difference relative to the largest reference
value; torch.compile's compilation is timed apart, from an empty inductor cache.

Every measurement is warmed up, then `repeats` timed calls; the options of both models are timed
round-robin (one call of each per round). Times are medians; time ratios are `paired_ratio`s.
"""
from __future__ import annotations

import copy
import gc
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import count_macs, count_parameters
from ..model.fuse import prepare_for_inference
from ..model.hrnet import HighResolutionModule
from .models import VARIANT_TITLES, VARIANTS, bench_model, make_train_step, with_upsample
from .timing import (PeakMemory, cpu_share, load_average, median_ms_per_img, memory_note, paired_ratio,
                     saved_activation_bytes, seconds, settings)

Log = Callable[[str], None]
FUSED_OPTION = "BN folded + channels_last"  # engine.inference.fuse_for_inference
# engine.inference.compile_for_set: what `sgpose evaluate` runs above its compile threshold
COMPILED_OPTION = "torch.compile of BN folded + channels_last, frozen weights"


# ---------------------------------------------------------------------------------- eval options
@dataclass
class EvalOption:
    name: str
    model: nn.Module | Callable
    channels_last: bool = False
    inference_mode: bool = True

    def __call__(self, x: torch.Tensor):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode() if self.inference_mode else torch.no_grad():
            return self.model(x)


OFFICIAL_OPTION = "official upsampling (nn.Upsample scale_factor)"  # the official code's path


def official_option(plain: nn.Module) -> EvalOption:
    """The official HRNet's eval path: eager, nn.Upsample(scale_factor) in the fusions."""
    return EvalOption(OFFICIAL_OPTION, with_upsample(plain, "scale_factor"))


def fused_option(model: nn.Module) -> EvalOption:
    """Ours below the compile threshold: BN folded into the convs, channels_last, eager."""
    return EvalOption(FUSED_OPTION, prepare_for_inference(model, channels_last=True, fuse_bn=True),
                      channels_last=True)


def compiled_option(model: nn.Module) -> EvalOption:
    """Ours above the compile threshold: the fused model through torch.compile, frozen weights."""
    fused = prepare_for_inference(model, channels_last=True, fuse_bn=True)
    return EvalOption(COMPILED_OPTION, torch.compile(fused, options={"freezing": True}),
                      channels_last=True)


def eval_options(model: nn.Module, use_compile: bool) -> list[EvalOption]:
    """The eval-time variants of `model` (the first, plain eager under inference_mode, is the
    reference); with use_compile also the two torch.compile options, whose first call (the
    compilation) the caller times apart."""
    plain = copy.deepcopy(model).eval()
    options = [
        EvalOption("eager, inference_mode (reference)", plain),
        EvalOption("eager, no_grad instead of inference_mode", plain, inference_mode=False),
        EvalOption("channels_last", prepare_for_inference(model, channels_last=True), channels_last=True),
        EvalOption("BN folded into conv", prepare_for_inference(model, fuse_bn=True)),
        fused_option(model),
        official_option(plain),
    ]
    if use_compile:
        options.append(EvalOption("torch.compile (default mode)", torch.compile(plain)))
        options.append(compiled_option(model))
    return options


def max_rel_diff(ref, out) -> float:
    """Largest |out - ref| over heatmaps and SGM logits, relative to the largest |ref|."""
    (h0, s0), (h1, s1) = ref, out
    pairs = [(h0, h1)] + list(zip(s0, s1))
    scale = max(float(a.abs().max()) for a, _ in pairs) or 1.0
    return max(float((a.float() - b.float()).abs().max()) for a, b in pairs) / scale


# ------------------------------------------------------------------------------------ upsampling
def upsampling_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[tuple[int, ...], int]]:
    """(input shape, factor 2**(j-i)) of every fusion upsampling of one eval forward of `model` on
    x, in call order: read by forward hooks on the 1x1 conv+BN paths that feed the upsamplings."""
    calls: list[tuple[tuple[int, ...], int]] = []
    handles = []
    for module in model.modules():
        if isinstance(module, HighResolutionModule) and module.fuse_layers is not None:
            for i, row in enumerate(module.fuse_layers):
                for j in range(i + 1, len(row)):
                    handles.append(row[j].register_forward_hook(
                        lambda _m, _inp, out, k=2 ** (j - i): calls.append((tuple(out.shape), k))))
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def upsample_microbench(calls: list[tuple[tuple[int, ...], int]], device: str, n: int = 20) -> dict:
    """Each fusion upsampling of one forward, in isolation: F.interpolate(size=) vs
    nn.Upsample(scale_factor=), median of `n` calls, summed over the forward's calls (us)."""
    counts: dict[tuple, int] = {}
    for shape, k in calls:
        counts[(shape, k)] = counts.get((shape, k), 0) + 1
    rows, total = [], {"size": 0.0, "scale_factor": 0.0}
    with torch.inference_mode():
        for (shape, k), count in counts.items():
            z = torch.randn(shape, device=device)
            size = (shape[-2] * k, shape[-1] * k)
            up = nn.Upsample(scale_factor=k, mode="nearest")
            fns = {"size": lambda: F.interpolate(z, size=size, mode="nearest"), "scale_factor": lambda: up(z)}
            samples = {name: [] for name in fns}
            for _ in range(3):
                for fn in fns.values():
                    fn()
            for _ in range(n):
                for name, fn in fns.items():
                    samples[name].append(seconds(fn, device))
            row = {"shape": list(shape), "factor": k, "count": count}
            for name in fns:
                row[f"{name}_us"] = 1e6 * statistics.median(samples[name])
                total[name] += count * row[f"{name}_us"]
            rows.append(row)
    return {"calls": rows, "total_us": total}


def upsampling_verdict(ours_s: list[float], official_s: list[float]) -> dict:
    """Paired comparison of the round-robin rounds: ratio official / ours of each round's time
    (> 1: ours faster). "at least as fast" if the median ratio is >= 1; "as fast within noise" if
    below 1 but some round had ours ahead; else "slower"."""
    ratios = [o / u for o, u in zip(official_s, ours_s)]
    med, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
    verdict = ("at least as fast" if med >= 1 else "as fast within noise (the rounds disagree)"
               if hi >= 1 else "slower")
    return {"median": med, "min": lo, "max": hi, "verdict": verdict}


# ------------------------------------------------------------------------------------ the section
def bench_main(preset: str, input_size: tuple[int, int], device: str, batch: int, repeats: int,
               use_compile: bool = True, log: Log = print) -> dict:
    """Baseline vs SG: size, eval and train speed, memory; inference options; upsampling path."""
    w, h = input_size
    res: dict = {"settings": settings(device, model=preset, input_hw=[h, w], batch=batch,
                                      repeats=repeats, memory=memory_note(device)),
                 "variants": {}, "options": {}}
    models = {v: bench_model(preset, v == "sg", device) for v in VARIANTS}
    for v, m in models.items():
        res["variants"][v] = {"params": count_parameters(m), "macs": count_macs(m, input_size)}
        log(f"{VARIANT_TITLES[v]}: {res['variants'][v]['params']:,} params, "
            f"{res['variants'][v]['macs'] / 1e9:.3f} GMACs/img")
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(2)).to(device)

    # eval: memory (also the first warm-up), options, compile time (cold: an empty inductor cache),
    # then round-robin timing
    cache = tempfile.mkdtemp(prefix="sgpose_bench_inductor_")
    saved_cache = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        _bench_eval(res, models, x, device, batch, repeats, use_compile, log)
    finally:
        if saved_cache is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = saved_cache
        shutil.rmtree(cache, ignore_errors=True)
    # the fusions' upsampling in isolation, shapes of one baseline forward
    res["upsampling"] = upsample_microbench(upsampling_calls(models["baseline"], x), device)
    gc.collect()
    _bench_train(res, models, x, input_size, device, batch, repeats, log)
    b, s = res["variants"]["baseline"], res["variants"]["sg"]
    res["settings"]["load_end"] = load_average()
    res["ratio"] = {k: s[k] / b[k] for k in ("params", "macs", "saved_activation_bytes", "eval_peak_bytes",
                                             "train_peak_bytes") if b[k]}
    res["ratio_range"] = {}
    for k, samples in (("eval_ms_per_img", "eval_samples_s"), ("train_ms_per_img", "train_samples_s")):
        res["ratio"][k], res["ratio_range"][k] = paired_ratio(s[samples], b[samples])
    return res


def _bench_eval(res: dict, models: dict, x: torch.Tensor, device: str, batch: int, repeats: int,
                use_compile: bool, log: Log) -> None:
    """Eval memory, each option's warm-up (compilation) and difference, then round-robin timing."""
    options: dict[str, list[EvalOption]] = {}
    refs = {}
    for v, m in models.items():
        options[v] = eval_options(m, use_compile)
        with PeakMemory(device) as mem:
            refs[v] = options[v][0](x)
        res["variants"][v]["eval_peak_bytes"] = mem.peak
        res["variants"][v]["memory_exact"] = mem.exact
        for opt in options[v]:
            entry = {"samples_s": []}
            try:
                t = seconds(lambda: opt(x), device)  # warm-up; for torch.compile: compilation
                if opt.name.startswith("torch.compile"):
                    entry["compile_s"] = t
                    log(f"{VARIANT_TITLES[v]}: {opt.name}, first call (compilation) {t:.1f} s")
                entry["max_rel_diff"] = max_rel_diff(refs[v], opt(x))
            except Exception as e:  # torch.compile may fail (no compiler, unsupported op)
                entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                log(f"{VARIANT_TITLES[v]}: {opt.name} failed: {entry['error']}")
            res["options"].setdefault(v, {})[opt.name] = entry
    log(f"eval timing: {repeats} rounds over {sum(len(o) for o in options.values())} (model, option) pairs")
    shares: list[float] = []
    for _ in range(repeats):
        for v in VARIANTS:
            for opt in options[v]:
                entry = res["options"][v][opt.name]
                if "error" not in entry:
                    entry["samples_s"].append(seconds(lambda: opt(x), device, shares))
    res["settings"]["cpu_share_eval"] = cpu_share(shares)
    for v in VARIANTS:
        plain = res["options"][v][options[v][0].name]["samples_s"]
        for entry in res["options"][v].values():
            if entry["samples_s"]:
                entry["ms_per_img"] = median_ms_per_img(entry["samples_s"], batch)
                entry["speedup"], entry["speedup_range"] = paired_ratio(plain, entry["samples_s"])
        res["variants"][v]["eval_ms_per_img"] = median_ms_per_img(plain, batch)
        res["variants"][v]["eval_samples_s"] = plain


def _bench_train(res: dict, models: dict, x: torch.Tensor, input_size: tuple[int, int], device: str,
                 batch: int, repeats: int, log: Log) -> None:
    """Saved activations, memory (the first step allocates the Adam state), one more warm-up step,
    then round-robin timing of the training step."""
    steps = {}
    for v, m in models.items():
        res["variants"][v]["saved_activation_bytes"] = saved_activation_bytes(m, x)
        steps[v] = make_train_step(m, batch, input_size, device)
        with PeakMemory(device) as mem:
            steps[v]()
        res["variants"][v]["train_peak_bytes"] = mem.peak
        steps[v]()
        res["variants"][v]["train_samples_s"] = []
    log(f"train timing: {repeats} rounds")
    shares: list[float] = []
    for _ in range(repeats):
        for v in VARIANTS:
            res["variants"][v]["train_samples_s"].append(seconds(steps[v], device, shares))
    res["settings"]["cpu_share_train"] = cpu_share(shares)
    for v in VARIANTS:
        res["variants"][v]["train_ms_per_img"] = median_ms_per_img(res["variants"][v]["train_samples_s"], batch)
