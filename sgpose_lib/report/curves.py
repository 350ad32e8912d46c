"""Learning curves: the validation metric per epoch of baseline and SG runs, SG − baseline per
epoch with its CI, and whether a run has stopped improving.

Input: each run's `train/epochs.csv` (written by the training loop; `epoch` is 1-based, the
validation columns are `val_<metric>` and empty where the epoch was not validated). Metrics are
shown in percent: PCKh (already percent) and COCO OKS / AP (fractions, x 100).

Plateau rule (`plateau`): a run has stopped improving when its best validation value in the last
fifth of its epochs exceeds the last value before that fifth by less than `tol` (1 point). With
the paper's schedule shape (drops at 81 % and 95 % of training) the last fifth holds both
learning-rate drops, so this asks the drops, too, to add less than a point. The convergence report
therefore also applies the rule to the constant-lr phase alone (the epochs before the first drop):
had the model stopped improving at lr 1e-3 when the lr was dropped?
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine.schedule import PLATEAU_TAIL, PLATEAU_TOL, RULE_METRICS, plateau_gain
from .curve_plots import curve_figure
from .figures import figure_title
from .formatting import fmt_estimate, fmt_p
from .stats import Estimate, paired_difference, summarize
from .validate import read_epochs

_LABELS = {"Mean": "PCKh@0.5 Mean (%)", "mean_oks": "mean per-person OKS (× 100)",
           "body_AP": "body-only AP (× 100)"}
# per track: (column of epochs.csv, label, factor to percent); the metrics and factors of the
# plateau rule (schedule.RULE_METRICS), so that the curves shown are the curves it decides on
CURVE_METRICS: dict[str, tuple[tuple[str, str, float], ...]] = {
    track: tuple((f"val_{name}", _LABELS[name], factor) for name, factor in metrics)
    for track, metrics in RULE_METRICS.items()}


@dataclass(frozen=True)
class CurveRun:
    """One run's curve: seed and the epochs.csv table (None when the run is not on disk); the
    schedule of its config.json where read (train.epochs, train.lr_steps)."""
    name: str
    track: str
    variant: str
    seed: int
    table: pd.DataFrame | None
    epochs: int | None = None
    lr_steps: tuple[int, ...] | None = None

    @property
    def done(self) -> int:
        """Epochs completed (0 without a table)."""
        return int(self.table["epoch"].max()) if self.table is not None else 0

    @property
    def finished(self) -> bool:
        """Trained to the end of a schedule whose drops are fixed (config.json read)."""
        return bool(self.epochs and self.lr_steps and self.done >= self.epochs)


def read_curve(train_dir: str | Path, epochs: int | None = None) -> pd.DataFrame | None:
    """A run's epochs.csv (one row per completed epoch), or None when absent or empty; checked as
    it is read (validate.read_epochs, `epochs`: config.json's train.epochs where known):
    DamagedFile for a cut line, a non-numeric cell or epochs other than 1, 2, ..., n."""
    path = Path(train_dir) / "epochs.csv"
    if not path.is_file():
        return None
    return read_epochs(path, epochs)


def validated(table: pd.DataFrame, column: str, factor: float = 1.0) -> pd.Series:
    """epoch -> value (x factor) of the epochs where `column` was validated."""
    if table is None or column not in table:
        return pd.Series(dtype=float)
    rows = table.dropna(subset=[column])
    return pd.Series(rows[column].to_numpy(float) * factor, index=rows["epoch"].astype(int))


def plateau(curve: pd.Series, epochs: int, tail: float = PLATEAU_TAIL,
            tol: float = PLATEAU_TOL) -> dict:
    """Has a curve (epoch -> value) of a run of `epochs` epochs stopped improving?

    schedule.plateau_gain: the last fifth starts after epoch e0 = epochs − ceil(tail x epochs);
    gain = best value in (e0, epochs] − the last value at or before e0. plateau = gain < tol.
    Undefined (None) when no value lies on either side, or when the run is shorter than
    schedule.PLATEAU_MIN_EPOCHS epochs."""
    e0, gain = plateau_gain(curve.to_dict(), epochs, tail)
    return {"from_epoch": int(e0), "gain": gain, "plateau": None if gain is None else gain < tol}


def per_epoch(runs: Sequence[CurveRun], track: str, baseline: str, sg: str, column: str,
              factor: float, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """One row per validated epoch: baseline and SG means over seeds with their CIs and
    SG − baseline paired by seed (CI, paired t-test p), plus n of each."""
    series = {(r.variant, r.seed): validated(r.table, column, factor)
              for r in runs if r.track == track and r.table is not None}
    epochs = sorted({int(e) for s in series.values() for e in s.index})
    rows = []
    for e in epochs:
        vals = {v: {sd: float(s[e]) for (var, sd), s in series.items() if var == v and e in s.index}
                for v in (baseline, sg)}
        rows.append({"epoch": e, **_estimates(vals, baseline, sg, n_resamples, seed)})
    return pd.DataFrame(rows)


def _estimates(vals: Mapping[str, Mapping[int, float]], baseline: str, sg: str,
               n_resamples: int, seed: int) -> dict:
    """{'baseline', 'sg', 'diff'} of values by variant and seed: each variant's mean over seeds
    with its CI, SG − baseline paired by seed; None where there are no values (or no pair)."""
    est = {key: summarize(list(vals[v].values()), list(vals[v]), n_resamples=n_resamples,
                          seed=seed) if vals[v] else None
           for key, v in (("baseline", baseline), ("sg", sg))}
    est["diff"] = paired_difference(vals[sg], vals[baseline], n_resamples=n_resamples,
                                    seed=seed) if set(vals[sg]) & set(vals[baseline]) else None
    return est


FINAL_VALIDATIONS = 3  # a run's final value: the mean of its last 3 validations


def final_value(curve: pd.Series, k: int = FINAL_VALIDATIONS) -> float:
    """A run's final value: the mean of its last `k` validated values (fewer if it has fewer),
    so that one noisy validation does not decide the end."""
    return float(curve.iloc[-k:].mean())


def same_schedule(a: CurveRun, b: CurveRun) -> bool:
    """Whether two runs trained the same schedule: the same epochs and the same lr drops."""
    return a.epochs == b.epochs and tuple(a.lr_steps or ()) == tuple(b.lr_steps or ())


def final_row(runs: Sequence[CurveRun], track: str, baseline: str, sg: str, column: str,
              factor: float, n_resamples: int = 10_000, seed: int = 0) -> dict | None:
    """The end of each finished run, as the mean of its last FINAL_VALIDATIONS validations:
    per_epoch's row ('baseline', 'sg' over all finished runs; 'diff' = SG − baseline over the
    seed pairs whose two runs trained the same schedule), 'diff_all' over every finished pair
    (a view where schedules differ), 'pairs' = (equal-schedule pairs, all pairs) and 'epochs':
    (shortest, longest). None when no run finished."""
    finished = {}
    for r in runs:
        if r.track == track and r.finished and r.variant in (baseline, sg):
            curve = validated(r.table, column, factor)
            if not curve.empty:
                finished[(r.variant, r.seed)] = (r, final_value(curve))
    if not finished:
        return None
    vals = {v: {sd: x for (var, sd), (_, x) in finished.items() if var == v}
            for v in (baseline, sg)}
    equal = {sd for sd in set(vals[baseline]) & set(vals[sg])
             if same_schedule(finished[(baseline, sd)][0], finished[(sg, sd)][0])}
    ends = [r.epochs for r, _ in finished.values()]
    row = _estimates(vals, baseline, sg, n_resamples, seed)
    row["diff_all"] = row["diff"]
    eq = {v: {sd: x for sd, x in vals[v].items() if sd in equal} for v in (baseline, sg)}
    row["diff"] = (paired_difference(eq[sg], eq[baseline], n_resamples=n_resamples, seed=seed)
                   if equal else None)
    n_all = len(set(vals[baseline]) & set(vals[sg]))
    return {"epochs": (min(ends), max(ends)), "pairs": (len(equal), n_all), **row}


def seed_pairs(runs: Sequence, a: str, b: str) -> dict[tuple[str, int], tuple]:
    """(track, seed) -> (run of variant `a`, run of variant `b`) for each seed of a track where
    `runs` (objects with track, variant, seed) hold both, in the order of their first run."""
    by_pair: dict[tuple[str, int], dict] = defaultdict(dict)
    for r in runs:
        if r.variant in (a, b):
            by_pair[(r.track, r.seed)][r.variant] = r
    return {key: (v[a], v[b]) for key, v in by_pair.items() if len(v) == 2}


UNEVEN_SHARE = 0.1  # a pair whose two runs' lengths differ by more than this share is named


def uneven_ends(runs: Sequence[CurveRun], track: str, baseline: str, sg: str) -> list[str]:
    """The seeds of `track` whose finished `baseline` and `sg` runs have schedules (train.epochs)
    differing by more than UNEVEN_SHARE of the longer one, e.g. "seed 0: baseline 105, sg 74
    epochs": final_row pairs each run at its own end all the same, so their SG − baseline
    there compares models trained for different numbers of epochs."""
    pairs = seed_pairs([r for r in runs if r.track == track and r.finished], baseline, sg)
    return [f"seed {seed}: {baseline} {rb.epochs}, {sg} {rs.epochs} epochs"
            for (_, seed), (rb, rs) in sorted(pairs.items())
            if abs(rb.epochs - rs.epochs) > UNEVEN_SHARE * max(rb.epochs, rs.epochs)]


def _flat(row: Mapping, key: str) -> dict:
    e: Estimate | None = row[key]
    if e is None:
        return {f"{key}_mean": np.nan, f"{key}_lo": np.nan, f"{key}_hi": np.nan, f"{key}_n": 0}
    out = {f"{key}_mean": e.mean, f"{key}_lo": e.lo, f"{key}_hi": e.hi, f"{key}_n": e.n}
    if key == "diff":
        out["diff_p"] = e.p
    return out


def curve_frame(table: pd.DataFrame, track: str, metric: str) -> pd.DataFrame:
    """`per_epoch`'s rows flattened to numbers, for CSV."""
    rows = [{"track": track, "metric": metric, "epoch": int(r["epoch"]),
             **_flat(r, "baseline"), **_flat(r, "sg"), **_flat(r, "diff")}
            for _, r in table.iterrows()]
    return pd.DataFrame(rows)


