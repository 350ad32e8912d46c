"""Does the SG gain survive training? Baseline and SG-HRNet trained until they stop improving.

`convergence/params.yaml` names a `setting` (cpu: the study's cpu-profile model on the embedded
data; cpu_plateau: the same, trained until the plateau; gpu: HRNet-W32 at the paper's input sizes)
and the runs (track, variant, radius, seed). A run trains either for the setting's epochs of its
track with the paper's schedule shape (lr x 0.1 at the same fractions of training as epochs 170
and 200 of 210, `schedule.paper_milestones`), or (until_plateau) at the constant lr until its
plateau and then through the paper's drops placed around it, each run with its own length
(engine/until_plateau.py); validated every `val_every` epochs. The report compares SG − baseline
at matched budgets (epochs) and at the end of each run, each with its paired-seed CI and t-test,
gives each run's plateau decisions (plateaus.py) and generates the verdict (trend.py): does the
gain grow, hold, shrink or vanish with training?
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd
from ..engine.convergence_runs import plateau_rule, read_params
from ..engine.schedule import PLATEAU_MIN_EPOCHS, PLATEAU_TOL, PlateauRule, paper_milestones
from .curve_plots import curve_figure
from .curves import (CURVE_METRICS, FINAL_VALIDATIONS, CurveRun, curve_frame, curve_markdown,
                     final_row, per_epoch, read_curve, uneven_ends)
from .machines import Trained, mixed_pairs, trained, trained_on
from .plateaus import run_plateaus, schedule_text, wall_times
from .formatting import fmt_estimate
from .stats import Estimate
from .staging import staged
from .trend import EARLY_EPOCH, trend_of, verdict_text
from .validate import DamagedFile, check_runs_folder, read_config, read_object

BUDGETS = (5, 10, 15, 30, 45, 60, 90, 120, 160, 200, 240, 320)  # matched budgets (epochs)


def collect(params: Mapping, runs_dir: str | Path,
            excluded: dict[str, str] | None = None) -> tuple[list[CurveRun], dict[str, Trained]]:
    """The runs of the matrix with their curves and, where config.json is on disk, schedules;
    and where each run with a config.json and an environment.json was trained (machines.py).
    Each file is checked as it is read (validate.py): a damaged one raises DamagedFile, or where
    `excluded` is given, leaves its run out, recorded there (run -> file: what is wrong)."""
    runs, where = [], {}
    for name, item in params["runs"].items():
        folder = Path(runs_dir) / name / "train"
        try:
            run, at = _collect_run(name, item, folder)
        except DamagedFile as e:
            if excluded is None:
                raise DamagedFile(e.path, f"{e.problem}; `--exclude-damaged` leaves run "
                                          f"{name} out of the report") from None
            excluded[name] = f"{e.path.relative_to(folder.parent)}: {e.problem}"
            continue
        runs.append(run)
        if at is not None:
            where[name] = at
    return runs, where


def _collect_run(name: str, item: Mapping, folder: Path) -> tuple[CurveRun, Trained | None]:
    """One run's curve and schedule, and where it was trained (None without an
    environment.json), from its checked train/ files."""
    epochs = steps = at = None
    if (folder / "config.json").is_file():
        _, cfg = read_config(folder / "config.json")
        epochs, steps = cfg.train.epochs, tuple(cfg.train.lr_steps)
        if (folder / "environment.json").is_file():
            at = trained(cfg, read_object(folder / "environment.json"))
    return CurveRun(name, item["track"], item["variant"], int(item.get("seed", 0)),
                    read_curve(folder, epochs), epochs, steps), at


def _track_schedule(params: Mapping, track: str) -> tuple[int | None, PlateauRule | None] | None:
    """(fixed epochs, None) or (None, rule) of `track` in the setting; None where the setting
    leaves the track out."""
    spec = params["spec"]
    if "until_plateau" in spec:
        if track not in (spec["until_plateau"].get("min_epochs") or {}):
            return None
        return None, plateau_rule(params, track)
    if track not in (spec.get("epochs") or {}):
        return None
    return int(spec["epochs"][track]), None


def build(params_path: str | Path = "convergence/params.yaml",
          runs_dir: str | Path = "convergence/runs", out_dir: str | Path = "reports/convergence",
          n_resamples: int = 10_000, seed: int = 0, exclude_damaged: bool = False) -> dict:
    """Write <out>/convergence.md/.csv, curves.png and summary.json; return the summary.
    DataError when `runs_dir` holds no run of the matrix; a damaged run file raises DamagedFile
    before anything is written, or with `exclude_damaged` leaves its run out (named in the
    report). The files replace <out> whole once all are written (staging.py)."""
    params = read_params(params_path)
    check_runs_folder(runs_dir, list(params["runs"]), str(params_path))
    excluded: dict[str, str] | None = {} if exclude_damaged else None
    runs, where = collect(params, runs_dir, excluded)
    with staged(out_dir) as stage:
        summary = _write(params, runs, where, excluded or {}, stage, n_resamples, seed)
    return summary


def _write(params: Mapping, runs: list[CurveRun], where: dict[str, Trained],
           excluded: dict[str, str], out: Path, n_resamples: int, seed: int) -> dict:
    """build's files, written into `out` (its staging folder)."""
    spec = params["spec"]
    summary: dict = {"setting": params["setting"], "profile": spec["profile"], "curves": {},
                     "runs": {}}
    summary["trained_on"] = trained_on(where)
    parts = [_intro(params["setting"], spec),
             f"\nTrained on: {'; '.join(summary['trained_on']) or 'no run on disk yet'}.\n"]
    if excluded:
        summary["excluded"] = excluded
        parts.append("\nExcluded runs (a damaged file, left out of every row, n and verdict "
                     "below): " + "; ".join(f"{n} ({why})" for n, why in excluded.items())
                     + ".\n")
    mixed = mixed_pairs(runs, where)
    if mixed:
        summary["mixed_pairs"] = mixed
        parts.append("\nPairs whose two runs were trained on different machines (the same seed "
                     "and config give other bits on another CPU vendor, so such a pair differs "
                     "by its kernels as well as by its variant): " + "; ".join(mixed) + ".\n")
    curves = _Curves()
    for track, metrics in CURVE_METRICS.items():
        schedule = _track_schedule(params, track)
        if schedule is None:
            continue
        epochs, rule = schedule
        parts.append(_track_heading(track, epochs, rule, runs, summary,
                                    spec.get("run_epochs")))
        for column, label, factor in metrics:
            parts.append(_metric_part(runs, track, (column, label, factor), epochs, rule,
                                      summary, curves, n_resamples, seed))
    parts.append(wall_times([r for t in CURVE_METRICS for r in runs if r.track == t],
                            summary["runs"]))
    if curves.tables:
        curve_figure(curves.tables, curves.labels, f"Convergence (setting {params['setting']}, "
                     f"profile {spec['profile']}): metric per epoch and SG − baseline\n"
                     + "\n".join(summary["trained_on"]),
                     out / "curves.png", curves.drops)
    (out / "convergence.md").write_text("".join(parts))
    frames = curves.frames
    (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).to_csv(
        out / "convergence.csv", index=False, float_format="%.6g")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_none) + "\n")
    return summary


