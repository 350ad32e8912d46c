"""Decode half of the codec, and the geometry it relies on, against independent truths."""
import cv2
import numpy as np
import pytest
import torch

from sgpose_lib.decode import (average_flip, decode_heatmaps, flip_back, get_max_preds,
                               shift_flipped)
from sgpose_lib.geometry import (affine_points, box_to_center_scale, get_affine_transform,
                                 invert_affine)
from sgpose_lib.layouts import COCO17, MPII16
from sgpose_lib.targets import TargetEncoder, gaussian_heatmaps


# --- the official three-point construction, written out as independent truth --------------------
def _get_dir(point, rot_rad):
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs])


def _get_3rd_point(a, b):
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def official_affine(center, scale, rot, output_size, shift=(0.0, 0.0), inv=False):
    scale_tmp = np.asarray(scale) * 200.0
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size
    rot_rad = np.pi * rot / 180
    src_dir = _get_dir([0, src_w * -0.5], rot_rad)
    dst_dir = np.array([0, dst_w * -0.5], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale_tmp * np.asarray(shift)
    src[1, :] = center + src_dir + scale_tmp * np.asarray(shift)
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2:, :] = _get_3rd_point(src[0, :], src[1, :])
    dst[2:, :] = _get_3rd_point(dst[0, :], dst[1, :])
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


@pytest.mark.parametrize("inv", [False, True])
def test_affine_matches_official_three_point_construction(inv):
    rng = np.random.default_rng(0)
    for _ in range(50):
        center = rng.uniform(0, 640, size=2)
        scale = rng.uniform(0.3, 3.0, size=2)
        rot = rng.uniform(-45, 45)
        size = (int(rng.integers(16, 300)), int(rng.integers(16, 300)))
        shift = rng.uniform(-0.1, 0.1, size=2)
        ours = get_affine_transform(center, scale, rot, size, shift=shift, inv=inv)
        ref = official_affine(center, scale, rot, size, shift=shift, inv=inv)
        # the reference builds its three points in float32: agreement to float32 precision
        pts = rng.uniform(0, 640, size=(8, 2))
        assert np.abs(affine_points(pts, ours) - affine_points(pts, ref)).max() < 1e-2
        assert np.abs(ours[:, :2] - ref[:, :2]).max() < 1e-5 * np.abs(ref[:, :2]).max()


def test_affine_forward_inverse_identity():
    rng = np.random.default_rng(1)
    for _ in range(50):
        center, scale = rng.uniform(0, 640, 2), rng.uniform(0.3, 3.0, 2)
        rot, size = rng.uniform(-180, 180), (int(rng.integers(16, 300)), int(rng.integers(16, 300)))
        fwd = get_affine_transform(center, scale, rot, size)
        inv = get_affine_transform(center, scale, rot, size, inv=True)
        pts = rng.uniform(-100, 700, size=(10, 2))
        assert np.allclose(affine_points(affine_points(pts, fwd), inv), pts, atol=1e-6)
        assert np.allclose(invert_affine(fwd), inv, atol=1e-9)


# --- flip -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", [COCO17, MPII16])
def test_flip_back_twice_is_identity(layout):
    rng = np.random.default_rng(2)
    hm = rng.random((2, layout.num_joints, 8, 6)).astype(np.float32)
    idx = layout.flip_index()
    assert np.array_equal(flip_back(flip_back(hm, idx), idx), hm)
    t = torch.from_numpy(hm)
    assert torch.equal(flip_back(flip_back(t, idx), idx), t)
    assert np.array_equal(flip_back(t, idx).numpy(), flip_back(hm, idx))


def test_flip_back_mirrors_and_swaps_pairs():
    hm = np.zeros((1, COCO17.num_joints, 4, 5), np.float32)
    hm[0, COCO17.index("left_wrist"), 1, 0] = 1.0     # left wrist at x = 0 in the flipped image
    out = flip_back(hm, COCO17.flip_index())
    assert out[0, COCO17.index("right_wrist"), 1, 4] == 1.0  # right wrist at x = W - 1
    assert out.sum() == 1.0


def test_shift_flipped_moves_one_pixel():
    hm = np.zeros((1, 1, 3, 6), np.float32)
    hm[0, 0, 1, 3] = 1.0
    hm[0, 0, 2, 0] = 0.5
    out = shift_flipped(hm)
    assert out[0, 0, 1, 4] == 1.0 and out[0, 0, 1, 3] == 0.0
    assert out[0, 0, 2, 1] == 0.5 and out[0, 0, 2, 0] == 0.5   # column 0 kept, as official
    assert torch.equal(shift_flipped(torch.from_numpy(hm)), torch.from_numpy(out))
    assert hm[0, 0, 1, 3] == 1.0                                 # input untouched


