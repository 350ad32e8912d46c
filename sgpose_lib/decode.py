"""Heatmap decoding (the codec's decode half): heatmaps -> keypoints in image pixels.

As the official HRNet test code:
- flip test: the heatmaps of the flipped image are mirrored back, their paired joints swapped
  (`flip_back`), moved right by one pixel (`shift_flipped`, official SHIFT_HEATMAP) and averaged
  with the heatmaps of the image (`average_flip`);
- decoding: argmax per joint (`get_max_preds`), a quarter-pixel step toward the higher neighbour,
  then the inverse of the crop's affine transform (`decode_heatmaps`).

Beside it, the DARK decoder (Zhang et al., CVPR 2020, "Distribution-Aware Coordinate
Representation for Human Pose Estimation"; `refine_dark`): the argmax moved by one Newton step on
the log of the Gaussian-modulated heatmap, as the authors' published `get_final_preds` with
post-processing. `decode_heatmaps(..., decoder=...)` chooses between the two (config.DECODERS).

Heatmaps are (B, K, H, W) with (x, y) = (column, row), heatmap pixels, 0-based.
"""
from __future__ import annotations

import math
from typing import Sequence, TypeVar

import cv2
import numpy as np
import torch
from scipy.ndimage import correlate1d

from .config import DECODERS
from .geometry import get_affine_transform

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def flip_back(heatmaps: Array, flip_index: Sequence[int]) -> Array:
    """Mirror (B, K, H, W) heatmaps horizontally and swap left/right joints.

    `flip_index` is the joint permutation of `Layout.flip_index()`; applying this twice is the
    identity. Works on numpy arrays (returns a copy) and torch tensors (any device)."""
    index = list(flip_index)
    if isinstance(heatmaps, torch.Tensor):
        return heatmaps.flip(-1)[:, index]
    return np.ascontiguousarray(heatmaps[:, index, :, ::-1])


def shift_flipped(heatmaps: Array) -> Array:
    """Official SHIFT_HEATMAP: out[..., 1:] = in[..., :-1] (one pixel right); column 0 is kept."""
    out = heatmaps.clone() if isinstance(heatmaps, torch.Tensor) else heatmaps.copy()
    out[..., 1:] = heatmaps[..., :-1]
    return out


def average_flip(heatmaps: Array, flipped_heatmaps: Array, flip_index: Sequence[int],
                 shift: bool = True) -> Array:
    """Flip-test heatmaps: mean of `heatmaps` (of the image) and `flipped_heatmaps` (the model's
    output on the horizontally flipped image) flipped back, and shifted when `shift`."""
    back = flip_back(flipped_heatmaps, flip_index)
    if shift:
        back = shift_flipped(back)
    return (heatmaps + back) * 0.5


def _to_numpy(heatmaps) -> np.ndarray:
    if isinstance(heatmaps, torch.Tensor):
        return heatmaps.detach().float().cpu().numpy()
    return np.asarray(heatmaps)


