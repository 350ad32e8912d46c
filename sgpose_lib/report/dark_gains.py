"""SG's gain beside a free one: the DARK decoder (Zhang et al., CVPR 2020) on the same runs.

Per track, three gains over the baseline decoded with the standard decoder, each paired by seed
with its 95 % t-interval (stats.paired_difference): SG (SG-HRNet, standard decoder), DARK (the
baseline network decoded with DARK) and both (SG-HRNet decoded with DARK). Units: PCKh@0.5 Mean
points on the MPII-style track, AP x 100 on COCO. Inputs: each run's eval/metrics.json and
eval/dark/metrics.json.
"""
from __future__ import annotations

import math
from typing import Mapping

from .formatting import fmt_estimate
from .runs import Study
from .stats import Estimate, paired_difference
from .validate import read_metrics

DARK_METRICS = {"mpii": ("Mean", 1.0, "PCKh@0.5 Mean"), "coco": ("AP", 100.0, "AP × 100")}


def dark_gains(study: Study) -> dict:
    """Per track, three gains paired by seed over the baseline with the standard decoder: SG
    (SG-HRNet, standard decoder), DARK (the baseline decoded with DARK: the same network) and
    both (SG-HRNet decoded with DARK); each an Estimate's dict, from eval/metrics.json and
    eval/dark/metrics.json. Tracks without DARK results are left out."""
    out = {}
    for track, (metric, scale, _) in DARK_METRICS.items():
        vals: dict[tuple[str, str], dict[int, float]] = {}
        for r in study.used:
            group = {(track, study.baseline, None): "baseline",
                     (track, study.sg, study.sg_radius): "sg"}.get(r.group)
            dark = r.folder / "eval" / "dark" / "metrics.json"
            if group is None or not dark.is_file():
                continue
            value = read_metrics(dark).get(metric)
            vals.setdefault((group, "standard"), {})[r.seed] = r.metrics.get(metric, math.nan) * scale
            vals.setdefault((group, "dark"), {})[r.seed] = (math.nan if value is None
                                                            else value * scale)
        base = vals.get(("baseline", "standard"))
        if not base or ("sg", "dark") not in vals:
            continue
        out[track] = {name: paired_difference(vals[key], base).to_dict()
                      for name, key in (("sg", ("sg", "standard")),
                                        ("dark", ("baseline", "dark")),
                                        ("both", ("sg", "dark")))}
    return out


def dark_lines(gains: Mapping) -> list[str]:
    """One line per track: the gain of SG, of DARK and of both, each with its t-interval."""
    lines = []
    for track, g in gains.items():
        label = DARK_METRICS[track][2]
        parts = [f"{name} {fmt_estimate(Estimate.from_dict(g[key]), signed=True)} (n = {g[key]['n']}"
                 + (f", p = {g[key]['p']:.3f})" if g[key].get("p") is not None else ")")
                 for name, key in (("SG", "sg"), ("DARK", "dark"), ("both", "both"))]
        lines.append(f"- {track} track, {label}, gain over the baseline with the standard "
                     f"decoder, paired by seed: " + "; ".join(parts) + ".")
    return lines


DARK_NOTE = ("Beside SG's gain, that of the training-free DARK decoder (Zhang et al., CVPR 2020: "
             "Gaussian modulation of the heatmaps, then a Taylor step at the maximum of the "
             "log-heatmap), which on HRNet-W32 adds to MPII what the paper's SG adds (90.3 → "
             "90.6); every run is evaluated with both decoders (`runs/<run>/eval/` and `eval/dark/`).")
