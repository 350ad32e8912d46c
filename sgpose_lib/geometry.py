"""Top-down geometry as the official HRNet: person box -> (centre, scale) -> affine crop.

Conventions: points are (x, y) pixels, 0-based; `scale` is (width, height) of the crop region in
units of 200 pixels (the official `pixel_std`); `output_size` is (width, height) in pixels.
"""
from __future__ import annotations

import numpy as np

PIXEL_STD = 200.0


def box_to_center_scale(x: float, y: float, w: float, h: float, aspect_ratio: float,
                        padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of an (x, y, w, h) box, widened to `aspect_ratio` (= width / height of
    the network input) and padded by `padding` (official: 1.25)."""
    center = np.array([x + 0.5 * w, y + 0.5 * h], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w, h], dtype=np.float32) / PIXEL_STD * padding
    return center, scale


def get_affine_transform(center, scale, rot: float, output_size, shift=(0.0, 0.0),
                         inv: bool = False) -> np.ndarray:
    """2x3 matrix mapping image pixels to output pixels (or back when `inv`).

    The same similarity transform as the official three-point construction: the crop of width
    `scale[0] * 200` centred on `center` (plus `shift` times its size), rotated by `rot` degrees
    counter-clockwise, is scaled to `output_size[0]` pixels wide and centred in the output. Only
    the width sets the zoom, so the aspect ratio of the image is never changed.
    """
    center = np.asarray(center, dtype=np.float64)
    src_w = float(scale[0]) * PIXEL_STD
    src_center = center + np.asarray(scale, dtype=np.float64) * PIXEL_STD * np.asarray(shift)
    k = float(output_size[0]) / src_w
    theta = np.deg2rad(rot)
    c, s = np.cos(theta), np.sin(theta)
    linear = k * np.array([[c, s], [-s, c]])
    dst_center = np.array([output_size[0] * 0.5, output_size[1] * 0.5])
    matrix = np.hstack([linear, (dst_center - linear @ src_center)[:, None]])
    return invert_affine(matrix) if inv else matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    linear_inv = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear_inv, -(linear_inv @ matrix[:, 2])[:, None]])


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]
