"""Top-down pose samples: one person record -> one affine-warped crop and its targets.

Training augmentation is the official HRNet `JointsDataset.__getitem__`, in its order:
1. half-body: with probability `half_body_prob` when more than `half_body_min_joints` joints are
   labelled (official `half_body_transform`, incl. its `randn() < 0.5` choice of the upper body);
2. scale: s *= clip(randn * sf + 1, 1 - sf, 1 + sf);
3. rotation: r = clip(randn * rf, -c rf, c rf) with probability `rotation_prob`, else 0 (the
   official code's c = 2, i.e. +-90 degrees for rf = 45; the paper's "(-45, 45)" is read as the
   rotation factor, see README);
4. flip with probability 0.5 (if `flip`): x' = width - 1 - x, left/right joints swapped, centre
   x flipped too (official `fliplr_joints`).
The flip is folded into the affine matrix, so each sample costs ONE `cv2.warpAffine` (bilinear)
of the decoded image. Joints that land outside the crop get target weight 0 (TargetEncoder).

Randomness: a numpy Generator seeded from (seed, epoch, index) per sample, so the data of an
epoch does not depend on the worker count or order, and a resumed run sees the same samples.
The epoch comes with the key: `dataset[(epoch, index)]`, as the training loader's `EpochSampler`
asks for it (its persistent workers keep their own copy of the dataset), or `dataset[index]` at
the epoch of `set_epoch(epoch)`.

Image: RGB, float32, (x / 255 - mean) / std with the ImageNet mean (0.485, 0.456, 0.406) and std
(0.229, 0.224, 0.225), as the official `transforms.Normalize` (and the ImageNet HRNet weights).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from ..geometry import PIXEL_STD, affine_points, get_affine_transform
from ..layouts import Layout
from ..targets import TargetEncoder
from .records import PersonRecord

cv2.setNumThreads(0)  # before DataLoader workers fork: OpenCV's own threads can deadlock them

IMAGENET_MEAN = (0.485, 0.456, 0.406)   # RGB
IMAGENET_STD = (0.229, 0.224, 0.225)    # RGB
_READ_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION  # official: pixels as annotated


def fliplr_joints(joints: np.ndarray, width: int, layout: Layout) -> np.ndarray:
    """Mirror (K, 3) joints [x, y, v] of an image `width` pixels wide: x' = width - 1 - x and
    each joint takes its mirror partner's slot; unlabelled joints become (0, 0, 0) (official)."""
    out = np.asarray(joints, dtype=np.float32)[layout.flip_index()].copy()
    out[:, 0] = width - 1 - out[:, 0]
    out[:, :2] *= out[:, 2:3] > 0
    return out


def half_body_box(joints: np.ndarray, upper: np.ndarray, aspect_ratio: float,
                  rng: np.random.Generator):
    """Official `half_body_transform`: centre/scale of the upper or lower body's labelled
    joints (x1.5), or (None, None) when fewer than 2 joints are available."""
    labelled = joints[:, 2] > 0
    up, low = joints[labelled & upper, :2], joints[labelled & ~upper, :2]
    if rng.standard_normal() < 0.5 and len(up) > 2:
        sel = up
    else:
        sel = low if len(low) > 2 else up
    if len(sel) < 2:
        return None, None
    center = sel.mean(axis=0)
    w, h = sel.max(axis=0) - sel.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center.astype(np.float32), np.array([w, h], np.float32) / PIXEL_STD * 1.5


