"""Does the SG gain survive training? Baseline and SG-HRNet trained until they stop improving.

`convergence/params.yaml` names a `setting` (cpu: the study's cpu-profile model on the embedded
data; gpu: HRNet-W32 at the paper's input sizes) and the runs (track, variant, radius, seed). Each
run trains for the setting's epochs of its track with the paper's schedule shape: lr x 0.1 at
the same fractions of training as epochs 170 and 200 of 210 (`paper_milestones`), validated every
`val_every` epochs. The report compares SG − baseline at matched budgets (epochs), each with its
paired-seed CI and t-test, decides per run whether it reached a plateau (`curves.plateau`) and
generates the verdict: does the gain grow, hold, shrink or vanish with training?
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd
from ..config import TRACKS, config_from_dict
from ..engine.convergence_runs import read_params
from ..engine.schedule import PLATEAU_MIN_EPOCHS, PLATEAU_TOL, paper_milestones
from .curves import (CURVE_METRICS, CurveRun, curve_figure, curve_frame, curve_markdown,
                     per_epoch, plateau, read_curve, validated)
from .stats import Estimate, fmt_estimate, fmt_p

BUDGETS = (5, 10, 15, 30, 45, 60, 90, 120)   # matched budgets (epochs) shown when validated
EARLY_EPOCH = 15                             # the trend runs from the first paired epoch >= this
CHANGE_TOL = 1.0                             # points: gain changes smaller than this "hold"


def collect(params: Mapping, runs_dir: str | Path) -> list[CurveRun]:
    return [CurveRun(name, item["track"], item["variant"], int(item.get("seed", 0)),
                     read_curve(Path(runs_dir) / name / "train"))
            for name, item in params["runs"].items()]


def _epochs_of(params: Mapping, track: str) -> int:
    return int(params["spec"]["epochs"][track])


def _trend(early: Estimate | None, final: Estimate | None) -> str:
    """grow / hold / shrink / vanish / none / reverse / undecided, from SG − baseline early and
    at the end. `none`: no gain early (mean <= 0) and none at the end; `reverse`: SG ends below
    the baseline (CI below 0, or without a CI at least CHANGE_TOL points below)."""
    if early is None or final is None or not math.isfinite(final.mean):
        return "undecided"
    final_zero = final.has_ci and final.lo <= 0 <= final.hi
    if final_zero or (not final.has_ci and abs(final.mean) < CHANGE_TOL):
        return "vanish" if early.mean > 0 else "none"
    if final.mean < 0:
        return "reverse"
    if final.mean > early.mean + CHANGE_TOL:
        return "grow"
    if final.mean < early.mean - CHANGE_TOL:
        return "shrink"
    return "hold"


VERDICT_TEXT = {
    "grow": "the gain grows with training",
    "hold": "the gain holds with training",
    "shrink": "the gain shrinks with training but stays above zero",
    "vanish": "the gain vanishes once the models are trained",
    "none": "no gain early or at the end (SG − baseline stays near zero)",
    "reverse": "SG ends below the baseline",
    "undecided": "undecided (runs missing)",
    "short": f"undecided: the runs end before epoch {EARLY_EPOCH}, where the trend starts",
}


def verdict_text(trend: str, final: Estimate | None) -> str:
    """VERDICT_TEXT[trend], with what a vanished gain rests on: a final CI that includes 0, or,
    with one seed per variant (no CI), a final |SG − baseline| below CHANGE_TOL points."""
    text = VERDICT_TEXT[trend]
    if trend != "vanish" or final is None:
        return text
    if final.has_ci:
        return text + " (the final CI includes 0)"
    return (text + f" (n = {final.n}, no CI: the final |SG − baseline| is below "
            f"{CHANGE_TOL:g} point)")


def build(params_path: str | Path = "convergence/params.yaml",
          runs_dir: str | Path = "convergence/runs", out_dir: str | Path = "reports/convergence",
          n_resamples: int = 10_000, seed: int = 0) -> dict:
    """Write <out>/convergence.md/.csv, curves.png and summary.json; return the summary."""
    params = read_params(params_path)
    runs = collect(params, runs_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = params["spec"]
    summary: dict = {"setting": params["setting"], "profile": spec["profile"], "curves": {},
                     "runs": {}}
    summary["trained_on"] = trained_on(params, runs_dir)
    parts = [_intro(params["setting"], spec),
             f"\nTrained on: {'; '.join(summary['trained_on']) or 'no run on disk yet'}.\n"]
    tables, labels, frames = {}, {}, []
    for track, metrics in CURVE_METRICS.items():
        if track not in spec["epochs"]:
            continue
        epochs = _epochs_of(params, track)
        parts.append(f"\n## {track} track: {epochs} epochs, lr drops at "
                     f"{', '.join(map(str, paper_milestones(epochs)))}\n")
        for column, label, factor in metrics:
            table = per_epoch(runs, track, "baseline", "sg", column, factor, n_resamples, seed)
            if table.empty:
                parts.append(f"\n{label}: no run on disk yet.\n")
                continue
            name = f"{track} track: {label}"
            tables[name], labels[name] = table, label
            frames.append(curve_frame(table, track, column))
            shown = [b for b in BUDGETS if b < epochs] + [epochs]
            parts.append(f"\n### {label} at matched budgets\n\n"
                         + curve_markdown(table, label, shown))
            curve = _curve_summary(table, label, epochs)
            summary["curves"][f"{track}/{column}"] = curve
            plateaus = _run_plateaus(runs, track, column, factor, epochs, summary["runs"])
            final = Estimate.from_dict(curve["final"]["diff"]) if curve["final"]["diff"] else None
            span = f" from epoch {curve['early_epoch']} to {epochs}" if curve["early_epoch"] else ""
            parts.append(f"\nStopped improving? {'; '.join(plateaus)}.\n\n"
                         f"Trend of SG − baseline{span}: "
                         f"**{verdict_text(curve['trend'], final)}**.\n")
    walls = [f"{n} {v['wall_s'] / 60:.1f} min ({v['epochs_done']} epochs)"
             for n, v in summary["runs"].items() if v.get("wall_s")]
    if walls:
        parts.append("\nTraining wall time per run (epoch time summed, validation excluded): "
                     + "; ".join(walls) + ".\n")
    if tables:
        curve_figure(tables, labels, f"Convergence (setting {params['setting']}, profile "
                     f"{spec['profile']}): metric per epoch and SG − baseline\n"
                     + "\n".join(summary["trained_on"]),
                     out / "curves.png")
    (out / "convergence.md").write_text("".join(parts))
    (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).to_csv(
        out / "convergence.csv", index=False, float_format="%.6g")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_none) + "\n")
    return summary


def trained_on(params: Mapping, runs_dir: str | Path) -> list[str]:
    """What the runs on disk were trained on, one text per distinct (track, model, input, data,
    device), from each run's config.json and environment.json: e.g. "mpii track: hrnet_w32 at
    256×256 (h×w) on the embedded data, NVIDIA H200"."""
    seen: dict[str, None] = {}
    for name in params["runs"]:
        folder = Path(runs_dir) / name / "train"
        if not (folder / "config.json").is_file() or not (folder / "environment.json").is_file():
            continue
        cfg = config_from_dict(json.loads((folder / "config.json").read_text()),
                               str(folder / "config.json"))
        env = json.loads((folder / "environment.json").read_text())
        d = cfg.data
        w, h = d.input_size
        full = d.mpii_dir if d.track == "mpii" else d.coco_dir
        device = (env.get("cuda_device")
                  or f"CPU ({env.get('cpu')}, {env.get('torch_threads')} threads)")
        seen[f"{d.track} track: {cfg.model.preset} at {h}×{w} (h×w) on "
             f"{'the data in ' + full if full else 'the embedded data'}, {device}"] = None
    return list(seen)


