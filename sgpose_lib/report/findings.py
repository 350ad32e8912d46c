"""Beyond the paper, as tables: background-swap robustness and statistics of the attention maps.

Reads what the `analyze` stage wrote for each run (runs/<name>/analysis/: robustness/robustness.json
for COCO-track runs, attention.json for SG runs) and builds

- `robustness_table`: per condition (original, blur, clutter, grey) the AP and the mean per-person
  OKS (x 100) of baseline and SG, the drop of each against the original images, and SG − baseline
  of the drop;
- `attention_table`: per SGM site the share of attention mass inside the disc target and inside
  the person masks against a uniform map, IoU and BCE against the disc target (shares in %).

Uncertainty: where a group has >= 2 seeds, 95 % t-intervals over seeds. The COCO track has one
seed per variant in the cpu profile, so the robustness CIs are over the persons of the validation
split (paired per person: the same person under two conditions, or under two models): they show
how much the result depends on which persons were sampled, not on the training seed.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from ..analysis.backgrounds import CONDITIONS
from ..config import SGM_SITES, TRACKS
from .runs import Study, read_json_or_none
from .formatting import NO_RUN, fmt_n
from .stats import Estimate, bootstrap_ci, paired_difference, summarize
from .table import Table
from .wording import count

CONDITION_TEXT = {"original": "original images (re-encoded as the others)",
                  "blur": "background blurred", "clutter": "background replaced by clutter",
                  "grey": "background replaced by grey"}


def robustness_runs(study: Study, variant: str, radius: float | None) -> dict[int, dict]:
    """seed -> robustness.json of the group's COCO-track runs that have one."""
    out = {}
    for r in study.used:
        if r.group == ("coco", variant, radius):
            data = read_json_or_none(r.folder / "analysis" / "robustness" / "robustness.json")
            if data:
                out[r.seed] = data
    return out


def attention_runs(study: Study, track: str, radius: float) -> dict[int, dict]:
    """seed -> attention.json of the SG runs of `track` with radius `radius`."""
    out = {}
    for r in study.used:
        if r.group == (track, study.sg, radius):
            data = read_json_or_none(r.folder / "analysis" / "attention.json")
            if data:
                out[r.seed] = data
    return out


def per_person_oks(runs: Mapping[int, dict], condition: str) -> tuple[np.ndarray, list[int]]:
    """(persons,) OKS under `condition`, averaged over the seeds, and the annotation ids."""
    seeds = sorted(runs)
    ids = runs[seeds[0]][condition]["ann_ids"]
    for s in seeds[1:]:
        if runs[s][condition]["ann_ids"] != ids:
            raise ValueError(f"seed {s}: the persons of '{condition}' differ from seed {seeds[0]}'s")
    oks = np.array([runs[s][condition]["oks"] for s in seeds], dtype=np.float64)
    return oks.mean(axis=0), ids


def person_estimate(values: np.ndarray, scale: float, n_resamples: int, seed: int) -> Estimate:
    """Mean over persons (nan dropped) with a bootstrap CI over persons; n = persons."""
    x = np.asarray(values, dtype=np.float64) * scale
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Estimate(math.nan, n=0)
    lo, hi = bootstrap_ci(x, n_resamples=n_resamples, seed=seed)
    return Estimate(float(x.mean()), lo, hi, len(x))


# --------------------------------------------------------------------------------- robustness
def seed_drop_difference(runs: Mapping[str, Mapping[int, dict]], condition: str,
                         scale: float) -> Estimate:
    """SG − baseline of the mean-OKS drop (original − `condition`, × scale) paired by training
    seed: each seed's drop is the mean over its persons; the t-interval over the seeds is the
    verdict's (the bootstrap over persons, one interval for all seeds, leaves out the
    seed-to-seed spread). runs: variant -> seed -> robustness.json."""
    drop = {v: {s: scale * (float(np.nanmean(r["original"]["oks"]))
                            - float(np.nanmean(r[condition]["oks"])))
                for s, r in runs[v].items()} for v in ("baseline", "sg")}
    return paired_difference(drop["sg"], drop["baseline"])


