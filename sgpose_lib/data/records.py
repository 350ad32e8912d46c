"""The one per-person record every loader returns and the dataset consumes.

Units: `joints` are (x, y, v) in 0-based pixels of the original image (v = 1 labelled, 0 not);
`center` is (x, y) pixels; `scale` is (width, height) of the crop region in units of 200 pixels
(the official `pixel_std`), already padded; `headsize` is the PCKh normaliser in image pixels.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


@dataclass
class PersonRecord:
    image: str                # path relative to the image root of the data set
    image_id: int             # COCO image id; for MPII files, the entry's position in the file
    joints: np.ndarray        # (K, 3) float32 [x, y, v], 0-based image pixels, v in {0, 1}
    center: np.ndarray        # (2,) float32, image pixels
    scale: np.ndarray         # (2,) float32, (width, height) / 200, padded
    score: float = 1.0        # box score: 1.0 for ground-truth boxes
    headsize: float = 0.0     # PCKh normaliser in image pixels; 0 where there is none
    area: float = 0.0         # COCO annotation area (segment area), 0 where there is none
    ann_id: int = -1          # COCO annotation id; -1 for detections and MPII entries
    image_size: tuple[int, int] | None = None  # (width, height) the annotation gives the image;
                                               # None where it gives none (official MPII files)

    @property
    def num_labelled(self) -> int:
        return int((self.joints[:, 2] > 0).sum())


class Records(list):
    """A list of PersonRecord with `counts`: what the loader read, kept and filtered out."""

    def __init__(self, items=(), counts: dict[str, int] | None = None, source: str = ""):
        super().__init__(items)
        self.counts: dict[str, int] = dict(counts or {})
        self.source = source


def read_json(path: str | Path, what: str = "annotation file") -> Any:
    """Parsed JSON of `path`; DataError naming the file if missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e.__class__.__name__}: {e})") from None


def require_dir(path: str | Path, what: str = "image folder") -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: {what} not found")
    return path


def as_float_array(value, shape: tuple[int, ...], where: str, what: str) -> np.ndarray:
    """`value` as a float64 array of `shape`; DataError naming `where` if not numeric or of
    another size."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {what} must be numeric, got {str(value)[:60]}") from None
    if arr.size != int(np.prod(shape)):
        raise DataError(f"{where}: expected {int(np.prod(shape))} {what} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: {what} contains NaN or infinite values")
    return arr.reshape(shape)


def summarize(records: list[PersonRecord]) -> dict[str, int]:
    """Counts used in reports: images, persons, persons with >= 1 labelled joint, labelled joints."""
    labelled = [r.num_labelled for r in records]
    return {"images": len({r.image for r in records}), "persons": len(records),
            "persons_labelled": sum(n > 0 for n in labelled), "labelled_joints": sum(labelled)}


__all__ = ["PersonRecord", "Records", "read_json", "require_dir", "as_float_array", "summarize"]