def _intro(setting: str, spec: Mapping) -> str:
    every = "every epoch" if int(spec["val_every"]) == 1 else f"every {spec['val_every']} epochs"
    return (f"# Convergence: does the SG gain survive training? (setting `{setting}`, "
            f"profile `{spec['profile']}`)\n\n"
            "Each run trains until the setting's epochs with the paper's schedule shape (lr × 0.1 "
            f"at 170/210 and 200/210 of training) and is validated {every}. SG − baseline is "
            "paired by seed: mean [95 % bootstrap CI] "
            "and the paired t-test p (2 seeds give an indicative CI only). Values at a budget below "
            "the final epoch come from the same long runs, i.e. before their lr drops.\n\n"
            f"Plateau: a run has stopped improving when its best value in the last fifth of its "
            f"epochs exceeds the last value before that fifth by less than {PLATEAU_TOL:g} point. "
            "The paper's schedule puts both lr drops in the last fifth, so the rule is also "
            "applied to the constant-lr phase before the first drop. Runs shorter than "
            f"{PLATEAU_MIN_EPOCHS} epochs get no decision.\n")


def _curve_summary(table: pd.DataFrame, label: str, epochs: int) -> dict:
    """The summary of one metric's per_epoch table: levels at the final epoch, SG − baseline at
    the first paired epoch >= EARLY_EPOCH (`early`), and the trend between the two (`short`
    where the runs end before EARLY_EPOCH)."""
    by_epoch = {int(r["epoch"]): r for _, r in table.iterrows()}
    early_epoch = min((e for e in by_epoch
                       if by_epoch[e]["diff"] is not None and e >= EARLY_EPOCH), default=None)
    final = by_epoch.get(epochs)
    trend = "short" if epochs < EARLY_EPOCH else \
        _trend(by_epoch[early_epoch]["diff"] if early_epoch else None,
               final["diff"] if final is not None else None)
    level = {k: (final[k].to_dict() if final is not None and final[k] is not None else None)
             for k in ("baseline", "sg", "diff")}
    return {"label": label, "epochs": epochs, "early_epoch": early_epoch, "trend": trend,
            "final": level,
            "early_diff": by_epoch[early_epoch]["diff"].to_dict() if early_epoch else None}


