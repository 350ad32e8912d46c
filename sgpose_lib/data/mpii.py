"""MPII Human Pose in the official HRNet JSON format -> PersonRecord.

Format (official `data/mpii/annot/{train,valid}.json`): a list of entries
`{image, center: [x, y], scale: s, joints: 16 x [x, y], joints_vis: 16 x {0, 1}}` in MATLAB
1-based pixels, `scale` = person height / 200. A dict holding that list under "annotations" is
accepted too (the embedded 5-person fixture).

Official conventions (HRNet `MPIIDataset._get_db`): if c[0] != -1, c[1] += 15 s and s *= 1.25
(so that limbs are not cropped); then centre and joints minus 1 (1-based -> 0-based); scale = [s, s].

Optional `width` and `height` (the prepared files): the image's size in pixels, which the
dataset checks the decoded image against.

Head size (PCKh normaliser, image pixels): the entry's `headsize` field where present (prepared
files, fixture), else from `gt_mat` (official `annot/gt_valid.mat`, `headboxes_src` 2x2xN in the
order of valid.json): 0.6 x ||(x2 - x1, y2 - y1)|| (official SC_BIAS times the box diagonal),
else 0.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from ..errors import DataError
from ..layouts import MPII16
from .coco import is_coco_keypoint_format
from .records import PersonRecord, Records, as_float_array, read_json, require_dir

log = logging.getLogger(__name__)

NUM_JOINTS = MPII16.num_joints
SC_BIAS = 0.6  # official PCKh head size = 0.6 x head-box diagonal


def read_mpii_entries(ann_file: str | Path) -> list:
    ann_file = Path(ann_file)
    data = read_json(ann_file, "MPII annotation file")
    if is_coco_keypoint_format(data):
        raise DataError(f"{ann_file}: a COCO keypoint file (17-joint COCO layout), not MPII "
                        "entries: the joint layouts differ from the MPII track's 16 joints; use a "
                        "COCO-track checkpoint or config (data.track: coco) for this file")
    if isinstance(data, dict):
        data = data.get("annotations")
        if not isinstance(data, list):
            raise DataError(f"{ann_file}: expected a list of entries (or a dict with the list "
                            "under 'annotations')")
    if not isinstance(data, list):
        raise DataError(f"{ann_file}: expected a list of MPII entries, got {type(data).__name__}")
    if not data:
        raise DataError(f"{ann_file}: no entries")
    return data


def head_sizes_from_mat(gt_mat: str | Path, count: int) -> np.ndarray:
    """(N,) head sizes = 0.6 x head-box diagonal from the official `gt_valid.mat`."""
    gt_mat = Path(gt_mat)
    if not gt_mat.is_file():
        raise DataError(f"{gt_mat}: MPII ground-truth .mat file not found")
    try:
        boxes = loadmat(str(gt_mat))["headboxes_src"]
    except KeyError:
        raise DataError(f"{gt_mat}: no 'headboxes_src' array") from None
    except Exception as e:  # scipy raises several types for a file that is not a .mat
        raise DataError(f"{gt_mat}: not a readable .mat file ({e.__class__.__name__})") from None
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 3 or boxes.shape[:2] != (2, 2) or boxes.shape[2] != count:
        raise DataError(f"{gt_mat}: headboxes_src has shape {boxes.shape}, expected (2, 2, {count})"
                        " (one box per entry of the annotation file)")
    return SC_BIAS * np.linalg.norm(boxes[1] - boxes[0], axis=0)


def load_mpii(ann_file: str | Path, image_dir: str | Path,
              gt_mat: str | Path | None = None) -> Records:
    """One record per entry; `image` is relative to `image_dir`, `image_id` is the entry's
    position in the file. Joints with v = 0 keep their (shifted) coordinates, weight 0."""
    ann_file = Path(ann_file)
    require_dir(image_dir)
    entries = read_mpii_entries(ann_file)
    mat_sizes = head_sizes_from_mat(gt_mat, len(entries)) if gt_mat else None
    records = Records(source=str(ann_file))
    for i, a in enumerate(entries):
        where = f"{ann_file}: entry {i}"
        if not isinstance(a, dict):
            raise DataError(f"{where}: expected an object, got {type(a).__name__}")
        missing = [k for k in ("image", "center", "scale", "joints", "joints_vis") if k not in a]
        if missing:
            raise DataError(f"{where} lacks {missing}")
        c = as_float_array(a["center"], (2,), where, "center")
        s = float(as_float_array(a["scale"], (1,), where, "scale")[0])
        joints = as_float_array(a["joints"], (NUM_JOINTS, 2), where, "joint coordinate")
        vis = as_float_array(a["joints_vis"], (NUM_JOINTS,), where, "joints_vis")
        scale = np.array([s, s])
        if c[0] != -1:
            c[1] = c[1] + 15 * scale[1]
            scale = scale * 1.25
        c = c - 1
        out = np.zeros((NUM_JOINTS, 3), np.float32)
        out[:, :2] = joints - 1
        out[:, 2] = vis > 0
        if "headsize" in a:
            headsize = float(as_float_array(a["headsize"], (1,), where, "headsize")[0])
        elif mat_sizes is not None:
            headsize = float(mat_sizes[i])
        else:
            headsize = 0.0
        size = None
        if "width" in a and "height" in a:  # prepared files; the official ones give no size
            size = tuple(int(v) for v in as_float_array([a["width"], a["height"]], (2,), where,
                                                        "width/height"))
        records.append(PersonRecord(image=str(a["image"]), image_id=i, joints=out,
                                    center=c.astype(np.float32), scale=scale.astype(np.float32),
                                    score=1.0, headsize=headsize, area=0.0, image_size=size))
    records.counts = {"entries": len(entries), "kept": len(records),
                      "with_headsize": int(sum(r.headsize > 0 for r in records))}
    log.info("%s: %d person samples", ann_file, len(records))
    return records


def full_mpii_paths(root: str | Path, split: str) -> tuple[Path, Path, Path | None]:
    """(annotation file, image folder, gt .mat or None) of an official MPII folder:
    `annot/{train,valid}.json`, images in `images/`, `annot/gt_valid.mat` for validation."""
    root = Path(root)
    ann = root / "annot" / ("train.json" if split == "train" else "valid.json")
    gt_mat = root / "annot" / "gt_valid.mat"
    return ann, root / "images", (gt_mat if split != "train" and gt_mat.is_file() else None)
