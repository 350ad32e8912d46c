"""Beyond the paper: background-swap robustness, attention statistics and the written discussion.

Reads what the `analyze` stage wrote for each run (runs/<name>/analysis/: robustness/robustness.json
for COCO-track runs, attention.json for SG runs) and writes

- reports/tables/robustness.md|csv: per condition (original, blur, clutter, grey) the AP and the mean
  per-person OKS of baseline and SG, the drop of each against the original images, and SG − baseline
  of the drop;
- reports/tables/attention.md|csv: per SGM site the share of attention mass inside the disc target
  and inside the person masks against a uniform map, IoU and BCE against the disc target;
- reports/figures/study/robustness_*.png;
- reports/README.md: which claims of the paper the numbers support, every number read from the
  tables' data (nothing typed by hand).

Uncertainty: where a group has >= 2 seeds, 95 % bootstrap CIs over seeds. The COCO track has one
seed per variant in the cpu profile, so the robustness CIs are over the persons of the validation
split (paired per person: the same person under two conditions, or under two models): they show
how much the result depends on which persons were sampled, not on the training seed.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .convergence import verdict_markdown
from .curves import study_curves
from .study import (NO_RUN, PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, Estimate, Study, Table,
                     _write, bootstrap_ci, fmt_estimate, fmt_n, summarize)

CONDITIONS = ("original", "blur", "clutter", "grey")
CONDITION_TEXT = {"original": "original images (re-encoded as the others)",
                  "blur": "background blurred", "clutter": "background replaced by clutter",
                  "grey": "background replaced by grey"}
SITES = ("stage2", "stage3", "stage4", "final")


# ------------------------------------------------------------------------------------ reading
def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def robustness_runs(study: Study, variant: str, radius: float | None) -> dict[int, dict]:
    """seed -> robustness.json of the group's COCO-track runs that have one."""
    out = {}
    for r in study.used:
        if r.group == ("coco", variant, radius):
            data = _read(r.folder / "analysis" / "robustness" / "robustness.json")
            if data:
                out[r.seed] = data
    return out


def attention_runs(study: Study, track: str, radius: float) -> dict[int, dict]:
    """seed -> attention.json of the SG runs of `track` with radius `radius`."""
    out = {}
    for r in study.used:
        if r.group == (track, study.sg, radius):
            data = _read(r.folder / "analysis" / "attention.json")
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
    for track in ("mpii", "coco"):
        radii = sorted({r.radius for r in study.used if r.track == track and r.variant == study.sg
                        and r.radius is not None})
        for radius in radii:
            runs = attention_runs(study, track, radius)
            if not runs:
                continue
            seeds = sorted(runs)
            table = Table(f"attention_{track}_r{radius:g}", list(ATTENTION_COLUMNS), first="Site")
            part = {}
            for site in SITES:
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
            parts.append(f"\n## {track} track, SG-HRNet r={radius:g} ({len(seeds)} seed(s), "
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
          "[95 % bootstrap CI over seeds].\n" + "".join(parts))
    if not parts:
        md += f"\n{NO_RUN} no SG run has attention statistics (runs/<name>/analysis/attention.json).\n"
    return md, (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), summary


