"""How well do the SGM attention maps match what they are trained on, and the person?

For an SG checkpoint, the sigmoid maps of every SGM site (stage2, stage3, stage4, final) on the
run's validation split (ground-truth boxes, no flip) are compared, at heatmap resolution, with
- the disc target (`disc_targets`: the same map as the dataset sample's 'seg', Eq. 2);
- COCO track: the person's own mask (`person_masks`: the sample's annotation, polygons or RLE,
  warped into heatmap pixels with the crop's affine, nearest neighbour), and the union of all
  person masks of the image (crowd included), since the SGM cannot know which person is meant.
Per site, means over samples (each sample counts once):
- `disc_share`: attention mass inside the disc, sum(map * disc) / sum(map);
- `disc_share_uniform`: the same for a uniform map = the disc's area fraction (chance level);
- `mask_share`, `mask_share_uniform`, `persons_share`, `persons_share_uniform`: the same for the
  own-person mask and the all-persons mask (None on the MPII track, which has no masks);
- `bce`: binary cross-entropy of the map against the disc (mean over pixels, p clipped to
  [1e-6, 1 - 1e-6]), nats;
- `iou`: IoU of the map thresholded at 0.5 (p >= 0.5) with the disc;
- `iou_topk`: IoU of the map's k highest pixels with the disc (k = the disc's pixels), and
  `iou_topk_chance` = f / (2 - f), its value for k random pixels (f = the disc's area fraction);
- `mean_map`: mean of the map (how much of the crop the map lets through).
Samples whose disc (or mask) has no pixel in the heatmap are left out of the statistics that use
it (`n_disc`, `n_mask` say how many count).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..config import SGM_SITES
from ..data import build_dataset
from ..engine.checkpoint_io import atomic_write_text, json_safe
from ..engine.inference import load_checkpoint_model, predict
from ..errors import CheckpointError, DataError
from ..geometry import affine_points, get_affine_transform
from ..targets import disc_map, joint_centers
from .backgrounds import person_category_ids, union_person_mask

BCE_EPS = 1e-6
IOU_THRESHOLD = 0.5


# --------------------------------------------------------------------------- numeric functions
def sgm_map_sites(sgm_sites: Sequence[str]) -> list[str]:
    """The sites of a model's SGM maps in the order the model returns them (its forward order,
    `config.SGM_SITES`), whatever the order of `sgm_sites` in the config."""
    return [s for s in SGM_SITES if s in sgm_sites]


def mass_share(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N,) share of each (H, W) map's mass inside the (H, W) mask: sum(map * mask) / sum(map)
    over (N, H, W) arrays (0 for an all-zero map)."""
    maps = np.asarray(maps, dtype=np.float64)
    inside = (maps * (np.asarray(mask) > 0)).sum(axis=(-2, -1))
    total = maps.sum(axis=(-2, -1))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)


def area_fraction(mask: np.ndarray) -> np.ndarray:
    """(N,) share of pixels inside each (H, W) mask: the mass share of a uniform map."""
    return (np.asarray(mask) > 0).mean(axis=(-2, -1))


