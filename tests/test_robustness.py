"""Background-swap sets, paired OKS and SGM attention statistics, against independent truth."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sgpose_lib.analysis.attention_stats import (area_fraction, attention_statistics, bce, disc_targets,
                                        iou, iou_area_matched, mass_share, person_masks,
                                        site_statistics)
from sgpose_lib.errors import CheckpointError, DataError
from sgpose_lib.metrics import COCO_SIGMAS
from sgpose_lib.metrics import person_oks
from sgpose_lib.analysis.backgrounds import CONDITIONS, DILATION_PX
from sgpose_lib.analysis.robustness import build_perturbed_sets, evaluate_conditions
from sgpose_lib.report.figures import plot_conditions

ROOT = Path(__file__).resolve().parents[1]
# pycocotools 2.0 decoding masks under numpy 2 (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SIZE = 128          # tiny images: SIZE x SIZE pixels
BOX = (32, 32, 64, 64)  # x, y, w, h of the rectangular person of image 1 (on the
                        # 16-pixel JPEG MCU grid, so whole MCUs lie inside the mask)


def _textured(seed: int) -> np.ndarray:
    """A BGR image of colour blobs and grey-level noise: blurring or replacing it is visible,
    and JPEG keeps it within a few levels (no per-pixel colour noise, which 4:2:0 chroma
    subsampling would wipe out)."""
    rng = np.random.default_rng(seed)
    blobs = cv2.GaussianBlur(rng.uniform(0, 255, (SIZE, SIZE, 3)), (0, 0), 3)
    img = (blobs - blobs.mean()) * 4 + 128 + rng.normal(0, 20, (SIZE, SIZE, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _tiny_coco(tmp_path: Path) -> tuple[Path, Path]:
    """Two images: 1 has a polygon person (a rectangle), 2 a crowd RLE disc plus a second
    polygon person; returns (annotation file, image root)."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for i in (1, 2):
        cv2.imwrite(str(root / "sub" / f"{i}.png"), _textured(i))
    x, y, w, h = BOX
    poly = [x, y, x + w, y, x + w, y + h, x, y + h]
    disc = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(disc, (40, 40), 20, 1, -1)
    rle = mask_utils.encode(np.asfortranarray(disc))
    rle["counts"] = rle["counts"].decode()
    kpts = [0] * 51
    kpts[15:18] = [x + 10, y + 10, 2]
    anns = [
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": list(BOX), "area": float(w * h),
         "iscrowd": 0, "keypoints": kpts, "num_keypoints": 1, "segmentation": [poly]},
        {"id": 21, "image_id": 2, "category_id": 1, "bbox": [20, 20, 41, 41], "area": 1257.0,
         "iscrowd": 1, "keypoints": [0] * 51, "num_keypoints": 0, "segmentation": rle},
        {"id": 22, "image_id": 2, "category_id": 1, "bbox": [80, 80, 30, 30], "area": 900.0,
         "iscrowd": 0, "keypoints": kpts, "num_keypoints": 1,
         "segmentation": [[80, 80, 110, 80, 110, 110, 80, 110]]},
    ]
    images = [{"id": i, "file_name": f"sub/{i}.png", "width": SIZE, "height": SIZE, "license": 4}
              for i in (1, 2)]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": 1, "name": "person"}]}))
    return ann, root


def _read(root: Path, condition: str, name: str) -> np.ndarray:
    return cv2.imread(str(root / condition / name)).astype(np.int16)


def _rect_mask(erode: int) -> np.ndarray:
    """The rectangle person of image 1, shrunk (erode > 0) or grown (< 0) by |erode| pixels."""
    x, y, w, h = BOX
    m = np.zeros((SIZE, SIZE), bool)
    m[max(0, y + erode):y + h - erode, max(0, x + erode):x + w - erode] = True
    return m