# ------------------------------------------------------------------------------------ figures
def robustness_figures(study: Study, perturbed_root: Path, folder: Path) -> list[Path]:
    """robustness_oks.png (mean OKS per condition, both models, CIs over persons) and
    robustness_conditions.png (the same images under each condition, both models' predictions)."""
    import matplotlib.pyplot as plt

    from ..analysis.robustness import load_condition_results, plot_conditions, read_manifest

    groups = {"HRNet baseline": (study.baseline, None),
              f"SG-HRNet r={study.sg_radius:g}": (study.sg, study.sg_radius)}
    runs = {label: robustness_runs(study, *g) for label, g in groups.items()}
    if not all(runs.values()):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    width = 0.38
    for j, (label, rr) in enumerate(runs.items()):
        est = [person_estimate(per_person_oks(rr, c)[0], 100.0, study.n_resamples, study.seed)
               for c in CONDITIONS]
        x = np.arange(len(CONDITIONS)) + (j - 0.5) * width
        ax.bar(x, [e.mean for e in est], width, label=label,
               yerr=[[e.mean - e.lo for e in est], [e.hi - e.mean for e in est]], capsize=3)
    ax.set_xticks(np.arange(len(CONDITIONS)), CONDITIONS)
    ax.set_ylabel("mean per-person OKS (× 100)")
    ax.set_title(f"Background swaps, COCO track — profile {study.profile}, embedded data "
                 "(60 val2017 images); 95 % CI over persons", fontsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.tight_layout()
    paths = [folder / "robustness_oks.png"]
    fig.savefig(paths[0], dpi=130)
    plt.close(fig)
    predictions = {}
    for label, (variant, radius) in groups.items():
        run = next(r for r in study.used if r.group == ("coco", variant, radius)
                   and r.seed == sorted(runs[label])[0])
        predictions[label] = load_condition_results(run.folder / "analysis" / "robustness")
    safe = [e for e in read_manifest(perturbed_root)["images"] if e.get("figure_safe", True)]
    largest = sorted(safe, key=lambda e: -e["mask_fraction"])[:3]  # persons large enough to see
    fig = plot_conditions(perturbed_root, predictions, [e["image_id"] for e in largest],
                          title=f"Background swaps — profile {study.profile}, embedded COCO track; "
                                "lines: each model's prediction for every ground-truth box")
    paths.append(folder / "robustness_conditions.png")
    fig.savefig(paths[1], dpi=100)  # photographs: keep the committed page small
    plt.close(fig)
    return paths


def attention_figure(summary: dict, profile: str, folder: Path) -> list[Path]:
    """attention_stats.png: disc share vs uniform per site, for each (track, radius)."""
    import matplotlib.pyplot as plt

    if not summary:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(summary)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        part = summary[key]
        sites = list(part)
        x = np.arange(len(sites))
        for j, (col, label) in enumerate((("disc share", "SGM map"),
                                          ("disc share (uniform)", "uniform map"))):
            vals = [part[s][col]["mean"] if part[s][col] else math.nan for s in sites]
            ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=label)
        ax.set_xticks(x, sites, fontsize=8)
        ax.set_title(key.replace("_", ", "), fontsize=9)
        ax.set_ylabel("% of map mass inside the disc target")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.suptitle(f"Attention mass inside the disc target — profile {profile}, embedded data",
                 fontsize=9)
    fig.tight_layout()
    path = folder / "attention_stats.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return [path]


# --------------------------------------------------------------------------------- discussion
def _ci_text(e: Mapping | None, unit: str = "") -> str:
    if not e or e.get("mean") is None:
        return NO_RUN
    return fmt_estimate(Estimate.from_dict(e), signed=True) + unit


def _verdict(e: Mapping | None, good_if_positive: bool = True) -> str:
    """'supported' (CI excludes 0 in the predicted direction), 'contradicted' (CI excludes 0 the
    other way), 'not resolved' (CI covers 0), 'no CI' (n < 2)."""
    if not e or e.get("mean") is None:
        return "not measured"
    lo, hi = e.get("lo"), e.get("hi")
    if lo is None or hi is None:
        return "no CI (one value)"
    sign = 1 if good_if_positive else -1
    if sign * lo > 0 and sign * hi > 0:
        return "supported"
    if sign * lo < 0 and sign * hi < 0:
        return "contradicted"
    return "not resolved (the CI covers 0)"


def _paper_change(table: Mapping, base: str, sg: str, metric: str) -> str:
    a, b = table[base][metric], table[sg][metric]
    return f"{b - a:+.1f} ({a} → {b})"


def _regime_text(report_summary: dict) -> str:
    """Which training regime the verdicts come from: epochs and the level the runs reached."""
    parts = []
    for key, part in (report_summary.get("learning_curves") or {}).items():
        levels = [f"{name} {fmt_estimate(Estimate.from_dict(part[k]))}"
                  for name, k in (("baseline", "final_baseline"), ("SG", "final_sg")) if part.get(k)]
        parts.append(f"{key.split('/')[0]} track: {part['final_epoch']} epochs, "
                     f"{part['label']} {', '.join(levels)}")
    return "; ".join(parts) or "no learning curve on disk"