def test_average_flip_of_equivariant_output_is_unchanged():
    rng = np.random.default_rng(3)
    hm = rng.random((2, MPII16.num_joints, 8, 8)).astype(np.float32)
    idx = MPII16.flip_index()
    flipped = flip_back(hm, idx)  # what a perfectly flip-equivariant model outputs
    assert np.allclose(average_flip(hm, flipped, idx, shift=False), hm)
    shifted = average_flip(hm, flipped, idx, shift=True)
    assert np.allclose(shifted, 0.5 * (hm + shift_flipped(hm)))


# --- argmax and decoding ------------------------------------------------------------------------
def test_get_max_preds_hand_built():
    hm = np.zeros((1, 3, 3, 4), np.float32)
    hm[0, 0, 1, 2] = 0.9                      # x = 2, y = 1
    hm[0, 1, 2, 3] = 0.4
    hm[0, 1, 0, 0] = 0.3                      # x = 3, y = 2
    hm[0, 2] = -1.0
    hm[0, 2, 2, 2] = -0.5                     # max not positive -> (0, 0)
    coords, maxvals = get_max_preds(hm)
    assert coords.shape == (1, 3, 2) and maxvals.shape == (1, 3, 1)
    assert np.array_equal(coords[0], [[2, 1], [3, 2], [0, 0]])
    assert np.allclose(maxvals[0, :, 0], [0.9, 0.4, -0.5])


def _identity_crop(width, height, batch=1):
    """center/scale whose inverse affine maps heatmap pixels to the same image pixels."""
    centers = np.tile([width / 2, height / 2], (batch, 1))
    scales = np.tile([width / 200.0, height / 200.0], (batch, 1))
    return centers, scales


def test_integer_gaussian_decodes_to_its_position():
    width, height = 48, 64
    centers_hm = np.array([[10, 20], [30, 5], [2, 2], [47, 63], [1, 40]])
    hm, _ = gaussian_heatmaps(centers_hm, np.ones(5), (width, height), sigma=2.0)
    preds, maxvals = decode_heatmaps(hm[None], *_identity_crop(width, height))
    assert np.abs(preds[0] - centers_hm).max() <= 0.25
    assert np.allclose(maxvals, 1.0)


def test_off_integer_ground_truth_within_three_quarters():
    width, height = 48, 64
    rng = np.random.default_rng(4)
    gt = rng.uniform(3, 40, size=(17, 2))
    centers_hm = np.floor(gt + 0.5).astype(int)          # the encoder's rounding
    hm, _ = gaussian_heatmaps(centers_hm, np.ones(17), (width, height), sigma=2.0)
    preds, _ = decode_heatmaps(torch.from_numpy(hm[None]), *_identity_crop(width, height))
    assert np.abs(preds[0] - gt).max() <= 0.25 + 0.5


def test_subpixel_gaussian_quarter_offset():
    width, height = 48, 64
    gt = np.array([[10.3, 20.8], [30.6, 5.2], [20.0, 30.0]])
    ys, xs = np.mgrid[0:height, 0:width]
    hm = np.exp(-((xs - gt[:, 0, None, None]) ** 2 + (ys - gt[:, 1, None, None]) ** 2) / 8.0)
    preds, _ = decode_heatmaps(hm[None].astype(np.float32), *_identity_crop(width, height))
    assert np.allclose(preds[0], [[10.25, 20.75], [30.75, 5.25], [20.0, 30.0]])


def test_encode_decode_round_trip_in_image_pixels():
    image_size, heatmap_size = (192, 256), (48, 64)
    encoder = TargetEncoder(image_size, heatmap_size, sigma=2.0, radius=5.0)
    rng = np.random.default_rng(5)
    boxes = [(100.0, 50.0, 120.0, 300.0), (400.0, 200.0, 80.0, 60.0)]
    heatmaps, centers, scales, joints_img = [], [], [], []
    for x, y, w, h in boxes:
        c, s = box_to_center_scale(x, y, w, h, aspect_ratio=192 / 256)
        joints = np.column_stack([rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17)])
        trans = get_affine_transform(c, s, 0.0, image_size)
        target = encoder.encode(affine_points(joints, trans), np.ones(17))
        assert target["target_weight"].all()
        heatmaps.append(target["heatmaps"])
        centers.append(c)
        scales.append(s)
        joints_img.append(joints)
    preds, _ = decode_heatmaps(np.stack(heatmaps), np.stack(centers), np.stack(scales))
    stride = np.stack(scales)[:, 0] * 200.0 / heatmap_size[0]  # image pixels per heatmap pixel
    err = np.linalg.norm(preds - np.stack(joints_img), axis=-1)
    assert (err <= stride[:, None]).all()
