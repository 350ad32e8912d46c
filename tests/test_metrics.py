"""PCKh, COCO OKS AP, OKS-NMS and rescoring against hand computations and naive references."""
import contextlib
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO

from sgpose_lib.layouts import COCO17, MPII16
from sgpose_lib.metrics import (COCO_SIGMAS, coco_keypoint_metrics, headsize_from_boxes,
                                oks_matrix, oks_nms, pckh, rescore)

GROUPS = ("Head", "Sho", "Elb", "Wri", "Hip", "Kne", "Ank")


# --- PCKh -----------------------------------------------------------------------------------------
def _mpii_case(n=4, headsize=10.0):
    rng = np.random.default_rng(0)
    gts = rng.uniform(0, 200, size=(n, 16, 2))
    return gts, gts.copy(), np.ones((n, 16)), np.full(n, headsize)


def test_headsize_from_boxes():
    assert np.allclose(headsize_from_boxes(np.array([[0, 0, 30, 40], [5, 5, 8, 9]])), [30, 3])


def test_pckh_perfect_is_100_everywhere():
    gts, preds, vis, hs = _mpii_case()
    out = pckh(preds, gts, vis, hs)
    assert all(out[name] == 100.0 for name in MPII16.joints + GROUPS + ("Mean", "Mean@0.1"))


def test_pckh_one_wrist_off_changes_only_wrist_and_mean():
    gts, preds, vis, hs = _mpii_case()
    preds[0, MPII16.index("l_wrist"), 0] += 5.01          # just past 0.5 * headsize = 5
    preds[1, MPII16.index("r_wrist"), 1] += 5.0           # exactly at the threshold: correct
    out = pckh(preds, gts, vis, hs)
    assert out["l_wrist"] == 75.0 and out["r_wrist"] == 100.0
    assert out["Wri"] == 0.5 * (75.0 + 100.0)
    assert all(out[g] == 100.0 for g in GROUPS if g != "Wri")
    # 14 joints (pelvis, thorax out), 4 labelled each: Mean = (13 * 100 * 4 + 75 * 4) / 56
    assert out["Mean"] == pytest.approx((13 * 100 * 4 + 75 * 4) / 56)


def test_pckh_mean_weighted_by_counts_and_pelvis_thorax_out():
    gts, preds, vis, hs = _mpii_case()
    ank = MPII16.index("r_ankle")
    vis[2:, ank] = 0                                      # r_ankle labelled in 2 of 4 persons
    preds[2:, ank] += 100.0                               # (unlabelled errors do not count)
    preds[0, ank] += 50.0                                 # one of the two labelled is wrong
    preds[:, MPII16.index("pelvis")] += 100.0            # pelvis and thorax all wrong ...
    preds[:, MPII16.index("thorax")] += 100.0            # ... but left out of Mean
    out = pckh(preds, gts, vis, hs)
    assert out["r_ankle"] == 50.0 and out["pelvis"] == 0.0 and out["thorax"] == 0.0
    assert out["Ank"] == 75.0
    assert out["Mean"] == pytest.approx((50 * 2 + 100 * 4 * 13) / (2 + 4 * 13))


def test_pckh_mean_at_0_1():
    gts, preds, vis, hs = _mpii_case()
    preds[:, :, 0] += 1.5                                 # 0.15 headsize: in at 0.5, out at 0.1
    out = pckh(preds, gts, vis, hs)
    assert out["Mean"] == 100.0 and out["Mean@0.1"] == 0.0


# --- COCO OKS AP ----------------------------------------------------------------------------------
AREA = 10000.0


def _coco_gt(tmp_path):
    rng = np.random.default_rng(1)
    boxes = {1: (1, [0, 0, 100, 100]), 2: (1, [400, 300, 100, 100]), 3: (2, [50, 50, 100, 100])}
    anns = []
    for ann_id, (image_id, (x, y, w, h)) in boxes.items():
        xy = np.column_stack([rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17)])
        kpts = np.column_stack([xy, np.full(17, 2.0)]).ravel().tolist()
        anns.append({"id": ann_id, "image_id": image_id, "category_id": 1, "keypoints": kpts,
                     "num_keypoints": 17, "bbox": [x, y, w, h], "area": AREA, "iscrowd": 0})
    data = {"images": [{"id": 1, "width": 640, "height": 480, "file_name": "a.jpg"},
                       {"id": 2, "width": 640, "height": 480, "file_name": "b.jpg"}],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person",
                            "keypoints": list(COCO17.joints),
                            "skeleton": [[a + 1, b + 1] for a, b in COCO17.skeleton]}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path)), anns


def _results(anns, scores):
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": list(a["keypoints"]),
             "score": s} for a, s in zip(anns, scores)]


def test_coco_perfect_predictions_ap_one(tmp_path):
    coco, anns = _coco_gt(tmp_path)
    out = coco_keypoint_metrics(coco, _results(anns, [1.0, 1.0, 1.0]))
    for name in ("AP", "AP50", "AP75", "APL", "AR", "AR50", "AR75", "ARL"):
        assert out[name] == pytest.approx(1.0)
    assert math.isnan(out["APM"]) and math.isnan(out["ARM"])  # no medium-size person