def iou(maps: np.ndarray, target: np.ndarray, threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """(N,) IoU of (N, H, W) maps thresholded at `threshold` (>=) with (N, H, W) binary targets
    (nan where both are empty)."""
    pred = np.asarray(maps) >= threshold
    tgt = np.asarray(target) > 0
    inter = (pred & tgt).sum(axis=(-2, -1))
    union = (pred | tgt).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def iou_area_matched(maps: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N,) IoU with the (N, H, W) binary targets of each map's k highest pixels, k = the target's
    pixel count (a threshold-free IoU: soft maps that never reach 0.5 still rank the pixels;
    ties at the k-th value are all kept). Chance level, for k random pixels: f / (2 - f), f = the
    target's area fraction. nan for an empty target."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    tgt = np.asarray(target).reshape(len(target), -1) > 0
    k = tgt.sum(axis=1)
    out = np.full(len(flat), np.nan)
    for i in np.flatnonzero(k > 0):
        kth = np.partition(flat[i], -k[i])[-k[i]]
        pred = flat[i] >= kth
        out[i] = (pred & tgt[i]).sum() / (pred | tgt[i]).sum()
    return out


def bce(maps: np.ndarray, target: np.ndarray, eps: float = BCE_EPS) -> np.ndarray:
    """(N,) binary cross-entropy (nats, mean over pixels) of (N, H, W) probability maps against
    (N, H, W) binary targets, probabilities clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(maps, dtype=np.float64), eps, 1.0 - eps)
    t = (np.asarray(target) > 0).astype(np.float64)
    return -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)).mean(axis=(-2, -1))


def site_statistics(maps: np.ndarray, disc: np.ndarray, own_mask: np.ndarray | None = None,
                    persons_mask: np.ndarray | None = None) -> dict:
    """The module docstring's statistics of one site: means over the samples whose disc (mask)
    is non-empty. maps: (N, H, W) probabilities; disc, masks: (N, H, W) binary, heatmap pixels."""
    def mean(values: np.ndarray, keep: np.ndarray) -> float | None:
        values = values[keep]
        return float(np.nanmean(values)) if len(values) and not np.all(np.isnan(values)) else None

    has_disc = np.asarray(disc).reshape(len(disc), -1).any(axis=1)
    out = {"disc_share": mean(mass_share(maps, disc), has_disc),
           "disc_share_uniform": mean(area_fraction(disc), has_disc),
           "mask_share": None, "mask_share_uniform": None,
           "persons_share": None, "persons_share_uniform": None,
           "bce": mean(bce(maps, disc), has_disc),
           "iou": mean(iou(maps, disc), has_disc),
           "iou_topk": mean(iou_area_matched(maps, disc), has_disc),
           "iou_topk_chance": mean(area_fraction(disc) / (2.0 - area_fraction(disc)), has_disc),
           "mean_map": float(np.mean(maps)) if len(maps) else None}
    for name, mask in (("mask", own_mask), ("persons", persons_mask)):
        if mask is None:
            continue
        has = np.asarray(mask).reshape(len(mask), -1).any(axis=1)
        out[f"{name}_share"] = mean(mass_share(maps, mask), has)
        out[f"{name}_share_uniform"] = mean(area_fraction(mask), has)
    return out


# ------------------------------------------------------------------------- targets and masks
def disc_targets(dataset) -> np.ndarray:
    """(N, H, W) float32 disc targets of a validation dataset's records, heatmap pixels: the
    sample's 'seg' (no augmentation: the record's centre and scale, no rotation, no flip),
    computed from the joints without reading the images."""
    enc = dataset.encoder
    out = np.zeros((len(dataset.records), enc.heatmap_size[1], enc.heatmap_size[0]), np.float32)
    for i, r in enumerate(dataset.records):
        trans = get_affine_transform(r.center, r.scale, 0.0, dataset.input_size)
        joints_in = affine_points(r.joints[:, :2], trans).astype(np.float32)  # as make_sample
        centers = joint_centers(joints_in, enc.image_size, enc.heatmap_size)
        out[i] = disc_map(centers, r.joints[:, 2] > 0, enc.heatmap_size, enc.radius)
    return out


def person_masks(dataset, all_persons: bool = False) -> np.ndarray:
    """(N, H, W) bool masks at heatmap resolution (COCO track): each record's own annotation
    mask, or with `all_persons` the union of every person annotation of its image (crowd
    included), warped with get_affine_transform(center, scale, 0, heatmap_size) (nearest).
    DataError when a record has no annotation id or its annotation no segmentation."""
    coco = dataset.coco
    if coco is None:
        raise DataError(f"{dataset.ann_file}: person masks need a COCO-format annotation file")
    hw, hh = dataset.encoder.heatmap_size
    person_ids = person_category_ids(coco.dataset)
    out = np.zeros((len(dataset.records), hh, hw), dtype=bool)
    unions: dict[int, np.ndarray] = {}
    for i, r in enumerate(dataset.records):
        if all_persons:
            if r.image_id not in unions:
                unions[r.image_id] = union_person_mask(coco, r.image_id, person_ids,
                                                       str(dataset.ann_file))
            mask = unions[r.image_id]
        else:
            ann = coco.anns.get(r.ann_id)
            if ann is None or not ann.get("segmentation"):
                raise DataError(f"{dataset.ann_file}: record {i} (annotation id {r.ann_id}) has "
                                "no segmentation")
            mask = coco.annToMask(ann) > 0
        trans = get_affine_transform(r.center, r.scale, 0.0, (hw, hh))
        out[i] = cv2.warpAffine(mask.astype(np.uint8), trans, (hw, hh), flags=cv2.INTER_NEAREST,
                                borderValue=0) > 0
    return out


# ---------------------------------------------------------------------------------- the study
def attention_statistics(checkpoint: Path, out_json: Path | None = None,
                         loaded: tuple | None = None) -> dict:
    """Attention statistics of an SG checkpoint on its run's validation split (see the module
    docstring). Returns {site: {statistic: mean}, 'n': samples, 'n_disc', 'n_mask', 'track',
    'sites', 'heatmap_size' (width, height), 'radius' (heatmap pixels), 'mask'}; also written
    to `out_json` if given. CheckpointError for a model without SGM sites. `loaded`: the
    checkpoint's (model, cfg, device) from `inference.load_checkpoint_model`, when the caller has
    them already (its cfg is not changed)."""
    model, cfg, device = loaded or load_checkpoint_model(checkpoint)
    cfg = copy.deepcopy(cfg)
    cfg.data.workers = min(cfg.data.workers, 1)
    sites = sgm_map_sites(cfg.model.sgm_sites)
    if not sites:
        raise CheckpointError(f"{checkpoint}: a model without SGM (model.sgm_sites is empty) "
                              "has no attention maps")
    dataset = build_dataset(cfg, "val")
    pred = predict(model, dataset, cfg, device, flip=False, keep_seg=True)
    seg = pred["seg"]
    disc = disc_targets(dataset)
    if seg.shape[1] != len(sites) or seg.shape[2:] != disc.shape[1:]:
        raise CheckpointError(f"{checkpoint}: maps {seg.shape[1:]} do not match {len(sites)} "
                              f"sites at the heatmap size {disc.shape[1:]} (height, width)")
    coco = cfg.data.track == "coco"
    own = person_masks(dataset) if coco else None
    persons = person_masks(dataset, all_persons=True) if coco else None
    result: dict = {"track": cfg.data.track, "n": int(len(disc)),
                    "n_disc": int(disc.reshape(len(disc), -1).any(1).sum()),
                    "n_mask": int(own.reshape(len(own), -1).any(1).sum()) if coco else None,
                    "sites": sites, "heatmap_size": list(dataset.encoder.heatmap_size),
                    "radius": float(dataset.encoder.radius),
                    "mask": ("own annotation (mask_share) and all persons of the image "
                             "(persons_share), warped to heatmap pixels" if coco else None)}
    for k, site in enumerate(sites):
        result[site] = site_statistics(seg[:, k], disc, own, persons)
    if out_json is not None:
        out_json = Path(out_json)
        out_json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_json, json.dumps(json_safe(result), indent=2) + "\n")
    return result
