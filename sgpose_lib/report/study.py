"""The study's reporting layer: our numbers beside the paper's, with seeds, CIs and paired tests.

Reads what `dvc repro` produces (the runs listed in params.yaml `runs`):
    runs/<name>/train/config.json, log.jsonl       the run's Config and its per-step log
    runs/<name>/eval/metrics.json                  PCKh (MPII track) or COCO AP (COCO track)
    runs/baselines/<track>.json                    untrained model and mean-pose floors
and writes, with `build_report`:
    <out>/tables/table1_pckh.{md,csv}     Table 1 analogue: PCKh@0.5 per joint group
    <out>/tables/table2_coco.{md,csv}     Table 2 analogue: COCO AP ... AR, params, GFLOPs
    <out>/tables/table3_radius.{md,csv}   Table 3 analogue: disc radius r in {3, 5, 9}
    <out>/tables/learning.{md,csv}        ours vs the untrained and mean-pose floors
    <out>/tables/groups.{md,csv}          every (track, variant, radius) group of the matrix
    <out>/tables/summary.json             the headline numbers (also returned)
    <out>/figures/study/*.png             training curves, DWA weights, bars, radius ablation

Statistics: a group (track, variant, radius) is summarised over its seeds by the mean and a 95 %
percentile bootstrap CI of the mean; SG vs baseline by the paired difference over the seeds that
both have, its bootstrap CI and a paired t-test. Rules of the tables: a cell that no run produced
is "—" (never a number); a metric the evaluation could not define (e.g. APM with no medium-size
person) is "n/a"; runs listed in params.yaml but absent on disk are named in the header. The files
hold no timestamp, so they change only when their inputs change.
"""
from __future__ import annotations

import functools
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DEFAULT_VARIANTS, read_params

# ------------------------------------------------------------------------------ the paper's numbers
PAPER_CITATION = ("Tang J., Lu J., Zhang X., Zhao F. (2024). Segmentation Guided Attention "
                  "Networks for Human Pose Estimation. Traitement du Signal 41(5). "
                  "https://doi.org/10.18280/ts.410522 (CC BY 4.0)")

PCKH_COLUMNS = ("Head", "Sho", "Elb", "Wri", "Hip", "Kne", "Ank", "Mean")
COCO_COLUMNS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
BODY_COLUMNS = tuple(f"body_{c}" for c in COCO_COLUMNS)

# Table 1 of the paper: PCKh@0.5 on the MPII validation set (HRNet-W32 and "Our", single runs).
PAPER_TABLE1 = {
    "HRNet-W32": {"Params": "28.5M", "GFLOPs": "7.10", "Head": 97.1, "Sho": 95.9, "Elb": 90.3,
                  "Wri": 86.4, "Hip": 89.1, "Kne": 87.1, "Ank": 83.3, "Mean": 90.3},
    "SG-HRNet (Our)": {"Params": "28.5M", "GFLOPs": "7.10", "Head": 97.3, "Sho": 96.2,
                       "Elb": 90.9, "Wri": 86.4, "Hip": 89.9, "Kne": 86.8, "Ank": 83.4,
                       "Mean": 90.6},
}
# Table 2 of the paper: COCO val2017, detector boxes, 256x192; Params in M, GFLOPs, AP ... AR in %.
PAPER_TABLE2 = {
    "HRNet-W32, pretrain Y": {"Params": "28.5", "GFLOPs": "7.10", "AP": 74.4, "AP50": 90.5,
                              "AP75": 81.9, "APM": 70.8, "APL": 81.0, "AR": 79.8},
    "HRNet-W32, pretrain N": {"Params": "28.5", "GFLOPs": "7.10", "AP": 72.0, "AP50": 89.3,
                              "AP75": 79.8, "APM": 68.7, "APL": 78.9, "AR": 77.8},
    "SG-HRNet (Our), pretrain Y": {"Params": "28.5", "GFLOPs": "7.10", "AP": 76.3, "AP50": 93.5,
                                   "AP75": 83.6, "APM": 73.6, "APL": 80.9, "AR": 79.5},
}
# Table 3 of the paper: SG-HRNet on the MPII validation set for disc radius r (PCKh@0.5). Its r=5
# row has Hip 89.8 where Table 1's "Our" row has 89.9: both are copied as printed.
PAPER_TABLE3 = {
    3: {"Head": 97.2, "Sho": 96.1, "Elb": 90.9, "Wri": 86.1, "Hip": 89.2, "Kne": 86.5,
        "Ank": 83.3, "Mean": 90.4},
    5: {"Head": 97.3, "Sho": 96.2, "Elb": 90.9, "Wri": 86.4, "Hip": 89.8, "Kne": 86.8,
        "Ank": 83.4, "Mean": 90.6},
    9: {"Head": 97.2, "Sho": 95.9, "Elb": 90.9, "Wri": 86.0, "Hip": 89.1, "Kne": 86.5,
        "Ank": 82.7, "Mean": 90.3},
}
PAPER_RADII = (3, 5, 9)

NO_RUN = "—"        # no run produced this cell
UNDEFINED = "n/a"   # runs exist, but the metric is undefined (nan) in every one of them

DATA_TEXT = {
    "mpii": ("MPII-style track of the embedded data: 2,000 LSP-Extended images in the MPII "
             "16-joint layout (seeded split 1,600 train / 400 val), PCKh@0.5 with head size 0.75 × "
             "‖head_top − neck‖ (the MPII-equivalent of 0.6 × head-box diagonal). LSPET has no "
             "pelvis/thorax labels (both are out of the Mean, as in the official evaluation); Hip "
             "is the left/right hip."),
    "coco": ("COCO track of the embedded data: training on LSPET body joints mapped into the "
             "COCO-17 layout plus the COCO train2017-origin persons; OKS AP by pycocotools on the "
             "60 COCO val2017-origin images with ground-truth boxes (the paper: detector boxes). "
             "Body-only AP: the same predictions scored against a ground truth with the 5 face "
             "keypoints removed (LSPET has no face joints)."),
}