@dataclass
class _Curves:
    """What the figure and the CSV collect, one entry per (track, metric) name."""
    tables: dict = field(default_factory=dict)   # name -> curves.per_epoch table
    labels: dict = field(default_factory=dict)   # name -> metric label
    frames: list = field(default_factory=list)   # curves.curve_frame rows for the CSV
    drops: dict = field(default_factory=dict)    # name -> (variant, first drop) of each run


def _track_heading(track: str, epochs: int | None, rule: PlateauRule | None,
                   runs: list[CurveRun], summary: dict,
                   fixed: Mapping[str, int] | None = None) -> str:
    """The track's heading: its fixed schedule, or the plateau rule and each run's schedule
    (recorded in summary['rule'] and summary['runs'])."""
    if rule is None:
        return (f"\n## {track} track: {epochs} epochs, lr drops at "
                f"{', '.join(map(str, paper_milestones(epochs)))}\n")
    summary.setdefault("rule", {"every": rule.every, "tol": rule.tol})[track] = {
        "min_epochs": rule.min_epochs, "max_epochs": rule.max_epochs,
        "runs": sum(r.track == track for r in runs)}  # of the matrix, on disk or not
    return (f"\n## {track} track: until the plateau, then the paper's two drops\n\n"
            f"The rule is checked every {rule.every} epochs from epoch {rule.min_epochs}; the "
            f"constant-lr phase ends at epoch {rule.max_epochs} at the latest.\n\n"
            + (schedule_text(runs, track, rule, summary["runs"], fixed) or "No run yet.\n"))


