"""The checks of every per-run file a report reads: a damaged file is refused, never half-read.

A file that exists is read in full and checked; `DamagedFile` (a DataError: one line naming the
file and what is wrong) when it is
- JSON that is incomplete (a write cut short) or holds NaN or an infinite number: the project
  writes an undefined value as null (engine/checkpoint_io.json_safe), so null is allowed and
  NaN is not;
- a metrics.json (eval/metrics.json, eval/dark/metrics.json, an analysis condition's) whose
  values are not numbers or null (the objects `units` and `settings` aside), or without the
  track's primary metric (PCKh `Mean`, COCO `AP`);
- a config.json that is not a run config (config.config_from_dict), an environment.json that is not
  an object, a log.jsonl or timing.jsonl with a line that is not one complete JSON object;
- an epochs.csv with a cut or uneven line, a cell that is not a finite number (an empty cell is
  an epoch without that value), no `epoch` column, or epochs other than 1, 2, ..., n with n at
  most config.json's train.epochs; for an evaluated run n equals train.epochs and the track's
  validation columns (the learning curves) are there.
A missing file is not damage: the readers treat it as a run not trained or evaluated yet.

`check_run` applies the checks to every file of a run folder; `RunFiles` is what it read.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..config import Config, config_from_dict
from ..engine.schedule import RULE_METRICS
from ..errors import ConfigError, DataError

PRIMARY = {"mpii": "Mean", "coco": "AP"}  # the metric each track's tables are built on
METADATA = ("units", "settings")          # the objects of a metrics.json beside its numbers


class DamagedFile(DataError):
    """A per-run file that exists but cannot be trusted: `path` and what is wrong (`problem`)."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def non_finite(value: Any, where: str = "") -> str | None:
    """Where in `value` (a parsed JSON document) the first NaN or infinite number is, e.g.
    "'Mean' is NaN"; None when every number is finite."""
    if isinstance(value, float) and not math.isfinite(value):
        token = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return f"{where or 'the value'} is {token}"
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found = non_finite(item, f"{where}[{key!r}]" if where else repr(key))
        if found:
            return found
    return None


def read_json(path: str | Path) -> Any:
    """The parsed JSON of an existing file: complete, every number finite (DamagedFile)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise DamagedFile(path, f"not complete JSON ({e.msg} at line {e.lineno}, column "
                                f"{e.colno})") from None
    except UnicodeDecodeError:
        raise DamagedFile(path, "not UTF-8 text") from None
    found = non_finite(data)
    if found:
        raise DamagedFile(path, f"{found}, not a finite number (an undefined value is null)")
    return data


def read_object(path: str | Path) -> dict:
    """read_json of a file that holds one JSON object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DamagedFile(path, f"expected a JSON object, found {type(data).__name__}")
    return data


def check_metrics(data: Any, path: str | Path, primary: str | None = None,
                  where: str = "") -> dict:
    """`data` (read from `path`; `where`: its key there, if nested) as a metrics object: metric
    -> number or null (`units`, `settings`: objects), with `primary` among them where given."""
    if not isinstance(data, dict):
        raise DamagedFile(path, f"{where}expected an object of metrics, found "
                                f"{type(data).__name__}")
    for key, value in data.items():
        if key in METADATA and isinstance(value, dict):
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DamagedFile(path, f"{where}{key!r} is {_short(value)}, not a number")
    if primary is not None and primary not in data:
        raise DamagedFile(path, f"{where}no {primary!r} value")
    return data


def read_metrics(path: str | Path, primary: str | None = None) -> dict:
    """A metrics.json (check_metrics)."""
    return check_metrics(read_object(path), path, primary)


def read_floors(path: str | Path, primary: str | None = None) -> dict:
    """runs/baselines/<track>.json: {"untrained": metrics, "mean_pose": metrics, "units": ...}."""
    data = read_object(path)
    for key in ("untrained", "mean_pose"):
        if key not in data:
            raise DamagedFile(path, f"no {key!r} object")
        check_metrics(data[key], path, primary, f"{key!r}: ")
    return data


def read_config(path: str | Path) -> tuple[dict, Config]:
    """A run's config.json: the stored dict and the Config it gives (config_from_dict)."""
    data = read_object(path)
    try:
        return data, config_from_dict(data, "config.json")
    except ConfigError as e:
        raise DamagedFile(path, f"not a run config ({e})") from None