# ---------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % bootstrap CI (nan when n < 2); for a paired difference,
    also the paired t-test p-value. `n` counts finite values; `seeds` lists them."""
    mean: float
    lo: float = math.nan
    hi: float = math.nan
    n: int = 0
    p: float = math.nan
    seeds: tuple = ()
    values: tuple = ()

    @property
    def has_ci(self) -> bool:
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)

    def scaled(self, k: float) -> "Estimate":
        return Estimate(self.mean * k, self.lo * k, self.hi * k, self.n, self.p, self.seeds,
                        tuple(v * k for v in self.values))

    @classmethod
    def from_dict(cls, d: Mapping) -> "Estimate":
        """The Estimate back from its to_dict() form (None = nan)."""
        return cls(**{k: (math.nan if v is None else v) for k, v in d.items()
                      if k in ("mean", "lo", "hi", "n", "p")})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"], d["values"] = list(self.seeds), list(self.values)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (nan values dropped): `n_resamples`
    resamples with replacement drawn by numpy's Generator seeded with `seed`, so the same input
    gives the same interval. Fewer than 2 values: (nan, nan), the CI is undefined.
    With 2-3 values the interval is only indicative (it has few distinct resample means)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def summarize(values, seeds: Sequence | None = None, confidence: float = 0.95,
              n_resamples: int = 10_000, seed: int = 0) -> Estimate:
    """Mean, bootstrap CI and n of `values` (nan values dropped; all nan: mean nan, n 0)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    seeds = tuple(seeds) if seeds is not None else tuple(range(len(x)))
    ok = np.isfinite(x)
    if not ok.any():
        return Estimate(math.nan, n=0)
    lo, hi = bootstrap_ci(x[ok], confidence, n_resamples, seed)
    return Estimate(float(x[ok].mean()), lo, hi, int(ok.sum()),
                    seeds=tuple(s for s, k in zip(seeds, ok) if k),
                    values=tuple(float(v) for v in x[ok]))


def paired_difference(a, b, confidence: float = 0.95, n_resamples: int = 10_000,
                      seed: int = 0) -> Estimate:
    """The paired difference a − b: mean of the per-pair differences, its bootstrap CI and the
    paired t-test p-value (scipy.stats.ttest_rel; n >= 2, else nan).

    `a`, `b`: mappings seed -> value (pairs = the seeds in both) or equal-length sequences
    (pairs by position). Pairs with a nan on either side are dropped."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            raise TypeError("paired_difference: pass two mappings or two sequences")
        keys = sorted(set(a) & set(b))
        x = np.array([a[k] for k in keys], dtype=np.float64)
        y = np.array([b[k] for k in keys], dtype=np.float64)
    else:
        x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
        if len(x) != len(y):
            raise ValueError(f"paired_difference: {len(x)} vs {len(y)} values cannot be paired")
        keys = list(range(len(x)))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, keys = x[ok], y[ok], [k for k, m in zip(keys, ok) if m]
    if len(x) == 0:
        return Estimate(math.nan, n=0)
    d = x - y
    lo, hi = bootstrap_ci(d, confidence, n_resamples, seed)
    p = math.nan
    if len(d) >= 2 and np.ptp(d) > 0:  # constant differences: t is infinite or 0/0, no test
        from scipy.stats import ttest_rel
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            p = float(ttest_rel(x, y).pvalue)
    return Estimate(float(d.mean()), lo, hi, len(d), p, tuple(keys), tuple(float(v) for v in d))


# ------------------------------------------------------------------------------------ the runs
@dataclass
class Run:
    """One entry of params.yaml `runs` and what is on disk for it."""
    name: str
    track: str
    variant: str
    radius: float | None      # None for variants without an SGM (the radius changes nothing)
    seed: int
    folder: Path
    metrics: dict | None = None
    config: dict | None = None
    missing: str = ""         # why the run is not usable ("" when it is)

    @property
    def present(self) -> bool:
        return self.metrics is not None

    @property
    def group(self) -> tuple:
        return (self.track, self.variant, self.radius)


def _uses_sgm(variant: str, variants: Mapping) -> bool:
    sites = (variants.get(variant) or {}).get("model", {}).get("sgm_sites")
    return bool(sites) if sites is not None else variant != "baseline"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def collect_runs(params: Mapping, runs_dir: str | Path = "runs") -> list[Run]:
    """Every run of params.yaml `runs` (in params order) with its metrics and config if present.
    A run is usable when runs/<name>/eval/metrics.json is readable."""
    variants = dict(DEFAULT_VARIANTS)
    variants.update(params.get("variants") or {})
    runs = []
    for name, spec in (params.get("runs") or {}).items():
        spec = spec or {}
        variant = str(spec.get("variant", "baseline"))
        radius = float(spec.get("radius", 5.0)) if _uses_sgm(variant, variants) else None
        run = Run(name, str(spec.get("track", "mpii")), variant, radius, int(spec.get("seed", 0)),
                  Path(runs_dir) / name)
        run.config = _read_json(run.folder / "train" / "config.json")
        metrics_path = run.folder / "eval" / "metrics.json"
        if not metrics_path.is_file():
            run.missing = ("no eval/metrics.json" if (run.folder / "train").is_dir()
                           else "not on disk")
        else:
            metrics = _read_json(metrics_path)
            if not isinstance(metrics, dict):
                run.missing = "eval/metrics.json unreadable"
            else:
                run.metrics = {k: (float(v) if v is not None else math.nan)
                               for k, v in metrics.items()
                               if isinstance(v, (int, float)) or v is None}
        runs.append(run)
    return runs


def group_values(runs: Sequence[Run], track: str, variant: str, radius: float | None,
                 metric: str) -> dict[int, float]:
    """seed -> value of `metric` for the usable runs of one group (nan where it is absent)."""
    return {r.seed: float(r.metrics.get(metric, math.nan)) for r in runs
            if r.present and r.group == (track, variant, radius)}


def group_estimate(runs: Sequence[Run], track: str, variant: str, radius: float | None,
                   metric: str, scale: float = 1.0, **kw) -> Estimate | None:
    """The group's Estimate of `metric` (x scale), or None when no run of the group exists."""
    vals = group_values(runs, track, variant, radius, metric)
    if not vals:
        return None
    seeds = sorted(vals)
    return summarize([vals[s] * scale for s in seeds], seeds, **kw)


def group_difference(runs: Sequence[Run], track: str, a: tuple[str, float | None],
                     b: tuple[str, float | None], metric: str, scale: float = 1.0,
                     **kw) -> Estimate | None:
    """Paired difference (variant, radius) a − b matched by seed; None when no seed has both."""
    va = group_values(runs, track, *a, metric)
    vb = group_values(runs, track, *b, metric)
    if not set(va) & set(vb):
        return None
    return paired_difference({k: v * scale for k, v in va.items()},
                             {k: v * scale for k, v in vb.items()}, **kw)


def read_floors(runs_dir: str | Path, track: str) -> dict | None:
    """runs/baselines/<track>.json: {"untrained": metrics, "mean_pose": metrics}, or None."""
    data = _read_json(Path(runs_dir) / "baselines" / f"{track}.json")
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------------------- complexity
@functools.lru_cache(maxsize=32)
def model_complexity(preset: str, sgm_sites: tuple = (), num_joints: int = 17,
                     input_size: tuple[int, int] = (192, 256)) -> tuple[int, int]:
    """(parameters, multiply-adds) of a model, input_size = (width, height). Built on the meta
    device: shapes only, no weights, so even W32 costs about a second."""
    import torch

    from ..model import PRESETS, PoseHighResolutionNet, count_macs, count_parameters

    with torch.device("meta"):
        model = PoseHighResolutionNet(PRESETS[preset], num_joints, tuple(sgm_sites))
    return count_parameters(model), count_macs(model, tuple(input_size))


