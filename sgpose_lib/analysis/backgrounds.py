"""The background conditions of the robustness analysis: person masks and perturbed images.

Each condition is one copy of an image (robustness.build_perturbed_sets writes them):
- `original`: the pixels unchanged, re-encoded through the same JPEG encoder (quality 95) as the
  others, so that only the background differs between conditions;
- `blur`:     outside the person mask, a Gaussian blur of the image (sigma = 2 % of the image
  diagonal, in image pixels);
- `clutter`:  outside the mask, a seeded procedural texture: coloured noise at two scales,
  filled ellipses and rectangles at three scales, thin lines, and limb-like chains of thick
  segments with dark outlines (edges at the widths and lengths of arms and legs);
- `grey`:     outside the mask, constant 128.
The person mask of an image is the union of ALL its person annotations (crowd regions
included; pycocotools `annToMask`), dilated by `DILATION_PX` = 5 image pixels (elliptic
structuring element), so that a person's outline and the pixels the annotators' polygons cut
off stay original. Inside the mask every condition has the original pixels (up to JPEG).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import ConfigError, DataError

CONDITIONS = ("original", "blur", "clutter", "grey")
DILATION_PX = 5            # person-mask dilation radius, image pixels
JPEG_QUALITY = 95          # every condition is written through cv2.imencode at this quality
BLUR_SIGMA_FRAC = 0.02     # blur sigma = 2 % of the image diagonal
GREY_LEVEL = 128
READ_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION  # as the dataset: raw pixels


def person_category_ids(data: dict) -> set:
    """Ids of the 'person' categories of a COCO dict (category 1 when there are none listed)."""
    cats = data.get("categories") or [{"id": 1, "name": "person"}]
    return {c.get("id") for c in cats if isinstance(c, dict) and c.get("name") == "person"}


def union_person_mask(coco, image_id: int, person_ids: set, where: str) -> np.ndarray:
    """(H, W) bool union of the masks of every person annotation (crowd included) of the image,
    H x W = the image entry's height x width in pixels; DataError naming `where` and the
    annotation id when an annotation has no segmentation or one pycocotools cannot decode."""
    img = coco.imgs[image_id]
    mask = np.zeros((int(img["height"]), int(img["width"])), dtype=bool)
    for ann in coco.imgToAnns.get(image_id, []):
        if ann.get("category_id") not in person_ids:
            continue
        if not ann.get("segmentation"):
            raise DataError(f"{where}: annotation id {ann.get('id')} (image {img['file_name']}) "
                            "has no segmentation: a person mask is needed to keep the person")
        try:
            part = coco.annToMask(ann)
        except Exception as e:  # pycocotools raises several types for a malformed segmentation
            raise DataError(f"{where}: annotation id {ann.get('id')}: segmentation cannot be "
                            f"decoded ({e.__class__.__name__})") from None
        if part.shape != mask.shape:
            raise DataError(f"{where}: annotation id {ann.get('id')}: mask {part.shape} does not "
                            f"match the image size {mask.shape} (height, width)")
        mask |= part > 0
    return mask


def dilate_mask(mask: np.ndarray, radius_px: int = DILATION_PX) -> np.ndarray:
    """(H, W) bool mask grown by `radius_px` pixels (elliptic structuring element)."""
    if radius_px <= 0:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def blur_background(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image blurred with sigma = BLUR_SIGMA_FRAC x its diagonal (pixels)."""
    h, w = image.shape[:2]
    sigma = BLUR_SIGMA_FRAC * float(np.hypot(w, h))
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT_101)


def clutter_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width, 3) BGR uint8 procedural clutter drawn from `rng` (deterministic for a
    seeded generator). Sizes scale with the diagonal D (pixels): blobs of coloured noise
    (cells of D / 25 and D / 8), ellipses and rectangles of about D / 4, D / 10 and D / 25,
    lines 1-3 pixels wide, and limb-like chains of 2-3 segments, each 6-14 % of D long and
    1.5-3.5 % of D thick, with a dark outline."""
    diag = float(np.hypot(width, height))
    out = np.zeros((height, width, 3), dtype=np.float32)
    for cell, amp in ((diag / 8.0, 1.0), (diag / 25.0, 0.45)):
        gh, gw = max(2, int(np.ceil(height / cell)) + 1), max(2, int(np.ceil(width / cell)) + 1)
        grid = rng.uniform(-1.0, 1.0, (gh, gw, 3)).astype(np.float32)
        out += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(128.0 + 70.0 * out, 0, 255).astype(np.uint8)

    def color() -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(0, 256, 3))

    def point() -> tuple[int, int]:
        return int(rng.integers(0, width)), int(rng.integers(0, height))

    area_ratio = width * height / diag ** 2  # ~0.48 for 4:3 images
    for size_frac, n in ((0.25, 6), (0.10, 25), (0.04, 80)):
        for _ in range(max(1, int(round(n * area_ratio / 0.48)))):
            cx, cy = point()
            a, b = (rng.uniform(0.3, 1.0, 2) * size_frac * diag / 2).tolist()
            angle = float(rng.uniform(0, 180))
            if rng.random() < 0.5:
                cv2.ellipse(image, ((cx, cy), (int(2 * a) + 1, int(2 * b) + 1), angle), color(),
                            -1, cv2.LINE_AA)
            else:
                box = cv2.boxPoints(((cx, cy), (2 * a + 1, 2 * b + 1), angle))
                cv2.fillPoly(image, [np.round(box).astype(np.int32)], color(), cv2.LINE_AA)
    for _ in range(40):
        p = point()
        length, theta = rng.uniform(0.05, 0.3) * diag, rng.uniform(0, 2 * np.pi)
        q = (int(p[0] + length * np.cos(theta)), int(p[1] + length * np.sin(theta)))
        cv2.line(image, p, q, color(), int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(14):
        x, y = (float(v) for v in point())
        theta = rng.uniform(0, 2 * np.pi)
        thick = max(2, int(rng.uniform(0.015, 0.035) * diag))
        fill = color()
        for _ in range(int(rng.integers(2, 4))):
            length = rng.uniform(0.06, 0.14) * diag
            nx, ny = x + length * np.cos(theta), y + length * np.sin(theta)
            p, q = (int(x), int(y)), (int(nx), int(ny))
            cv2.line(image, p, q, (20, 20, 20), thick + 4, cv2.LINE_AA)
            cv2.line(image, p, q, fill, thick, cv2.LINE_AA)
            cv2.circle(image, q, thick // 2, fill, -1, cv2.LINE_AA)
            x, y, theta = nx, ny, theta + rng.uniform(-1.1, 1.1)
    return image


def perturb_image(image: np.ndarray, mask: np.ndarray, condition: str,
                  rng: np.random.Generator) -> np.ndarray:
    """BGR uint8 `image` with its pixels outside the (H, W) bool `mask` replaced as
    `condition` says (see the module docstring); `rng` is used by 'clutter' only."""
    if condition == "original":
        return image
    if condition == "blur":
        background = blur_background(image)
    elif condition == "clutter":
        background = clutter_background(image.shape[0], image.shape[1], rng)
    elif condition == "grey":
        background = np.full_like(image, GREY_LEVEL)
    else:
        raise ConfigError(f"condition: {condition!r} is not one of {CONDITIONS}")
    return np.where(mask[..., None], image, background)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR uint8 image (cv2.imencode; the same bytes for the same pixels)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DataError("cv2.imencode could not encode an image as JPEG")
    return buf.tobytes()