def _metric_part(runs: list[CurveRun], track: str, metric: tuple[str, str, float],
                 epochs: int | None, rule: PlateauRule | None, summary: dict, curves: _Curves,
                 n_resamples: int, seed: int) -> str:
    """One metric of a track (`metric`: column, label, factor to points): the matched-budget
    table, each run's plateau decisions and the trend; its curve goes to `curves`."""
    column, label, factor = metric
    table = per_epoch(runs, track, "baseline", "sg", column, factor, n_resamples, seed)
    if table.empty:
        return f"\n{label}: no run on disk yet.\n"
    name = f"{track} track: {label}"
    curves.tables[name], curves.labels[name] = table, label
    curves.frames.append(curve_frame(table, track, column))
    curves.drops[name] = [(r.variant, r.lr_steps[0]) for r in runs
                          if r.track == track and r.lr_steps and rule is not None]
    final = final_row(runs, track, "baseline", "sg", column, factor, n_resamples, seed)
    last = epochs or int(table["epoch"].max())
    shown = [b for b in BUDGETS if b < last] + ([epochs] if epochs else [])
    curve = _curve_summary(table, label, epochs, final)
    summary["curves"][f"{track}/{column}"] = curve
    plateaus = run_plateaus(runs, track, column, factor, epochs, summary["runs"])
    diff = Estimate.from_dict(curve["final"]["diff"]) if curve["final"]["diff"] else None
    span = f" from epoch {curve['early_epoch']} to {curve['end']}" if curve["early_epoch"] else ""
    track_runs = [r for r in runs if r.track == track]
    open_runs = sum(not r.finished for r in track_runs) if rule is not None else 0
    note = f" (provisional: {open_runs} of {len(track_runs)} runs not finished)" if open_runs else ""
    curve["provisional"] = note.strip(" ()") or None
    curve["uneven"] = uneven_ends(runs, track, "baseline", "sg") if rule is not None else []
    curve["before_drops"] = _before_drops(table, track_runs) if curve["uneven"] else None
    uneven = ""
    if curve["uneven"]:
        uneven = (f" The last row pairs runs of unequal length ({'; '.join(curve['uneven'])}), "
                  "each ended by its own schedule: there SG − baseline compares unequal training "
                  "as well as the variants.")
        if curve["before_drops"]:
            b = curve["before_drops"]
            uneven += (f" At epoch {b['epoch']}, the last budget before either run's first lr "
                       f"drop, it is {fmt_estimate(Estimate.from_dict(b['diff']), signed=True)}.")
    return (f"\n### {label} at matched budgets\n\n" + curve_markdown(table, label, shown, final)
            + f"\nStopped improving? {'; '.join(plateaus)}.\n\n"
            f"Trend of SG − baseline{span}: **{verdict_text(curve['trend'], diff)}**{note}."
            f"{uneven}\n")


def _before_drops(table: pd.DataFrame, runs: list[CurveRun]) -> dict | None:
    """SG − baseline at the last paired epoch at which no run of `runs` had its lr dropped yet
    (epochs up to a run's first lr step train at the constant lr): {'epoch', 'diff'}, or None."""
    first_drop = min((r.lr_steps[0] for r in runs if r.finished), default=None)
    if first_drop is None:
        return None
    paired = [r for _, r in table.iterrows() if r["diff"] is not None and r["epoch"] <= first_drop]
    return ({"epoch": int(paired[-1]["epoch"]), "diff": paired[-1]["diff"].to_dict()}
            if paired else None)


