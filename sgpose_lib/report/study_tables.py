"""The study's own tables beside the paper's: the learning floors and every group of the matrix.

Each table function takes the `Study` and returns (Markdown, CSV frame, summary dict):
    learning_table  ours against the untrained-model and mean-pose floors
    groups_table    every (track, variant, radius) group of the matrix
Cells: mean over seeds [95 % t-interval]; differences to the baseline paired by seed with the
paired t-test p.
"""
from __future__ import annotations

import math

import pandas as pd

from .paper import DATA_TEXT
from .runs import Study
from .formatting import fmt_estimate, fmt_n, fmt_p, none_if_nan
from .table import Table
from .tables import floor_rows


def learning_table(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Per track: ours (baseline, SG) against the untrained model and the mean-pose floor."""
    parts, frames, summary = [], [], {}
    spec = {"mpii": (("Mean", "Mean@0.1"), 1.0, "PCKh, %"),
            "coco": (("AP", "AP50", "AR", "body_AP", "mean_oks"), 100.0, "OKS AP / AR, %")}
    gain_metric = {"mpii": "Mean", "coco": "mean_oks"}
    parts.append("# Does the model learn? Ours against two reference floors\n\n"
                 "The untrained model (seeded official initialisation) and the mean-pose predictor "
                 "(the average training pose, in box-normalised coordinates, placed in every "
                 "validation box) are floors that any trained model must clear. Ours: mean over "
                 "seeds [95 % t-interval]. \"—\": no run or no floor file "
                 "(runs/baselines/mpii.json, runs/baselines/coco.json).\n")
    for t, (cols, scale, unit) in spec.items():
        table = Table(f"learning_{t}", list(cols))
        floor_rows(table, study, t, cols, scale)
        b = {c: study.est(t, study.baseline, None, c, scale) for c in cols}
        s = {c: study.est(t, study.sg, study.sg_radius, c, scale) for c in cols}
        table.add("Ours: HRNet baseline", "ours", b, fmt_n(b[cols[0]]))
        table.add(f"Ours: SG-HRNet r={study.sg_radius:g}", "ours", s, fmt_n(s[cols[0]]))
        floors = study.floors.get(t) or {}
        gain = {}
        g = gain_metric[t]
        for key, e in (("baseline", b[g]), ("sg", s[g])):
            mp = (floors.get("mean_pose") or {}).get(g)
            gain[key] = (e.mean - mp * scale) if (e and e.n and mp is not None) else None
        oks_text = (" mean_oks: the OKS of each ground-truth-box prediction against its own person, "
                    "averaged over the persons (× 100): a continuous measure that moves where the AP "
                    "of a weak model is still 0." if t == "coco" else "")
        parts.append(f"\n## {t} track ({unit})\n\n{study.profile_text(t)}. "
                     f"{DATA_TEXT[t]}{oks_text}\n\n" + table.markdown() + "\n")
        if any(v is not None for v in gain.values()):
            parts.append("\nOurs minus the mean-pose floor (" + g + "): " + ", ".join(
                f"{k} {v:+.1f}".replace("-", "−") for k, v in gain.items() if v is not None)
                + ".\n")
        frames.append(table.frame())
        summary[t] = {"floors": {k: {c: none_if_nan(floors.get(k, {}).get(c)) for c in cols}
                                 for k in ("untrained", "mean_pose")},
                      "gain_over_mean_pose": gain}
    return "".join(parts), pd.concat(frames, ignore_index=True), summary


def groups_table(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Every (track, variant, radius) group of params.yaml: n, primary metric, paired difference
    against the baseline (for ablation variants that no paper table covers)."""
    rows, md = [], ["# All groups of the study matrix\n\n"
                    "Primary metric: PCKh@0.5 Mean (mpii track) or AP in % (coco track); mean over "
                    "seeds [95 % t-interval]; difference to the baseline paired by seed with its "
                    "paired t-test p.\n\n",
                    "| track | variant | r | n | seeds | primary metric | − baseline | p |\n"
                    "|---|---|:-:|:-:|---|:-:|:-:|:-:|\n"]
    groups = []
    for r in study.runs:
        if r.group not in groups:
            groups.append(r.group)
    out = {}
    for t, v, rad in groups:
        metric, scale = ("Mean", 1.0) if t == "mpii" else ("AP", 100.0)
        e = study.est(t, v, rad, metric, scale)
        d = (study.diff(t, (v, rad), (study.baseline, None), metric, scale)
             if v != study.baseline else None)
        seeds = study.seeds(t, v, rad)
        rtxt = "—" if rad is None else f"{rad:g}"
        is_base = v == study.baseline
        md.append(f"| {t} | {v} | {rtxt} | {len(seeds)} | {', '.join(map(str, seeds)) or '—'} | "
                  f"{fmt_estimate(e)} | {'' if is_base else fmt_estimate(d, signed=True)} | "
                  f"{'' if is_base else fmt_p(d)} |\n")
        rows.append({"track": t, "variant": v, "radius": rad, "n": len(seeds),
                     "seeds": " ".join(map(str, seeds)), "metric": metric,
                     "mean": e.mean if e and e.n else None,
                     "ci_low": e.lo if e and e.has_ci else None,
                     "ci_high": e.hi if e and e.has_ci else None,
                     "diff_mean": d.mean if d and d.n else None,
                     "diff_ci_low": d.lo if d and d.has_ci else None,
                     "diff_ci_high": d.hi if d and d.has_ci else None,
                     "p_value": d.p if d and math.isfinite(d.p) else None})
        out[f"{t}/{v}/{rtxt}"] = {"estimate": e.to_dict() if e else None,
                                  "difference": d.to_dict() if d else None}
    return "".join(md), pd.DataFrame(rows), out
