"""The data layer: loaders (COCO, MPII), the embedded-data preparation and the top-down dataset.

`build_dataset(cfg, split)` finds the annotation file of `cfg.data.track` / `split`:
1. `cfg.data.train_ann` / `cfg.data.val_ann` when set (images under `cfg.data.image_root`);
2. else the full data-set folder `cfg.data.coco_dir` / `cfg.data.mpii_dir` when set:
   COCO 2017: `annotations/person_keypoints_<split>2017.json`, images in `<split>2017/`
   (or `images/<split>2017/`);
   MPII (official HRNet layout): `annot/train.json` / `annot/valid.json`, images in `images/`,
   head boxes from `annot/gt_valid.mat` when the entries carry no `headsize`;
3. else the prepared file `<data.root>/<track>_<split>.json` (images under `data.image_root`);
4. else `data.root` itself read as a full data-set folder (as in 2).
`cfg.data.limit_train` / `limit_val` (> 0) keep only the first N samples of the split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import GT_BOXES
from ..errors import DataError
from ..layouts import LAYOUTS
from ..targets import TargetEncoder
from .coco import full_coco_paths, load_coco, load_coco_gt, load_detections
from .dataset import IMAGENET_MEAN, IMAGENET_STD, TopDownDataset, fliplr_joints
from .mpii import full_mpii_paths, load_mpii
from .records import PersonRecord, Records, summarize

SPLITS = ("train", "val")


@dataclass(frozen=True)
class SplitFiles:
    ann_file: Path          # annotation file
    image_root: Path        # the records' `image` paths are relative to it
    gt_mat: Path | None     # MPII head boxes (official gt_valid.mat), if used
    kind: str               # "override", "prepared", "coco2017" or "mpii"


def resolve_split(cfg, split: str) -> SplitFiles:
    """Where the annotations and images of `split` ("train" or "val") of `cfg.data.track` are."""
    if split not in SPLITS:
        raise DataError(f"split: {split!r} is not one of {SPLITS}")
    d = cfg.data
    override = d.train_ann if split == "train" else d.val_ann
    if override:
        return SplitFiles(Path(override), Path(d.image_root), None, "override")
    full_dir = d.coco_dir if d.track == "coco" else d.mpii_dir
    if full_dir:
        full_dir = Path(full_dir)
        if not full_dir.is_dir():
            raise DataError(f"{full_dir}: data.{d.track}_dir folder not found")
        files = _full_folder(full_dir, d.track, split)
        if files is None:
            raise DataError(f"{full_dir}: no {d.track} {split} annotations: expected "
                            f"{_full_folder_ann(full_dir, d.track, split)}")
        return files
    root = Path(d.root)
    if not root.is_dir():
        raise DataError(f"{root}: data.root folder not found (run `sgpose prepare` for the "
                        f"embedded data, or set data.{d.track}_dir to a full data-set folder)")
    prepared = root / f"{d.track}_{split}.json"
    if prepared.is_file():
        return SplitFiles(prepared, Path(d.image_root), None, "prepared")
    files = _full_folder(root, d.track, split)
    if files is None:
        raise DataError(f"{root}: no {d.track} {split} annotations: expected {prepared.name} "
                        f"(prepared) or {_full_folder_ann(root, d.track, split)} (full data set)")
    return files


def _full_folder_ann(root: Path, track: str, split: str) -> Path:
    return (full_coco_paths(root, split) if track == "coco" else full_mpii_paths(root, split))[0]


def _full_folder(root: Path, track: str, split: str) -> SplitFiles | None:
    """The files of a full COCO 2017 or MPII folder, or None if its annotation file is missing."""
    if track == "coco":
        ann, images = full_coco_paths(root, split)
        return SplitFiles(ann, images, None, "coco2017") if ann.is_file() else None
    ann, images, gt_mat = full_mpii_paths(root, split)
    return SplitFiles(ann, images, gt_mat, "mpii") if ann.is_file() else None


def build_dataset(cfg, split: str, boxes: str | None = None) -> TopDownDataset:
    """The TopDownDataset of `split` for `cfg.data.track` (train: augmented).

    COCO track: `dataset.coco` is the pycocotools COCO object of the annotation file and
    `dataset.gt_file` its path (for COCOeval); `dataset.gt_file_body` is the prepared body-only
    ground truth when it sits beside it. `boxes` (default `cfg.eval.boxes` for "val") = "gt" or
    a detector-results JSON whose person boxes replace the ground-truth boxes (COCO val only;
    the MPII track always uses the annotated centre/scale, as official)."""
    files = resolve_split(cfg, split)
    track = cfg.data.track
    layout = LAYOUTS[track]
    encoder = TargetEncoder.from_config(cfg.data)
    aspect_ratio = encoder.image_size[0] / encoder.image_size[1]
    coco = None
    if track == "coco":
        records, coco = load_coco(files.ann_file, files.image_root, aspect_ratio,
                                  padding=cfg.data.padding)
        if boxes is None:
            boxes = cfg.eval.boxes if split == "val" else GT_BOXES
        if boxes and boxes != GT_BOXES:
            records = load_detections(boxes, coco, aspect_ratio, cfg.eval.image_thre,
                                      padding=cfg.data.padding)
    else:
        records = load_mpii(files.ann_file, files.image_root, files.gt_mat)
    limit = cfg.data.limit_train if split == "train" else cfg.data.limit_val
    if limit > 0:
        records = Records(records[:limit], dict(records.counts, limit=limit), records.source)
    dataset = TopDownDataset(records, files.image_root, layout, cfg.data, train=split == "train",
                             encoder=encoder, seed=cfg.train.seed)
    dataset.ann_file = files.ann_file
    dataset.counts = records.counts
    if coco is not None:
        dataset.coco = coco
        dataset.gt_file = files.ann_file
        body = files.ann_file.with_name(files.ann_file.stem + "_body.json")
        dataset.gt_file_body = body if body.is_file() else None
    return dataset


__all__ = ["build_dataset", "resolve_split", "SplitFiles", "TopDownDataset", "PersonRecord",
           "Records", "load_coco", "load_coco_gt", "load_detections", "load_mpii", "fliplr_joints", "summarize",
           "IMAGENET_MEAN", "IMAGENET_STD"]
