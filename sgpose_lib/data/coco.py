"""COCO person keypoints: ground-truth instances and detector boxes -> PersonRecord.

The rules are those of the official HRNet `COCODataset._load_coco_keypoint_annotation_kernal`:
- only non-crowd (`iscrowd` = 0) person annotations;
- a clean box: x1 = max(0, x), y1 = max(0, y), x2 = min(W - 1, x1 + max(0, w - 1)),
  y2 = min(H - 1, y1 + max(0, h - 1)), kept if `area` > 0 and x2 >= x1 and y2 >= y1;
- at least one labelled keypoint (max v > 0); v > 0 becomes 1 (labelled), else 0;
- centre/scale from the clean box, widened to the input aspect ratio and padded by 1.25.

Works on the prepared files (`data/prepared/coco_{train,val}.json`, file names relative to
`data/embedded`) and on a full COCO 2017 folder (`annotations/person_keypoints_val2017.json`,
images in `val2017/`), through the same code.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from ..errors import DataError
from ..geometry import box_to_center_scale
from ..layouts import COCO17
from .records import PersonRecord, Records, as_float_array, read_json, require_dir

log = logging.getLogger(__name__)

NUM_JOINTS = COCO17.num_joints
_IMAGE_KEYS = ("id", "file_name", "width", "height")
_ANN_KEYS = ("id", "image_id", "category_id", "bbox", "keypoints", "iscrowd", "area")


def read_coco_json(ann_file: str | Path) -> dict:
    """The COCO keypoint JSON of `ann_file`, checked for the fields the loader needs."""
    ann_file = Path(ann_file)
    data = read_json(ann_file, "COCO annotation file")
    if is_mpii_format(data):
        raise DataError(f"{ann_file}: MPII-format entries (16-joint MPII layout), not a COCO "
                        "keypoint file: the joint layouts differ from the COCO track's 17 joints; "
                        "use an MPII-track checkpoint or config (data.track: mpii) for this file")
    if not isinstance(data, dict):
        raise DataError(f"{ann_file}: expected a COCO JSON object, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{ann_file}: expected a list under '{key}'")
    for i, img in enumerate(data["images"]):
        missing = [k for k in _IMAGE_KEYS if not isinstance(img, dict) or k not in img]
        if missing:
            raise DataError(f"{ann_file}: images[{i}] lacks {missing}")
    for i, ann in enumerate(data["annotations"]):
        missing = [k for k in _ANN_KEYS if not isinstance(ann, dict) or k not in ann]
        if missing:
            raise DataError(f"{ann_file}: annotations[{i}] lacks {missing}")
    return data


def is_coco_keypoint_format(data) -> bool:
    """Whether parsed JSON `data` looks like a COCO keypoint file: a mapping with 'images' and
    'annotations' lists whose annotations carry 'keypoints'."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        return False
    anns = data.get("annotations")
    return isinstance(anns, list) and any(isinstance(a, dict) and "keypoints" in a
                                          for a in anns[:10])


def is_mpii_format(data) -> bool:
    """Whether parsed JSON `data` looks like MPII entries (official HRNet JSON: a list of
    {image, center, scale, joints, joints_vis}, or such a list under 'annotations' without
    'images')."""
    entries = data
    if isinstance(data, dict) and "images" not in data:
        entries = data.get("annotations")
    return (isinstance(entries, list) and any(isinstance(e, dict) and "joints" in e
                                              and "joints_vis" in e for e in entries[:10]))


