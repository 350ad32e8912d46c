"""Keypoint layouts: joint names, flip pairs, skeletons, OKS sigmas and PCKh groups, declared once.

Joint indices are 0-based positions in each layout's `joints` tuple. A layout is data, not code:
the loaders, the augmentation, the metrics and the figures all read it from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]        # (left, right) joint index pairs
    upper_body: tuple[int, ...]                    # half-body augmentation: upper joints
    skeleton: tuple[tuple[int, int], ...]          # limbs to draw
    # per-joint OKS sigmas (COCO only), pycocotools' convention (COCO's constants / 10, nose
    # 0.026): the one place they are declared; every OKS (NMS, COCOeval, per-person) reads them
    oks_sigmas: tuple[float, ...] = ()
    pckh_groups: dict[str, tuple[int, ...]] = field(default_factory=dict)  # MPII groups

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def flip_index(self) -> list[int]:
        """Permutation that maps each joint to its mirror joint (identity for unpaired ones)."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, name: str) -> int:
        return self.joints.index(name)


COCO17 = Layout(
    name="coco",
    joints=("nose", "left_eye", "right_eye", "left_ear", "right_ear",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist", "left_hip", "right_hip",
            "left_knee", "right_knee", "left_ankle", "right_ankle"),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    upper_body=tuple(range(11)),
    skeleton=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
              (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
              (3, 5), (4, 6)),
    # COCO's constants / 10, computed as pycocotools and the official code do (same floats)
    oks_sigmas=tuple(s / 10.0 for s in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                                         1.07, 1.07, .87, .87, .89, .89)),
)

MPII16 = Layout(
    name="mpii",
    joints=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
            "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
            "l_elbow", "l_wrist"),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    skeleton=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
              (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
    # the official MPII evaluation's groups; Mean leaves out pelvis (6) and thorax (7)
    pckh_groups={"Head": (9,), "Sho": (12, 13), "Elb": (11, 14), "Wri": (10, 15),
                 "Hip": (2, 3), "Kne": (1, 4), "Ank": (0, 5)},
)

LAYOUTS: dict[str, Layout] = {"coco": COCO17, "mpii": MPII16}

# LSP-Extended joint order (the embedded data set's raw annotation)
LSPET_JOINTS = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
                "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top")
