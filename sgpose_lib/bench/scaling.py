"""The scaling bench section: train step time of the baseline over widths x input sizes.

For each preset of SCALING_PRESETS and input size of SCALING_SIZES ((width, height), pixels),
batch SCALING_BATCH: multiply-adds per image and the training step's ms/img (median of up to
three steps after one warm-up), drawn as a log-log plot against the pixel count and the MACs.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable

from matplotlib.figure import Figure

from ..model import count_macs
from .models import bench_model, make_train_step
from .timing import cpu_share, load_average, median_ms_per_img, seconds, settings

SCALING_PRESETS = ("hrnet_small", "hrnet_w32", "hrnet_w48")
SCALING_SIZES = ((96, 128), (192, 256), (288, 384))  # (width, height)
SCALING_BATCH = 2


def bench_scaling(device: str, repeats: int, out: Path, log: Callable[[str], None] = print) -> dict:
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
            samples = [seconds(step, device, shares) for _ in range(r)]
            row = {"preset": preset, "input_hw": [size[1], size[0]], "macs": macs,
                   "train_ms_per_img": median_ms_per_img(samples, SCALING_BATCH), "samples_s": samples}
            res["rows"].append(row)
            log(f"scaling: {preset} {size[1]}x{size[0]}: {row['train_ms_per_img']:.0f} ms/img "
                f"({macs / 1e9:.2f} GMACs)")
    res["settings"]["load_end"] = load_average()
    res["settings"]["cpu_share_train"] = cpu_share(shares)
    res["figure"] = str(plot_scaling(res, out / "figures" / "bench_scaling.png"))
    return res


def plot_scaling(res: dict, path: Path) -> Path:
    """The log-log plot of a scaling result: ms/img vs input size per preset, and vs MACs."""
    fig = Figure(figsize=(9, 3.6))  # no pyplot: no backend or global figure state
    a, b = fig.subplots(1, 2)
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
    return path