def _run_complexity(run: Run) -> tuple[int, int] | None:
    c = run.config
    if not c:
        return None
    d = c["data"]
    size = d["mpii_image_size"] if d["track"] == "mpii" else d["image_size"]
    return model_complexity(c["model"]["preset"], tuple(c["model"]["sgm_sites"]),
                            int(c["model"]["num_joints"]), tuple(size))


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e6:.3f}M"


def _fmt_gmacs(m: int) -> str:
    g = m / 1e9
    return f"{g:.2f}" if g >= 1 else f"{g:.3f}"


# ---------------------------------------------------------------------------------- formatting
def fmt_estimate(e: Estimate | None, digits: int = 1, signed: bool = False) -> str:
    """'21.0 [20.0, 22.0]'; n=1: '21.0'; no run: '—'; undefined (nan in every run): 'n/a'."""
    if e is None:
        return NO_RUN
    if e.n == 0 or not math.isfinite(e.mean):
        return UNDEFINED

    def f(v: float) -> str:
        text = f"{v:.{digits}f}"
        if float(text) == 0.0:
            return f"{0:.{digits}f}"          # no '-0.0' or '+0.0'
        return ("+" if signed and v > 0 else "") + text.replace("-", "−")
    text = f(e.mean)
    if e.has_ci:
        text += f" [{f(e.lo)}, {f(e.hi)}]"
    return text


def fmt_p(e: Estimate | None) -> str:
    if e is None:
        return NO_RUN
    if e.n < 2:
        return f"n={e.n}, no test"
    if not math.isfinite(e.p):
        return "n/a (const.)"
    return "<0.001" if e.p < 0.001 else f"{e.p:.3f}"


def fmt_n(e: Estimate | None) -> str:
    if e is None:
        return "0"
    return f"{e.n}, no CI" if e.n == 1 else str(e.n)


def _fmt_value(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return UNDEFINED
    return f"{v:.1f}" if isinstance(v, (int, float)) else str(v)


class Table:
    """Rows of strings for Markdown plus the numbers behind them for the CSV (long format:
    one line per cell with value, ci_low, ci_high, n, p_value and a note)."""

    def __init__(self, name: str, columns: Sequence[str], first: str = "Method"):
        self.name, self.columns, self.first = name, list(columns), first
        self.rows: list[list[str]] = []
        self.records: list[dict] = []

    def add(self, label: str, source: str, cells: Mapping[str, object], n_text: str = "",
            digits: int = 1, signed: bool = False, extra: Mapping[str, str] | None = None) -> None:
        """cells: column -> Estimate | None | number | str. Missing columns are '—'."""
        row = [label]
        for col in self.columns:
            if extra and col in extra:
                row.append(extra[col])
                self.records.append(self._record(label, source, col, text=extra[col]))
                continue
            v = cells.get(col, None)
            if isinstance(v, Estimate) or v is None:
                row.append(fmt_estimate(v, digits, signed))
                self.records.append(self._record(label, source, col, v))
            else:
                row.append(_fmt_value(v))
                self.records.append(self._record(label, source, col, v if isinstance(
                    v, (int, float)) else None, text=None if isinstance(v, (int, float)) else v))
        row.append(n_text)
        self.rows.append(row)
        for rec, text in zip(self.records[-len(self.columns):], row[1:]):
            rec["text"] = text

    def add_p(self, label: str, diffs: Mapping[str, Estimate | None]) -> None:
        row = [label] + [fmt_p(diffs.get(c)) if c in diffs else "" for c in self.columns] + [""]
        self.rows.append(row)
        for c in self.columns:
            if c in diffs:
                e = diffs[c]
                self.records.append({"table": self.name, "row": label, "source": "paired t-test",
                                     "metric": c, "value": None, "ci_low": None, "ci_high": None,
                                     "n": e.n if e else 0,
                                     "p_value": e.p if e and math.isfinite(e.p) else None,
                                     "note": "" if e else "no run", "text": fmt_p(e)})

    def _record(self, label, source, col, v=None, text=None) -> dict:
        rec = {"table": self.name, "row": label, "source": source, "metric": col, "text": "",
               "value": None,
               "ci_low": None, "ci_high": None, "n": None, "p_value": None, "note": ""}
        if isinstance(v, Estimate):
            ok = math.isfinite(v.mean) and v.n > 0
            rec.update(value=v.mean if ok else None, ci_low=v.lo if v.has_ci else None,
                       ci_high=v.hi if v.has_ci else None, n=v.n,
                       p_value=v.p if math.isfinite(v.p) else None,
                       note="" if ok else "undefined")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            ok = math.isfinite(v)
            rec.update(value=float(v) if ok else None, note="" if ok else "undefined")
        elif text is not None:
            pass                                  # a text cell (Params, GFLOPs, ...): no number
        else:
            rec["note"] = "no run"
        return rec

    def markdown(self) -> str:
        head = [self.first] + self.columns + ["n"]
        rule = "|" + "|".join(["---"] + [":-:"] * (len(head) - 1)) + "|"
        lines = ["| " + " | ".join(head) + " |", rule]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.records, columns=[
            "table", "row", "source", "metric", "text", "value", "ci_low", "ci_high", "n",
            "p_value", "note"])


# --------------------------------------------------------------------------------- the context
@dataclass
class Study:
    """What the tables and figures are built from."""
    params: dict
    runs: list[Run]
    runs_dir: Path
    profile: str
    baseline: str = "baseline"
    sg: str = "sg"
    sg_radius: float = 5.0
    n_resamples: int = 10_000
    seed: int = 0
    floors: dict = field(default_factory=dict)

    @property
    def used(self) -> list[Run]:
        return [r for r in self.runs if r.present]

    def missing(self, track: str | None = None) -> list[Run]:
        return [r for r in self.runs if not r.present and (track is None or r.track == track)]

    def est(self, track, variant, radius, metric, scale=1.0) -> Estimate | None:
        return group_estimate(self.runs, track, variant, radius, metric, scale,
                              n_resamples=self.n_resamples, seed=self.seed)

    def diff(self, track, a, b, metric, scale=1.0) -> Estimate | None:
        return group_difference(self.runs, track, a, b, metric, scale,
                                n_resamples=self.n_resamples, seed=self.seed)

    def seeds(self, track, variant, radius) -> list[int]:
        return sorted(r.seed for r in self.used if r.group == (track, variant, radius))

    def profile_text(self, track: str) -> str:
        """'profile `smoke` (hrnet_tiny, input 64×64, 2 epochs)' from the runs' own configs."""
        seen = []
        for r in self.used:
            if r.track != track or not r.config:
                continue
            c = r.config
            size = c["data"]["mpii_image_size"] if track == "mpii" else c["data"]["image_size"]
            text = (f"profile `{c['profile']}` (model {c['model']['preset']}, input "
                    f"{size[0]}×{size[1]} w×h, {c['train']['epochs']} epochs, batch "
                    f"{c['train']['batch_size']}")
            if c["data"].get("limit_train"):
                text += f", first {c['data']['limit_train']} training samples"
            if c["data"].get("limit_val"):
                text += f", first {c['data']['limit_val']} validation samples"
            text += ")"
            if text not in seen:
                seen.append(text)
        if not seen:
            return f"profile `{self.profile}` (params.yaml; no run of this track on disk)"
        return "; ".join(seen)


