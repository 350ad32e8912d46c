"""A trained checkpoint on image files: top-down keypoints of one person box per image.

What `sgpose predict` and the attention-maps notebook share (the convention of mmpose's image
demo): each image is read as a viewer shows it (EXIF orientation applied), the person box
(x, y, w, h) in image pixels (default: the whole image) becomes a centre and scale with the
checkpoint's own aspect ratio and padding (`geometry.box_to_center_scale`), and the crop is taken,
normalised, flip-tested and decoded exactly as a validation sample is (`TopDownDataset.make_sample`
and `inference.predict`), with the checkpoint's track (joint layout), input size and flip test.

Outputs are in image pixels: keypoints (N, K, 2) (x, y), 0-based; scores (N, K), the heatmap
peaks; for SG models the sigmoid of each SGM map (N, S, h, w) in heatmap pixels of the crop.
`coco_keypoint_results` lays them out as COCO results (image_id = file name), which
`sgpose predict` writes with one PNG per image (report/image_attention.py, `predict_to_folder`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import Config
from ..data import TopDownDataset
from ..data.records import PersonRecord
from ..errors import ConfigError, DataError
from ..geometry import box_to_center_scale
from ..layouts import LAYOUTS
from ..metrics import rescore
from .inference import predict

Box = tuple[float, float, float, float]  # (x, y, w, h) image pixels, x and y of the top-left corner
KEYPOINTS_FILE = "keypoints.json"
KPT_THR = 0.3  # mmpose's demo default: joints with a lower score are not drawn


def parse_box(value) -> Box | None:
    """`value` as an (x, y, w, h) box in image pixels: None or "" -> None (the whole image);
    "x,y,w,h" (commas and/or spaces) or a sequence of 4 numbers. ConfigError unless there are
    exactly 4 finite numbers with w > 0 and h > 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parts = ([p for p in re.split(r"[\s,]+", value.strip().strip("[]()")) if p]
             if isinstance(value, str) else list(value))
    shown = value if isinstance(value, str) else ",".join(map(str, parts))
    if len(parts) != 4:
        raise ConfigError(f"box {shown!r}: expected 4 values x,y,w,h (image pixels), "
                          f"got {len(parts)}")
    try:
        x, y, w, h = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"box {shown!r}: x,y,w,h must be numbers (image pixels)") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ConfigError(f"box {shown!r}: x,y,w,h must be finite numbers")
    if w <= 0 or h <= 0:
        raise ConfigError(f"box {shown!r}: width and height must be > 0 (got w={w:g}, h={h:g})")
    return (x, y, w, h)


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) BGR uint8 pixels of an image file, EXIF orientation applied (as a viewer and
    mmpose's demo show it); DataError naming the file if it is missing or not a decodable image."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: " + ("a folder, not an image" if path.is_dir()
                                       else "image not found"))
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: image not readable ({e.strerror or e})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"{path}: not a readable image (OpenCV cannot decode it)")
    return image


def check_box(box: Box, width: int, height: int, where: str) -> None:
    """ConfigError when `box` (x, y, w, h) does not overlap the `width` x `height` image (a box
    partly outside is kept: the crop is padded with black, as in validation)."""
    x, y, w, h = box
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ConfigError(f"{where}: box {','.join(f'{v:g}' for v in box)} lies outside the "
                          f"{width}x{height} image (x,y,w,h in image pixels)")


def image_sizes(paths: Sequence[str | Path], box: Box | None = None) -> list[tuple[int, int]]:
    """(width, height) in pixels of each image, every file read and `box` checked against it:
    DataError / ConfigError naming the first image that is unreadable or that the box misses."""
    sizes = []
    for path in paths:
        h_img, w_img = read_image(path).shape[:2]
        if box is not None:
            check_box(box, w_img, h_img, str(path))
        sizes.append((int(w_img), int(h_img)))
    return sizes