def discussion(report_summary: dict, robust: dict, attention: dict,
               convergence: dict | None = None) -> str:
    """reports/README.md: the paper's claims against our numbers (all read from the summaries)."""
    regime = _regime_text(report_summary)
    lines = ["# What the numbers say", "",
             f"Generated by `sgpose report` from the runs of profile `{report_summary['profile']}` "
             "on the embedded data; every number below is read from `reports/tables/` "
             "(see `summary.json`, `robustness.csv`, `attention.csv`). Verdicts: *supported* = "
             "the 95 % CI excludes 0 in the paper's direction, *contradicted* = it excludes 0 the "
             "other way, *not resolved* = it covers 0.", "",
             f"**Regime.** Sections 1–5 come from the default study's short runs ({regime}), "
             "stopped long before they converge; section 6 comes from runs trained until they "
             "stop improving (`reports/convergence/`).", ""]
    t1 = (report_summary.get("mpii") or {}).get("difference", {}).get("Mean")
    lines += ["## 1. Segmentation guidance improves accuracy (Tables 1, 2)", "",
              f"- MPII-style track, PCKh@0.5 Mean, SG − baseline paired by seed: {_ci_text(t1)} "
              f"(n = {t1.get('n') if t1 else 0}, paired t-test p = "
              f"{'%.3f' % t1['p'] if t1 and t1.get('p') is not None else 'n/a'}): "
              f"**{_verdict(t1)}**. The paper: {_paper_change(PAPER_TABLE1, 'HRNet-W32', 'SG-HRNet (Our)', 'Mean')}."]
    t2 = (report_summary.get("coco") or {}).get("difference", {}).get("AP")
    if t2:
        lines.append(f"- COCO track, AP, SG − baseline: {_ci_text(t2)} (n = {t2.get('n')}): "
                     f"**{_verdict(t2)}**. The paper: {_paper_change(PAPER_TABLE2, 'HRNet-W32, pretrain Y', 'SG-HRNet (Our), pretrain Y', 'AP')}.")
    lines.append("")
    lines += ["## 2. The SGM reduces the influence of complex backgrounds", ""]
    if robust.get("available"):
        for c in CONDITIONS[1:]:
            cs = robust["conditions"][c]
            d = cs.get("sg_minus_baseline_drop")
            both = [cs[v]["drop"] for v in ("baseline", "sg")]
            note = ""
            if all(e["hi"] is not None and e["hi"] < 0 for e in both):
                note = " Both models do better without the real background (negative drops)."
            elif all(e["lo"] is not None and e["lo"] > 0 for e in both):
                note = " Both models lose accuracy."
            lines.append(
                f"- {CONDITION_TEXT[c]}: mean-OKS drop baseline {_ci_text(cs['baseline']['drop'])}, "
                f"SG {_ci_text(cs['sg']['drop'])}; SG − baseline {_ci_text(d)}: "
                f"**{_verdict(d, good_if_positive=False)}** (the claim predicts < 0).{note}")
        lines += ["", f"CIs over the {robust['persons']} validation persons (one training seed per "
                  "variant on the COCO track): they do not include the seed-to-seed spread.", ""]
    else:
        lines += [f"{NO_RUN} not measured (no robustness results).", ""]
    lines += ["## 3. The SGM maps attend to the person", ""]
    for key, part in attention.items():
        cells = [c for c in part.values() if c.get("disc share") and c.get("disc share (uniform)")]
        if not cells:
            continue
        share = [c["disc share"]["mean"] for c in cells]
        uniform = cells[0]["disc share (uniform)"]["mean"]
        topk = [c["IoU top-k"]["mean"] for c in cells if c.get("IoU top-k")]
        chance = cells[0]["IoU top-k (chance)"]["mean"] if cells[0].get("IoU top-k (chance)") else None
        text = (f"- {key.replace('_', ', ')}: {min(share):.1f}-{max(share):.1f} % of the maps' mass "
                f"inside the disc target over the {len(cells)} sites, against {uniform:.1f} % for a "
                f"uniform map ({min(share) / uniform:.1f}-{max(share) / uniform:.1f}×)")
        if topk and chance:
            text += (f"; top-k IoU with the disc {min(topk):.1f}-{max(topk):.1f} % "
                     f"(chance {chance:.1f} %)")
        persons = [c["persons share"]["mean"] for c in cells if c.get("persons share")]
        if persons and cells[0].get("persons share (uniform)"):
            text += (f"; inside the person masks {min(persons):.1f}-{max(persons):.1f} % "
                     f"(uniform {cells[0]['persons share (uniform)']['mean']:.1f} %)")
        lines.append(text + ".")
    if attention:
        iou05 = [c["IoU@0.5"]["mean"] for part in attention.values() for c in part.values()
                 if c.get("IoU@0.5")]
        if iou05 and max(iou05) < 1.0:
            lines.append("- The maps are soft: the IoU of the map thresholded at 0.5 is below 1 % "
                         "everywhere (few pixels reach 0.5), so the maps re-weight the features "
                         "rather than mask them; the threshold-free top-k IoU is the fair measure.")
    else:
        lines.append(f"{NO_RUN} not measured (no attention statistics).")
    radius = report_summary.get("radius") or {}
    lines += ["", "## 4. The radius r = 5 is best (Table 3)", ""]
    rows = {k: v["Mean"] for k, v in radius.items()
            if " - " not in k and isinstance(v, Mapping) and v.get("Mean")}
    if rows:
        top = max(round(v["mean"], 1) for v in rows.values())
        best = [r for r in rows if round(rows[r]["mean"], 1) == top]
        lines.append("- Mean PCKh by radius: " + ", ".join(
            f"{r} {fmt_estimate(Estimate.from_dict(rows[r]))} (n = {rows[r]['n']})" for r in rows)
            + f"; highest (at 0.1 precision): {' and '.join(best)}. The paper: " + ", ".join(
                f"r={r} {v['Mean']}" for r, v in PAPER_TABLE3.items())
            + ", differences this study cannot resolve with one seed for r = 3 and 9.")
    lines += ["", "## 5. Which part does the work", "",
              "The ablations (SGM placement, DWA mode, λ) are a separate pipeline, "
              "`dvc repro ablations/dvc.yaml`, with their own table: `reports/ablations/ablations.md` "
              "(each row paired by seed with the SG-HRNet runs above)."]
    lines += ["", "## 6. Does the gain survive training? (convergence pipeline)", ""]
    if convergence:
        lines.append(f"Setting `{convergence['setting']}` (profile `{convergence['profile']}`), "
                     "`dvc repro convergence/dvc.yaml`; SG − baseline paired by seed, "
                     "[95 % bootstrap CI]:")
        lines.append("")
        lines.append(verdict_markdown(convergence).rstrip())
    else:
        lines.append(f"{NO_RUN} not measured yet (no reports/convergence/summary.json).")
    lines += ["", "## Caveats", "",
              "The embedded data is small (400 LSPET validation persons, 60 COCO images), the "
              "cpu-profile model is far smaller than HRNet-W32 and trained for minutes, and there "
              "are few seeds. Differences of the size the paper reports (+0.3 PCKh) are below what "
              "this study can resolve; the `paper` profile on the full data sets is the test.", ""]
    return "\n".join(lines)