def _seed_text(study: Study, track: str, variant: str, radius) -> str:
    seeds = study.seeds(track, variant, radius)
    return f"n={len(seeds)}" + (f" (seeds {', '.join(map(str, seeds))})" if seeds else "")


def _header(study: Study, title: str, track: str, groups: Sequence[tuple[str, str, float | None]],
            paper_note: str, extra: str = "") -> str:
    seeds = "; ".join(f"{label} {_seed_text(study, track, v, r)}" for label, v, r in groups)
    missing = study.missing(track)
    miss = ("Missing runs (listed in params.yaml, not on disk): "
            + ", ".join(f"`{r.name}` ({r.missing})" for r in missing) + "."
            if missing else "Missing runs: none.")
    return (f"# {title}\n\n"
            f"**Ours**: {study.profile_text(track)}. **Data**: {DATA_TEXT[track]}\n\n"
            f"**Seeds**: {seeds}. Cells: mean over seeds [95 % bootstrap CI of the mean: "
            f"percentile, {study.n_resamples:,} resamples, numpy Generator seed {study.seed}] "
            f"(mean ± CI, given as an interval since a bootstrap CI need not be symmetric); with "
            f"n=1 there is no CI (only the value). **SG − baseline**: the paired difference, mean "
            f"of the per-seed differences over the seeds both variants have [bootstrap CI], and "
            f"the p-value of a paired t-test (scipy.stats.ttest_rel, n ≥ 2). With 2–3 seeds the "
            f"bootstrap CI has few distinct resample means and is only indicative. "
            f"\"{NO_RUN}\": no run produced the cell; \"{UNDEFINED}\": undefined in every run; "
            f"p \"n/a (const.)\": every paired difference is the same, so the t statistic is "
            f"undefined. {miss}\n\n"
            f"**Paper**: {paper_note}{(' ' + extra) if extra else ''}\n")


def _floor_rows(table: Table, study: Study, track: str, columns: Sequence[str], scale: float,
                prefix: str = "") -> None:
    floors = study.floors.get(track)
    for key, label in (("untrained", "floor: untrained model"),
                       ("mean_pose", "floor: mean training pose in each box")):
        metrics = (floors or {}).get(key)
        if metrics is None:
            table.add(label, "floor", {}, "—")
            continue
        table.add(label, "floor", {c: float(metrics.get(prefix + c, math.nan)) * scale
                                   if metrics.get(prefix + c) is not None else math.nan
                                   for c in columns}, "1 (single evaluation)")