def test_coco_perturbed_person_ap_by_hand(tmp_path):
    coco, anns = _coco_gt(tmp_path)
    target_oks = 0.72
    sigmas = np.array(COCO17.oks_sigmas)
    # shift every joint of person 3 in x so that each joint's exp(-e) equals target_oks
    shift = np.sqrt(-math.log(target_oks) * 2 * AREA * (2 * sigmas) ** 2)
    results = _results(anns, [1.0, 1.0, 0.5])
    kp = np.array(results[2]["keypoints"]).reshape(17, 3)
    kp[:, 0] += shift
    results[2]["keypoints"] = kp.ravel().tolist()
    # independent OKS, COCO formula: mean_j exp(-d_j^2 / (2 * area * (2 sigma_j)^2))
    gt = np.array(anns[2]["keypoints"]).reshape(17, 3)
    oks = np.mean(np.exp(-((kp[:, :2] - gt[:, :2]) ** 2).sum(1) / (2 * AREA * (2 * sigmas) ** 2)))
    assert oks == pytest.approx(target_oks)
    # thresholds 0.50 .. 0.95: where oks >= t all three match (AP 1); elsewhere the two
    # score-1 persons match first and the third is a false positive: precision 1 up to
    # recall 2/3, i.e. 67 of the 101 recall points (0.00 .. 0.66)
    thrs = np.linspace(0.5, 0.95, 10)
    matched = oks >= thrs
    ap_per_thr = np.where(matched, 1.0, 67 / 101)
    ar_per_thr = np.where(matched, 1.0, 2 / 3)
    out = coco_keypoint_metrics(coco, results)
    assert out["AP"] == pytest.approx(ap_per_thr.mean())
    assert out["AP50"] == pytest.approx(1.0)
    assert out["AP75"] == pytest.approx(67 / 101)
    assert out["AR"] == pytest.approx(ar_per_thr.mean())
    assert results[2]["keypoints"] == kp.ravel().tolist()  # caller's results not modified


def test_coco_empty_results_zero_with_warning(tmp_path):
    coco, _ = _coco_gt(tmp_path)
    with pytest.warns(UserWarning):
        out = coco_keypoint_metrics(coco, [])
    assert out["AP"] == 0.0 and out["AR"] == 0.0


# --- OKS-NMS and rescoring ----------------------------------------------------------------------
def _official_oks_iou(g, d, a_g, a_d, sigmas, in_vis_thre):
    """Naive per-pair reference of the official `oks_iou` (both instances' joints visible)."""
    variances = (sigmas * 2) ** 2
    out = np.zeros(len(d))
    for n in range(len(d)):
        dx, dy = d[n, :, 0] - g[:, 0], d[n, :, 1] - g[:, 1]
        e = (dx ** 2 + dy ** 2) / variances / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        if in_vis_thre is not None:
            e = e[(g[:, 2] > in_vis_thre) & (d[n, :, 2] > in_vis_thre)]
        out[n] = np.sum(np.exp(-e)) / e.shape[0] if e.shape[0] != 0 else 0.0
    return out


def _official_oks_nms(kpts, scores, areas, thresh, sigmas, in_vis_thre):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        ovr = _official_oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas,
                                in_vis_thre)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def _person(rng, x, y, size=100.0):
    xy = rng.uniform([x, y], [x + size, y + size], size=(17, 2))
    return np.column_stack([xy, rng.uniform(0.3, 1.0, 17)])


def test_oks_nms_crafted_case():
    rng = np.random.default_rng(2)
    a = _person(rng, 0, 0)
    dup = a.copy()
    dup[:, :2] += 1.0                                    # near-duplicate of a
    b = _person(rng, 300, 300)
    kpts = np.stack([dup, a, b])
    scores = np.array([0.8, 0.9, 0.7])
    areas = np.full(3, 100.0 * 100.0)
    assert oks_matrix(kpts, areas)[1, 0] > 0.9 and oks_matrix(kpts, areas)[1, 2] < 0.1
    assert oks_nms(kpts, scores, areas, thresh=0.9) == [1, 2]
    assert oks_nms(kpts[:0], scores[:0], areas[:0]) == []


@pytest.mark.parametrize("in_vis_thre", [None, 0.5])
def test_oks_nms_equals_naive_reference(in_vis_thre):
    rng = np.random.default_rng(3)
    for _ in range(10):
        base = [_person(rng, *rng.uniform(0, 300, 2)) for _ in range(4)]
        kpts = np.stack([p + np.concatenate([rng.normal(0, 3, (17, 2)), np.zeros((17, 1))], 1)
                         for p in base for _ in range(3)])
        scores = rng.random(len(kpts))
        areas = rng.uniform(5000, 15000, len(kpts))
        for thresh in (0.5, 0.9):
            expected = _official_oks_nms(kpts, scores, areas, thresh, COCO_SIGMAS, in_vis_thre)
            assert oks_nms(kpts, scores, areas, thresh, in_vis_thre=in_vis_thre) == expected


def test_rescore_hand_case():
    kpts = np.zeros((2, 3, 3))
    kpts[0, :, 2] = [0.1, 0.5, 0.9]                      # mean of (0.5, 0.9) = 0.7
    kpts[1, :, 2] = [0.1, 0.2, 0.0]                      # none above 0.2 -> 0
    assert np.allclose(rescore(kpts, np.array([0.8, 0.9]), in_vis_thre=0.2), [0.56, 0.0])
