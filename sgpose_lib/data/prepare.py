"""Build the annotation files of both tracks from the embedded data (deterministic, seconds).

    sgpose prepare [--embedded data/embedded] [--out data/prepared] [--seed 0]

Image paths in every written file are relative to the embedded folder (`data.image_root`);
no image is copied or changed. Written files:

MPII-style track (official HRNet MPII JSON: a list of {image, center, scale, joints, joints_vis},
MATLAB 1-based pixels, plus `headsize`):
- `mpii_train.json` / `mpii_val.json`: the 2,000 LSPET images split by a seeded permutation
  (numpy Generator(seed)): `n_val` (400) validation, the rest (1,600) training.
- joints mapped by NAME into MPII's 16 (LSPET neck -> upper_neck; the other 13 have MPII's names);
  pelvis and thorax have no LSPET counterpart: v = 0, coordinates 0. LSPET joints with v = 0
  (unlabelled, garbage coordinates) are written as v = 0 with coordinates 0. LSPET coordinates
  are already MATLAB 1-based, as MPII's, so the loader's official "-1" makes them 0-based.
- centre/scale rule: box of the labelled joints; s = max(box width, box height) / 200, and the
  stored centre is the box centre moved up by 15 s, so that after the loader's official
  c[1] += 15 s and s *= 1.25 the crop is centred on the box and 1.25 x its longer side wide
  (the whole person with a 12.5 % margin on each side for square inputs).
- headsize = 0.75 x ||head_top - neck|| (image px): on MPII validation the official 0.6 x head-box
  diagonal equals 0.750 x ||head_top - upper_neck|| (median; see data/embedded/SOURCES.md).

COCO track (COCO keypoint JSON, file names relative to the embedded folder):
- `coco_train.json`: the COCO train2017-origin images of the embedded set (`coco_split` in
  coco/provenance.json) with all their annotations, plus the same 1,600 LSPET training images in
  the COCO-17 layout: the 12 body joints by name (l_shoulder -> left_shoulder, ...), the 5 face
  joints v = 0; labelled joints v = 2, coordinates 0-based (LSPET - 1); image id = annotation
  id = 9,000,000,000 + LSPET number (cannot collide with COCO ids); bbox = box of all labelled
  LSPET joints (incl. neck, head top) padded by 10 % of its longer side on each side, clipped to
  the image; area = bbox area; iscrowd 0; category 1; no segmentation.
- `coco_val.json`: the 60 val2017-origin images with all their annotations, objects unchanged.
- `coco_val_body.json`: the same with the 5 face keypoints zeroed (v = 0, x = y = 0) and
  num_keypoints recomputed: ground truth for a BODY-ONLY AP (12 joints); instances left with no
  labelled joint become num_keypoints = 0, which COCOeval ignores.
- `summary.json`: counts per split, the seed and these rules.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..geometry import PIXEL_STD
from ..layouts import COCO17, LSPET_JOINTS, MPII16
from .coco import load_coco, read_coco_json
from .mpii import load_mpii
from .records import read_json, summarize

LSPET_ID_BASE = 9_000_000_000
HEADSIZE_FACTOR = 0.75      # MPII-equivalent PCKh normaliser: 0.75 x ||head_top - neck||
COCO_BOX_PAD = 0.10         # LSPET COCO boxes: + 10 % of the longer side on each side
FACE_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

# LSPET joint name -> MPII joint name (all 14 LSPET joints have a counterpart)
LSPET_TO_MPII = {name: ("upper_neck" if name == "neck" else name) for name in LSPET_JOINTS}
# LSPET joint name -> COCO joint name (the 12 limb joints; neck and head top have none)
LSPET_TO_COCO = {
    "r_ankle": "right_ankle", "r_knee": "right_knee", "r_hip": "right_hip",
    "l_hip": "left_hip", "l_knee": "left_knee", "l_ankle": "left_ankle",
    "r_wrist": "right_wrist", "r_elbow": "right_elbow", "r_shoulder": "right_shoulder",
    "l_shoulder": "left_shoulder", "l_elbow": "left_elbow", "l_wrist": "left_wrist",
}

RULES = {
    "split": "numpy.random.default_rng(seed).permutation(2000): first n_val -> val, rest -> train "
             "(each split sorted by file name); the COCO track uses the same LSPET training images",
    "lspet_to_mpii": "by joint name; neck -> upper_neck; pelvis, thorax: v=0, coords 0; "
                     "LSPET v=0 joints: v=0, coords 0; coordinates kept MATLAB 1-based",
    "mpii_center_scale": "box of labelled joints; s = max(w, h)/200; centre = box centre - "
                         "(0, 15 s) so that the loader's official +15 s, x1.25 centres a crop "
                         "1.25 x the longer side on the box",
    "headsize": "0.75 * ||head_top - neck|| (MPII-equivalent of 0.6 * head-box diagonal)",
    "lspet_to_coco": "12 limb joints by name (r_/l_ -> right_/left_), face joints v=0; labelled "
                     "v=2, coordinates 0-based (LSPET - 1); ids 9e9 + LSPET number; bbox = box "
                     "of all labelled joints + 10% of its longer side per side, clipped; "
                     "area = bbox area",
    "coco_split": "coco_split of data/embedded/coco/provenance.json (train2017 -> train, "
                  "val2017 -> val); file_name prefixed 'coco/images/'",
    "coco_val_body": "coco_val.json with the 5 face keypoints zeroed and num_keypoints "
                     "recomputed: body-only AP",
}


def prepare(embedded_dir: str | Path = "data/embedded", out_dir: str | Path = "data/prepared",
            seed: int = 0, n_val: int = 400) -> dict:
    """Write the prepared files of both tracks into `out_dir`; returns the summary dict."""
    embedded = Path(embedded_dir)
    if not embedded.is_dir():
        raise DataError(f"{embedded}: embedded data folder not found")
    out = Path(out_dir)
    lspet = _read_lspet(embedded)
    n = len(lspet)
    if not 0 < n_val < n:
        raise DataError(f"n_val={n_val}: must be between 1 and {n - 1} (LSPET has {n} images)")
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    mpii = {"train": [_lspet_to_mpii(lspet[i]) for i in train_idx],
            "val": [_lspet_to_mpii(lspet[i]) for i in val_idx]}
    coco_src = read_coco_json(embedded / "coco" / "annotations" / "person_keypoints.json")
    coco_split = _coco_splits(embedded)
    coco_train = _coco_subset(coco_src, coco_split, "train2017")
    for i in train_idx:
        image, ann = _lspet_to_coco(lspet[i])
        coco_train["images"].append(image)
        coco_train["annotations"].append(ann)
    coco_train["info"] = dict(coco_train.get("info") or {}, sgpose="COCO train2017-origin images "
                              "of the embedded set + LSPET training images in COCO-17 layout")
    coco_val = _coco_subset(coco_src, coco_split, "val2017")
    coco_val["info"] = dict(coco_val.get("info") or {}, sgpose="COCO val2017-origin images of the "
                            "embedded set, annotations unchanged")
    coco_body = _body_only(coco_val)

    out.mkdir(parents=True, exist_ok=True)
    files = {"mpii_train.json": mpii["train"], "mpii_val.json": mpii["val"],
             "coco_train.json": coco_train, "coco_val.json": coco_val,
             "coco_val_body.json": coco_body}
    for name, obj in files.items():
        _write_json(out / name, obj)

    summary = {"seed": int(seed), "n_val": int(n_val), "embedded": str(embedded),
               "image_root": str(embedded), "rules": RULES, "mpii": {}, "coco": {}}
    for split in ("train", "val"):
        records = load_mpii(out / f"mpii_{split}.json", embedded)
        summary["mpii"][split] = dict(summarize(records), samples=len(records))
    for split, name in (("train", "coco_train.json"), ("val", "coco_val.json"),
                        ("val_body", "coco_val_body.json")):
        summary["coco"][split] = _coco_counts(out / name, embedded)
    _write_json(out / "summary.json", summary, indent=1)
    return summary


def _read_lspet(embedded: Path) -> list[dict]:
    path = embedded / "lspet" / "annotations" / "lspet_joints.json"
    data = read_json(path, "LSPET annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: expected an object with a list under 'images'")
    if tuple(data.get("joint_order", LSPET_JOINTS)) != LSPET_JOINTS:
        raise DataError(f"{path}: joint_order is not the LSPET order {LSPET_JOINTS}")
    images = []
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not {"file_name", "width", "height", "joints"} <= set(im):
            raise DataError(f"{path}: images[{i}] lacks file_name/width/height/joints")
        try:
            joints = np.asarray(im["joints"], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: images[{i}] joints are not numeric") from None
        if joints.shape != (len(LSPET_JOINTS), 3):
            raise DataError(f"{path}: images[{i}] joints have shape {joints.shape}, "
                            f"expected ({len(LSPET_JOINTS)}, 3)")
        name = str(im["file_name"])
        if not (embedded / "lspet" / "images" / name).is_file():
            raise DataError(f"{embedded / 'lspet' / 'images' / name}: image not found")
        images.append({"file_name": name, "number": int(Path(name).stem.lstrip("im")),
                       "width": int(im["width"]), "height": int(im["height"]), "joints": joints})
    if not images:
        raise DataError(f"{path}: no images")
    return images


def _lspet_to_mpii(im: dict) -> dict:
    src = im["joints"]
    labelled = src[:, 2] > 0
    joints = np.zeros((MPII16.num_joints, 2))
    vis = np.zeros(MPII16.num_joints, dtype=int)
    for k, name in enumerate(LSPET_JOINTS):
        if labelled[k]:
            j = MPII16.index(LSPET_TO_MPII[name])
            joints[j], vis[j] = src[k, :2], 1
    pts = src[labelled, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    s = max(float((hi - lo).max()), 1.0) / PIXEL_STD
    center = (lo + hi) / 2 - np.array([0.0, 15.0 * s])
    neck, head = src[LSPET_JOINTS.index("neck"), :2], src[LSPET_JOINTS.index("head_top"), :2]
    return {"image": f"lspet/images/{im['file_name']}", "center": center.tolist(), "scale": s,
            "joints": joints.tolist(), "joints_vis": vis.tolist(),
            "headsize": HEADSIZE_FACTOR * math.hypot(*(head - neck)),
            "width": im["width"], "height": im["height"]}


def _lspet_to_coco(im: dict) -> tuple[dict, dict]:
    src = im["joints"]
    labelled = src[:, 2] > 0
    kpts = np.zeros((COCO17.num_joints, 3))
    for k, name in enumerate(LSPET_JOINTS):
        if labelled[k] and name in LSPET_TO_COCO:
            kpts[COCO17.index(LSPET_TO_COCO[name])] = (src[k, 0] - 1, src[k, 1] - 1, 2)
    pts = src[labelled, :2] - 1
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = COCO_BOX_PAD * float((hi - lo).max())
    x0, y0 = max(0.0, lo[0] - pad), max(0.0, lo[1] - pad)
    x1, y1 = min(im["width"] - 1.0, hi[0] + pad), min(im["height"] - 1.0, hi[1] + pad)
    box = [x0, y0, x1 - x0, y1 - y0]
    ident = LSPET_ID_BASE + im["number"]
    image = {"id": ident, "file_name": f"lspet/images/{im['file_name']}",
             "width": im["width"], "height": im["height"]}
    ann = {"id": ident, "image_id": ident, "category_id": 1, "iscrowd": 0,
           "bbox": box, "area": box[2] * box[3], "num_keypoints": int((kpts[:, 2] > 0).sum()),
           "keypoints": [float(v) if i % 3 < 2 else int(v) for i, v in enumerate(kpts.ravel())],
           "segmentation": []}
    return image, ann


def _coco_splits(embedded: Path) -> dict[str, str]:
    path = embedded / "coco" / "provenance.json"
    prov = read_json(path, "COCO provenance file")
    if not isinstance(prov, list):
        raise DataError(f"{path}: expected a list of per-image entries")
    try:
        return {str(p["file_name"]): str(p["coco_split"]) for p in prov}
    except (TypeError, KeyError):
        raise DataError(f"{path}: entries need 'file_name' and 'coco_split'") from None


def _coco_subset(src: dict, split_of: dict[str, str], split: str) -> dict:
    missing = [im["file_name"] for im in src["images"] if im["file_name"] not in split_of]
    if missing:
        raise DataError(f"provenance.json: no coco_split for {missing[:3]}")
    images = [dict(im, file_name=f"coco/images/{im['file_name']}") for im in src["images"]
              if split_of[im["file_name"]] == split]
    ids = {im["id"] for im in images}
    anns = [copy.deepcopy(a) for a in src["annotations"] if a["image_id"] in ids]
    out = {k: copy.deepcopy(v) for k, v in src.items() if k not in ("images", "annotations")}
    out.update(images=images, annotations=anns)
    return out


def _body_only(coco_val: dict) -> dict:
    out = copy.deepcopy(coco_val)
    face = [COCO17.index(n) for n in FACE_JOINTS]
    for ann in out["annotations"]:
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        kpts[face] = 0
        ann["keypoints"] = [int(v) if float(v).is_integer() else float(v) for v in kpts.ravel()]
        ann["num_keypoints"] = int((kpts[:, 2] > 0).sum())
    out["info"] = dict(out.get("info") or {}, sgpose="BODY-ONLY ground truth: coco_val.json with "
                       "the 5 face keypoints zeroed (v=0, x=y=0) and num_keypoints recomputed")
    return out


def _coco_counts(path: Path, image_root: Path) -> dict:
    data = read_coco_json(path)
    anns = data["annotations"]
    person = [a for a in anns if not a["iscrowd"]]
    labelled = [int((np.asarray(a["keypoints"]).reshape(-1, 3)[:, 2] > 0).sum()) for a in person]
    records, _ = load_coco(path, image_root, aspect_ratio=0.75)
    return {"images": len(data["images"]), "persons": len(anns),
            "crowd": len(anns) - len(person),
            "persons_labelled": sum(n > 0 for n in labelled), "labelled_joints": sum(labelled),
            "samples": len(records),
            "lspet_images": sum(im["id"] >= LSPET_ID_BASE for im in data["images"])}


FLOAT_DECIMALS = 6  # written floats: pixels to 1e-6, so that every machine writes the same bytes


def _fixed(obj):
    """`obj` with every float rounded to FLOAT_DECIMALS: the last bits of a float computed with
    another instruction set (e.g. a vectorised norm) must not change the prepared files."""
    if isinstance(obj, float):
        return round(obj, FLOAT_DECIMALS) + 0.0   # + 0.0: no "-0.0"
    if isinstance(obj, dict):
        return {k: _fixed(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_fixed(v) for v in obj]
    return obj


def _write_json(path: Path, obj, indent: int | None = None) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(_fixed(obj), f, indent=indent)
        f.write("\n")
    tmp.replace(path)