# ----------------------------------------------------------------------------------- the tables
def table1(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Table 1 analogue: PCKh@0.5 per joint group, MPII-style track."""
    t, base, sg = "mpii", (study.baseline, None), (study.sg, study.sg_radius)
    table = Table("table1_pckh", ["Params", "GFLOPs", *PCKH_COLUMNS])
    for label, vals in PAPER_TABLE1.items():
        table.add(f"{label} (paper, Table 1)", "paper", vals, "1 (single run)")
    cx = {}
    for key, (v, r) in (("baseline", base), ("sg", sg)):
        run = next((x for x in study.used if x.group == (t, v, r) and x.config), None)
        c = _run_complexity(run) if run else None
        cx[key] = {"Params": _fmt_params(c[0]), "GFLOPs": _fmt_gmacs(c[1])} if c else {}
    est_b = {c: study.est(t, *base, c) for c in PCKH_COLUMNS}
    est_s = {c: study.est(t, *sg, c) for c in PCKH_COLUMNS}
    diff = {c: study.diff(t, sg, base, c) for c in PCKH_COLUMNS}
    table.add("Ours: HRNet baseline", "ours", est_b, fmt_n(est_b["Mean"]), extra=cx["baseline"])
    table.add(f"Ours: SG-HRNet r={study.sg_radius:g}", "ours", est_s, fmt_n(est_s["Mean"]),
              extra=cx["sg"])
    table.add("Ours: SG − baseline (paired by seed)", "difference", diff, fmt_n(diff["Mean"]),
              signed=True, extra={"Params": "", "GFLOPs": ""})
    table.add_p("Ours: SG − baseline, paired t-test p", diff)
    _floor_rows(table, study, t, PCKH_COLUMNS, 1.0)
    header = _header(
        study, "Table 1 analogue — PCKh@0.5 per joint group (MPII-style track)", t,
        [("baseline", *base), (f"SG r={study.sg_radius:g}", *sg)],
        "Table 1 of Tang et al. (2024): the full MPII validation set, HRNet-W32 at 256×256, single "
        "runs (SG − baseline there: +0.3 Mean). Our absolute levels come from a small model on "
        "small data and are not comparable with the paper's; compare the difference SG − "
        "baseline. Params/GFLOPs of our rows: our model at our input size (multiply-adds, G = 1e9, "
        "see Table 2 for the convention).")
    summary = {"baseline": _d(est_b), "sg": _d(est_s), "difference": _d(diff)}
    return header + "\n" + table.markdown() + "\n", table.frame(), summary


def table2(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Table 2 analogue: COCO OKS AP (in %), params and multiply-adds; plus body-only AP."""
    t, base, sg = "coco", (study.baseline, None), (study.sg, study.sg_radius)
    cols = ["Input", "Params (M)", "GFLOPs", *COCO_COLUMNS]
    table = Table("table2_coco", cols)
    for label, vals in PAPER_TABLE2.items():
        vals = {**vals, "Params (M)": vals["Params"], "Input": "256×192"}
        table.add(f"{label} (paper, Table 2)", "paper", vals, "1 (single run)")
    for label, sites in (("HRNet-W32, computed here", ()),
                         ("SG-HRNet-W32 (4 SGMs), computed here",
                          ("stage2", "stage3", "stage4", "final"))):
        p, m = model_complexity("hrnet_w32", sites, 17, (192, 256))
        table.add(label, "computed", {}, "", extra={
            "Input": "256×192", "Params (M)": f"{p / 1e6:.2f}",
            "GFLOPs": f"{m / 1e9:.2f} ({m / 1024 ** 3:.2f} in 1024³)",
            **{c: "" for c in COCO_COLUMNS}})
    cx = {}
    for key, (v, r) in (("baseline", base), ("sg", sg)):
        run = next((x for x in study.used if x.group == (t, v, r) and x.config), None)
        c = _run_complexity(run) if run else None
        if c:
            size = run.config["data"]["image_size"]
            cx[key] = {"Input": f"{size[1]}×{size[0]}", "Params (M)": f"{c[0] / 1e6:.2f}",
                       "GFLOPs": _fmt_gmacs(c[1])}
        else:
            cx[key] = {}
    est_b = {c: study.est(t, *base, c, 100.0) for c in COCO_COLUMNS}
    est_s = {c: study.est(t, *sg, c, 100.0) for c in COCO_COLUMNS}
    diff = {c: study.diff(t, sg, base, c, 100.0) for c in COCO_COLUMNS}
    table.add("Ours: HRNet baseline", "ours", est_b, fmt_n(est_b["AP"]), extra=cx["baseline"])
    table.add(f"Ours: SG-HRNet r={study.sg_radius:g}", "ours", est_s, fmt_n(est_s["AP"]),
              extra=cx["sg"])
    table.add("Ours: SG − baseline (paired by seed)", "difference", diff, fmt_n(diff["AP"]),
              signed=True, extra={"Input": "", "Params (M)": "", "GFLOPs": ""})
    table.add_p("Ours: SG − baseline, paired t-test p", diff)
    _floor_rows(table, study, t, COCO_COLUMNS, 100.0)

    body = Table("table2_coco_body", list(COCO_COLUMNS))
    est_bb = {c: study.est(t, *base, f"body_{c}", 100.0) for c in COCO_COLUMNS}
    est_sb = {c: study.est(t, *sg, f"body_{c}", 100.0) for c in COCO_COLUMNS}
    diff_b = {c: study.diff(t, sg, base, f"body_{c}", 100.0) for c in COCO_COLUMNS}
    body.add("Ours: HRNet baseline (body-only AP)", "ours", est_bb, fmt_n(est_bb["AP"]))
    body.add(f"Ours: SG-HRNet r={study.sg_radius:g} (body-only AP)", "ours", est_sb,
             fmt_n(est_sb["AP"]))
    body.add("Ours: SG − baseline (body-only AP, paired)", "difference", diff_b,
             fmt_n(diff_b["AP"]), signed=True)
    body.add_p("Ours: SG − baseline, paired t-test p", diff_b)
    _floor_rows(body, study, t, COCO_COLUMNS, 100.0, prefix="body_")

    header = _header(
        study, "Table 2 analogue — COCO keypoint AP (COCO track)", t,
        [("baseline", *base), (f"SG r={study.sg_radius:g}", *sg)],
        "Table 2 of Tang et al. (2024): COCO val2017 with detector boxes, 256×192, single runs "
        "(the paper's SG row is pretrained: compare it with the pretrain-Y HRNet row, +1.9 AP). "
        "AP ... AR are in percent here to match the paper (pycocotools gives [0, 1]).",
        "**GFLOPs** = multiply-adds of one forward pass of one image in G = 1e9 (the field's "
        "\"GFLOPs\"; BN, ReLU, sums, upsampling and the SGM's sigmoid and product not counted), "
        "from `sgpose_lib.model.count_macs`; **Params** from `count_parameters`. The official "
        "HRNet tool divides by 1024³ and prints 7.12 for W32 at 256×192; the paper prints 7.10. "
        "Input is height×width.")
    body_header = ("\n## Body-only AP (face keypoints removed from the ground truth)\n\n"
                   "The same predictions scored against a ground truth without the 5 face "
                   "keypoints, the joints the LSPET-trained part of the data never labels. Not a "
                   "paper metric: no paper row.\n\n")
    md = header + "\n" + table.markdown() + "\n" + body_header + body.markdown() + "\n"
    frame = pd.concat([table.frame(), body.frame()], ignore_index=True)
    summary = {"baseline": _d(est_b), "sg": _d(est_s), "difference": _d(diff),
               "body_baseline": _d(est_bb), "body_sg": _d(est_sb), "body_difference": _d(diff_b)}
    return md, frame, summary


def table3(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Table 3 analogue: SG-HRNet with disc radius r (paper: 3, 5, 9), MPII-style track."""
    t, base = "mpii", (study.baseline, None)
    radii = sorted(set(PAPER_RADII) | {r.radius for r in study.runs
                                       if r.track == t and r.variant == study.sg and r.radius})
    table = Table("table3_radius", list(PCKH_COLUMNS), first="Radius")
    for r in PAPER_RADII:
        table.add(f"r={r} (paper, Table 3)", "paper", PAPER_TABLE3[r], "1 (single run)")
    est = {}
    for r in radii:
        est[r] = {c: study.est(t, study.sg, float(r), c) for c in PCKH_COLUMNS}
        table.add(f"Ours: SG-HRNet r={r:g}", "ours", est[r], fmt_n(est[r]["Mean"]))
    est_b = {c: study.est(t, *base, c) for c in PCKH_COLUMNS}
    table.add("Ours: HRNet baseline (no SGM)", "ours", est_b, fmt_n(est_b["Mean"]))
    diffs = {}
    for r in radii:
        diffs[r] = {c: study.diff(t, (study.sg, float(r)), base, c) for c in PCKH_COLUMNS}
        table.add(f"Ours: SG r={r:g} − baseline (paired)", "difference", diffs[r],
                  fmt_n(diffs[r]["Mean"]), signed=True)
    header = _header(
        study, "Table 3 analogue — disc radius r of the segmentation target (MPII-style track)",
        t, [(f"SG r={r:g}", study.sg, float(r)) for r in radii] + [("baseline", *base)],
        "Table 3 of Tang et al. (2024): SG-HRNet on the full MPII validation set, single runs "
        "(best r=5, Mean 90.6; r=3 90.4; r=9 90.3). Its r=5 row prints Hip 89.8 where Table 1 "
        "prints 89.9; both are copied as printed.",
        "r is in pixels of the paper's 64-pixel-high heatmap and is scaled with our heatmap "
        "height, so a radius covers the same body-relative region in every profile.")
    summary = {f"r={r:g}": _d(est[r]) for r in radii}
    summary.update({f"r={r:g} - baseline": _d(diffs[r]) for r in radii})
    return header + "\n" + table.markdown() + "\n", table.frame(), summary


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
                 "seeds [95 % bootstrap CI]. \"—\": no run or no floor file "
                 "(runs/baselines/mpii.json, runs/baselines/coco.json).\n")
    for t, (cols, scale, unit) in spec.items():
        table = Table(f"learning_{t}", list(cols))
        _floor_rows(table, study, t, cols, scale)
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
        summary[t] = {"floors": {k: {c: _nan_none(floors.get(k, {}).get(c)) for c in cols}
                                 for k in ("untrained", "mean_pose")},
                      "gain_over_mean_pose": gain}
    return "".join(parts), pd.concat(frames, ignore_index=True), summary


def groups_table(study: Study) -> tuple[str, pd.DataFrame, dict]:
    """Every (track, variant, radius) group of params.yaml: n, primary metric, paired difference
    against the baseline (for ablation variants that no paper table covers)."""
    rows, md = [], ["# All groups of the study matrix\n\n"
                    "Primary metric: PCKh@0.5 Mean (mpii track) or AP in % (coco track); mean over "
                    "seeds [95 % bootstrap CI]; difference to the baseline paired by seed with its "
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


def _d(estimates: Mapping[str, Estimate | None]) -> dict:
    return {k: (e.to_dict() if e is not None else None) for k, e in estimates.items()}


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


# ---------------------------------------------------------------------------------- the report
def load_study(params_path: str | Path = "params.yaml", runs_dir: str | Path = "runs",
               **kw) -> Study:
    """The Study of params.yaml and the runs folder (what every table and figure reads)."""
    params = read_params(params_path)
    runs = collect_runs(params, runs_dir)
    study = Study(params, runs, Path(runs_dir), str(params.get("profile", "cpu")), **kw)
    study.floors = {t: read_floors(runs_dir, t) for t in ("mpii", "coco")}
    return study


def _write(folder: Path, stem: str, md: str, frame: pd.DataFrame) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = folder / f"{stem}.md", folder / f"{stem}.csv"
    md_path.write_text(md)
    frame.to_csv(csv_path, index=False, float_format="%.6g")
    return [md_path, csv_path]


def build_report(params_path: str | Path = "params.yaml", runs_dir: str | Path = "runs",
                 out_dir: str | Path = "reports", figures: bool = True, sg_radius: float = 5.0,
                 n_resamples: int = 10_000, seed: int = 0,
                 perturbed_root: str | Path | None = "data/perturbed") -> dict:
    """Write the study tables (<out>/tables) and figures (<out>/figures/study), the robustness and
    attention tables and <out>/README.md (sgpose_lib.report.findings; `perturbed_root`: the background-swap
    images for the figure); return the headline numbers (also in <out>/tables/summary.json)."""
    from .findings import build_findings
    study = load_study(params_path, runs_dir, sg_radius=float(sg_radius),
                       n_resamples=n_resamples, seed=seed)
    out = Path(out_dir)
    tables = out / "tables"
    written: dict[str, list[str]] = {"tables": [], "figures": []}
    summary: dict = {"profile": study.profile, "paper": PAPER_CITATION,
                     "sg_radius": study.sg_radius,
                     "runs_used": [r.name for r in study.used],
                     "environments": run_environments(study),
                     "runs_missing": {r.name: r.missing for r in study.missing()},
                     "profiles_used": {t: study.profile_text(t) for t in ("mpii", "coco")}}
    for stem, fn, key in (("table1_pckh", table1, "mpii"), ("table2_coco", table2, "coco"),
                          ("table3_radius", table3, "radius"),
                          ("learning", learning_table, "learning"),
                          ("groups", groups_table, "groups")):
        md, frame, part = fn(study)
        written["tables"] += [str(p) for p in _write(tables, stem, md, frame)]
        summary[key] = part
    p, m = model_complexity("hrnet_w32", (), 17, (192, 256))
    ps, ms = model_complexity("hrnet_w32", ("stage2", "stage3", "stage4", "final"), 17, (192, 256))
    summary["w32_256x192"] = {"params": p, "macs": m, "sg_params": ps, "sg_macs": ms}
    findings = build_findings(study, summary, out, Path(perturbed_root) if perturbed_root else None,
                              figures)
    summary["robustness"], summary["attention"] = findings["robustness"], findings["attention"]
    written["tables"] += findings["files"]
    (tables / "summary.json").write_text(json.dumps(summary, indent=2, default=_nan_none) + "\n")
    if figures:
        written["figures"] = [str(f) for f in study_figures(study, out / "figures" / "study")]
    summary["files"] = written
    return summary


# --------------------------------------------------------------------------------- the figures
def figure_title(study: Study, what: str, tracks: Sequence[str] = ("mpii", "coco")) -> str:
    profiles = sorted({r.config["profile"] for r in study.used if r.config and r.track in tracks}
                      ) or [study.profile]
    data = {"mpii": "MPII-style track (LSPET, PCKh@0.5)", "coco": "COCO track (60 val2017 images)"}
    return (f"{what} — profile {'/'.join(profiles)}, embedded data: "
            + "; ".join(data[t] for t in tracks))


def group_label(variant: str, radius: float | None) -> str:
    return "HRNet baseline" if radius is None else f"SG-HRNet r={radius:g}" if variant == "sg" \
        else f"{variant} r={radius:g}"


def run_groups(study: Study, track: str) -> dict[str, list[Path]]:
    """label -> the train folders of the group's usable runs (for the curve figures)."""
    out: dict[str, list[Path]] = {}
    for r in study.runs:
        log = r.folder / "train" / "log.jsonl"
        if r.track == track and log.is_file():
            out.setdefault(group_label(r.variant, r.radius), []).append(r.folder / "train")
    return out


def study_figures(study: Study, folder: str | Path) -> list[Path]:
    """training_curves.png, dwa_weights.png, pckh_bars.png, coco_bars.png, radius_ablation.png."""
    import matplotlib.pyplot as plt

    from . import viz

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    tracks = [t for t in ("mpii", "coco") if run_groups(study, t)]

    def save(fig, name):
        path = folder / name
        fig.savefig(path, dpi=130, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)

    # training curves: one row per track, L_key and L_seg
    rows = tracks or ["mpii"]
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 3.4 * len(rows)), squeeze=False)
    for i, t in enumerate(rows):
        viz.plot_training_curves(run_groups(study, t), ax=axes[i], dwa=False)
        axes[i, 0].set_title(f"{t} track: L_key (heatmap MSE)", fontsize=9)
        axes[i, 1].set_title(f"{t} track: L_seg (BCE, mean of the 4 maps)", fontsize=9)
    fig.suptitle(figure_title(study, "Training losses per step (smoothed; faint: raw)", rows),
                 fontsize=9)
    fig.tight_layout()
    save(fig, "training_curves.png")

    # DWA weights
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.4), squeeze=False)
    for i, t in enumerate(rows):
        viz.plot_dwa_weights(run_groups(study, t), ax=axes[0, i])
        axes[0, i].set_title(f"{t} track", fontsize=9)
    fig.suptitle(figure_title(study, "DWA task weights w_k (solid), w_s (dashed)", rows),
                 fontsize=9)
    fig.tight_layout()
    save(fig, "dwa_weights.png")

    # per-group bars with CIs
    for track, cols, scale, name, ylabel in (
            ("mpii", PCKH_COLUMNS, 1.0, "pckh_bars.png", "PCKh@0.5 (%)"),
            ("coco", COCO_COLUMNS, 100.0, "coco_bars.png", "OKS AP / AR (%)")):
        groups = {group_label(study.baseline, None):
                  {c: study.est(track, study.baseline, None, c, scale) for c in cols},
                  group_label(study.sg, study.sg_radius):
                  {c: study.est(track, study.sg, study.sg_radius, c, scale) for c in cols}}
        fig, ax = plt.subplots(figsize=(9, 3.6))
        viz.plot_group_bars(groups, cols, ax=ax, ylabel=ylabel)
        floors = study.floors.get(track) or {}
        mp = (floors.get("mean_pose") or {}).get(cols[-1] if track == "mpii" else "AP")
        if mp is not None and math.isfinite(mp):
            ax.axhline(mp * scale, color="0.4", lw=0.8, ls=":",
                       label=f"mean-pose floor ({'Mean' if track == 'mpii' else 'AP'})")
            ax.legend(fontsize=7, loc="upper right")
        fig.suptitle(figure_title(study, "Baseline vs SG-HRNet: mean over seeds, 95 % bootstrap "
                                         "CI, dots = seeds", [track]), fontsize=9)
        fig.tight_layout()
        save(fig, name)

    # radius ablation
    radii = sorted(set(PAPER_RADII) | {r.radius for r in study.runs
                                       if r.track == "mpii" and r.variant == study.sg and r.radius})
    ours = {r: study.est("mpii", study.sg, float(r), "Mean") for r in radii}
    fig = viz.plot_radius_ablation(ours, {r: v["Mean"] for r, v in PAPER_TABLE3.items()},
                                   baseline=study.est("mpii", study.baseline, None, "Mean"),
                                   paper_baseline=PAPER_TABLE1["HRNet-W32"]["Mean"])
    fig.suptitle(figure_title(study, "Disc radius r (Table 3 analogue), PCKh@0.5 Mean",
                              ["mpii"]), fontsize=9)
    fig.tight_layout()
    save(fig, "radius_ablation.png")
    return paths