def test_perturbed_sets_keep_the_person_and_replace_the_background(tmp_path):
    ann, root = _tiny_coco(tmp_path)
    out = tmp_path / "pert"
    manifest = build_perturbed_sets(ann, root, out, seed=3)
    original = _read(out, "original", "sub/1.png")
    source = cv2.imread(str(root / "sub" / "1.png")).astype(np.int16)
    inside = _rect_mask(4)                     # whole JPEG MCUs inside the dilated mask
    outside = ~_rect_mask(-(DILATION_PX + 16))
    assert np.abs(original - source)[inside].mean() < 4       # only JPEG changes 'original'
    for condition in ("blur", "clutter", "grey"):
        img = _read(out, condition, "sub/1.png")
        assert np.abs(img - original)[inside].max() <= 2, condition
        assert np.abs(img - original)[outside].mean() > 10, condition
    grey = _read(out, "grey", "sub/1.png")
    assert np.abs(grey[outside] - 128).max() <= 3
    # image 2: the crowd RLE disc is kept too (crowd regions are part of the mask)
    disc = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(disc, (40, 40), 6, 1, -1)
    grey2, orig2 = _read(out, "grey", "sub/2.png"), _read(out, "original", "sub/2.png")
    assert np.abs(grey2 - orig2)[disc > 0].max() <= 2
    # manifest
    saved = json.loads((out / "manifest.json").read_text())
    assert saved == manifest
    assert manifest["conditions"] == list(CONDITIONS) == ["original", "blur", "clutter", "grey"]
    assert (manifest["seed"], manifest["dilation_px"], manifest["jpeg_quality"]) == (3, 5, 95)
    frac = {e["image_id"]: e["mask_fraction"] for e in manifest["images"]}
    x, y, w, h = BOX
    assert w * h / SIZE ** 2 < frac[1] < (w + 2 * DILATION_PX) * (h + 2 * DILATION_PX) / SIZE ** 2
    assert frac[2] > (np.pi * 20 ** 2 + 900) / SIZE ** 2


def test_perturbed_sets_are_deterministic_and_seeded(tmp_path):
    ann, root = _tiny_coco(tmp_path)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 0), (b, 0), (c, 1)):
        build_perturbed_sets(ann, root, out, seed=seed)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * len(CONDITIONS)
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        same = (a / rel).read_bytes() == (c / rel).read_bytes()
        assert same == (rel.parts[0] not in ("clutter", "manifest.json")), rel


def test_perturbed_sets_errors_name_the_file(tmp_path):
    ann, root = _tiny_coco(tmp_path)
    with pytest.raises(DataError, match="nope.json"):
        build_perturbed_sets(tmp_path / "nope.json", root, tmp_path / "out")
    (root / "sub" / "2.png").unlink()
    with pytest.raises(DataError, match=r"sub/2\.png"):
        build_perturbed_sets(ann, root, tmp_path / "out")
    data = json.loads(ann.read_text())
    del data["annotations"][0]["segmentation"]
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"ann\.json: annotation id 11 .*no segmentation"):
        build_perturbed_sets(ann, root, tmp_path / "out", image_ids=[1])


# --- paired OKS --------------------------------------------------------------------------------

def test_person_oks_hand_values_and_pycocotools():
    rng = np.random.default_rng(0)
    gt = np.zeros((2, 17, 3))
    gt[..., :2] = rng.uniform(0, 100, (2, 17, 2))
    gt[..., 2] = 1
    gt[1, 5:, 2] = 0                                   # person 2: only 5 labelled joints
    areas = np.array([900.0, 400.0])
    assert np.allclose(person_oks(gt[..., :2], gt, areas, COCO_SIGMAS), 1.0)
    d = np.array([3.0, 4.0])                           # a 5-pixel displacement of every joint
    pred = gt[..., :2] + d
    k = 2 * COCO_SIGMAS
    want = [np.mean(np.exp(-25.0 / (2 * 900.0 * k ** 2))),
            np.mean(np.exp(-25.0 / (2 * 400.0 * k[:5] ** 2)))]
    assert np.allclose(person_oks(pred, gt, areas, COCO_SIGMAS), want)
    # independent truth: pycocotools' own computeOks on the same two persons
    from pycocotools.cocoeval import COCOeval

    from sgpose_lib.data.coco import make_coco
    gts = make_coco({"images": [{"id": 1, "width": 200, "height": 200}],
                     "categories": [{"id": 1, "name": "person"}],
                     "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1,
                                      "iscrowd": 0, "area": float(areas[i]),
                                      "bbox": [0, 0, 100, 100], "num_keypoints": 17,
                                      "keypoints": (gt[i] * [1, 1, 2]).reshape(-1).tolist()}
                                     for i in range(2)]})
    with contextlib.redirect_stdout(io.StringIO()):
        dts = gts.loadRes([{"image_id": 1, "category_id": 1, "score": 1.0 - 0.1 * i,
                            "keypoints": np.c_[pred[i], np.ones(17)].reshape(-1).tolist()}
                           for i in range(2)])
    ev = COCOeval(gts, dts, iouType="keypoints")
    ev.params.imgIds = [1]
    ev._prepare()
    ious = ev.computeOks(1, 1)                         # (detections, ground truths)
    assert np.allclose(np.diag(ious), want)
    assert np.isnan(person_oks(pred[:1], gt[:1] * [1, 1, 0], areas[:1], COCO_SIGMAS)[0])


