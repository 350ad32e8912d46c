"""Target encoding (the codec's encode half): keypoints in input pixels -> heatmaps and disc map.

- Heatmaps (Eq. 3): an unnormalised Gaussian exp(-d^2 / 2 sigma^2) per joint, centred on the
  joint's heatmap pixel (rounded as the official HRNet), inside a square window of half-size
  3 sigma, zero elsewhere.
- Target weight: 1 for a labelled joint (v > 0) whose heatmap pixel lies inside the heatmap,
  0 for unlabelled joints and joints outside the heatmap (their heatmap is all zeros).
- Segmentation (Eq. 2): 1 on every heatmap pixel within `radius` of a labelled joint of the
  instance (the paper's ||p - P||^2 <= r read as a disc of radius r), else 0.

`sigma` and `radius` here are in pixels of the heatmap being built; the config gives them in
pixels of the paper's 64-pixel-high heatmaps and `TargetEncoder.from_config` scales them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def joint_centers(joints: np.ndarray, image_size, heatmap_size) -> np.ndarray:
    """(K, 2) integer heatmap pixels of (K, 2) input-pixel joints: round(x / stride), official."""
    stride = np.asarray(image_size, dtype=np.float64) / np.asarray(heatmap_size, dtype=np.float64)
    return np.floor(np.asarray(joints, dtype=np.float64) / stride + 0.5).astype(np.int64)


def gaussian_heatmaps(centers: np.ndarray, visible: np.ndarray, heatmap_size,
                      sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, H, W) float32 heatmaps and (K,) float32 target weights for integer heatmap `centers`."""
    width, height = heatmap_size
    num_joints = len(centers)
    heatmaps = np.zeros((num_joints, height, width), dtype=np.float32)
    inside = ((centers[:, 0] >= 0) & (centers[:, 0] < width)
              & (centers[:, 1] >= 0) & (centers[:, 1] < height))
    weight = ((np.asarray(visible) > 0) & inside).astype(np.float32)
    radius = int(3 * sigma)
    xs = np.arange(width)[None, None, :]
    ys = np.arange(height)[None, :, None]
    dx = xs - centers[:, 0, None, None]
    dy = ys - centers[:, 1, None, None]
    window = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    gauss = np.exp(-(dx ** 2 + dy ** 2) / (2.0 * sigma ** 2))
    heatmaps[:] = np.where(window & (weight[:, None, None] > 0), gauss, 0.0)
    return heatmaps, weight


def disc_map(points: np.ndarray, visible: np.ndarray, heatmap_size, radius: float) -> np.ndarray:
    """(H, W) float32 map: 1 where a pixel is within `radius` (heatmap pixels) of a labelled point.

    `points` are (K, 2) heatmap-pixel positions (labelled points outside the map still light
    the pixels of their disc that fall inside it)."""
    width, height = heatmap_size
    pts = np.asarray(points, dtype=np.float64)[np.asarray(visible) > 0]
    if len(pts) == 0:
        return np.zeros((height, width), dtype=np.float32)
    xs = np.arange(width)[None, None, :]
    ys = np.arange(height)[None, :, None]
    d2 = (xs - pts[:, 0, None, None]) ** 2 + (ys - pts[:, 1, None, None]) ** 2
    return (d2.min(axis=0) <= radius ** 2).astype(np.float32)


@dataclass(frozen=True)
class TargetEncoder:
    """Encodes one person's keypoints (in input-image pixels) into the training targets."""
    image_size: tuple[int, int]    # (width, height) of the network input, pixels
    heatmap_size: tuple[int, int]  # (width, height) of the heatmaps, pixels
    sigma: float                   # heatmap pixels
    radius: float                  # heatmap pixels

    @classmethod
    def from_config(cls, data_cfg) -> "TargetEncoder":
        """Scale the config's paper-heatmap sigma and radius to this profile's heatmap."""
        k = data_cfg.heatmap_scale
        return cls(tuple(data_cfg.input_size), tuple(data_cfg.heatmap_size),
                   data_cfg.sigma * k, data_cfg.radius * k)

    def encode(self, joints: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
        """joints: (K, 2) input pixels; visible: (K,) > 0 where labelled.

        Returns heatmaps (K, H, W), target_weight (K,) and seg (H, W), all float32."""
        centers = joint_centers(joints, self.image_size, self.heatmap_size)
        heatmaps, weight = gaussian_heatmaps(centers, visible, self.heatmap_size, self.sigma)
        seg = disc_map(centers, visible, self.heatmap_size, self.radius)
        return {"heatmaps": heatmaps, "target_weight": weight, "seg": seg}
