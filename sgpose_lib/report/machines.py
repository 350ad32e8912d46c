"""What each run of a report was trained on, and which SG − baseline pairs mix machines.

A run's setup (track, model preset, input size, data) comes from its `config.json`, its device
from its `environment.json` (engine/provenance.py): the CUDA card's name, or the CPU's model name
with torch's thread count. Two CPUs of different vendors can train different bits from the same
seed and config even with the kernels pinned to AVX2 (numerics.py: oneDNN and MKL may still
choose kernels by vendor or cache size), so a pair trained on two machines differs by its kernels
as well as by its variant, and the report says so.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..config import Config
from .curves import seed_pairs


@dataclass(frozen=True)
class Trained:
    """Where one run was trained: `setup`, e.g. "mpii track: hrnet_small at 96×96 (h×w) on the
    embedded data", and `device`, e.g. "CPU (AMD EPYC, 2 threads)" or "NVIDIA H200"."""
    setup: str
    device: str


def device_of(environment: Mapping) -> str:
    """The device of a run's environment.json: "NVIDIA H200" or "CPU (AMD EPYC, 2 threads)"."""
    return (environment.get("cuda_device")
            or f"CPU ({environment.get('cpu')}, {environment.get('torch_threads')} threads)")


def trained(cfg: Config, environment: Mapping) -> Trained:
    """The setup of config `cfg` and the device of its run's environment.json."""
    d = cfg.data
    w, h = d.input_size
    full = d.mpii_dir if d.track == "mpii" else d.coco_dir
    return Trained(f"{d.track} track: {cfg.model.preset} at {h}×{w} (h×w) on "
                   f"{'the data in ' + full if full else 'the embedded data'}",
                   device_of(environment))


def trained_on(where: Mapping[str, Trained]) -> list[str]:
    """One text per setup, in the order of `where` (run name -> Trained): "<setup>, <device>",
    or, where the setup's runs ran on several devices, each device with its runs:
    "<setup>, <device 1> (run a, run b), <device 2> (run c)"."""
    runs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, t in where.items():
        runs[t.setup][t.device].append(name)
    return [f"{setup}, {next(iter(devices))}" if len(devices) == 1 else
            f"{setup}, " + ", ".join(f"{d} ({', '.join(names)})" for d, names in devices.items())
            for setup, devices in runs.items()]


def mixed_pairs(runs: Sequence, where: Mapping[str, Trained],
                a: str = "baseline", b: str = "sg") -> list[str]:
    """The (track, seed) pairs of variants `a` and `b` among `runs` (objects with name, track,
    variant, seed) whose two runs were trained on different devices, e.g. "coco seed 0
    (baseline: CPU (Intel Xeon, 2 threads); sg: CPU (AMD EPYC, 2 threads))"."""
    pairs = seed_pairs([r for r in runs if r.name in where], a, b)
    return [f"{track} seed {seed} ({a}: {where[ra.name].device}; {b}: {where[rb.name].device})"
            for (track, seed), (ra, rb) in pairs.items()
            if where[ra.name].device != where[rb.name].device]