def build_findings(study: Study, report_summary: dict, out_dir: Path,
                   perturbed_root: Path | None, figures: bool = True) -> dict:
    """Write the robustness and attention tables, their figures and reports/README.md."""
    tables = out_dir / "tables"
    md_r, frame_r, robust = robustness_table(study)
    md_a, frame_a, attention = attention_table(study)
    md_c, frame_c, report_summary["learning_curves"] = study_curves(study, out_dir, figures)
    written = (_write(tables, "robustness", md_r, frame_r) + _write(tables, "attention", md_a, frame_a)
               + _write(tables, "learning_curves", md_c, frame_c))
    if figures:
        folder = out_dir / "figures" / "study"
        if perturbed_root is not None and Path(perturbed_root).is_dir():
            written += robustness_figures(study, Path(perturbed_root), folder)
        written += attention_figure(attention, study.profile, folder)
    readme = out_dir / "README.md"
    convergence = _read(out_dir / "convergence" / "summary.json")
    readme.write_text(discussion(report_summary, robust, attention, convergence))
    return {"robustness": robust, "attention": attention,
            "files": [str(p) for p in written] + [str(readme)]}


# ---------------------------------------------------------------------------------- ablations
def ablation_table(ablation_params: str | Path = "ablations/params.yaml",
                   ablation_runs: str | Path = "ablations/runs", params: str | Path = "params.yaml",
                   runs_dir: str | Path = "runs", out_dir: str | Path = "reports/ablations",
                   n_resamples: int = 10_000) -> dict:
    """reports/ablations/ablations.md|csv: mean PCKh@0.5 of each ablation (placement, DWA mode, λ)
    over its seeds, and its difference to the paper's configuration (the study's
    mpii_sg_r5_s<seed> runs: all four sites, DWA per step, λ = 0.002), paired by seed."""
    import re

    import yaml

    from ..errors import ConfigError
    from .study import fmt_p, group_values, load_study, paired_difference
    study = load_study(params, runs_dir)
    try:
        matrix = (yaml.safe_load(Path(ablation_params).read_text()) or {}).get("ablation_runs") or {}
    except (OSError, yaml.YAMLError, AttributeError) as e:
        raise ConfigError(f"{ablation_params}: not a readable ablation matrix "
                          f"({e.__class__.__name__})") from None
    paper = group_values(study.runs, "mpii", study.sg, 5.0, "Mean")
    baseline = group_values(study.runs, "mpii", study.baseline, None, "Mean")

    def collect(names: Mapping[int, str], root: Path) -> dict[int, float]:
        """seed -> Mean PCKh of the ablation runs that have an evaluation."""
        metrics = {s: _read(root / k / "eval" / "metrics.json") for s, k in names.items()}
        return {s: float(m["Mean"]) for s, m in metrics.items() if m is not None}

    groups: dict[str, dict[int, str]] = {}
    settings: dict[str, str] = {}
    for key, entry in matrix.items():
        label = re.sub(r"_s\d+$", "", key)
        groups.setdefault(label, {})[int(entry["seed"])] = key
        settings[label] = str(entry.get("set", "")).replace("'", "")
    table = Table("ablations", ["Mean PCKh", "− paper config", "p"], first="Configuration")
    summary: dict = {}
    rows = [("paper configuration (all 4 sites, DWA per step, λ = 0.002)", paper, "paper"),
            ("HRNet baseline (no SGM)", baseline, "baseline")]
    rows += [(f"{label} (`{settings[label]}`)", collect(names, Path(ablation_runs)), label)
             for label, names in groups.items()]
    for text, values, label in rows:
        est = summarize(list(values.values()), sorted(values), n_resamples=n_resamples)
        diff = (paired_difference(values, paper, n_resamples=n_resamples) if label != "paper"
                else None)
        table.add(text, "ours", {"Mean PCKh": est if values else None,
                                 "− paper config": diff if values else None},
                  f"seeds {', '.join(map(str, sorted(values)))}" if values else "0",
                  signed=False, extra={"p": fmt_p(diff) if diff is not None else ""})
        summary[label] = {"mean": est.to_dict() if values else None,
                                     "minus_paper": diff.to_dict() if diff is not None else None}
    md = ("# Ablations of SG-HRNet (MPII-style track)\n\n"
          "Generated by `sgpose ablations` from `dvc repro ablations/dvc.yaml` (matrix: "
          "ablations/params.yaml); the same profile, track (LSPET in the MPII layout, PCKh@0.5 Mean, "
          "400 validation persons) and seeds as the study's SG-HRNet r = 5 runs, against which each "
          "row is paired by seed (difference and paired t-test; n = 1: no CI, no test). Mean over "
          "seeds [95 % bootstrap CI].\n\n" + table.markdown() + "\n")
    out = Path(out_dir)
    _write(out, "ablations", md, table.frame())
    (out / "ablations.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