def read_jsonl(path: str | Path) -> list[dict]:
    """A log.jsonl or timing.jsonl: one complete JSON object per line, every number finite."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DamagedFile(path, "not UTF-8 text") from None
    if text and not text.endswith("\n"):
        raise DamagedFile(path, f"line {text.count(chr(10)) + 1} is cut (no line end)")
    records = []
    for i, line in enumerate(text.splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DamagedFile(path, f"line {i}: not complete JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise DamagedFile(path, f"line {i}: expected a JSON object")
        found = non_finite(record)
        if found:
            raise DamagedFile(path, f"line {i}: {found}, not a finite number")
        records.append(record)
    return records


def read_epochs(path: str | Path, epochs: int | None = None, complete: bool = False,
                columns: Sequence[str] = ()) -> pd.DataFrame | None:
    """A run's epochs.csv, checked (module docstring), as pandas reads it; None when it holds
    no epoch. `epochs`: config.json's train.epochs, the most it may hold; `complete`: it holds
    exactly that many (an evaluated run); `columns`: columns it must have besides `epoch`."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DamagedFile(path, "not UTF-8 text") from None
    if not text.strip():
        raise DamagedFile(path, "empty file (not even a header)")
    if not text.endswith("\n"):
        raise DamagedFile(path, f"line {text.count(chr(10)) + 1} is cut (no line end)")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    if "epoch" not in header:
        raise DamagedFile(path, "no 'epoch' column in the header")
    if len(set(header)) != len(header) or "" in header:
        raise DamagedFile(path, "the header has an empty or repeated column name")
    seen = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DamagedFile(path, f"line {i} has {len(row)} cells, the header {len(header)} "
                                    "(a cut line?)")
        for name, cell in zip(header, row):
            if cell == "" and name != "epoch":
                continue
            try:
                value = float(cell)
            except ValueError:
                raise DamagedFile(path, f"line {i}, column {name!r}: {cell!r} is not a "
                                        "number") from None
            if not math.isfinite(value):
                raise DamagedFile(path, f"line {i}, column {name!r}: {cell!r} is not a finite "
                                        "number (an undefined value is an empty cell)")
            if name == "epoch":
                if value != int(value):
                    raise DamagedFile(path, f"line {i}: epoch {cell!r} is not a whole number")
                seen.append(int(value))
    for k, e in enumerate(seen, start=1):
        if e != k:
            raise DamagedFile(path, f"epochs are not 1, 2, ..., n: line {k + 1} holds epoch "
                                    f"{e}, expected {k}")
    done = len(seen)
    if epochs is not None and done > epochs:
        raise DamagedFile(path, f"{done} epochs, more than config.json's train.epochs {epochs}")
    if complete and epochs is not None and done != epochs:
        raise DamagedFile(path, f"{done} epochs, but the run was evaluated after config.json's "
                                f"train.epochs {epochs} (a cut file?)")
    missing = [c for c in columns if c not in header]
    if complete and missing:
        raise DamagedFile(path, f"no column {missing[0]!r} (the track's validation metric)")
    return pd.read_csv(io.StringIO(text)) if done else None


@dataclass
class RunFiles:
    """What `check_run` read of a run folder (None where the file is absent)."""
    config: dict | None = None
    metrics: dict | None = None


def check_run(folder: str | Path, track: str) -> RunFiles:
    """Check every file a report reads of the run folder `folder` (runs/<name>: train/, eval/,
    analysis/) of `track`; DamagedFile at the first damaged one. A run with eval/metrics.json
    has finished training: its epochs.csv must hold all of config.json's epochs."""
    folder = Path(folder)
    train, ev = folder / "train", folder / "eval"
    primary = PRIMARY.get(track)
    out = RunFiles()
    if (ev / "metrics.json").is_file():
        out.metrics = read_metrics(ev / "metrics.json", primary)
    if (ev / "dark" / "metrics.json").is_file():  # a second decoder's, of the same schema
        read_metrics(ev / "dark" / "metrics.json", primary)
    cfg = None
    if (train / "config.json").is_file():
        out.config, cfg = read_config(train / "config.json")
    if (train / "environment.json").is_file():
        read_object(train / "environment.json")
    if (train / "epochs.csv").is_file():
        validates = cfg is not None and cfg.train.val_every > 0
        read_epochs(train / "epochs.csv", cfg.train.epochs if cfg else None,
                    complete=out.metrics is not None and cfg is not None,
                    columns=[f"val_{m}" for m, _ in RULE_METRICS.get(track, ())] if validates
                    else ())
    for name in ("log.jsonl", "timing.jsonl"):
        if (train / name).is_file():
            read_jsonl(train / name)
    if (folder / "analysis").is_dir():
        for path in sorted((folder / "analysis").rglob("*.json")):
            if path.name == "metrics.json":
                read_metrics(path, primary)
            else:
                read_json(path)
    return out


def check_runs_folder(runs_dir: str | Path, names: Sequence[str], listed_in: str) -> None:
    """DataError unless `runs_dir` is a folder holding at least one of the runs `names` (the
    run matrix of `listed_in`): a report of a folder with no run would be a report of nothing."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DataError(f"{runs_dir}: runs folder not found")
    if not any((runs_dir / name).is_dir() for name in names):
        example = f" (such as {names[0]}/)" if names else ""
        raise DataError(f"{runs_dir}: holds none of the {len(names)} runs listed in "
                        f"{listed_in}{example}")


__all__ = ["DamagedFile", "PRIMARY", "RunFiles", "check_metrics", "check_run",
           "check_runs_folder", "non_finite", "read_config", "read_epochs", "read_floors",
           "read_json", "read_jsonl", "read_metrics", "read_object"]