# --------------------------------------------------------------------- attention maps, one call
def load_run_model(run_dir: str | Path, device: str = "cpu"):
    """(model in eval mode, Config) of a run folder (runs/<name> or its train/ folder)."""
    from ..engine.checkpoint_io import load_checkpoint
    from ..config import config_from_dict
    from ..model import build_model

    run_dir = Path(run_dir)
    ckpt_path = run_dir / "last.pt"
    if not ckpt_path.is_file():
        ckpt_path = run_dir / "train" / "last.pt"
    ckpt = load_checkpoint(ckpt_path)
    cfg = config_from_dict(ckpt["config"], f"{ckpt_path}: config")
    cfg.model.pretrained = ""
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg


def attention_figure(runs_dir: str | Path = "runs", baseline_run: str | None = "mpii_baseline_s0",
                     sg_run: str = "mpii_sg_r5_s0", n_images: int = 4,
                     indices: Sequence[int] | None = None,
                     out_png: str | Path | None = "reports/figures/study/attention_maps.png",
                     workers: int = 0):
    """Load the two runs' checkpoints and the SG run's validation set, and draw
    `viz.plot_attention_maps` (baseline optional: None or a missing run shows SG only)."""
    from . import viz
    from ..data import build_dataset

    sg_model, cfg = load_run_model(Path(runs_dir) / sg_run)
    base_model = None
    if baseline_run:
        base_dir = Path(runs_dir) / baseline_run
        if (base_dir / "train" / "last.pt").is_file() or (base_dir / "last.pt").is_file():
            base_model, base_cfg = load_run_model(base_dir)
            if base_cfg.data.track != cfg.data.track:
                raise ValueError(f"{baseline_run} ({base_cfg.data.track}) and {sg_run} "
                                 f"({cfg.data.track}) are on different tracks")
        else:
            warnings.warn(f"{base_dir}: no checkpoint, the baseline column is left out",
                          stacklevel=2)
    cfg.data.workers = workers
    dataset = build_dataset(cfg, "val")
    if isinstance(indices, str):  # papermill -p passes text: "5,50,150" or "[5, 50, 150]"
        indices = [int(v) for v in re.findall(r"-?\d+", indices)] or None
    bad = [i for i in (indices or []) if not 0 <= int(i) < len(dataset)]
    if bad:
        raise IndexError(f"indices {bad}: the validation set of {sg_run} has {len(dataset)} "
                         "samples")
    return viz.plot_attention_maps(sg_model, dataset, cfg, indices=indices, n_images=n_images,
                                   baseline_model=base_model, out_png=out_png,
                                   labels=(baseline_run, sg_run))