def get_max_preds(heatmaps: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each (B, K, H, W) heatmap, official.

    Returns coords (B, K, 2) float32 (x, y) heatmap pixels and maxvals (B, K, 1); the coords of
    a heatmap whose maximum is not positive are set to (0, 0)."""
    heatmaps = _to_numpy(heatmaps)
    batch, joints, _, width = heatmaps.shape
    flat = heatmaps.reshape(batch, joints, -1)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)
    coords = np.stack([idx % width, idx // width], axis=-1).astype(np.float32)
    coords *= (maxvals > 0.0)
    return coords, maxvals


def refine_quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Move integer (B, K, 2) coords a quarter pixel toward the higher neighbour in x and in y.

    Official post-processing: only where 1 < x < W - 1 and 1 < y < H - 1 (x, y rounded);
    an axis whose two neighbours are equal is left unchanged. Returns a new array."""
    heatmaps = _to_numpy(heatmaps)
    batch, joints, height, width = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    inside = (px > 1) & (px < width - 1) & (py > 1) & (py < height - 1)
    if width < 3 or height < 3:
        return coords.copy()
    px, py = np.clip(px, 1, width - 2), np.clip(py, 1, height - 2)  # only `inside` is used
    b = np.arange(batch)[:, None]
    k = np.arange(joints)[None, :]
    diff = np.stack([heatmaps[b, k, py, px + 1] - heatmaps[b, k, py, px - 1],
                     heatmaps[b, k, py + 1, px] - heatmaps[b, k, py - 1, px]], axis=-1)
    return coords + inside[..., None] * np.sign(diff) * 0.25


# --- DARK: distribution-aware decoding ---------------------------------------------------------

LOG_EPSILON = 1e-10  # modulated heatmaps are clamped here before the log (the authors' value)


def dark_kernel_size(sigma: float) -> int:
    """Odd size k of DARK's modulation kernel for targets of std `sigma` (heatmap pixels).

    The paper modulates with a Gaussian of the training targets' variance; the authors give the
    kernel by its size k and let OpenCV choose its std, sigma_k = 0.3 ((k - 1) / 2 - 1) + 0.8.
    k is the odd size whose sigma_k is nearest to `sigma`, at least 3:
    (k - 1) / 2 = round((sigma - 0.8) / 0.3 + 1). sigma = 2 gives 11 (the authors' 256x192 COCO and
    256x256 MPII settings), 3 gives 17 (mmpose's 384x288), 1 gives 5, 0.75 gives 3."""
    if not sigma > 0:
        raise ValueError(f"sigma: {sigma} must be > 0 (heatmap pixels)")
    half = math.floor((sigma - 0.8) / 0.3 + 1.5)
    return 2 * max(half, 1) + 1


def modulate(heatmaps: np.ndarray | torch.Tensor, kernel: int) -> np.ndarray:
    """DARK's distribution modulation of (B, K, H, W) heatmaps; returns float64 maps.

    Each map h is blurred, h' = G_k * h, with zeros outside the map (the authors pad by
    (k - 1) / 2 zeros, blur and crop), then rescaled to its original maximum:
    h' <- h' * max(h) / max(h'). G_k is OpenCV's separable Gaussian of odd size k and std
    chosen by OpenCV (`cv2.getGaussianKernel(k, 0)`: OpenCV's fixed table for small k, else
    sampled with sigma_k of `dark_kernel_size`), the kernel of the authors' `cv2.GaussianBlur`.
    An all-zero map gives 0 / 0 = nan everywhere, as the authors' code (its argmax is (0, 0),
    where no step is taken)."""
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"kernel: {kernel} must be an odd size >= 3")
    g = cv2.getGaussianKernel(kernel, 0, ktype=cv2.CV_64F).ravel()
    maps = _to_numpy(heatmaps).astype(np.float64)
    blurred = correlate1d(correlate1d(maps, g, axis=3, mode="constant"), g, axis=2,
                          mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        return blurred * (maps.max(axis=(2, 3), keepdims=True)
                          / blurred.max(axis=(2, 3), keepdims=True))


def taylor_step(log_heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """One Newton step from the integer maxima `coords` (B, K, 2) on (B, K, H, W) log-heatmaps L.

    DARK's second-order Taylor expansion of L at the maximum m gives the mode of the Gaussian,
    mu = m - H^-1 g (the paper's D''(m)^-1 D'(m)), with the derivatives at m from finite
    differences (pixels):
        g = (Lx, Ly),  Lx  = (L[y, x+1] - L[y, x-1]) / 2,
        H = [[Lxx, Lxy], [Lxy, Lyy]],  Lxx = (L[y, x+2] - 2 L[y, x] + L[y, x-2]) / 4,
        Lxy = (L[y+1, x+1] - L[y-1, x+1] - L[y+1, x-1] + L[y-1, x-1]) / 4  (Ly, Lyy alike).
    As the authors: m = coords truncated to integers; the step is taken only where
    1 < x < W - 2 and 1 < y < H - 2 (all taps inside the map) and det H != 0, elsewhere m is
    kept. Returns float64 (B, K, 2) (x, y) heatmap pixels; the step is not bounded (a flat or
    non-concave L can move a point far, as in the authors' code)."""
    batch, joints, height, width = log_heatmaps.shape
    out = np.asarray(coords, dtype=np.float64).copy()
    if width < 5 or height < 5:
        return out  # no pixel has all its taps inside the map
    px = np.trunc(out[..., 0]).astype(np.int64)
    py = np.trunc(out[..., 1]).astype(np.int64)
    inside = (px > 1) & (px < width - 2) & (py > 1) & (py < height - 2)
    px, py = np.clip(px, 2, width - 3), np.clip(py, 2, height - 3)  # only `inside` is used
    b = np.arange(batch)[:, None]
    k = np.arange(joints)[None, :]

    def at(dy: int, dx: int) -> np.ndarray:
        return log_heatmaps[b, k, py + dy, px + dx].astype(np.float64)

    lx, ly = 0.5 * (at(0, 1) - at(0, -1)), 0.5 * (at(1, 0) - at(-1, 0))
    lxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    lyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    lxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = lxx * lyy - lxy ** 2
    step = inside & (det != 0)  # a nan det (nan maps) steps to nan, as the authors' code
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = -np.stack([lyy * lx - lxy * ly, lxx * ly - lxy * lx], axis=-1) / det[..., None]
    return out + np.where(step[..., None], offset, 0.0)


def refine_dark(heatmaps: np.ndarray | torch.Tensor, coords: np.ndarray,
                kernel: int) -> np.ndarray:
    """DARK coordinates (B, K, 2) float64, heatmap pixels, from the argmax `coords` of
    (B, K, H, W) heatmaps: `taylor_step` on log(max(`modulate`(heatmaps, kernel), 1e-10))."""
    with np.errstate(invalid="ignore"):
        log_maps = np.log(np.maximum(modulate(heatmaps, kernel), LOG_EPSILON))
    return taylor_step(log_maps, coords)


def decode_heatmaps(heatmaps: np.ndarray | torch.Tensor, centers: np.ndarray,
                    scales: np.ndarray, decoder: str = "standard",
                    sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in image pixels from (B, K, H, W) heatmaps of crops at (centers, scales).

    `centers` (B, 2) are image pixels and `scales` (B, 2) the crop size in units of 200 pixels
    (see `geometry`); the crops were taken with rotation 0. Official `get_final_preds` with
    post-processing: the argmax refined by `decoder`, then the inverse affine transform.
    decoder "standard": a quarter-pixel step toward the higher neighbour (official HRNet);
    "dark": `refine_dark` with the kernel of `dark_kernel_size(sigma)`, `sigma` the std of the
    training targets in pixels of these heatmaps (required for "dark").

    Returns preds (B, K, 2) float64 (x, y) image pixels and maxvals (B, K, 1), the peaks of the
    heatmaps as given (used as keypoint scores; the same for both decoders)."""
    heatmaps = _to_numpy(heatmaps)
    height, width = heatmaps.shape[2:]
    coords, maxvals = get_max_preds(heatmaps)
    if decoder == "standard":
        coords = refine_quarter_offset(heatmaps, coords)
    elif decoder == "dark":
        if sigma is None:
            raise ValueError("decoder 'dark' needs sigma, the targets' std in heatmap pixels")
        coords = refine_dark(heatmaps, coords, dark_kernel_size(sigma))
    else:
        raise ValueError(f"decoder: {decoder!r} is not one of {DECODERS}")
    inverse = np.stack([get_affine_transform(c, s, 0.0, (width, height), inv=True)
                        for c, s in zip(np.asarray(centers), np.asarray(scales))])  # (B, 2, 3)
    preds = (np.einsum("bij,bkj->bki", inverse[:, :, :2], coords.astype(np.float64))
             + inverse[:, None, :, 2])
    return preds, maxvals