def _run_plateaus(runs: list[CurveRun], track: str, column: str, factor: float, epochs: int,
                  summary_runs: dict) -> list[str]:
    """Each run's plateau decision (whole run and before the first lr drop), recorded with its
    epochs done and wall time in `summary_runs`; returns one text per run."""
    texts = []
    first_drop = paper_milestones(epochs)[0]
    for r in runs:
        if r.track != track or r.table is None:
            continue
        curve = validated(r.table, column, factor)
        p = plateau(curve, epochs)
        p["before_first_drop"] = plateau(curve[curve.index <= first_drop], first_drop)
        wall = float(r.table["seconds"].sum()) if "seconds" in r.table else None
        done = int(r.table["epoch"].max())
        summary_runs.setdefault(r.name, {"epochs_done": done, "wall_s": wall})
        summary_runs[r.name][column] = p
        texts.append(_plateau_text(r.name, p, done, epochs))
    return texts


def _plateau_text(name: str, p: Mapping, done: int, epochs: int) -> str:
    def one(q: Mapping, where: str) -> str:
        state = {True: "plateau", False: "still improving", None: "undefined"}[q["plateau"]]
        gain = f", {q['gain']:+.1f} over {where}" if q["gain"] is not None else ""
        return state + gain
    partial = f", {done}/{epochs} epochs" if done < epochs else ""
    return (f"{name}: {one(p, 'the last fifth')}; at lr 1e-3 before the first drop: "
            f"{one(p['before_first_drop'], 'its last fifth')}{partial}")


def _plateau_count(decisions: list[Mapping]) -> tuple[int, int, str] | None:
    """(runs at a plateau, runs decided, "a to b" range of their gains in points) of plateau
    decisions (`curves.plateau`); None when no run has a gain."""
    gains = [p["gain"] for p in decisions if p["gain"] is not None]
    if not gains:
        return None
    return (sum(bool(p["plateau"]) for p in decisions), len(decisions),
            f"{min(gains):+.1f} to {max(gains):+.1f}")


def _none(v):
    return None


def verdict_markdown(summary: Mapping) -> str:
    """The generated verdict paragraph for reports/README.md."""
    lines = []
    for key, c in summary.get("curves", {}).items():
        f = c["final"]
        lines.append(f"- {key.split('/')[0]} track, {c['label']}: after {c['epochs']} epochs "
                     f"baseline {fmt_estimate(Estimate.from_dict(f['baseline'])) if f['baseline'] else '—'}, "
                     f"SG {fmt_estimate(Estimate.from_dict(f['sg'])) if f['sg'] else '—'}; "
                     f"SG − baseline {fmt_estimate(Estimate.from_dict(f['diff']), signed=True) if f['diff'] else '—'}"
                     f" (p {fmt_p(Estimate.from_dict(f['diff'])) if f['diff'] else '—'})"
                     + (f", against {fmt_estimate(Estimate.from_dict(c['early_diff']), signed=True)}"
                        f" at epoch {c['early_epoch']}" if c["early_diff"] else "") + ": "
                     f"{verdict_text(c['trend'], Estimate.from_dict(f['diff']) if f['diff'] else None)}.")
    for key, c in summary.get("curves", {}).items():
        column = key.split("/")[1]
        decided = [r[column] for r in summary.get("runs", {}).values() if column in r]
        whole = _plateau_count(decided)
        if whole:
            flat, n, gains = whole
            before = _plateau_count([p["before_first_drop"] for p in decided
                                     if p.get("before_first_drop")])
            before_text = (f"; before the first lr drop (lr 1e-3), {before[0]} of {before[1]} "
                           f"(gain over that phase's last fifth {before[2]})" if before else "")
            lines.append(f"- Plateau ({key.split('/')[0]} track, {c['label']}): {flat} of {n} "
                         f"runs had stopped improving (gain over the last fifth {gains})"
                         f"{before_text}; "
                         + ("the verdict is about trained-to-plateau models." if flat == n
                            else "the verdict is about models still improving, i.e. at the "
                            "budget trained, not at convergence."))
    tracks = {k.split("/")[0] for k, c in summary.get("curves", {}).items()}
    missing = [t for t in TRACKS if t not in tracks]
    if missing and lines:
        lines.append(f"- Not yet run: the {', '.join(missing)} track(s) of the convergence matrix.")
    return "\n".join(lines) + "\n" if lines else "No convergence run on disk yet.\n"