# ----------------------------------------------------------------------- for the report page
def table_markdown(out_dir: str | Path, stem: str, shift: int = 1, drop_title: bool = False) -> str:
    """A written table's Markdown with its headings moved `shift` levels down (to sit under a
    page title), without its first '# ' title line with `drop_title`; a missing file gives a
    one-line note."""
    path = Path(out_dir) / "tables" / f"{stem}.md"
    if not path.is_file():
        return f"*{path} not found: run build_report first.*"
    text = path.read_text()
    if drop_title:
        text = re.sub(r"\A# [^\n]*\n+", "", text)
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + shift) + " ", text, flags=re.M)


def run_environments(study: Study) -> list[dict]:
    """The distinct software/machine records (train/environment.json) of the runs used, each with
    the runs it covers: the versions, commit and CPU that produced the numbers."""
    seen: list[dict] = []
    for r in study.used:
        env = _read_json(r.folder / "train" / "environment.json")
        if not isinstance(env, dict):
            continue
        key = {k: env.get(k) for k in ("packages", "git_commit", "git_dirty", "cpu",
                                       "cpu_capability", "torch_threads", "cuda_device")}
        for entry in seen:
            if entry["environment"] == key:
                entry["runs"].append(r.name)
                break
        else:
            seen.append({"environment": key, "runs": [r.name]})
    return seen


def environment_markdown(environments: list[dict]) -> str:
    """One line per distinct environment of the runs: packages, commit (dirty or not), CPU."""
    lines = []
    for entry in environments:
        e = entry["environment"]
        pk = ", ".join(f"{k} {v}" for k, v in (e.get("packages") or {}).items() if v)
        commit = (e.get("git_commit") or "unknown")[:10] + (" (modified tree)" if e.get("git_dirty")
                                                             else "")
        lines.append(f"- {len(entry['runs'])} run(s): {pk}; commit {commit}; CPU {e.get('cpu')} "
                     f"({e.get('cpu_capability')}, {e.get('torch_threads')} threads)"
                     + (f"; GPU {e['cuda_device']}" if e.get("cuda_device") else ""))
    return "\n".join(lines)