def curve_markdown(table: pd.DataFrame, label: str, epochs: Sequence[int] | None = None,
                   final: Mapping | None = None) -> str:
    """Markdown rows (epoch | baseline | SG | SG − baseline [t-interval] | p | MDE) at `epochs`
    (default all), then `final` (final_row: each run's mean of its last validations; the
    difference over equal-schedule pairs, and over all pairs where some schedules differ)."""
    lines = [f"| epoch | HRNet baseline: {label} | SG-HRNet: {label} | SG − baseline | "
             "p (t-test; sign-flip) | MDE |", "|---:|---|---|---|---|---|"]
    rows = [(str(int(r["epoch"])), r, r["diff"]) for _, r in table.iterrows()
            if epochs is None or int(r["epoch"]) in epochs]
    if final is not None:
        lo, hi = final["epochs"]
        end = f"{lo}{'' if lo == hi else f'–{hi}'}"
        k, n = final.get("pairs", (None, None))
        if k is None or k == n:
            rows.append((f"end of each run ({end} epochs; mean of its last {FINAL_VALIDATIONS} "
                         "validations)", final, final["diff"]))
        else:
            rows.append((f"end of each run ({end} epochs; mean of its last {FINAL_VALIDATIONS} "
                         f"validations): the {k} of {n} pairs with equal schedules", final,
                         final["diff"]))
            rows.append((f"the same, all {n} pairs (view: schedules differ)", final,
                         final.get("diff_all")))
    for name, r, d in rows:
        tests = fmt_p(d) if d is not None else "—"
        if d is not None and np.isfinite(d.p_sign):
            tests += f"; {d.p_sign:.3f}"
        mde = f"{d.mde:.1f}" if d is not None and np.isfinite(d.mde) else "—"
        lines.append(f"| {name} | {fmt_estimate(r['baseline'])} | "
                     f"{fmt_estimate(r['sg'])} | {fmt_estimate(d, signed=True)} | "
                     f"{tests} | {mde} |")
    return "\n".join(lines) + "\n"