def make_coco(data: dict) -> COCO:
    """A pycocotools COCO object over an in-memory dict (its index messages silenced)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


_GT_CACHE: dict[str, COCO] = {}


def load_coco_gt(ann_file: str | Path) -> COCO:
    """The pycocotools COCO ground truth of `ann_file` as it stands (no checks beyond valid
    JSON: e.g. the body-only file beside a prepared validation file), read once per process and
    cached by absolute path; its index messages silenced."""
    key = str(Path(ann_file).resolve())
    if key not in _GT_CACHE:
        _GT_CACHE[key] = make_coco(read_json(ann_file, "COCO ground-truth file"))
    return _GT_CACHE[key]


def clean_box(bbox, width: float, height: float) -> tuple[float, float, float, float] | None:
    """The official clean box (x1, y1, w, h) of an (x, y, w, h) box, or None if empty.

    Stricter than the official `x2 >= x1 and y2 >= y1`: a box of zero width or height would give
    a zero crop scale, so it is dropped (counted as a bad box) too."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 > x1 and y2 > y1:
        return x1, y1, x2 - x1, y2 - y1
    return None


def load_coco(ann_file: str | Path, image_dir: str | Path, aspect_ratio: float,
              padding: float = 1.25) -> tuple[Records, COCO]:
    """One record per person instance with >= 1 labelled keypoint, and the COCO object.

    `image_dir` is the folder the images' `file_name` is relative to (the record's `image`).
    `aspect_ratio` = width / height of the network input. The returned records' `counts` say
    how many annotations were read and why the others were left out."""
    ann_file = Path(ann_file)
    require_dir(image_dir)
    data = read_coco_json(ann_file)
    orphans = {a["image_id"] for a in data["annotations"]} - {i["id"] for i in data["images"]}
    if orphans:
        raise DataError(f"{ann_file}: annotations refer to image ids not in 'images': "
                        f"{sorted(orphans, key=str)[:5]}")
    coco = make_coco(data)
    cats = data.get("categories") or [{"id": 1, "name": "person"}]
    person_ids = {c.get("id") for c in cats if isinstance(c, dict) and c.get("name") == "person"}
    if not person_ids:
        raise DataError(f"{ann_file}: no 'person' category in 'categories'")

    counts = {"images": len(coco.imgs), "annotations": len(data["annotations"]), "crowd": 0,
              "not_person": 0, "bad_box": 0, "no_keypoints": 0, "kept": 0}
    records = Records(source=str(ann_file))
    for image_id in coco.imgs:
        img = coco.imgs[image_id]
        width, height = _number(img["width"], ann_file, f"image {image_id} width"), \
            _number(img["height"], ann_file, f"image {image_id} height")
        for ann in coco.imgToAnns.get(image_id, []):
            where = f"{ann_file}: annotation id {ann['id']}"
            if ann["iscrowd"]:
                counts["crowd"] += 1
                continue
            if ann["category_id"] not in person_ids:
                counts["not_person"] += 1
                continue
            bbox = as_float_array(ann["bbox"], (4,), where, "bbox")
            area = _number(ann["area"], ann_file, f"annotation id {ann['id']} area")
            box = clean_box(bbox, width, height)
            if box is None or area <= 0:
                counts["bad_box"] += 1
                continue
            kpts = as_float_array(ann["keypoints"], (NUM_JOINTS, 3), where, "keypoint")
            if kpts[:, 2].max() <= 0:
                counts["no_keypoints"] += 1
                continue
            joints = kpts.astype(np.float32)
            joints[:, 2] = (kpts[:, 2] > 0).astype(np.float32)
            center, scale = box_to_center_scale(*box, aspect_ratio=aspect_ratio, padding=padding)
            records.append(PersonRecord(image=str(img["file_name"]), image_id=int(image_id),
                                        joints=joints, center=center, scale=scale, score=1.0,
                                        headsize=0.0, area=area, ann_id=int(ann["id"]),
                                        image_size=(int(width), int(height))))
    counts["kept"] = len(records)
    if not records:
        raise DataError(f"{ann_file}: no person annotation with a labelled keypoint and a valid "
                        f"box ({counts})")
    records.counts = counts
    log.info("%s: %d person samples (%s)", ann_file, len(records), counts)
    return records, coco


