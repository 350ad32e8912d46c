"""Heatmap decoding (the codec's decode half): heatmaps -> keypoints in image pixels.

As the official HRNet test code:
- flip test: the heatmaps of the flipped image are mirrored back, their paired joints swapped
  (`flip_back`), moved right by one pixel (`shift_flipped`, official SHIFT_HEATMAP) and averaged
  with the heatmaps of the image (`average_flip`);
- decoding: argmax per joint (`get_max_preds`), a quarter-pixel step toward the higher neighbour,
  then the inverse of the crop's affine transform (`decode_heatmaps`).

Heatmaps are (B, K, H, W) with (x, y) = (column, row), heatmap pixels, 0-based.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np
import torch

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


def decode_heatmaps(heatmaps: np.ndarray | torch.Tensor, centers: np.ndarray,
                    scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in image pixels from (B, K, H, W) heatmaps of crops at (centers, scales).

    `centers` (B, 2) are image pixels and `scales` (B, 2) the crop size in units of 200 pixels
    (see `geometry`); the crops were taken with rotation 0. Official `get_final_preds` with
    post-processing: argmax + quarter-pixel offset, then the inverse affine transform.

    Returns preds (B, K, 2) float64 (x, y) image pixels and maxvals (B, K, 1), the heatmap peaks
    (used as keypoint scores)."""
    heatmaps = _to_numpy(heatmaps)
    height, width = heatmaps.shape[2:]
    coords, maxvals = get_max_preds(heatmaps)
    coords = refine_quarter_offset(heatmaps, coords)
    inverse = np.stack([get_affine_transform(c, s, 0.0, (width, height), inv=True)
                        for c, s in zip(np.asarray(centers), np.asarray(scales))])  # (B, 2, 3)
    preds = (np.einsum("bij,bkj->bki", inverse[:, :, :2], coords.astype(np.float64))
             + inverse[:, None, :, 2])
    return preds, maxvals