def study_curves(study, out_dir: str | Path, figures: bool = True) -> tuple[str, pd.DataFrame, dict]:
    """The default study's learning curves (baseline vs SG r = study.sg_radius, per track):
    (markdown, CSV frame, summary); the figure goes to <out>/figures/study/learning_curves.png."""
    runs = [CurveRun(r.name, r.track, r.variant, r.seed, read_curve(r.folder / "train"))
            for r in study.runs if not r.excluded
            and (r.variant == study.baseline or (r.variant == study.sg
                                                 and r.radius == study.sg_radius))]
    tables, labels, frames, summary = {}, {}, [], {}
    parts = ["# Learning curves of the default study\n\n"
             "The validation metric every few epochs of each run (train.val_every of the profile), "
             "mean over seeds [95 % t-interval], and SG − baseline paired by seed with the paired "
             "t-test p. These runs stop after a short budget, far from a plateau; "
             "reports/convergence/ holds runs trained until they stop improving.\n"]
    for track, metrics in CURVE_METRICS.items():
        for column, label, factor in metrics:
            table = per_epoch(runs, track, study.baseline, study.sg, column, factor,
                              study.n_resamples, study.seed)
            if table.empty:
                continue
            name = f"{track} track: {label}"
            tables[name], labels[name] = table, label
            frames.append(curve_frame(table, track, column))
            parts.append(f"\n## {name}\n\n{study.profile_text(track)}.\n\n"
                         + curve_markdown(table, label))
            last = table.iloc[-1]
            summary[f"{track}/{column}"] = {
                "label": label, "epochs": [int(e) for e in table["epoch"]],
                "final_epoch": int(last["epoch"]),
                **{f"final_{k}": (last[k].to_dict() if last[k] is not None else None)
                   for k in ("baseline", "sg", "diff")}}
    if figures and tables:
        curve_figure(tables, labels, figure_title(study, "Learning curves, baseline vs SG"),
                     Path(out_dir) / "figures" / "study" / "learning_curves.png")
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return "".join(parts), frame, summary