def load_detections(det_file: str | Path, coco: COCO, aspect_ratio: float,
                    image_thre: float = 0.0, padding: float = 1.25) -> Records:
    """Records for the person boxes of a COCO detector-results JSON (list of {image_id,
    category_id, bbox, score}), as the official `_load_coco_person_detection_results`: boxes of
    category 1 with score >= `image_thre`; joints are unknown (all zero, v = 0). A person box
    (any score) whose width or height is not positive is a DataError naming the file and the
    entry: it would otherwise be silently widened to the input's aspect ratio (a file in
    [x1, y1, x2, y2] instead of COCO's [x, y, width, height] is the usual cause)."""
    det_file = Path(det_file)
    dets = read_json(det_file, "detection results file")
    if not isinstance(dets, list):
        raise DataError(f"{det_file}: expected a list of detections, got {type(dets).__name__}")
    unknown = sorted({d.get("image_id") for d in dets if isinstance(d, dict)} - set(coco.imgs),
                     key=str)
    if unknown:
        raise DataError(f"{det_file}: image ids not in the annotation file: {unknown[:5]}"
                        f"{' ...' if len(unknown) > 5 else ''} ({len(unknown)} in all)")
    counts = {"detections": len(dets), "not_person": 0, "below_thre": 0, "kept": 0}
    records = Records(source=str(det_file))
    for i, det in enumerate(dets):
        missing = [k for k in ("image_id", "category_id", "bbox", "score")
                   if not isinstance(det, dict) or k not in det]
        if missing:
            raise DataError(f"{det_file}: detection [{i}] lacks {missing}")
        if det["category_id"] != 1:
            counts["not_person"] += 1
            continue
        box = _detection_box(det, det_file, i)
        score = _number(det["score"], det_file, f"detection [{i}] score")
        if score < image_thre:
            counts["below_thre"] += 1
            continue
        center, scale = box_to_center_scale(*box, aspect_ratio=aspect_ratio, padding=padding)
        img = coco.imgs[det["image_id"]]
        records.append(PersonRecord(image=str(img["file_name"]), image_id=int(det["image_id"]),
                                    joints=np.zeros((NUM_JOINTS, 3), np.float32), center=center,
                                    scale=scale, score=score, headsize=0.0,
                                    area=float(box[2] * box[3]),
                                    image_size=_image_size(img, det_file)))
    counts["kept"] = len(records)
    if not records:
        raise DataError(f"{det_file}: no person box with score >= {image_thre} ({counts})")
    records.counts = counts
    return records


def _detection_box(det: dict, det_file: Path, index: int) -> np.ndarray:
    """The (x, y, width, height) box of detection `index` in image pixels; DataError naming the
    file and the entry unless it has 4 finite numbers with width > 0 and height > 0."""
    where = f"{det_file}: detection [{index}] (image_id {det['image_id']})"
    box = as_float_array(det["bbox"], (4,), where, "bbox")
    if box[2] <= 0 or box[3] <= 0:
        raise DataError(f"{where}: bbox {[float(v) for v in box]} has width {box[2]:g} and height "
                        f"{box[3]:g} pixels; COCO boxes are [x, y, width, height] with both > 0 "
                        "(is the file in [x1, y1, x2, y2]?)")
    return box


def full_coco_paths(root: str | Path, split: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of a COCO 2017 folder: `annotations/person_keypoints_
    {split}2017.json` with images in `{split}2017/` (or `images/{split}2017/`, official HRNet)."""
    root = Path(root)
    ann = root / "annotations" / f"person_keypoints_{split}2017.json"
    images = root / f"{split}2017"
    if not images.is_dir() and (root / "images" / f"{split}2017").is_dir():
        images = root / "images" / f"{split}2017"
    return ann, images


def _image_size(img: dict, path) -> tuple[int, int]:
    """(width, height) of a COCO `images` entry, pixels; DataError if not numbers."""
    return (int(_number(img["width"], path, f"image {img['id']} width")),
            int(_number(img["height"], path, f"image {img['id']} height")))


def _number(value, path, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {what} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise DataError(f"{path}: {what} is not finite")
    return out
