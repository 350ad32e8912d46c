"""The runs of the study: what params.yaml lists and what `dvc repro` left on disk for each.

Reads, per entry of params.yaml `runs`:
    runs/<name>/train/config.json      the run's Config (profile, model, input size, epochs)
    runs/<name>/eval/metrics.json      PCKh (MPII track) or COCO AP (COCO track)
    runs/baselines/<track>.json        untrained model and mean-pose floors
A run is usable when its metrics are readable; a group is (track, variant, radius), the radius
None for variants without an SGM. `Study` is what every table and figure is built from.
Every file of a run folder is checked as it is read (validate.check_run): a damaged file raises
DamagedFile naming it, or with `exclude_damaged` leaves the run out (`Run.excluded`, also its
`missing` text), so that no number comes from a file that could not be read cleanly.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DEFAULT_VARIANTS, TRACKS
from ..params import read_params
from ..data.records import read_json
from ..errors import DataError
from .stats import Estimate, paired_difference, summarize
from .validate import PRIMARY, DamagedFile, check_run, check_runs_folder
from .validate import read_floors as read_floors_file
from .wording import input_size


def read_json_or_none(path: str | Path):
    """Parsed JSON of `path`, or None when the file is missing, unreadable or not JSON (a run
    that has not produced it yet)."""
    try:
        return read_json(path, "JSON file")
    except (DataError, OSError):
        return None


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
    excluded: str = ""        # the damaged file that left the run out and what is wrong with it

    @property
    def present(self) -> bool:
        return self.metrics is not None

    @property
    def group(self) -> tuple:
        return (self.track, self.variant, self.radius)


def _uses_sgm(variant: str, variants: Mapping) -> bool:
    sites = (variants.get(variant) or {}).get("model", {}).get("sgm_sites")
    return bool(sites) if sites is not None else variant != "baseline"


def collect_runs(params: Mapping, runs_dir: str | Path = "runs",
                 exclude_damaged: bool = False) -> list[Run]:
    """Every run of params.yaml `runs` (in params order) with its metrics and config if present.
    A run is usable when runs/<name>/eval/metrics.json is there and every file of the run folder
    passes validate.check_run; a damaged file raises DamagedFile, or with `exclude_damaged`
    marks the run excluded (not usable, `missing` and `excluded` saying why)."""
    variants = dict(DEFAULT_VARIANTS)
    variants.update(params.get("variants") or {})
    runs = []
    for name, spec in (params.get("runs") or {}).items():
        spec = spec or {}
        variant = str(spec.get("variant", "baseline"))
        radius = float(spec.get("radius", 5.0)) if _uses_sgm(variant, variants) else None
        run = Run(name, str(spec.get("track", "mpii")), variant, radius, int(spec.get("seed", 0)),
                  Path(runs_dir) / name)
        try:
            files = check_run(run.folder, run.track)
        except DamagedFile as e:
            if not exclude_damaged:
                raise DamagedFile(e.path, f"{e.problem}; `--exclude-damaged` leaves run "
                                          f"{name} out of the report") from None
            run.excluded = f"{e.path.relative_to(run.folder)}: {e.problem}"
            run.missing = f"excluded, damaged file {run.excluded}"
            runs.append(run)
            continue
        run.config = files.config
        if files.metrics is None:
            run.missing = ("no eval/metrics.json" if (run.folder / "train").is_dir()
                           else "not on disk")
        else:
            run.metrics = {k: (float(v) if v is not None else math.nan)
                           for k, v in files.metrics.items()
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
    """runs/baselines/<track>.json: {"untrained": metrics, "mean_pose": metrics}, or None when
    absent; DamagedFile when it is damaged (validate.read_floors)."""
    path = Path(runs_dir) / "baselines" / f"{track}.json"
    if not path.is_file():
        return None
    return read_floors_file(path, PRIMARY.get(track))


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
        """'profile `smoke` (model hrnet_tiny, input 64×64 (h×w), 2 epochs, batch 4)' from the
        runs' own configs."""
        seen = []
        for r in self.used:
            if r.track != track or not r.config:
                continue
            c = r.config
            size = c["data"]["mpii_image_size"] if track == "mpii" else c["data"]["image_size"]
            text = (f"profile `{c['profile']}` (model {c['model']['preset']}, input "
                    f"{input_size(size)}, {c['train']['epochs']} epochs, batch "
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


def load_study(params_path: str | Path = "params.yaml", runs_dir: str | Path = "runs",
               exclude_damaged: bool = False, **kw) -> Study:
    """The Study of params.yaml and the runs folder (what every table and figure reads).
    DataError when `runs_dir` is not a folder holding at least one run of params.yaml; a
    damaged run file raises DamagedFile, or leaves its run out with `exclude_damaged`
    (collect_runs)."""
    params = read_params(params_path)
    check_runs_folder(runs_dir, list(params.get("runs") or {}), str(params_path))
    runs = collect_runs(params, runs_dir, exclude_damaged)
    study = Study(params, runs, Path(runs_dir), str(params.get("profile", "cpu")), **kw)
    study.floors = {t: read_floors(runs_dir, t) for t in TRACKS}
    return study