class ImageSet(TopDownDataset):
    """Validation-style samples of image files, one person box each (None: the whole image).

    Sample i is the crop of `paths[i]` at its box, exactly as TopDownDataset crops a validation
    record (no augmentation); its targets are empty (no labelled joints). `sizes`: each image's
    (width, height) from `image_sizes`. `boxes` (N, 4) holds each image's x, y, w, h in image
    pixels."""

    def __init__(self, paths: Sequence[str | Path], sizes: Sequence[tuple[int, int]],
                 box: Box | None, cfg: Config):
        layout = LAYOUTS[cfg.data.track]
        width, height = cfg.data.input_size
        boxes = [box or (0.0, 0.0, float(w), float(h)) for w, h in sizes]
        records = []
        for i, (path, b) in enumerate(zip(paths, boxes)):
            center, scale = box_to_center_scale(*b, aspect_ratio=width / height,
                                                padding=cfg.data.padding)
            records.append(PersonRecord(image=str(path), image_id=i, center=center, scale=scale,
                                        joints=np.zeros((layout.num_joints, 3), np.float32)))
        super().__init__(records, "", layout, cfg.data, train=False)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    def read_image(self, index: int) -> np.ndarray:
        return read_image(self.records[index].image)

    def crop(self, index: int, image: np.ndarray) -> torch.Tensor:
        """(3, h, w) normalised network input of sample `index` from its decoded BGR `image`."""
        return self.make_sample(index, image, 0)["image"]


def predict_images(model, cfg: Config, device: torch.device, paths: Sequence[str | Path],
                   box: Box | None = None, flip: bool | None = None,
                   sizes: Sequence[tuple[int, int]] | None = None) -> tuple[dict, ImageSet]:
    """Keypoints of one person per image: (`predict`'s dict, the ImageSet). The dict holds preds
    (N, K, 2) image pixels, maxvals (N, K) scores, center (N, 2) image pixels, scale (N, 2) in
    units of 200 pixels and, for SG models, seg (N, S, h, w): the sigmoid of each SGM map in
    heatmap pixels of the crop, sites in the model's order. Flip test: `flip`, default the
    checkpoint's eval.flip_test. `sizes`: the images' (width, height) when `image_sizes` has
    already read and checked them; else every image is read and its box checked here, before
    the model runs (DataError / ConfigError naming the image)."""
    if not paths:
        raise ConfigError("no images given")
    images = ImageSet(paths, image_sizes(paths, box) if sizes is None else sizes, box, cfg)
    cfg.data.workers = 0   # a handful of files: no worker processes
    return predict(model, images, cfg, device, flip=flip, keep_seg=True), images


def coco_keypoint_results(image_ids: Sequence, pred: dict, in_vis_thre: float) -> list[dict]:
    """One COCO results entry per image: image_id (as given, here the file name), category_id 1,
    keypoints [x, y, score] x K in image pixels, score = the official rescoring of a box of
    score 1 (mean of the keypoint scores above `in_vis_thre`, `metrics.rescore`)."""
    kpts = np.concatenate([pred["preds"], pred["maxvals"][..., None]], axis=2)  # (N, K, 3)
    scores = rescore(kpts, np.ones(len(kpts)), in_vis_thre)
    return [{"image_id": image_id, "category_id": 1,
             "keypoints": [round(float(v), 4) for v in k.reshape(-1)], "score": float(s)}
            for image_id, k, s in zip(image_ids, kpts, scores)]


def image_names(paths: Sequence[str | Path]) -> list[str]:
    """The file name of each path (the results' image_id; its stem names the PNG); ConfigError
    when two paths share a stem (their results or figures could not be told apart)."""
    seen: dict[str, str] = {}
    for path in paths:
        stem = Path(path).stem
        if stem in seen:
            raise ConfigError(f"{path} and {seen[stem]}: two images named {stem!r}; results and "
                              "figures are named after the file, so give each a distinct name")
        seen[stem] = str(path)
    return [Path(p).name for p in paths]
