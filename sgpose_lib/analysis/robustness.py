"""Background-swap robustness: the same persons on other backgrounds, scored by AP and paired OKS.

`build_perturbed_sets` writes one copy of every image of a COCO-format annotation file per
condition (backgrounds.py: `original`, `blur`, `clutter`, `grey`, outside the dilated person mask)
under `<out_root>/<condition>/<file_name>`, with a manifest.

`evaluate_conditions` runs a checkpoint once per condition on its validation split (ground-truth
boxes, so every prediction belongs to one annotated person) and reports the COCO metrics and a
paired, continuous per-person OKS (`person_oks`), which moves even when the AP of a small model
is near 0.

The perturbed images are derivatives of the COCO images: keep them local (some are NoDerivs);
the manifest marks each image `figure_safe` (its licence allows derivatives), and the report's
figure shows only those.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..data import build_dataset
from ..data.coco import make_coco, read_coco_json
from ..data.licences import restricted_licences
from ..data.records import read_json, require_dir
from ..engine.checkpoint_io import atomic_write_text, json_safe
from ..engine.evaluate import dataset_person_oks, score_predictions
from ..engine.inference import load_checkpoint_model, predict
from ..errors import ConfigError, DataError
from .backgrounds import (BLUR_SIGMA_FRAC, CONDITIONS, DILATION_PX, GREY_LEVEL, JPEG_QUALITY,
                          READ_FLAGS, dilate_mask, encode_jpeg, perturb_image, person_category_ids,
                          union_person_mask)

def _safe_relative(file_name: str, where: str) -> Path:
    rel = Path(file_name)
    if rel.is_absolute() or ".." in rel.parts:
        raise DataError(f"{where}: file_name {file_name!r} must be a path inside the image root")
    return rel


def build_perturbed_sets(val_ann: Path, image_root: Path, out_root: Path, seed: int = 0,
                         image_ids: Sequence[int] | None = None) -> dict:
    """Write every image of the COCO-format `val_ann` (file names relative to `image_root`)
    under `out_root/<condition>/<file_name>` for each of CONDITIONS, and `out_root/manifest.json`.

    The person mask is the union of all person annotations of the image (crowd included),
    dilated by DILATION_PX = 5 image pixels; the clutter of image `id` is drawn from
    `np.random.default_rng([seed, id])`. Every file is JPEG quality 95 (keeping the original
    file name), so the same inputs give byte-identical files. `image_ids` limits the build to
    those images (default: all). Returns the manifest: conditions, seed, dilation, JPEG quality,
    blur sigma fraction and, per image, id, file name, size and `mask_fraction` (share of the
    image's pixels inside the dilated mask). DataError naming the file for a missing annotation
    file or image, or a person annotation without segmentation."""
    val_ann, image_root, out_root = Path(val_ann), Path(image_root), Path(out_root)
    data = read_coco_json(val_ann)
    coco = make_coco(data)
    person_ids = person_category_ids(data)
    restricted = restricted_licences(data)
    ids = sorted(coco.imgs) if image_ids is None else sorted({int(i) for i in image_ids})
    unknown = [i for i in ids if i not in coco.imgs]
    if unknown:
        raise DataError(f"{val_ann}: image ids not in the annotation file: {unknown[:5]}")
    entries = []
    for image_id in ids:
        img = coco.imgs[image_id]
        rel = _safe_relative(str(img["file_name"]), str(val_ann))
        src = image_root / rel
        image = cv2.imread(str(src), READ_FLAGS) if src.is_file() else None
        if image is None:
            raise DataError(f"{src}: image missing or unreadable (image id {image_id} of "
                            f"{val_ann})")
        mask = union_person_mask(coco, image_id, person_ids, str(val_ann))
        if mask.shape != image.shape[:2]:
            raise DataError(f"{src}: image is {image.shape[1]}x{image.shape[0]} pixels, the "
                            f"annotation says {mask.shape[1]}x{mask.shape[0]} (width x height)")
        mask = dilate_mask(mask, DILATION_PX)
        for condition in CONDITIONS:
            rng = np.random.default_rng([int(seed), int(image_id)])
            dst = out_root / condition / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(encode_jpeg(perturb_image(image, mask, condition, rng)))
        entries.append({"image_id": int(image_id), "file_name": str(img["file_name"]),
                        "width": int(image.shape[1]), "height": int(image.shape[0]),
                        "mask_fraction": round(float(mask.mean()), 6),
                        "figure_safe": img.get("license") not in restricted})
    manifest = {
        "val_ann": str(val_ann), "image_root": str(image_root), "conditions": list(CONDITIONS),
        "seed": int(seed), "dilation_px": DILATION_PX, "jpeg_quality": JPEG_QUALITY,
        "blur_sigma_frac": BLUR_SIGMA_FRAC, "grey_level": GREY_LEVEL,
        "mask": "union of all person annotations of the image (crowd included), dilated",
        "mean_mask_fraction": round(float(np.mean([e["mask_fraction"] for e in entries])), 6)
        if entries else 0.0,
        "images": entries,
    }
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(perturbed_root: Path) -> dict:
    """The manifest.json of a folder written by `build_perturbed_sets`; DataError if missing."""
    manifest = read_json(Path(perturbed_root) / "manifest.json", "perturbed-set manifest")
    if not isinstance(manifest, dict) or "images" not in manifest:
        raise DataError(f"{perturbed_root}/manifest.json: not a perturbed-set manifest")
    return manifest


# ------------------------------------------------------------------------------------ scoring
def evaluate_conditions(checkpoint: Path, perturbed_root: Path, out_dir: Path,
                        flip: bool = True, loaded: tuple | None = None) -> dict:
    """Score `checkpoint` on its run's COCO validation split once per condition, the images
    read from `perturbed_root/<condition>` (ground-truth boxes, flip test as `evaluate`).

    Returns and writes `out_dir/robustness.json`: {condition: {COCO metrics (AP, AR, body_AP,
    ...), "mean_oks", "oks", "ann_ids"}}, where "oks" is the per-person OKS (`person_oks`)
    in the order of the split's records (the same persons, identified by "ann_ids", in every
    condition, so conditions can be compared pairwise). Each condition's metrics.json and
    keypoints_results.json go to `out_dir/<condition>/`. One model pass per condition.
    `loaded`: the checkpoint's (model, cfg, device) from `inference.load_checkpoint_model`, when
    the caller has them already (its cfg is not changed)."""
    perturbed_root, out = Path(perturbed_root), Path(out_dir)
    read_manifest(perturbed_root)
    model, cfg, device = loaded or load_checkpoint_model(checkpoint)
    cfg = copy.deepcopy(cfg)
    cfg.eval.boxes = "gt"
    cfg.data.workers = min(cfg.data.workers, 1)
    if cfg.data.track != "coco":
        raise ConfigError(f"{checkpoint}: a {cfg.data.track!r}-track run; background swaps need "
                          "person masks, i.e. a COCO-track run")
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict] = {}
    for condition in CONDITIONS:
        root = require_dir(perturbed_root / condition, f"'{condition}' image folder")
        cfg.data.image_root = str(root)
        dataset = build_dataset(cfg, "val")
        missing = [r.image for r in dataset.records if not (root / r.image).is_file()]
        if missing:
            raise DataError(f"{root / missing[0]}: not in the perturbed set ({len(set(missing))} "
                            f"of the run's validation images missing; rebuild it from "
                            f"{dataset.ann_file})")
        pred = predict(model, dataset, cfg, device, flip)
        cond_dir = out / condition
        cond_dir.mkdir(parents=True, exist_ok=True)
        metrics = score_predictions(pred, dataset, cfg, cond_dir,
                                    {"checkpoint": str(checkpoint), "flip_test": bool(flip),
                                     "condition": condition})
        oks = dataset_person_oks(pred, dataset)
        summary[condition] = {**metrics,
                              "oks": [float(v) for v in oks],
                              "ann_ids": [int(r.ann_id) for r in dataset.records]}
    atomic_write_text(out / "robustness.json", json.dumps(json_safe(summary), indent=1) + "\n")
    return summary


# ------------------------------------------------------------------------------------ results
def load_condition_results(robustness_dir: Path) -> dict[str, list[dict]]:
    """{condition: COCO keypoint results} of the keypoints_results.json files that
    `evaluate_conditions` wrote under `robustness_dir/<condition>/`."""
    return {c: read_json(Path(robustness_dir) / c / "keypoints_results.json", "results file")
            for c in CONDITIONS}