def _intro(setting: str, spec: Mapping) -> str:
    every = "every epoch" if int(spec["val_every"]) == 1 else f"every {spec['val_every']} epochs"
    rule = (f"a run has stopped improving when its best value in the last fifth of its "
            f"epochs exceeds the last value before that fifth by less than {PLATEAU_TOL:g} point")
    head = (f"# Convergence: does the SG gain survive training? (setting `{setting}`, "
            f"profile `{spec['profile']}`)\n\n")
    pairing = ("SG − baseline is paired by seed: mean [95 % t-interval], the paired t-test p, the "
               "exact sign-flip p and the minimum detectable effect (MDE, 80 % power, α = 0.05); "
               f"a run's value at the end is the mean of its last {FINAL_VALIDATIONS} "
               "validations, and the end compares only the pairs whose two runs trained the same "
               "schedule (same epochs, same lr drops).")
    if "until_plateau" in spec:
        return (head + f"Each run trains at the constant lr, validated {every}, until it stops "
                f"improving (plateau rule: {rule}; on the COCO track for mean OKS and body AP "
                "both), then takes the paper's two lr drops placed around that epoch k: lr × 0.1 "
                "from k and from round(k × 210/170) × 200/210 on, ending at round(k × 210/170) "
                "epochs, so each run has its own length. " + pairing + " Values at a budget "
                "come from the runs as they were at that epoch; the end rows take each run at "
                "its own end. The rule's value for the whole run is also given: its last fifth "
                "holds both lr drops, whose one-off gain the rule counts as improvement.\n")
    return (head + "Each run trains until the setting's epochs with the paper's schedule shape "
            f"(lr × 0.1 at 170/210 and 200/210 of training) and is validated {every}. "
            + pairing + " Values at a budget below the final epoch come from the same long "
            "runs, i.e. before their lr drops.\n\n"
            f"Plateau: {rule}. The paper's schedule puts both lr drops in the last fifth, so the "
            "rule is also applied to the constant-lr phase before the first drop. Runs shorter "
            f"than {PLATEAU_MIN_EPOCHS} epochs get no decision.\n")


def _curve_summary(table: pd.DataFrame, label: str, epochs: int | None,
                   final_at_end: Mapping | None = None) -> dict:
    """The summary of one metric's per_epoch table: levels at the end, SG − baseline at the
    first paired epoch >= EARLY_EPOCH (`early`), and the trend between the two (`short` where
    the runs end before EARLY_EPOCH). The end: epoch `epochs` of a fixed-length setting, or
    `final_at_end` (curves.final_row: each finished run's mean of its last validations, the
    difference over the pairs with equal schedules; None while none finished)."""
    by_epoch = {int(r["epoch"]): r for _, r in table.iterrows()}
    early_epoch = min((e for e in by_epoch
                       if by_epoch[e]["diff"] is not None and e >= EARLY_EPOCH), default=None)
    final = final_at_end
    if epochs is not None:
        end, after = str(epochs), f"after {epochs} epochs"
        short = epochs < EARLY_EPOCH
        if final is None and by_epoch.get(epochs) is not None:  # no run finished: the last row
            final = {**by_epoch[epochs], "pairs": (by_epoch[epochs]["diff"].n,) * 2
                     if by_epoch[epochs]["diff"] is not None else (0, 0)}
            after += " (last validation)"
    else:
        lo, hi = final["epochs"] if final is not None else (0, 0)
        end = f"{lo}" if lo == hi else f"{lo}–{hi}"
        after = f"at the end of each run's schedule ({end} epochs)"
        short = final is not None and hi < EARLY_EPOCH
    if final_at_end is not None:
        after += f", mean of each run's last {FINAL_VALIDATIONS} validations"
    trend = "short" if short else \
        trend_of(by_epoch[early_epoch]["diff"] if early_epoch else None,
                 final["diff"] if final is not None else None)
    level = {k: (final[k].to_dict() if final is not None and final.get(k) is not None else None)
             for k in ("baseline", "sg", "diff", "diff_all")}
    return {"label": label, "epochs": epochs, "end": end, "after": after,
            "early_epoch": early_epoch, "trend": trend, "final": level,
            "pairs": list(final["pairs"]) if final is not None else [0, 0],
            "early_diff": by_epoch[early_epoch]["diff"].to_dict() if early_epoch else None}


def _none(v):
    return None