# --- attention statistics: the numeric functions ------------------------------------------------

def test_attention_numbers_on_hand_made_maps():
    disc = np.zeros((2, 8, 6), np.float32)
    disc[0, 2:5, 1:4] = 1                              # 9 of 48 pixels
    disc[1, 0:4, 0:6] = 1                              # 24 of 48
    frac = np.array([9 / 48, 24 / 48])
    assert np.allclose(mass_share(disc, disc), 1.0)
    assert np.allclose(iou(disc, disc), 1.0)
    assert np.allclose(bce(disc, disc), -np.log(1 - 1e-6), atol=1e-9)
    uniform = np.full_like(disc, 0.3)
    assert np.allclose(mass_share(uniform, disc), frac)
    assert np.allclose(area_fraction(disc), frac)
    assert np.allclose(bce(np.full_like(disc, 0.5), disc), np.log(2))
    assert np.allclose(iou(uniform, disc), 0.0)
    half = disc.copy()
    half[0, 2:5, 1] = 0.4                              # 3 of the 9 disc pixels below 0.5
    assert np.isclose(iou(half, disc)[0], 6 / 9)
    assert np.isnan(iou(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))[0])
    soft = 0.1 + 0.2 * disc                            # never reaches 0.5, but ranks the disc first
    assert np.allclose(iou(soft, disc), 0.0) and np.allclose(iou_area_matched(soft, disc), 1.0)
    shifted = np.zeros_like(disc)
    shifted[0, 3:6, 1:4] = 0.3                         # the 3x3 disc moved down by one row
    assert np.isclose(iou_area_matched(shifted, disc)[0], 6 / 12)
    stats = site_statistics(uniform, disc, own_mask=disc > 0)
    assert np.isclose(stats["disc_share"], frac.mean())
    assert np.isclose(stats["disc_share_uniform"], frac.mean())
    assert np.isclose(stats["mask_share"], frac.mean()) and stats["persons_share"] is None
    empty = np.zeros_like(disc)
    empty[0] = disc[0]                                 # sample 2 has no disc: left out
    assert np.isclose(site_statistics(disc, empty)["disc_share"], 1.0)


# --- end to end on a smoke checkpoint ------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_run(prepared, tmp_path_factory):
    """An SG and a baseline smoke checkpoint (COCO track, 1 epoch on 16 samples) and the
    perturbed copies of the 24 validation samples' images."""
    from sgpose_lib.engine.checkpoint_io import atomic_save
    from sgpose_lib.params import load_config
    from sgpose_lib.model import build_model
    from sgpose_lib.engine.train import train

    tmp = tmp_path_factory.mktemp("robust")
    cfg = load_config("smoke", ROOT / "params.yaml", track="coco", variant="sg", seed=0)
    cfg.data.root, cfg.data.image_root = str(prepared), str(ROOT / "data" / "embedded")
    cfg.data.limit_train, cfg.data.limit_val, cfg.data.workers = 16, 24, 0
    cfg.train.epochs, cfg.train.batch_size, cfg.train.val_every, cfg.train.threads = 1, 8, 0, 1
    train(cfg, tmp / "sg", progress=False)
    base = load_config("smoke", ROOT / "params.yaml", track="coco", variant="baseline", seed=0)
    atomic_save({"model": build_model(base.model).state_dict(), "config": base.to_dict()},
                tmp / "base.pt")
    from sgpose_lib.data import build_dataset
    ids = {r.image_id for r in build_dataset(cfg, "val").records}
    build_perturbed_sets(prepared / "coco_val.json", ROOT / "data" / "embedded", tmp / "pert",
                         image_ids=ids)
    return tmp, cfg


