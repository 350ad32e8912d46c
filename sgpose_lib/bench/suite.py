"""`sgpose bench`: what the SGM costs and how fast the model runs, baseline and SG-HRNet side by side.

One run measures, for the baseline (no SGM) and the SG model (SGM at all four sites) of one preset:
parameters, multiply-adds, eval forward ms/img, train step ms/img (forward + the real loss shape:
keypoint MSE, plus lambda x seg BCE for SG, + backward + Adam step), peak memory, and SG / baseline
ratios. Then the inference options that change no results (inference_mode vs no_grad, channels_last,
BN folded into the convs, torch.compile) and the official HRNet upsampling path (nn.Upsample with
scale_factor instead of our F.interpolate with size=), each with its speed-up over plain eager and its
largest output difference; torch.compile's compilation is timed apart, from an empty inductor cache.
Then, with the embedded data prepared, each track's training data pipeline (samples/s at 0, 1, 2
DataLoader workers) beside the `cpu` profile's train step, alone and fed by the loader.
`scaling=True` instead times a train step over widths x input sizes and draws a log-log plot.

Timing: every measurement is warmed up, then `repeats` timed calls; the options of both models are
timed round-robin (one call of each per round), so that a slow phase of a shared machine hits them
all alike. Times are medians; ratios of times (SG / baseline, speed-ups) are the median and range of
the ratio within each round. Wall-clock, with torch.cuda.synchronize() on CUDA. On CPU the report
gives the timed calls' CPU share (process CPU time / (wall x threads)): below ~0.9, other processes
took the cores and the times are inflated. Models use the official init with non-trivial BN
statistics and affine parameters (as after training), so that folding BN is not a no-op; speed
does not depend on the weights' values.

Outputs: `<out>/bench_<device>.json` (every sample) and `<out>/bench_<device>.md`, re-rendered from the
JSON; a scaling run updates the `scaling` section and keeps the main one, and the reverse.
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
import datetime
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import SGM_SITES, LossConfig, ModelConfig
from ..errors import ConfigError, SgposeError
from ..losses import joints_mse_loss, seg_bce_loss
from ..model import build_model, count_macs, count_parameters
from ..model import hrnet as hrnet_module
from ..model.fuse import prepare_for_inference

VARIANTS = ("baseline", "sg")
VARIANT_TITLES = {"baseline": "baseline", "sg": "SG (" + ", ".join(SGM_SITES) + ")"}
LAMBDA = LossConfig().lam
SCALING_PRESETS = ("hrnet_small", "hrnet_w32", "hrnet_w48")
SCALING_SIZES = ((96, 128), (192, 256), (288, 384))  # (width, height)
SCALING_BATCH = 2
MIB = 2 ** 20


# ------------------------------------------------------------------------------------ measurement
def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _seconds(fn: Callable[[], object], device: str, shares: list | None = None) -> float:
    """Wall-clock seconds of fn(). With `shares`, also appends this process' CPU time over
    (wall time x torch threads): ~1 when it had its cores, lower when other processes took them."""
    _sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    _sync(device)
    wall = time.perf_counter() - t0
    if shares is not None:
        shares.append((time.process_time() - c0) / (wall * torch.get_num_threads()))
    return wall


def _share(shares: list[float]) -> float | None:
    return round(statistics.median(shares), 3) if shares else None


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
    if device == "cuda":
        return ("torch.cuda.max_memory_allocated during the phase minus the memory "
                "allocated before it (tensors only: activations, gradients, Adam state; not the weights)")
    return ("peak resident set size of the process during the phase (getrusage "
            "ru_maxrss, high-water mark reset through /proc/self/clear_refs) minus the resident size "
            "before it: activations, gradients and Adam state plus allocator and oneDNN scratch "
            "memory, not the weights; an OS-level number, not a count of tensor bytes")


def _median_ms_per_img(samples: list[float], batch: int) -> float:
    return 1000 * statistics.median(samples) / batch


# ------------------------------------------------------------------------------------------ models
def bench_model(preset: str, sgm: bool, device: str, num_joints: int = 17, seed: int = 0) -> nn.Module:
    """The baseline (sgm=False) or SG model (all four sites) of `preset`, official init with
    trained-looking BN statistics and affine parameters, on `device`."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(preset=preset, num_joints=num_joints,
                                    sgm_sites=SGM_SITES if sgm else ()))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
    return model.to(device)


