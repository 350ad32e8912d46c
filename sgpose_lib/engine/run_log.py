"""The logs of a run folder: `log.jsonl`, `timing.jsonl` and the learning curve `epochs.csv`.

`log.jsonl` holds one JSON line per training step (`kind` "step": epoch, step, lr, the loss terms
and DWA weights) and per validation (`kind` "val": the track's metrics); `timing.jsonl` one line
per epoch (seconds, img/s, share of the time spent waiting for data). Epochs are 0-based in the
lines and 1-based in `epochs.csv`. Non-finite floats are written as null (JSON) or an empty cell
(CSV). On resume the lines past the checkpoint are dropped, so that the logs of an interrupted and
resumed run equal those of an uninterrupted one.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..errors import SgposeError
from .checkpoint_io import atomic_write_text, json_safe


class RunLog:
    """Append-only JSON-lines logs of a run; on resume, lines past the checkpoint are dropped."""

    def __init__(self, folder: Path, enabled: bool):
        self.enabled = enabled
        self.log = folder / "log.jsonl"
        self.timing = folder / "timing.jsonl"

    def truncate_after(self, epoch: int) -> None:
        """Keep only lines of epochs < `epoch` (what the checkpoint being resumed has seen)."""
        if not self.enabled:
            return
        for path in (self.log, self.timing):
            if path.exists():
                lines = [ln for ln in path.read_text().splitlines()
                         if ln.strip() and _complete_before(ln, epoch)]
                path.write_text("".join(ln + "\n" for ln in lines))

    def write(self, record: dict, timing: bool = False) -> None:
        """Append `record` as a line; SgposeError naming the file if it cannot be written (a
        full disk: the checkpoint and the lines before it are kept, and a resume cuts the log
        back to them)."""
        if self.enabled:
            path = self.timing if timing else self.log
            try:
                with open(path, "a") as f:
                    f.write(json.dumps(json_safe(record)) + "\n")
            except OSError as e:
                raise SgposeError(f"{path}: could not write the log ({e.strerror or e})") from None

    def records(self, timing: bool = False) -> list[dict]:
        path = self.timing if timing else self.log
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        return out

    def last_validation(self) -> dict:
        vals = [r for r in self.records() if r.get("kind") == "val"]
        return {k: v for k, v in vals[-1].items() if k not in ("kind", "epoch", "step")} \
            if vals else {}

    def write_epochs(self, path: Path) -> None:
        """One CSV row per completed epoch (1-based `epoch`): lr, the epoch means of the step
        losses and DWA weights, seconds and img/s, and the validation metrics where validated."""
        if not self.enabled:
            return
        rows: dict[int, dict] = {}
        sums: dict[int, dict] = {}
        for r in self.records():
            e = r["epoch"]
            row = rows.setdefault(e, {"epoch": e + 1})
            if r.get("kind") == "step":
                acc = sums.setdefault(e, {"n": 0})
                acc["n"] += 1
                row["lr"] = r["lr"]
                for k in ("loss", "l_key", "l_seg", "w_key", "w_seg"):
                    acc[k] = acc.get(k, 0.0) + r[k]
            elif r.get("kind") == "val":
                row.update({f"val_{k}": v for k, v in r.items()
                            if k not in ("kind", "epoch", "step")})
        for e, acc in sums.items():
            rows[e].update({k: v / acc["n"] for k, v in acc.items() if k != "n"})
        for t in self.records(timing=True):
            if t["epoch"] in rows:
                rows[t["epoch"]].update(seconds=t["seconds"], img_per_s=t["img_per_s"])
        table = [rows[e] for e in sorted(rows)]
        fields = list(dict.fromkeys(k for row in table for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in table)
        atomic_write_text(path, text.getvalue())


def _csv_value(v):
    return "" if isinstance(v, float) and not math.isfinite(v) else v


def _complete_before(line: str, epoch: int) -> bool:
    try:
        return json.loads(line)["epoch"] < epoch
    except (json.JSONDecodeError, KeyError):
        return False  # a line cut by a crash
