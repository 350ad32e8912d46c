"""The COCO evaluation of `sgpose evaluate` against the official HRNet evaluation on fixed inputs.

`tests/data/official_coco_eval_cases.json` holds predictions on the embedded val2017 images
(prepared `coco_val.json`, seed 0) and what the official pipeline (rescoring, OKS-NMS, COCOeval)
returned for them: the kept detections and the 10 COCOeval stats. The predictions go through
`score_predictions`, the function `sgpose evaluate` scores with.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from sgpose_lib.data import build_dataset
from sgpose_lib.engine.evaluate import coco_results, score_predictions
from sgpose_lib.layouts import COCO17
from sgpose_lib.metrics import COCO_STATS

CASES = json.loads((Path(__file__).parent / "data" / "official_coco_eval_cases.json").read_text())
COCO_VAL_IMAGES = 60


def _pred(case: dict) -> dict[str, np.ndarray]:
    """The case's predictions laid out as `evaluate.predict` returns them (float32 as the model)."""
    p = case["predictions"]
    return {"preds": np.array([q["xy"] for q in p], np.float32),
            "maxvals": np.array([q["maxvals"] for q in p], np.float32),
            "center": np.array([q["center"] for q in p], np.float32),
            "scale": np.array([q["scale"] for q in p], np.float32),
            "score": np.array([q["box_score"] for q in p], np.float64),
            "image_id": np.array([q["image_id"] for q in p], np.int64)}


@pytest.fixture
def coco_val(smoke_cfg):
    cfg = smoke_cfg(track="coco", variant="baseline")
    cfg.data.limit_val = 0
    dataset = build_dataset(cfg, "val")
    assert len(dataset.coco.getImgIds()) == COCO_VAL_IMAGES
    return cfg, dataset


def _kept_set(results: list[dict]) -> list[tuple[int, np.ndarray]]:
    return sorted(((r["image_id"], np.array(r["keypoints"]).reshape(-1, 3)[:, :2])
                   for r in results), key=lambda t: (t[0], t[1][0, 0], t[1][0, 1]))


def test_layout_sigmas_are_pycocotools_defaults():
    assert np.array_equal(COCO17.oks_sigmas, COCOeval(iouType="keypoints").params.kpt_oks_sigmas)


@pytest.mark.parametrize("name", sorted(CASES["cases"]))
def test_kept_detections_and_stats_equal_official(name, coco_val, tmp_path):
    cfg, dataset = coco_val
    case = CASES["cases"][name]
    pred = _pred(case)
    ours = coco_results(pred, dataset.layout, cfg.eval.in_vis_thre, cfg.eval.oks_thre)
    official = case["official_kept"]
    assert len(ours) == len(official)
    for (img_a, xy_a), (img_b, xy_b) in zip(_kept_set(ours), _kept_set(official)):
        assert img_a == img_b
        assert np.abs(xy_a - xy_b).max() < 1e-3
    # scores: the official rescoring
    by_key = {(r["image_id"], round(r["keypoints"][0], 2), round(r["keypoints"][1], 2)): r["score"]
              for r in official}
    for r in ours:
        key = (r["image_id"], round(r["keypoints"][0], 2), round(r["keypoints"][1], 2))
        assert r["score"] == pytest.approx(by_key[key], abs=1e-6)

    metrics = score_predictions(pred, dataset, cfg, tmp_path)
    for stat in COCO_STATS:
        assert metrics[stat] == pytest.approx(case["official_stats"][stat], abs=1e-6), stat
    assert len(json.loads((tmp_path / "keypoints_results.json").read_text())) == len(official)