def test_evaluate_conditions_smoke(smoke_run):
    tmp, _ = smoke_run
    summary = evaluate_conditions(tmp / "sg" / "last.pt", tmp / "pert", tmp / "rob")
    assert list(summary) == list(CONDITIONS)
    assert json.loads((tmp / "rob" / "robustness.json").read_text()).keys() == summary.keys()
    ann_ids = summary["original"]["ann_ids"]
    assert len(ann_ids) == 24 and len(set(ann_ids)) == 24
    for condition, m in summary.items():
        assert {"AP", "AR", "body_AP", "mean_oks", "oks"} <= m.keys()
        assert m["ann_ids"] == ann_ids and len(m["oks"]) == 24
        assert 0.0 <= m["mean_oks"] <= 1.0 and all(0.0 <= v <= 1.0 for v in m["oks"])
        assert np.isclose(m["mean_oks"], np.mean(m["oks"]), atol=1e-5)
        assert (tmp / "rob" / condition / "keypoints_results.json").is_file()
        assert 0.0 <= m["AP"] <= 1.0 and 0.0 <= m["body_AP"] <= 1.0
    from sgpose_lib.analysis.robustness import load_condition_results
    results = load_condition_results(tmp / "rob")
    fig = plot_conditions(tmp / "pert", {"model a": results, "model b": results}, n_images=2,
                          out_png=tmp / "fig.png")
    assert fig.axes and (tmp / "fig.png").stat().st_size > 0


def test_attention_statistics_smoke(smoke_run):
    tmp, cfg = smoke_run
    from sgpose_lib.data import build_dataset
    dataset = build_dataset(cfg, "val")
    disc = disc_targets(dataset)                     # == the samples' own 'seg' targets
    for i in (0, 7, 23):
        assert np.array_equal(disc[i], dataset[i]["seg"].numpy())
    own, union = person_masks(dataset), person_masks(dataset, all_persons=True)
    assert own.any() and np.all(union >= own)        # the union contains every own mask
    stats = attention_statistics(tmp / "sg" / "last.pt", tmp / "att" / "stats.json")
    assert json.loads((tmp / "att" / "stats.json").read_text()) == stats
    assert stats["track"] == "coco" and stats["n"] == 24
    assert stats["sites"] == ["stage2", "stage3", "stage4", "final"]
    for site in stats["sites"]:
        s = stats[site]
        for key in ("disc_share", "disc_share_uniform", "mask_share", "mask_share_uniform",
                    "persons_share", "persons_share_uniform", "iou", "mean_map"):
            assert 0.0 <= s[key] <= 1.0, (site, key)
        assert s["bce"] > 0
        assert s["persons_share"] >= s["mask_share"] - 1e-9
    with pytest.raises(CheckpointError, match="without SGM"):
        attention_statistics(tmp / "base.pt")


def test_cli_attention_stats_and_robustness_errors(smoke_run, capsys):
    from sgpose_lib.cli import main
    tmp, _ = smoke_run
    assert main(["attention-stats", "--checkpoint", str(tmp / "sg" / "last.pt"),
                 "--out", str(tmp / "cli")]) == 0   # --out is a folder, as for every command
    assert json.loads((tmp / "cli" / "attention.json").read_text())["n"] == 24
    capsys.readouterr()
    assert main(["attention-stats", "--checkpoint", str(tmp / "base.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sgpose attention-stats: error:") and err.count("\n") == 1
    assert main(["robustness", "evaluate", "--checkpoint", str(tmp / "sg" / "last.pt"),
                 "--perturbed", str(tmp / "nowhere"), "--out", str(tmp / "x")]) == 2
    assert "manifest.json" in capsys.readouterr().err