def robustness_table(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Mean OKS and AP per condition for baseline and SG, drops against the original images and
    SG − baseline of the drops (CIs over persons, paired)."""
    groups = {"baseline": (study.baseline, None), "sg": (study.sg, study.sg_radius)}
    runs = {k: robustness_runs(study, *g) for k, g in groups.items()}
    title = "# Background-swap robustness (COCO track)\n\n"
    if not all(runs.values()):
        md = title + (f"{NO_RUN} no COCO-track run of both variants has robustness results "
                      "(runs/<name>/analysis/robustness/robustness.json).\n")
        return md, pd.DataFrame(), {"available": False}
    k, n_res = 100.0, study.n_resamples
    oks = {v: {c: per_person_oks(runs[v], c) for c in CONDITIONS} for v in groups}
    ids = oks["baseline"]["original"][1]
    if any(oks[v][c][1] != ids for v in groups for c in CONDITIONS):
        raise ValueError("robustness: baseline and SG were evaluated on different persons")
    table = Table("robustness", ["mean OKS", "drop", "AP", "AP drop"], first="Condition / model")
    summary: dict = {"available": True, "persons": len(ids),
                     "seeds": {v: sorted(runs[v]) for v in groups}, "conditions": {}}
    for c in CONDITIONS:
        cs: dict = {}
        drops = {}
        for v, label in (("baseline", "HRNet baseline"),
                         ("sg", f"SG-HRNet r={study.sg_radius:g}")):
            o = oks[v][c][0]
            drops[v] = oks[v]["original"][0] - o
            aps = [runs[v][s][c]["AP"] for s in sorted(runs[v])]
            ap_drops = [runs[v][s]["original"]["AP"] - runs[v][s][c]["AP"] for s in sorted(runs[v])]
            cells = {"mean OKS": person_estimate(o, k, n_res, study.seed),
                     "drop": (person_estimate(drops[v], k, n_res, study.seed)
                              if c != "original" else None),
                     "AP": summarize(np.array(aps) * k, sorted(runs[v]), n_resamples=n_res),
                     "AP drop": (summarize(np.array(ap_drops) * k, sorted(runs[v]),
                                           n_resamples=n_res) if c != "original" else None)}
            table.add(f"{c}: {label}", "ours", cells,
                      f"{len(ids)} persons, seeds {', '.join(map(str, sorted(runs[v])))}",
                      extra=None if c != "original" else {"drop": "", "AP drop": ""})
            cs[v] = {key: (e.to_dict() if isinstance(e, Estimate) else None)
                     for key, e in cells.items()}
        if c != "original":
            diff = person_estimate(drops["sg"] - drops["baseline"], k, n_res, study.seed)
            table.add(f"{c}: SG − baseline", "difference", {"drop": diff}, "paired per person",
                      signed=True, extra={"mean OKS": "", "AP": "", "AP drop": ""})
            cs["sg_minus_baseline_drop"] = diff.to_dict()
            cs["sg_minus_baseline_drop_seeds"] = seed_drop_difference(runs, c, k).to_dict()
        summary["conditions"][c] = cs
    md = (title + f"{study.profile_text('coco')}. Every COCO-track model is evaluated (ground-truth "
          "boxes, flip test) on the 60 validation images and on three copies in which everything "
          "outside the (dilated) person masks is replaced: "
          + "; ".join(f"`{c}` = {CONDITION_TEXT[c]}" for c in CONDITIONS) + ". The perturbed "
          "sets are built once, deterministically (seed 0), by the DVC stage `perturb`.\n\n"
          "mean OKS: the OKS of each person's prediction against that person (× 100), averaged "
          f"over the {len(ids)} persons (a continuous measure: the AP of the small cpu-profile "
          "model is near 0). drop = original − condition (positive: worse without the real "
          "background). SG − baseline of the drop < 0 means SG loses less than the baseline, "
          "which is what the paper's claim predicts. CIs: 95 % bootstrap over persons (paired); "
          "AP: mean over seeds.\n\n" + table.markdown() + "\n")
    return md, table.frame(), summary


# ---------------------------------------------------------------------------------- attention
ATTENTION_COLUMNS = ("disc share", "disc share (uniform)", "persons share",
                     "persons share (uniform)", "IoU@0.5", "IoU top-k", "IoU top-k (chance)",
                     "mean map", "BCE")
_ATTENTION_KEYS = {"disc share": "disc_share", "disc share (uniform)": "disc_share_uniform",
                   "persons share": "persons_share", "persons share (uniform)": "persons_share_uniform",
                   "IoU@0.5": "iou", "IoU top-k": "iou_topk", "IoU top-k (chance)": "iou_topk_chance",
                   "mean map": "mean_map", "BCE": "bce"}
_PERCENT = {"disc_share", "disc_share_uniform", "persons_share", "persons_share_uniform", "iou",
            "iou_topk", "iou_topk_chance", "mean_map"}


def attention_table(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Per track and SGM site: mass shares against the uniform map, IoU and BCE (over seeds)."""
    tables, summary, parts = [], {}, []
    for track in TRACKS:
        radii = sorted({r.radius for r in study.used if r.track == track and r.variant == study.sg
                        and r.radius is not None})
        for radius in radii:
            runs = attention_runs(study, track, radius)
            if not runs:
                continue
            seeds = sorted(runs)
            table = Table(f"attention_{track}_r{radius:g}", list(ATTENTION_COLUMNS), first="Site")
            part = {}
            for site in SGM_SITES:
                if not all(site in runs[s] for s in seeds):
                    continue
                cells = {}
                for col, key in _ATTENTION_KEYS.items():
                    vals = [runs[s][site].get(key) for s in seeds]
                    vals = [math.nan if v is None else 100.0 * v if key in _PERCENT else v
                            for v in vals]
                    cells[col] = (summarize(vals, seeds, n_resamples=study.n_resamples)
                                  if any(math.isfinite(v) for v in vals) else None)
                table.add(site, "ours", cells, fmt_n(cells["disc share"]),
                          digits=1, extra={c: "n/a (no masks)" for c in ATTENTION_COLUMNS
                                           if "persons" in c and cells[c] is None})
                part[site] = {c: (e.to_dict() if e else None) for c, e in cells.items()}
            n_samples = runs[seeds[0]].get("n")
            parts.append(f"\n## {track} track, SG-HRNet r={radius:g} ({count(len(seeds), 'seed')}, "
                         f"{n_samples} validation samples)\n\n" + table.markdown() + "\n")
            tables.append(table.frame())
            summary[f"{track}_r{radius:g}"] = part
    md = ("# Where does the attention go? Statistics of the SGM maps\n\n"
          "For every SG model and each of its 4 SGM sites, on the validation split (no flip): the "
          "share of the map's mass (sum of the sigmoid map) that lies inside the disc target of "
          "Eq. 2 and inside the persons' masks (COCO track: the union of all person polygons of the "
          "image, warped into heatmap pixels), each beside the share a uniform map would have (the "
          "target's area fraction); IoU with the disc target of the map thresholded at 0.5 and of "
          "the map's k highest pixels (k = the disc's pixel count; threshold-free, beside its "
          "chance level f / (2 − f) for k random pixels); the map's mean value; BCE against the "
          "disc target (nats, mean over pixels). Shares, IoU and mean map in %; mean over seeds "
          "[95 % t-interval over seeds].\n" + "".join(parts))
    if not parts:
        md += f"\n{NO_RUN} no SG run has attention statistics (runs/<name>/analysis/attention.json).\n"
    return md, (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), summary