def overview_markdown(summary: dict) -> str:
    """What produced the numbers of the page: profile per track, runs used and missing."""
    used = summary.get("runs_used") or []
    missing = summary.get("runs_missing") or {}
    lines = [f"**Paper**: {PAPER_CITATION}.", "",
             f"**params.yaml profile**: `{summary.get('profile')}`."]
    for t in ("mpii", "coco"):
        lines.append(f"- **{t} track**: {summary['profiles_used'].get(t, '')}. {DATA_TEXT[t]}")
    lines += ["", f"**Runs used** ({len(used)}): " + (", ".join(f"`{r}`" for r in used) or "none")
              + "."]
    lines.append("**Missing runs**: " + (", ".join(f"`{k}` ({v})" for k, v in missing.items())
                                          if missing else "none") + ".")
    if summary.get("environments"):
        lines += ["", "**Software and machine** (each run's `train/environment.json`):",
                  environment_markdown(summary["environments"])]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- the README section
RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"


def _e(d: dict | None, digits: int = 1, signed: bool = False) -> str:
    if not d:
        return NO_RUN
    e = Estimate.from_dict(d)
    text = fmt_estimate(e, digits, signed)
    return text + (f" (n={e.n})" if text not in (NO_RUN, UNDEFINED) else "")


def write_results_section(summary: dict | None = None, params_path: str | Path = "params.yaml",
                          runs_dir: str | Path = "runs", out_dir: str | Path = "reports") -> str:
    """A short Markdown 'Results' summary of the headline numbers (from `build_report`'s return
    value, or from <out>/tables/summary.json, or built now)."""
    if summary is None:
        path = Path(out_dir) / "tables" / "summary.json"
        summary = (json.loads(path.read_text()) if path.is_file()
                   else build_report(params_path, runs_dir, out_dir, figures=False))
    m, c, r = summary.get("mpii", {}), summary.get("coco", {}), summary.get("radius", {})

    def get(part, key, metric):
        return (part.get(key) or {}).get(metric)

    def p_text(d):
        if not d:
            return ""
        if d.get("n", 0) < 2:
            return ", no test (n<2)"
        p = d.get("p")
        return ", paired t-test p = n/a" if p is None else \
            (", paired t-test p < 0.001" if p < 0.001 else f", paired t-test p = {p:.3f}")

    dm, dc = get(m, "difference", "Mean"), get(c, "difference", "AP")
    rs = f"{summary.get('sg_radius', 5.0):g}"
    lines = [
        "## Results",
        "",
        f"Our runs: {summary['profiles_used'].get('mpii', '')}, on the embedded real data. "
        "Numbers are mean over seeds [95 % bootstrap CI]; SG − baseline is paired by seed. Full "
        "tables: `reports/tables/`, figures: `reports/figures/study/`, page: "
        "`reports/index.html`.",
        "",
        "- **MPII-style track (LSPET, PCKh@0.5 Mean)**: baseline "
        f"{_e(get(m, 'baseline', 'Mean'))}, "
        f"SG-HRNet r={rs} {_e(get(m, 'sg', 'Mean'))}; SG − baseline {_e(dm, signed=True)}"
        f"{p_text(dm)}. Paper (Table 1, full MPII, W32): 90.3 → 90.6 (+0.3).",
        f"- **COCO track (60 val2017 images, AP %)**: baseline {_e(get(c, 'baseline', 'AP'))}, "
        f"SG-HRNet r={rs} {_e(get(c, 'sg', 'AP'))}; SG − baseline {_e(dc, signed=True)}"
        f"{p_text(dc)}; body-only AP: baseline {_e(get(c, 'body_baseline', 'AP'))}, SG "
        f"{_e(get(c, 'body_sg', 'AP'))}. Paper (Table 2, COCO val2017, pretrained W32): "
        "74.4 → 76.3 (+1.9).",
        "- **Radius r (Mean PCKh)**: " + ", ".join(
            f"r={k[2:]} {_e((r.get(k) or {}).get('Mean'))}" for k in r
            if k.startswith("r=") and "baseline" not in k)
        + ". Paper (Table 3): r=3 90.4, r=5 90.6, r=9 90.3.",
    ]
    robust = summary.get("robustness") or {}
    if robust.get("available"):
        lines.append("- **Backgrounds swapped (COCO track, drop of the mean per-person OKS × 100, "
                     "SG − baseline; < 0: SG loses less)**: " + ", ".join(
                         f"{c} {_e(robust['conditions'][c].get('sg_minus_baseline_drop'), signed=True)}"
                         for c in ("blur", "clutter", "grey")) + f" (CIs over the {robust['persons']} "
                     "persons, one seed per variant). Discussion: `reports/README.md`.")
    w = summary.get("w32_256x192")
    if w:
        lines.append(f"- **Cost**: HRNet-W32 at 256×192 has {w['params'] / 1e6:.2f} M parameters "
                     f"and {w['macs'] / 1e9:.2f} G multiply-adds ({w['macs'] / 1024 ** 3:.2f} in "
                     f"1024³ units; paper 28.5 M / 7.10); the four SGMs add "
                     f"{(w['sg_params'] - w['params']) / 1e6:.3f} M parameters and "
                     f"{(w['sg_macs'] - w['macs']) / 1e9:.3f} G multiply-adds.")
    missing = summary.get("runs_missing") or {}
    if missing:
        lines.append(f"- Missing runs (shown as \"{NO_RUN}\"): " + ", ".join(sorted(missing)) + ".")
    if summary.get("profile") == "paper":
        caveat = ("Caveat: the paper profile trains HRNet-W32 with the paper's recipe, but with "
                  "ground-truth boxes for COCO (the paper: detector boxes). With a handful of "
                  "seeds the CI is wide and only indicative; the paper reports single runs.")
    else:
        caveat = ("Caveat: the embedded data is small (400 LSPET validation persons, 60 COCO "
                  f"images) and the `{summary.get('profile')}` profile's model is far smaller than "
                  "W32 and trained for a few epochs, so our absolute levels are far below the "
                  "paper's; what can be compared is the SG − baseline difference and its CI. "
                  "With a handful of seeds the CI is wide and only indicative; the paper reports "
                  "single runs.")
    lines += ["", caveat]
    return "\n".join(lines) + "\n"


def update_readme(readme_path: str | Path, text: str) -> bool:
    """Replace what lies between `<!-- results:start -->` and `<!-- results:end -->` in the
    README with `text`; returns True when the file changed. Without both markers (in that order)
    nothing is written and a warning says so."""
    path = Path(readme_path)
    content = path.read_text() if path.is_file() else ""
    pattern = re.compile(re.escape(RESULTS_START) + r".*?" + re.escape(RESULTS_END), re.S)
    if not pattern.search(content):
        warnings.warn(f"{path}: markers {RESULTS_START} / {RESULTS_END} not found; README left "
                      "unchanged", stacklevel=2)
        return False
    new = pattern.sub(lambda _: f"{RESULTS_START}\n{text.strip()}\n{RESULTS_END}", content, count=1)
    if new == content:
        return False
    path.write_text(new)
    return True