def jpeg_is_cut_short(path: Path) -> bool:
    """Whether `path` is a JPEG file (it starts with the SOI marker) whose data does not end
    with the end-of-image marker FFD9 (zero padding after it allowed): a file cut short."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return False
            f.seek(max(0, f.seek(0, 2) - 1024))
            tail = f.read()
    except OSError:
        return False
    return not tail.rstrip(b"\0").endswith(b"\xff\xd9")


class TopDownDataset(Dataset):
    """Samples of `records` (PersonRecord) whose `image` paths are relative to `image_root`."""

    def __init__(self, records: list[PersonRecord], image_root: str | Path, layout: Layout,
                 data_cfg, train: bool, encoder: TargetEncoder | None = None, seed: int = 0):
        self.records = list(records)
        if not self.records:
            raise DataError(f"{image_root}: no person records to build a data set from")
        bad = {r.joints.shape for r in self.records} - {(layout.num_joints, 3)}
        if bad:
            raise DataError(f"records have joints of shape {sorted(bad)}, layout {layout.name!r} "
                            f"expects ({layout.num_joints}, 3)")
        self.image_root = Path(image_root)
        self.layout = layout
        self.cfg = data_cfg
        self.train = bool(train)
        self.encoder = encoder or TargetEncoder.from_config(data_cfg)
        self.input_size = tuple(int(v) for v in self.encoder.image_size)  # (width, height)
        self.aspect_ratio = self.input_size[0] / self.input_size[1]
        self.seed = int(seed)
        self.epoch = 0
        self.upper = np.zeros(layout.num_joints, dtype=bool)
        self.upper[list(layout.upper_body)] = True
        # BGR uint8 -> normalised RGB float: x * a + b per BGR channel
        std, mean = np.array(IMAGENET_STD[::-1]), np.array(IMAGENET_MEAN[::-1])
        self._norm_a = (1.0 / (255.0 * std)).astype(np.float32)
        self._norm_b = (-mean / std).astype(np.float32)
        self.skipped: set[str] = set()  # unreadable images skipped in training (this process)
        # set by build_dataset: pycocotools COCO object and ground-truth files (COCO track)
        self.coco = None
        self.ann_file: Path | None = None
        self.gt_file: Path | None = None
        self.gt_file_body: Path | None = None
        self.counts: dict[str, int] = {}  # what the loader kept and filtered out

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(epoch), int(index)])

    def read_image(self, index: int) -> np.ndarray | None:
        """BGR uint8 image of record `index`, or None if missing or unreadable; a JPEG file cut
        short (libjpeg decodes it, grey below the cut, with a message that names no file) is
        warned about by name."""
        path = self.image_root / self.records[index].image
        if not path.is_file():
            return None  # (OpenCV would print a warning of its own)
        image = cv2.imread(str(path), _READ_FLAGS)
        if image is not None and jpeg_is_cut_short(path):
            warnings.warn(f"{path}: JPEG data ends before its end-of-image marker (a truncated "
                          "file?): decoded as far as it goes", stacklevel=2)
        return image

    def checked_image(self, index: int) -> tuple[np.ndarray | None, str]:
        """(image, '') of record `index`, or (None, what is wrong with it): missing,
        unreadable, or of another size than the annotation's width and height."""
        image = self.read_image(index)
        record = self.records[index]
        where = f"{self.image_root / record.image} (record {index})"
        if image is None:
            return None, f"{where}: image missing or unreadable"
        height, width = image.shape[:2]
        if record.image_size is not None and (width, height) != tuple(record.image_size):
            w, h = record.image_size
            return None, (f"{where}: image is {width} pixels wide and {height} high, its "
                          f"annotation says {w} wide and {h} high")
        return image, ""

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """The sample of record `key` at the epoch of `set_epoch`, or of `key = (epoch, index)`;
        DataError for a bad image (`checked_image`), unless training with
        `data.skip_bad_images`."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        image, problem = self.checked_image(index)
        if problem:
            if not self.train:
                raise DataError(problem)
            if not self.cfg.skip_bad_images:
                raise DataError(f"{problem}; data.skip_bad_images: true skips such images in "
                                "training")
            index, image = self._replacement(index, problem)
        return self.make_sample(index, image, epoch)

    def _replacement(self, index: int, problem: str) -> tuple[int, np.ndarray]:
        """Training with data.skip_bad_images: the next good record stands in for the bad one;
        the first bad file is warned about, each is counted in `skipped` (this process)."""
        for k in range(len(self.records)):
            i = (index + k) % len(self.records)
            image, problem = self.checked_image(i) if k else (None, problem)
            if not problem:
                return i, image
            path = str(self.image_root / self.records[i].image)
            if path not in self.skipped:
                self.skipped.add(path)
                if len(self.skipped) == 1:
                    warnings.warn(f"{problem}: skipped (data.skip_bad_images; further skipped "
                                  "files are counted in dataset.skipped)", stacklevel=3)
        raise DataError(f"{self.image_root}: none of the {len(self.records)} images is usable")

    def augment(self, record: PersonRecord, width: int, rng: np.random.Generator):
        """(center, scale, rotation, flipped, joints) of one training sample; joints (K, 3) are
        in the (possibly mirrored) image frame."""
        cfg = self.cfg.augment
        joints = record.joints
        c, s = record.center.astype(np.float32), record.scale.astype(np.float32)
        if (int((joints[:, 2] > 0).sum()) > cfg.half_body_min_joints
                and rng.random() < cfg.half_body_prob):
            c_half, s_half = half_body_box(joints, self.upper, self.aspect_ratio, rng)
            if c_half is not None:
                c, s = c_half, s_half
        sf, rf, rc = cfg.scale_factor, cfg.rotation_factor, cfg.rotation_clip
        s = s * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
        r = float(np.clip(rng.standard_normal() * rf, -rc * rf, rc * rf)) \
            if rng.random() <= cfg.rotation_prob else 0.0
        flipped = bool(cfg.flip and rng.random() <= 0.5)
        if flipped:
            joints = fliplr_joints(joints, width, self.layout)
            c = np.array([width - 1 - c[0], c[1]], np.float32)
        return c, s.astype(np.float32), r, flipped, joints

    def make_sample(self, index: int, image: np.ndarray, epoch: int) -> dict:
        """Record `index` cropped from its decoded `image`; training draws its augmentation from
        the generator of (seed, `epoch`, index)."""
        record = self.records[index]
        height, width = image.shape[:2]
        if self.train:
            c, s, r, flipped, joints = self.augment(record, width, self.rng(index, epoch))
        else:
            c, s, r, flipped, joints = record.center, record.scale, 0.0, False, record.joints
        trans = get_affine_transform(c, s, r, self.input_size)
        warp = trans
        if flipped:  # sample the mirrored image: x_mirror = width - 1 - x
            warp = trans.copy()
            warp[:, 2] += trans[:, 0] * (width - 1)
            warp[:, 0] = -trans[:, 0]
        crop = cv2.warpAffine(image, warp, self.input_size, flags=cv2.INTER_LINEAR)
        tensor = (crop.astype(np.float32) * self._norm_a + self._norm_b)[:, :, ::-1]
        joints_in = np.zeros_like(joints, dtype=np.float32)
        joints_in[:, :2] = affine_points(joints[:, :2], trans)
        joints_in[:, 2] = joints[:, 2] > 0
        targets = self.encoder.encode(joints_in[:, :2], joints_in[:, 2])
        return {
            "image": torch.from_numpy(np.ascontiguousarray(tensor.transpose(2, 0, 1))),
            "heatmaps": torch.from_numpy(targets["heatmaps"]),
            "target_weight": torch.from_numpy(targets["target_weight"]),
            "seg": torch.from_numpy(targets["seg"]),
            "center": torch.as_tensor(np.asarray(c, np.float32)),
            "scale": torch.as_tensor(np.asarray(s, np.float32)),
            "rotation": float(r),
            "flipped": flipped,
            "joints": torch.from_numpy(np.asarray(record.joints, np.float32)),
            "joints_input": torch.from_numpy(joints_in),
            "headsize": float(record.headsize),
            "image_id": int(record.image_id),
            "score": float(record.score),
            "area": float(record.area),
            "index": int(index),
        }