def _train_batch(batch: int, input_size: tuple[int, int], num_joints: int, device: str):
    """A random (image, heatmaps, target weight, seg target) batch of the training shapes."""
    w, h = input_size
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, h, w, generator=g)
    heatmaps = torch.rand(batch, num_joints, h // 4, w // 4, generator=g)
    weight = torch.ones(batch, num_joints)
    seg = (torch.rand(batch, h // 4, w // 4, generator=g) > 0.8).float()
    return [t.to(device) for t in (x, heatmaps, weight, seg)]


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, t_heatmaps: torch.Tensor,
               t_weight: torch.Tensor, t_seg: torch.Tensor) -> float:
    """One training step as `sgpose train` does: forward, L_key (+ lambda * L_seg with SGM),
    backward, Adam step; returns the loss."""
    heatmaps, seg = model(x)
    loss = joints_mse_loss(heatmaps, t_heatmaps, t_weight)
    if seg:
        loss = loss + LAMBDA * seg_bce_loss(seg, t_seg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def make_train_step(model: nn.Module, batch: int, input_size: tuple[int, int], device: str,
                    channels_last: bool = False) -> Callable[[], float]:
    """A closure doing one train_step of `model` (put in train mode, and in channels_last memory
    order if asked, as `train.channels_last`) on a fixed random batch."""
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t_heatmaps, t_weight, t_seg = _train_batch(batch, input_size, model.num_joints, device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return lambda: train_step(model, optimizer, x, t_heatmaps, t_weight, t_seg)


# ---------------------------------------------------------------- the official upsampling path
class _OfficialFunctional(types.SimpleNamespace):
    """torch.nn.functional as hrnet.py sees it, except that F.interpolate(z, size=...) runs the
    official nn.Upsample(scale_factor=2**k, mode="nearest"); calls are recorded in `record`."""

    def __init__(self, record: list | None = None):
        super().__init__(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
        upsamplers: dict[int, nn.Upsample] = {}

        def interpolate(z, size=None, scale_factor=None, mode="nearest", **kwargs):
            if size is None or scale_factor is not None or mode != "nearest":
                return F.interpolate(z, size, scale_factor, mode, **kwargs)
            k, rem = divmod(size[-1], z.shape[-1])
            if rem or size[-2] != z.shape[-2] * k:
                raise ValueError(f"official upsampling: {tuple(z.shape)} -> {tuple(size)} is not an "
                                 "integer factor")
            if record is not None:
                record.append((tuple(z.shape), k))
            up = upsamplers.setdefault(k, nn.Upsample(scale_factor=k, mode="nearest"))
            return up(z)
        self.interpolate = interpolate


@contextlib.contextmanager
def official_upsampling(record: list | None = None):
    """Within the block, the HRNet fusions upsample like the official code (nn.Upsample with
    scale_factor=2**k) instead of F.interpolate(size=...); hrnet.py itself is untouched."""
    saved = hrnet_module.F
    hrnet_module.F = _OfficialFunctional(record)
    try:
        yield
    finally:
        hrnet_module.F = saved


def upsample_microbench(calls: list[tuple[tuple[int, ...], int]], device: str, n: int = 20) -> dict:
    """Each fusion upsampling of one forward, in isolation: F.interpolate(size=) vs
    nn.Upsample(scale_factor=), median of `n` calls, summed over the forward's calls."""
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
                    samples[name].append(_seconds(fn, device))
            row = {"shape": list(shape), "factor": k, "count": count}
            for name in fns:
                row[f"{name}_us"] = 1e6 * statistics.median(samples[name])
                total[name] += count * row[f"{name}_us"]
            rows.append(row)
    return {"calls": rows, "total_us": total}


# ------------------------------------------------------------------------------- eval options
@dataclass
class EvalOption:
    name: str
    model: nn.Module | Callable
    channels_last: bool = False
    inference_mode: bool = True
    official_upsampling: bool = False

    def __call__(self, x: torch.Tensor):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        grad = torch.inference_mode() if self.inference_mode else torch.no_grad()
        ups = official_upsampling() if self.official_upsampling else contextlib.nullcontext()
        with grad, ups:
            return self.model(x)


def eval_options(model: nn.Module, use_compile: bool) -> list[EvalOption]:
    """The eval-time variants of `model` (the first, plain eager under inference_mode, is the
    reference). torch.compile is added by the caller, which times its compilation."""
    plain = copy.deepcopy(model).eval()
    options = [
        EvalOption("eager, inference_mode (reference)", plain),
        EvalOption("eager, no_grad instead of inference_mode", plain, inference_mode=False),
        EvalOption("channels_last", prepare_for_inference(model, channels_last=True), channels_last=True),
        EvalOption("BN folded into conv", prepare_for_inference(model, fuse_bn=True)),
        EvalOption("BN folded + channels_last",
                   prepare_for_inference(model, channels_last=True, fuse_bn=True), channels_last=True),
        EvalOption("official upsampling (nn.Upsample scale_factor)", plain, official_upsampling=True),
    ]
    if use_compile:
        options.append(EvalOption("torch.compile (default mode)", torch.compile(plain)))
    return options


def _max_rel_diff(ref, out) -> float:
    """Largest |out - ref| over heatmaps and SGM logits, relative to the largest |ref|."""
    (h0, s0), (h1, s1) = ref, out
    pairs = [(h0, h1)] + list(zip(s0, s1))
    scale = max(float(a.abs().max()) for a, _ in pairs) or 1.0
    return max(float((a.float() - b.float()).abs().max()) for a, b in pairs) / scale


# ------------------------------------------------------------------------------------- settings
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> float | None:
    """1-minute load average: other processes' demand for the CPUs (it inflates CPU timings)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def settings(device: str, **extra) -> dict:
    s = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device,
         "torch": torch.__version__, "python": platform.python_version(),
         "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
         "cpu": _cpu_name(), "logical_cpus": os.cpu_count(), "load_start": _load(), **extra}
    if device == "cuda":
        s["gpu"] = torch.cuda.get_device_name()
    return s


def _check(preset_input: tuple[int, int], device: str) -> None:
    w, h = preset_input
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise ConfigError(f"--input: {h}x{w} (height x width) must be positive multiples of 32")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device: {device!r} is not 'cpu' or 'cuda'")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available to torch")


# ------------------------------------------------------------------------------------ main bench
def bench_main(preset: str, input_size: tuple[int, int], device: str, batch: int, repeats: int,
               use_compile: bool = True, log=print) -> dict:
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
        return _bench_main(res, models, x, input_size, device, batch, repeats, use_compile, log)
    finally:
        if saved_cache is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = saved_cache
        shutil.rmtree(cache, ignore_errors=True)


def _bench_main(res: dict, models: dict, x: torch.Tensor, input_size: tuple[int, int],
                device: str, batch: int, repeats: int, use_compile: bool, log) -> dict:
    options: dict[str, list[EvalOption]] = {}
    refs, record = {}, []
    for v, m in models.items():
        options[v] = eval_options(m, use_compile)
        with PeakMemory(device) as mem:
            refs[v] = options[v][0](x)
        res["variants"][v]["eval_peak_bytes"] = mem.peak
        res["variants"][v]["memory_exact"] = mem.exact
        for opt in options[v]:
            entry = {"samples_s": []}
            try:
                t = _seconds(lambda: opt(x), device)  # warm-up; for torch.compile: compilation
                if opt.name.startswith("torch.compile"):
                    entry["compile_s"] = t
                    log(f"{VARIANT_TITLES[v]}: torch.compile, first call (compilation) {t:.1f} s")
                entry["max_rel_diff"] = _max_rel_diff(refs[v], opt(x))
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
                    entry["samples_s"].append(_seconds(lambda: opt(x), device, shares))
    res["settings"]["cpu_share_eval"] = _share(shares)
    for v in VARIANTS:
        plain = res["options"][v][options[v][0].name]["samples_s"]
        for entry in res["options"][v].values():
            if entry["samples_s"]:
                entry["ms_per_img"] = _median_ms_per_img(entry["samples_s"], batch)
                entry["speedup"], entry["speedup_range"] = paired_ratio(plain, entry["samples_s"])
        res["variants"][v]["eval_ms_per_img"] = _median_ms_per_img(plain, batch)
        res["variants"][v]["eval_samples_s"] = plain

    # the fusions' upsampling in isolation, shapes of one baseline forward
    with torch.inference_mode(), official_upsampling(record):
        models["baseline"].eval()(x)
    res["upsampling"] = upsample_microbench(record, device)
    del options, refs
    gc.collect()

    # train step: saved activations, memory (first step, allocates Adam state), one more warm-up,
    # round-robin timing
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
    shares = []
    for _ in range(repeats):
        for v in VARIANTS:
            res["variants"][v]["train_samples_s"].append(_seconds(steps[v], device, shares))
    res["settings"]["cpu_share_train"] = _share(shares)
    for v in VARIANTS:
        res["variants"][v]["train_ms_per_img"] = _median_ms_per_img(res["variants"][v]["train_samples_s"], batch)
    b, s = res["variants"]["baseline"], res["variants"]["sg"]
    res["settings"]["load_end"] = _load()
    res["ratio"] = {k: s[k] / b[k] for k in ("params", "macs", "saved_activation_bytes", "eval_peak_bytes",
                                             "train_peak_bytes") if b[k]}
    res["ratio_range"] = {}
    for k, samples in (("eval_ms_per_img", "eval_samples_s"), ("train_ms_per_img", "train_samples_s")):
        res["ratio"][k], res["ratio_range"][k] = paired_ratio(s[samples], b[samples])
    return res


def paired_ratio(num: list[float], den: list[float]) -> tuple[float, list[float]]:
    """Median and range over the round-robin rounds of num[i] / den[i]: robust to a machine
    that speeds up or slows down between rounds, which a ratio of medians is not."""
    ratios = [a / b for a, b in zip(num, den)]
    return statistics.median(ratios), [min(ratios), max(ratios)]


# ---------------------------------------------------------------------------------- data section
def _find_params() -> Path | None:
    for p in (Path("params.yaml"), Path(__file__).resolve().parents[1] / "params.yaml"):
        if p.is_file():
            return p
    return None


def bench_data(device: str, repeats: int, log=print, max_batches: int = 12) -> dict:
    """For each track of the `cpu` profile: the training data pipeline's samples/s (decode + affine
    warp + targets + collate; DataLoader with 0, 1, 2 workers) beside the profile's train step alone
    and fed by the loader; {"available": False, "reason"} when no track's data can be loaded."""
    try:
        from ..config import TRACKS, load_config
        from ..data import build_dataset
        params = _find_params()
        if params is None:
            raise ConfigError("params.yaml not found")
        load_config("cpu", params)
    except (ImportError, SgposeError, OSError) as e:
        reason = f"{type(e).__name__}: {e}"
        log(f"data pipeline not available ({reason})")
        return {"available": False, "reason": reason}
    res: dict = {"available": False, "profile": "cpu", "tracks": {}}
    for track in TRACKS:
        try:
            cfg = load_config("cpu", params, track=track, variant="baseline")
            dataset = build_dataset(cfg, "train")
        except (ImportError, SgposeError, OSError) as e:
            reason = f"{type(e).__name__}: {e}"
            log(f"data pipeline of the {track} track not available ({reason})")
            res["tracks"][track] = {"available": False, "reason": reason}
            continue
        res["tracks"][track] = _bench_track(cfg, dataset, device, repeats, log, max_batches)
        res["available"] = True
    if not res["available"]:
        res["reason"] = "; ".join(f"{t}: {r['reason']}" for t, r in res["tracks"].items())
    return res


def _bench_track(cfg, dataset, device: str, repeats: int, log, max_batches: int) -> dict:
    from torch.utils.data import DataLoader
    dataset.set_epoch(0)
    batch, (w, h), cl = cfg.train.batch_size, cfg.data.input_size, cfg.train.channels_last
    n = max(2, min(max_batches, len(dataset) // batch))
    res = {"available": True, "preset": cfg.model.preset, "input_hw": [h, w], "batch": batch,
           "channels_last": cl, "batches": n, "samples": len(dataset), "profile_workers": cfg.data.workers,
           "loader": {}, "train": {}, "end_to_end": {}}

    def loader(workers: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                          generator=torch.Generator().manual_seed(0))

    for workers in (0, 1, 2):
        t0 = time.perf_counter()
        it = iter(loader(workers))
        next(it)
        t1 = time.perf_counter()
        for _ in range(n - 1):
            next(it)
        t2 = time.perf_counter()
        del it
        res["loader"][workers] = {"first_batch_s": t1 - t0, "samples_per_s": (n - 1) * batch / (t2 - t1)}
        log(f"data, {cfg.data.track}: {workers} workers: {res['loader'][workers]['samples_per_s']:.0f} samples/s")
    for v in VARIANTS:
        model = bench_model(cfg.model.preset, v == "sg", device, cfg.model.num_joints)
        step = make_train_step(model, batch, (w, h), device, channels_last=cl)
        step()
        samples = [_seconds(step, device) for _ in range(repeats)]
        res["train"][v] = {"samples_per_s": batch / statistics.median(samples), "samples_s": samples}
        # the real loop: the loader with the profile's workers feeding the same train step
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        t0, it = None, iter(loader(cfg.data.workers))
        for k in range(n):
            b = next(it)
            if k == 1:  # from the second batch on: workers started, first step done
                _sync(device)
                t0 = time.perf_counter()
            x = b["image"].to(device)
            train_step(model, optimizer, x.contiguous(memory_format=torch.channels_last) if cl else x,
                       b["heatmaps"].to(device), b["target_weight"].to(device), b["seg"].to(device))
        _sync(device)
        del it
        res["end_to_end"][v] = {"samples_per_s": (n - 1) * batch / (time.perf_counter() - t0)}
        log(f"data, {cfg.data.track}: {v} train step {res['train'][v]['samples_per_s']:.0f} img/s, fed by the "
            f"loader ({cfg.data.workers} workers) {res['end_to_end'][v]['samples_per_s']:.0f} img/s")
    return res


# ---------------------------------------------------------------------------------- scaling
def bench_scaling(device: str, repeats: int, out: Path, log=print) -> dict:
    """Train step ms/img of the baseline over SCALING_PRESETS x SCALING_SIZES, batch SCALING_BATCH,
    one warm-up and min(repeats, 3) timed steps each; draws `<out>/figures/bench_scaling.png`."""
    r = max(1, min(repeats, 3))
    res = {"settings": settings(device, batch=SCALING_BATCH, repeats=r, variant="baseline"), "rows": []}
    shares: list[float] = []
    for preset in SCALING_PRESETS:
        for size in SCALING_SIZES:
            model = bench_model(preset, False, device)
            macs = count_macs(model, size)
            step = make_train_step(model, SCALING_BATCH, size, device)
            step()
            samples = [_seconds(step, device, shares) for _ in range(r)]
            row = {"preset": preset, "input_hw": [size[1], size[0]], "macs": macs,
                   "train_ms_per_img": _median_ms_per_img(samples, SCALING_BATCH), "samples_s": samples}
            res["rows"].append(row)
            log(f"scaling: {preset} {size[1]}x{size[0]}: {row['train_ms_per_img']:.0f} ms/img "
                f"({macs / 1e9:.2f} GMACs)")
    res["settings"]["load_end"] = _load()
    res["settings"]["cpu_share_train"] = _share(shares)
    res["figure"] = str(plot_scaling(res, out / "figures" / "bench_scaling.png"))
    return res


def plot_scaling(res: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for preset in SCALING_PRESETS:
        rows = [r for r in res["rows"] if r["preset"] == preset]
        px = [r["input_hw"][0] * r["input_hw"][1] for r in rows]
        a.loglog(px, [r["train_ms_per_img"] for r in rows], "o-", label=preset)
        b.loglog([r["macs"] / 1e9 for r in rows], [r["train_ms_per_img"] for r in rows], "o", label=preset)
    sizes = sorted({tuple(r["input_hw"]) for r in res["rows"]})
    a.set_xticks([h * w for h, w in sizes], [f"{h}x{w}" for h, w in sizes], minor=False)
    a.set_xticks([], minor=True)
    a.set_xlabel("input size (height x width; log of the pixel count)")
    macs = sorted(r["macs"] / 1e9 for r in res["rows"])
    per_gmac = statistics.median(r["train_ms_per_img"] / (r["macs"] / 1e9) for r in res["rows"])
    b.loglog([macs[0], macs[-1]], [per_gmac * macs[0], per_gmac * macs[-1]], "k--", lw=0.8,
             label="time proportional to MACs")
    b.legend(fontsize=8)
    b.set_xlabel("multiply-adds per image (G)")
    for ax in (a, b):
        ax.set_ylabel("train step, ms/img")
        ax.grid(True, which="both", alpha=0.3)
    a.legend()
    s = res["settings"]
    fig.suptitle(f"Train step time, baseline HRNet, batch {s['batch']}, {s['device']}, "
                 f"{s['threads']} threads, torch {s['torch']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------- profile
def bench_ops(preset: str, input_size: tuple[int, int], device: str, batch: int, steps: int = 3,
              channels_last: bool = False, bf16: bool = False, rows: int = 15, log=print) -> dict:
    """Where the time of an SG train step goes: torch.profiler over `steps` train steps (after two
    warm-up steps) of the SG model, ops sorted by self time on `device` (CUDA kernels on a GPU, CPU
    time otherwise). Returns the `rows` top ops with self ms per step, share and calls per step."""
    from torch.profiler import ProfilerActivity, profile
    model = bench_model(preset, True, device)
    step = make_train_step(model, batch, input_size, device, channels_last)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)
    for _ in range(2):
        with autocast:
            step()
    _sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with autocast:
                step()
        _sync(device)
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


def _ops_lines(ops: dict) -> list[str]:
    s = ops["settings"]
    h, w = s["input_hw"]
    kind = "GPU kernel" if s["device"] == "cuda" else "CPU"
    lines = [f"## Where the time goes: torch.profiler, SG train step, {s['model']} {h}x{w}, batch {s['batch']}",
             "", f"Device {s['device']}, torch {s['torch']}, {s['threads']} threads"
             f"{', channels_last' if s['channels_last'] else ''}{', bf16 autocast' if s['bf16'] else ''}; "
             f"{s['steps']} profiled steps after 2 warm-up steps; ops by {kind} self time "
             f"({ops['total_ms_per_step']:.1f} ms per step in all).", "",
             "| op | self ms / step | share | calls / step |", "|---|---:|---:|---:|"]
    lines += [f"| `{o['op']}` | {_ms(o['self_ms_per_step'])} | {100 * o['share']:.1f} % | "
              f"{o['calls_per_step']:.0f} |" for o in ops["ops"]]
    return lines + [""]


# ------------------------------------------------------------------------------------- report
def _ms(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def _mib(b: float) -> str:
    return f"{b / MIB:,.0f}"


def render_markdown(result: dict) -> str:
    """The Markdown report of a bench result (the JSON's content)."""
    device = result.get("device", "cpu")
    lines = [f"# `sgpose bench` on {device}", "",
             "Generated by `sgpose bench` (sgpose_lib/bench/suite.py); every sample is in the JSON beside "
             "this file. Times are medians of the timed repeats after warm-up, per image.", ""]
    main = result.get("main")
    if main:
        s, v, ratio = main["settings"], main["variants"], main["ratio"]
        b, g = v["baseline"], v["sg"]
        h, w = s["input_hw"]
        lines += [f"## Baseline vs SG-HRNet: {s['model']}, input {h}x{w} (height x width), batch {s['batch']}",
                  "", _settings_line(s), "",
                  f"| | {VARIANT_TITLES['baseline']} | {VARIANT_TITLES['sg']} | SG / baseline |",
                  "|---|---:|---:|---:|",
                  f"| parameters | {b['params']:,} | {g['params']:,} | {ratio['params']:.4f} |",
                  f"| multiply-adds per image (G, 1e9) | {b['macs'] / 1e9:.3f} | {g['macs'] / 1e9:.3f} | "
                  f"{ratio['macs']:.4f} |",
                  f"| eval forward, ms/img (eager, inference_mode) | {_ms(b['eval_ms_per_img'])} | "
                  f"{_ms(g['eval_ms_per_img'])} | {_ratio(main, 'eval_ms_per_img')} |",
                  f"| train step, ms/img (forward + loss + backward + Adam) | {_ms(b['train_ms_per_img'])} | "
                  f"{_ms(g['train_ms_per_img'])} | {_ratio(main, 'train_ms_per_img')} |",
                  f"| activations saved for backward (MiB, exact tensor bytes) | "
                  f"{_mib(b.get('saved_activation_bytes', float('nan')))} | "
                  f"{_mib(g.get('saved_activation_bytes', float('nan')))} | "
                  f"{ratio.get('saved_activation_bytes', float('nan')):.3f} |",
                  f"| peak memory, train step (MiB) | {_mib(b['train_peak_bytes'])} | "
                  f"{_mib(g['train_peak_bytes'])} | {ratio.get('train_peak_bytes', float('nan')):.3f} |",
                  f"| peak memory, eval forward (MiB) | {_mib(b['eval_peak_bytes'])} | "
                  f"{_mib(g['eval_peak_bytes'])} | {ratio.get('eval_peak_bytes', float('nan')):.3f} |",
                  "", "Times: median over the timed rounds; time ratios (SG / baseline here, speed-ups "
                  "below): median and range over the rounds of the ratio within each round (the models and "
                  "options are timed round-robin). "
                  f"MACs: multiply-adds of the convolutions for one image (the field's 'GFLOPs'), "
                  f"1 G = 1e9. Loss of the train step: keypoint MSE (+ {LAMBDA} x seg BCE over the 4 maps "
                  f"for SG). Peak memory: {s['memory']}.", "",
                  f"### Inference options (eval forward, batch {s['batch']})", "",
                  "Each option is meant to change no results: `max rel. diff` is the largest difference "
                  "of heatmaps and SGM logits from the reference, relative to the largest reference value"
                  + (" (on CUDA, convolutions run in TF32 by default, torch.backends.cudnn.allow_tf32, "
                     "so differences of ~1e-4 are TF32 rounding, not the option)." if device == "cuda" else "."),
                  "", "| option | baseline ms/img | speed-up | max rel. diff | SG ms/img | speed-up | "
                  "max rel. diff |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name in main["options"]["baseline"]:
            cells = []
            for var in VARIANTS:
                e = main["options"][var].get(name, {})
                if "ms_per_img" in e:
                    lo, hi = e.get("speedup_range", (e["speedup"], e["speedup"]))
                    cells += [_ms(e['ms_per_img']), f"{e['speedup']:.2f}x ({lo:.2f}-{hi:.2f})",
                              f"{e['max_rel_diff']:.1e}"]
                else:
                    cells += ["failed: " + e.get("error", "not run"), "", ""]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        for var in VARIANTS:
            e = next((e for n, e in main["options"][var].items() if n.startswith("torch.compile")), None)
            if e and "compile_s" in e:
                lines.append(f"- torch.compile of {VARIANT_TITLES[var]}: first call (compilation) "
                             f"{e['compile_s']:.1f} s, measured apart from the timed calls"
                             + (", starting from an empty inductor cache." if var == "baseline" else
                                ", after the baseline's (it reuses the kernels they share)."))
        lines += ["- Spread: the timed repeats of each option are in the JSON (`samples_s`); "
                  "ranges of the reference: " + "; ".join(
                      f"{var} {_range(main['options'][var], main['settings']['batch'])}" for var in VARIANTS),
                  ""] + _upsampling_lines(main) + [""]
    data = result.get("data")
    if data is not None:
        lines += ["## Data pipeline vs training throughput", ""]
        if not data.get("available"):
            lines += [f"data pipeline not available ({data.get('reason', 'not run')})", ""]
        else:
            lines += _data_lines(data)
    if result.get("ops"):
        lines += _ops_lines(result["ops"])
    sc = result.get("scaling")
    if sc:
        s = sc["settings"]
        sizes = sorted({tuple(r["input_hw"]) for r in sc["rows"]})
        lines += ["## Scaling: train step time vs width and input size", "", _settings_line(s), "",
                  f"Baseline model, batch {s['batch']}, median of {s['repeats']} steps after one warm-up; "
                  "ms/img (GMACs/img).", "",
                  "| preset | " + " | ".join(f"{hh}x{ww}" for hh, ww in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for preset in dict.fromkeys(r["preset"] for r in sc["rows"]):
            cells = {tuple(r["input_hw"]): r for r in sc["rows"] if r["preset"] == preset}
            lines.append(f"| {preset} | " + " | ".join(
                f"{_ms(cells[k]['train_ms_per_img'])} ({cells[k]['macs'] / 1e9:.2f})" if k in cells else ""
                for k in sizes) + " |")
        lines += ["", "![train step time vs input size and width](figures/bench_scaling.png)", ""]
    return "\n".join(lines)


def _ratio(main: dict, key: str) -> str:
    lo, hi = main.get("ratio_range", {}).get(key, (main["ratio"][key],) * 2)
    return f"{main['ratio'][key]:.3f} ({lo:.2f}-{hi:.2f})"


def _settings_line(s: dict) -> str:
    dev = f"GPU {s['gpu']}, " if "gpu" in s else ""
    return (f"Settings: {s['date']}, device {s['device']}, {dev}CPU {s['cpu']} ({s['logical_cpus']} logical "
            f"CPUs), torch {s['torch']}, torch.get_num_threads() = {s['threads']}, "
            f"python {s['python']}" + (f", repeats {s['repeats']}" if "repeats" in s else "") +
            f"; 1-minute load average {s.get('load_start')} at the start, {s.get('load_end')} at the end"
            + _share_text(s) + ".")


def _share_text(s: dict) -> str:
    """The CPU share of the timed calls (see _seconds): how much other processes interfered."""
    if s.get("device") != "cpu":
        return ""
    parts = [f"{phase} {s[k]:.2f}" for phase, k in (("eval", "cpu_share_eval"), ("train", "cpu_share_train"))
             if s.get(k) is not None]
    if not parts:
        return ""
    low = min(s[k] for k in ("cpu_share_eval", "cpu_share_train") if s.get(k) is not None) < 0.9
    return ("; CPU share of the timed calls (process CPU time / (wall time x threads), median) "
            + ", ".join(parts) + (" — below 0.9: other processes took CPU time, so the times are "
                                  "inflated and noisy" if low else " (the cores were this process')"))


def _range(options: dict, batch: int) -> str:
    samples = next(iter(options.values()))["samples_s"]
    return f"{_ms(1000 * min(samples) / batch)}-{_ms(1000 * max(samples) / batch)} ms/img"


def _upsampling_lines(main: dict) -> list[str]:
    name = next(n for n in main["options"]["baseline"] if n.startswith("official upsampling"))
    lines = ["### Ours (F.interpolate size=) vs the official upsampling path (nn.Upsample scale_factor=)", ""]
    for var in VARIANTS:
        e = main["options"][var].get(name, {})
        if "ms_per_img" in e:
            ours = main["options"][var][next(iter(main["options"][var]))]
            r = upsampling_verdict(ours["samples_s"], e["samples_s"])
            lines.append(f"- Full model, {VARIANT_TITLES[var]}: ours {_ms(ours['ms_per_img'])} ms/img, official "
                         f"path {_ms(e['ms_per_img'])} ms/img; official / ours time per round: median "
                         f"{r['median']:.3f} (range {r['min']:.3f}-{r['max']:.3f}): ours is {r['verdict']}; "
                         f"same outputs (max rel. diff {e['max_rel_diff']:.1e}).")
    u = main.get("upsampling")
    if u:
        t = u["total_us"]
        lines += [f"- In isolation, the {sum(c['count'] for c in u['calls'])} upsamplings of one baseline "
                  f"forward (batch {main['settings']['batch']}), median of 20 calls each: size= "
                  f"{t['size']:.0f} us, scale_factor= {t['scale_factor']:.0f} us per forward "
                  f"({_pct_of_forward(t, main):.2f} % of the eager forward); both run the same "
                  "upsample_nearest2d kernel.", "",
                  "| input shape | factor | calls per forward | size= (us) | scale_factor= (us) |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {tuple(c['shape'])} | {c['factor']} | {c['count']} | {c['size_us']:.1f} | "
                  f"{c['scale_factor_us']:.1f} |" for c in u["calls"]]
    return lines


def upsampling_verdict(ours_s: list[float], official_s: list[float]) -> dict:
    """Paired comparison of the round-robin rounds: ratio official / ours of each round's time
    (> 1: ours faster). "at least as fast" if the median ratio is >= 1; "as fast within noise" if
    below 1 but some round had ours ahead; else "slower"."""
    ratios = [o / u for o, u in zip(official_s, ours_s)]
    med, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
    verdict = ("at least as fast" if med >= 1 else "as fast within noise (the rounds disagree)"
               if hi >= 1 else "slower")
    return {"median": med, "min": lo, "max": hi, "verdict": verdict}


def _pct_of_forward(total_us: dict, main: dict) -> float:
    forward_us = 1000 * main["variants"]["baseline"]["eval_ms_per_img"] * main["settings"]["batch"]
    return 100 * total_us["size"] / forward_us


def _workers(n: int) -> str:
    return f"{n} worker" + ("" if n == 1 else "s")


def _data_lines(data: dict) -> list[str]:
    lines = [f"Profile `{data['profile']}`, each track's training set; loader rates over the batches after "
             "the first (decode + affine warp + targets + collate, shuffled), start-up = time to the first "
             "batch; the train step as in the main table, with the profile's memory format; 'fed by the "
             "loader' = the real loop, the loader with the profile's worker count feeding the train step.", ""]
    for track, d in data["tracks"].items():
        if not d.get("available"):
            lines += [f"### {track} track", "", f"data pipeline not available ({d.get('reason')})", ""]
            continue
        h, w = d["input_hw"]
        workers = d["profile_workers"]
        lines += [f"### {track} track: {d['preset']}, input {h}x{w} (height x width), batch {d['batch']}"
                  f"{', channels_last' if d['channels_last'] else ''}, {d['samples']} samples", "",
                  "| DataLoader workers | samples/s | start-up (s) |", "|---:|---:|---:|"]
        lines += [f"| {k} | {e['samples_per_s']:.0f} | {e['first_batch_s']:.2f} |" for k, e in d["loader"].items()]
        lines += ["", f"| model | train step alone, img/s | fed by the loader ({_workers(workers)}), img/s |",
                  "|---|---:|---:|"]
        lines += [f"| {VARIANT_TITLES[v]} | {d['train'][v]['samples_per_s']:.0f} | "
                  f"{d['end_to_end'][v]['samples_per_s']:.0f} |" for v in VARIANTS]
        supply = d["loader"][str(workers) if str(workers) in d["loader"] else workers]["samples_per_s"]
        need = max(d["train"][v]["samples_per_s"] for v in VARIANTS)
        kept = [100 * d["end_to_end"][v]["samples_per_s"] / d["train"][v]["samples_per_s"] for v in VARIANTS]
        verdict = ("not data-bound: the loader alone delivers more samples/s than the model trains"
                   if supply > need else "data-bound: the model trains faster than the loader delivers")
        lines += ["", f"Verdict: {verdict} ({supply:.0f} samples/s with {_workers(workers)} vs {need:.0f} img/s); "
                  f"fed by the loader the loop keeps {kept[0]:.0f} % (baseline) and {kept[1]:.0f} % (SG) of "
                  "the train step's rate (the workers and the model's threads share the cores).", ""]
    return lines


def write_report(out: Path, device: str, sections: dict) -> tuple[Path, Path]:
    """Merge `sections` into `<out>/bench_<device>.json` and re-render `<out>/bench_<device>.md`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"bench_{device}.json", out / f"bench_{device}.md"
    result = {"device": device}
    if json_path.is_file():
        try:
            old = json.loads(json_path.read_text())
        except ValueError:
            old = None
        if not (isinstance(old, dict) and old.get("device") == device
                and any(k in old for k in ("main", "data", "scaling", "ops"))):
            raise ConfigError(f"{json_path}: exists and was not written by `sgpose bench`; "
                              "not overwritten (choose another --out)")
        result.update(old)
    elif md_path.is_file() and not md_path.read_text().startswith("# `sgpose bench`"):
        raise ConfigError(f"{md_path}: exists and was not written by `sgpose bench`; not overwritten "
                          "(choose another --out)")
    result.update(sections)
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(json_path)
    md_path.write_text(render_markdown(result))
    return md_path, json_path


def run_bench(model: str, input_size: tuple[int, int], device: str, batch: int, out: str, repeats: int,
              scaling: bool = False, threads: int = 0, compile: bool = True, data: bool = True,
              ops: bool = False) -> dict:
    """`sgpose bench`: baseline vs SG of preset `model` at input_size = (width, height), `batch`
    images, `repeats` timed calls; writes `<out>/bench_<device>.md` and `.json` and returns the result.

    scaling=True runs the scaling study (train step over SCALING_PRESETS x SCALING_SIZES, batch
    SCALING_BATCH) with `<out>/figures/bench_scaling.png`, ops=True the torch.profiler top ops of an
    SG train step (bench_ops); either runs instead of the main and data sections and is merged into
    the existing report. threads > 0 sets torch.set_num_threads; compile=False skips torch.compile;
    data=False skips the data section."""
    from ..model import PRESETS
    if model not in PRESETS:
        raise ConfigError(f"--model: {model!r} is not one of {sorted(PRESETS)}")
    _check(input_size, device)
    if batch <= 0 or repeats <= 0:
        raise ConfigError("--batch and --repeats must be > 0")
    if threads > 0:
        torch.set_num_threads(threads)
    out_dir = Path(out)
    print(f"sgpose bench: device {device}, torch {torch.__version__}, "
          f"torch.get_num_threads() = {torch.get_num_threads()}, CPU {_cpu_name()}", flush=True)
    load = _load()
    if device == "cpu" and load is not None and load > 1.0:
        print(f"warning: 1-minute load average {load}: other processes use (or just used) the CPUs; "
              "CPU timings are inflated while they run (see the CPU share in the report)", flush=True)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    sections = {}
    if scaling:
        sections["scaling"] = bench_scaling(device, repeats, out_dir, log)
    if ops:
        sections["ops"] = bench_ops(model, input_size, device, batch, log=log)
    if not sections:
        sections["main"] = bench_main(model, input_size, device, batch, repeats, compile, log)
        sections["data"] = (bench_data(device, repeats, log) if data else
                            {"available": False, "reason": "skipped (data=False)"})
    md_path, json_path = write_report(out_dir, device, sections)
    text = md_path.read_text()
    print(text)
    print(f"wrote {md_path} and {json_path}")
    return json.loads(json_path.read_text())
