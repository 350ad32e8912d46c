"""The data layer: geometry of the warp and flip, the LSPET conversions, the split, the loaders
(prepared files and full-folder layouts) and their errors, the dataset's determinism."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from sgpose_lib.config import Config
from sgpose_lib.data import (TopDownDataset, build_dataset, fliplr_joints, load_coco,
                             load_detections, load_mpii)
from sgpose_lib.data.prepare import LSPET_ID_BASE, LSPET_TO_COCO, prepare
from sgpose_lib.errors import DataError
from sgpose_lib.geometry import affine_points, get_affine_transform
from sgpose_lib.layouts import COCO17, LAYOUTS, LSPET_JOINTS, MPII16
from sgpose_lib.targets import TargetEncoder

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "embedded"
COCO_JSON = EMBEDDED / "coco" / "annotations" / "person_keypoints.json"
MPII_FIXTURE = EMBEDDED / "mpii" / "annotations" / "mpii_val_subset.json"
LSPET_JSON = EMBEDDED / "lspet" / "annotations" / "lspet_joints.json"


@pytest.fixture(scope="session")
def lspet_raw() -> dict[str, np.ndarray]:
    data = json.loads(LSPET_JSON.read_text())
    return {im["file_name"]: np.asarray(im["joints"], dtype=np.float64) for im in data["images"]}


def make_cfg(prepared: Path, track: str, **data) -> Config:
    cfg = Config()
    cfg.data.image_size = (96, 128)
    cfg.data.mpii_image_size = (96, 128)
    cfg.data.root = str(prepared)
    cfg.data.image_root = str(EMBEDDED)
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg.with_run(track=track)


# ---------------------------------------------------------------- geometry: warp and flip

def test_warp_then_inverse_is_identity():
    rng = np.random.default_rng(0)
    for _ in range(50):
        center = rng.uniform(0, 500, 2)
        scale = rng.uniform(0.3, 3.0, 2)
        rot = rng.uniform(-90, 90)
        size = (int(rng.choice([96, 192, 256])), int(rng.choice([128, 256])))
        pts = rng.uniform(-100, 600, (17, 2))
        fwd = get_affine_transform(center, scale, rot, size)
        inv = get_affine_transform(center, scale, rot, size, inv=True)
        np.testing.assert_allclose(affine_points(affine_points(pts, fwd), inv), pts, atol=1e-3)


@pytest.mark.parametrize("track", ["mpii", "coco"])
def test_sample_keypoints_survive_the_warp(prepared, track):
    """joints_input of a sample mapped back with the sample's own (centre, scale, rotation)
    give the record's joints (mirrored when the sample was flipped)."""
    for train in (False, True):
        ds = build_dataset(make_cfg(prepared, track), "train" if train else "val")
        seen_flip = False
        for index in range(0, len(ds), max(1, len(ds) // 25)):
            s = ds[index]
            rec = ds.records[index]
            inv = get_affine_transform(s["center"].numpy(), s["scale"].numpy(), s["rotation"],
                                       ds.input_size, inv=True)
            back = affine_points(s["joints_input"].numpy()[:, :2], inv)
            expect = rec.joints
            if s["flipped"]:
                seen_flip = True
                width = cv2.imread(str(ds.image_root / rec.image)).shape[1]
                expect = fliplr_joints(rec.joints, width, ds.layout)
            lab = expect[:, 2] > 0
            np.testing.assert_allclose(back[lab], expect[lab, :2], atol=1e-3)
            np.testing.assert_array_equal(s["joints_input"].numpy()[:, 2], lab)
        assert seen_flip or not train


def _mirror_name(name: str) -> str:
    swaps = {"left_": "right_", "right_": "left_", "l_": "r_", "r_": "l_"}
    for a, b in swaps.items():
        if name.startswith(a):
            return b + name[len(a):]
    return name


@pytest.mark.parametrize("layout", [MPII16, COCO17], ids=lambda lay: lay.name)
def test_flip_maps_each_joint_to_its_pair(layout):
    rng = np.random.default_rng(1)
    width = 300
    joints = np.zeros((layout.num_joints, 3), np.float32)
    joints[:, :2] = rng.uniform(0, width - 1, (layout.num_joints, 2))
    joints[:, 2] = 1
    flipped = fliplr_joints(joints, width, layout)
    partner = {k: k for k in range(layout.num_joints)}
    for a, b in layout.flip_pairs:
        partner[a], partner[b] = b, a
    for k, name in enumerate(layout.joints):
        assert layout.joints[partner[k]] == _mirror_name(name)
        np.testing.assert_allclose(flipped[partner[k], 0], width - 1 - joints[k, 0], atol=1e-4)
        np.testing.assert_allclose(flipped[partner[k], 1], joints[k, 1])
    np.testing.assert_allclose(fliplr_joints(flipped, width, layout), joints, atol=1e-4)
    joints[3, 2] = 0  # unlabelled joints become (0, 0, 0), as official fliplr_joints
    assert not fliplr_joints(joints, width, layout)[partner[3]].any()


def test_flipped_sample_is_the_warp_of_the_mirrored_image(prepared):
    """The flip folded into the one warp gives the official result: the mirrored image
    (data_numpy[:, ::-1]) warped with the sample's centre/scale/rotation."""
    ds = build_dataset(make_cfg(prepared, "coco"), "train")
    s = next(s for s in map(ds.__getitem__, range(len(ds))) if s["flipped"])
    bgr = cv2.imread(str(ds.image_root / ds.records[s["index"]].image))
    trans = get_affine_transform(s["center"].numpy(), s["scale"].numpy(), s["rotation"],
                                 ds.input_size)
    reference = cv2.warpAffine(np.ascontiguousarray(bgr[:, ::-1]), trans, ds.input_size,
                               flags=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float64)
    ours = (s["image"].numpy().transpose(1, 2, 0) * [0.229, 0.224, 0.225]
            + [0.485, 0.456, 0.406]) * 255
    diff = np.abs(ours - reference)
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3


# ---------------------------------------------------------------- LSPET conversions and split

@pytest.fixture(scope="session")
def mpii_prepared(prepared) -> tuple[dict[str, dict], dict]:
    """Prepared MPII-style entries and loaded records of both splits, by LSPET file name."""
    entries, records = {}, {}
    for split in ("train", "val"):
        for e in json.loads((prepared / f"mpii_{split}.json").read_text()):
            entries[Path(e["image"]).name] = e
        for r in load_mpii(prepared / f"mpii_{split}.json", EMBEDDED):
            records[Path(r.image).name] = r
    return entries, records


@pytest.fixture(scope="session")
def coco_train_json(prepared) -> dict:
    return json.loads((prepared / "coco_train.json").read_text())


@pytest.mark.parametrize("name", LSPET_JOINTS)
def test_lspet_to_mpii_puts_each_joint_where_it_belongs(mpii_prepared, lspet_raw, name):
    entries, records = mpii_prepared
    assert len(entries) == len(records) == len(lspet_raw) == 2000
    k = LSPET_JOINTS.index(name)
    j = MPII16.index("upper_neck" if name == "neck" else name)
    for file_name, raw in lspet_raw.items():
        e, rec = entries[file_name], records[file_name]
        if raw[k, 2] > 0:
            assert e["joints_vis"][j] == 1
            np.testing.assert_allclose(e["joints"][j], raw[k, :2], rtol=0, atol=1e-6)  # 1-based
            np.testing.assert_allclose(rec.joints[j, :2], raw[k, :2] - 1, atol=1e-4)  # 0-based
            assert rec.joints[j, 2] == 1
        else:
            assert e["joints_vis"][j] == 0 and e["joints"][j] == [0.0, 0.0]
            assert rec.joints[j, 2] == 0


def test_lspet_to_mpii_unmapped_joints_headsize_and_crop(mpii_prepared, lspet_raw):
    pelvis, thorax = MPII16.index("pelvis"), MPII16.index("thorax")
    for file_name, rec in mpii_prepared[1].items():
        raw = lspet_raw[file_name]
        assert rec.joints[pelvis, 2] == 0 and rec.joints[thorax, 2] == 0
        assert rec.headsize == pytest.approx(0.75 * np.linalg.norm(raw[13, :2] - raw[12, :2]))
        # the crop (width = scale x 200, centred) holds every labelled joint with a margin
        lab = rec.joints[rec.joints[:, 2] > 0, :2]
        half = rec.scale[0] * 200 / 2
        assert np.all(np.abs(lab - rec.center) <= half * 0.81 + 1e-3)


@pytest.mark.parametrize("name", LSPET_JOINTS)
def test_lspet_to_coco_puts_each_joint_where_it_belongs(prepared, coco_train_json, lspet_raw,
                                                       name):
    coco = coco_train_json
    train_files = {Path(e["image"]).name for e in
                   json.loads((prepared / "mpii_train.json").read_text())}
    images = {im["id"]: im for im in coco["images"]}
    lspet_anns = [a for a in coco["annotations"] if a["image_id"] >= LSPET_ID_BASE]
    assert {Path(images[a["image_id"]]["file_name"]).name for a in lspet_anns} == train_files
    k = LSPET_JOINTS.index(name)
    for ann in lspet_anns:
        file_name = Path(images[ann["image_id"]]["file_name"]).name
        assert images[ann["image_id"]]["file_name"] == f"lspet/images/{file_name}"
        assert ann["image_id"] == LSPET_ID_BASE + int(file_name[2:7])
        raw = lspet_raw[file_name]
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        assert ann["num_keypoints"] == int((kpts[:, 2] > 0).sum())
        assert kpts[:5, 2].max() == 0  # face joints: none in LSPET
        if name not in LSPET_TO_COCO:  # neck, head top: no COCO joint, only the box uses them
            continue
        j = COCO17.index(LSPET_TO_COCO[name])
        assert LSPET_TO_COCO[name].split("_", 1)[1] == name.split("_", 1)[1]
        assert LSPET_TO_COCO[name][0] == name[0]
        if raw[k, 2] > 0:
            np.testing.assert_allclose(kpts[j], [raw[k, 0] - 1, raw[k, 1] - 1, 2], rtol=0, atol=1e-6)
        else:
            assert not kpts[j].any()


def test_split_is_deterministic_and_1600_400(prepared, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    prepare(EMBEDDED, again, seed=0)
    prepare(EMBEDDED, other, seed=1)
    for name in ("mpii_train.json", "mpii_val.json", "coco_train.json", "coco_val.json",
                 "coco_val_body.json", "summary.json"):
        assert (again / name).read_bytes() == (prepared / name).read_bytes(), name
    files = {}
    for d in (prepared, other):
        for split in ("train", "val"):
            files[d, split] = {e["image"] for e in
                               json.loads((d / f"mpii_{split}.json").read_text())}
    assert len(files[prepared, "train"]) == 1600 and len(files[prepared, "val"]) == 400
    assert not files[prepared, "train"] & files[prepared, "val"]
    assert len(files[prepared, "train"] | files[prepared, "val"]) == 2000
    assert files[prepared, "val"] != files[other, "val"]
    summary = json.loads((prepared / "summary.json").read_text())
    assert summary["seed"] == 0 and summary["mpii"]["train"]["persons"] == 1600


def test_coco_val_files(prepared):
    src = json.loads(COCO_JSON.read_text())
    prov = {p["file_name"]: p["coco_split"] for p in
            json.loads((EMBEDDED / "coco" / "provenance.json").read_text())}
    val = json.loads((prepared / "coco_val.json").read_text())
    body = json.loads((prepared / "coco_val_body.json").read_text())
    val_ids = {im["id"] for im in src["images"] if prov[im["file_name"]] == "val2017"}
    assert len(val["images"]) == 60 and {im["id"] for im in val["images"]} == val_ids
    assert val["annotations"] == [a for a in src["annotations"] if a["image_id"] in val_ids]
    for a, b in zip(val["annotations"], body["annotations"]):
        ka, kb = np.reshape(a["keypoints"], (17, 3)), np.reshape(b["keypoints"], (17, 3))
        assert not kb[:5].any() and (kb[5:] == ka[5:]).all()
        assert b["num_keypoints"] == int((kb[:, 2] > 0).sum())


# ---------------------------------------------------------------- loaders

def _independent_coco_count(data: dict) -> int:
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    n = 0
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        width, height = sizes[a["image_id"]]
        x1, y1 = max(0, x), max(0, y)
        x2, y2 = min(width - 1, x1 + max(0, w - 1)), min(height - 1, y1 + max(0, h - 1))
        ok_box = a["area"] > 0 and x2 >= x1 and y2 >= y1
        n += a["iscrowd"] == 0 and max(a["keypoints"][2::3]) > 0 and ok_box
    return n


def test_coco_loader_counts_instances_with_labelled_keypoints():
    data = json.loads(COCO_JSON.read_text())
    records, coco = load_coco(COCO_JSON, EMBEDDED / "coco" / "images", aspect_ratio=0.75)
    assert len(records) == _independent_coco_count(data) == 228
    assert records.counts["kept"] == 228 and records.counts["crowd"] == 11
    assert len(coco.imgs) == 96
    r = records[0]
    assert r.joints.shape == (17, 3) and set(np.unique(r.joints[:, 2])) <= {0.0, 1.0}
    assert r.scale[0] / r.scale[1] == pytest.approx(0.75, rel=1e-5)
    assert all((EMBEDDED / "coco" / "images" / rec.image).is_file() for rec in records)


def test_mpii_loader_on_the_fixture():
    fixture = json.loads(MPII_FIXTURE.read_text())["annotations"]
    records = load_mpii(MPII_FIXTURE, EMBEDDED / "mpii" / "images")
    assert len(records) == 5
    for rec, e in zip(records, fixture):
        assert rec.headsize == pytest.approx(e["headsize"])
        s = e["scale"]
        np.testing.assert_allclose(rec.scale, [1.25 * s, 1.25 * s], rtol=1e-6)
        np.testing.assert_allclose(rec.center, [e["center"][0] - 1,
                                                e["center"][1] + 15 * s - 1], atol=1e-3)
        # the official centre/scale of valid.h5 (1-based), minus 1
        np.testing.assert_allclose(rec.center, np.array(e["hg_valid_h5"]["center"]) - 1,
                                   atol=1e-3)
        np.testing.assert_allclose(rec.joints[:, :2], np.array(e["joints"]) - 1, atol=1e-4)
        np.testing.assert_array_equal(rec.joints[:, 2], e["joints_vis"])
        lab = rec.joints[:, 2] > 0
        assert np.all(np.abs(rec.joints[lab, :2] - rec.center) <= rec.scale * 100)


def _coco_full_folder(tmp_path: Path, n_images: int = 4) -> Path:
    src = json.loads(COCO_JSON.read_text())
    prov = {p["file_name"]: p["coco_split"] for p in
            json.loads((EMBEDDED / "coco" / "provenance.json").read_text())}
    images = [im for im in src["images"] if prov[im["file_name"]] == "val2017"][:n_images]
    ids = {im["id"] for im in images}
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    for im in images:
        shutil.copy(EMBEDDED / "coco" / "images" / im["file_name"], root / "val2017")
    data = dict(src, images=images,
                annotations=[a for a in src["annotations"] if a["image_id"] in ids])
    (root / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(data))
    return root


def _mpii_full_folder(tmp_path: Path) -> tuple[Path, list[dict]]:
    fixture = json.loads(MPII_FIXTURE.read_text())["annotations"]
    root = tmp_path / "mpii"
    (root / "annot").mkdir(parents=True)
    (root / "images").mkdir()
    entries = [{k: e[k] for k in ("image", "center", "scale", "joints", "joints_vis")}
               for e in fixture]  # official valid.json: no headsize
    (root / "annot" / "valid.json").write_text(json.dumps(entries))
    for e in fixture:
        shutil.copy(EMBEDDED / "mpii" / "images" / e["image"], root / "images")
    # head boxes whose 0.6 x diagonal is the fixture's head size: (x1, y1) -> (x1 + d, y1 + d)
    boxes = np.zeros((2, 2, len(fixture)))
    for i, e in enumerate(fixture):
        d = e["headsize"] / 0.6 / np.sqrt(2)
        boxes[0, :, i] = e["joints"][9]
        boxes[1, :, i] = np.array(e["joints"][9]) + d
    scipy.io.savemat(root / "annot" / "gt_valid.mat", {"headboxes_src": boxes})
    return root, fixture


@pytest.mark.parametrize("via", ["coco_dir", "root"])
def test_full_coco_folder_loads_through_the_same_path(tmp_path, via):
    root = _coco_full_folder(tmp_path)
    cfg = make_cfg(tmp_path / "nowhere", "coco", **{via: str(root)})
    ds = build_dataset(cfg, "val")
    data = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    assert len(ds) == _independent_coco_count(data) > 0
    assert ds.gt_file == root / "annotations" / "person_keypoints_val2017.json"
    assert ds.coco is not None and set(ds.coco.imgs) == {im["id"] for im in data["images"]}
    s = ds[0]
    assert s["image"].shape == (3, 128, 96) and s["heatmaps"].shape == (17, 32, 24)


def test_full_mpii_folder_loads_through_the_same_path(tmp_path):
    root, fixture = _mpii_full_folder(tmp_path)
    cfg = make_cfg(tmp_path / "nowhere", "mpii", mpii_dir=str(root))
    ds = build_dataset(cfg, "val")
    assert len(ds) == 5 and ds.coco is None
    for rec, e in zip(ds.records, fixture):
        assert rec.headsize == pytest.approx(e["headsize"], rel=1e-6)  # from gt_valid.mat
        np.testing.assert_allclose(rec.joints[:, :2], np.array(e["joints"]) - 1, atol=1e-4)
    assert ds[4]["heatmaps"].shape == (16, 32, 24)


def test_build_dataset_on_prepared_files(prepared):
    for track, counts in (("mpii", (1600, 400)), ("coco", (1686, 142))):
        cfg = make_cfg(prepared, track)
        train, val = build_dataset(cfg, "train"), build_dataset(cfg, "val")
        assert (len(train), len(val)) == counts and train.train and not val.train
        k = LAYOUTS[track].num_joints
        s = train[0]
        assert s["image"].dtype == np.float32 or str(s["image"].dtype) == "torch.float32"
        assert s["heatmaps"].shape == (k, 32, 24) and s["seg"].shape == (32, 24)
        assert s["target_weight"].shape == (k,) and s["joints"].shape == (k, 3)
    val = build_dataset(make_cfg(prepared, "coco"), "val")
    assert val.gt_file == prepared / "coco_val.json"
    assert val.gt_file_body == prepared / "coco_val_body.json"
    assert len(build_dataset(make_cfg(prepared, "coco", limit_val=7), "val")) == 7


def test_image_normalisation_is_imagenet_rgb(prepared):
    ds = build_dataset(make_cfg(prepared, "coco"), "val")
    s = ds[0]
    rec = ds.records[0]
    bgr = cv2.imread(str(ds.image_root / rec.image))
    trans = get_affine_transform(rec.center, rec.scale, 0, ds.input_size)
    crop = cv2.warpAffine(bgr, trans, ds.input_size, flags=cv2.INTER_LINEAR)[:, :, ::-1] / 255.0
    expect = (crop - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(s["image"].numpy().transpose(1, 2, 0), expect, atol=1e-4)


def test_detections(prepared, tmp_path):
    _, coco = load_coco(prepared / "coco_val.json", EMBEDDED, aspect_ratio=0.75)
    img_id = next(iter(coco.imgs))
    dets = [{"image_id": img_id, "category_id": 1, "bbox": [10, 20, 50, 100], "score": 0.9},
            {"image_id": img_id, "category_id": 1, "bbox": [10, 20, 50, 100], "score": 0.05},
            {"image_id": img_id, "category_id": 2, "bbox": [10, 20, 50, 100], "score": 0.9}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    records = load_detections(path, coco, aspect_ratio=0.75, image_thre=0.1)
    assert len(records) == 1 and records[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(records[0].center, [35, 70])
    path.write_text(json.dumps(dets + [dict(dets[0], image_id=123456789)]))
    with pytest.raises(DataError, match="123456789"):
        load_detections(path, coco, aspect_ratio=0.75)
    cfg = make_cfg(prepared, "coco")
    cfg.eval.boxes = str(tmp_path / "ok.json")
    (tmp_path / "ok.json").write_text(json.dumps(dets[:1]))
    assert len(build_dataset(cfg, "val")) == 1 and len(build_dataset(cfg, "train")) == 1686


# ---------------------------------------------------------------- determinism

def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def test_augmentation_is_deterministic_per_seed_epoch_index(prepared):
    ds = build_dataset(make_cfg(prepared, "mpii"), "train")
    first = [ds[i] for i in (5, 6, 7)]
    assert all(_same(a, ds[i]) for a, i in zip(first, (5, 6, 7)))  # order-free, repeatable
    ds.set_epoch(1)
    assert not _same(first[0], ds[5])
    ds.set_epoch(0)
    assert _same(first[0], ds[5])
    other = build_dataset(make_cfg(prepared, "mpii"), "train")
    other.seed = 1
    assert not _same(first[0], other[5])


# ---------------------------------------------------------------- bad input

def test_missing_folders_and_files_raise_data_error(tmp_path, prepared):
    with pytest.raises(DataError, match="nowhere"):
        build_dataset(make_cfg(tmp_path / "nowhere", "mpii"), "train")
    with pytest.raises(DataError, match="mpii_dir"):
        build_dataset(make_cfg(prepared, "mpii", mpii_dir=str(tmp_path / "x")), "val")
    with pytest.raises(DataError, match="mpii_train.json"):
        build_dataset(make_cfg(tmp_path, "mpii"), "train")  # folder exists, no annotations
    with pytest.raises(DataError, match="image folder not found"):
        load_coco(COCO_JSON, tmp_path / "no_images", aspect_ratio=0.75)
    with pytest.raises(DataError, match="missing.json"):
        load_mpii(tmp_path / "missing.json", EMBEDDED)
    with pytest.raises(DataError, match="embedded data folder"):
        prepare(tmp_path / "no_embedded", tmp_path / "out")


@pytest.mark.parametrize("case", ["invalid_json", "no_annotations", "missing_field",
                                  "wrong_count", "non_numeric", "nothing_usable"])
def test_malformed_coco_raises_data_error_naming_the_file(tmp_path, case):
    data = json.loads(COCO_JSON.read_text())
    ann = data["annotations"][1]
    if case == "no_annotations":
        del data["annotations"]
    elif case == "missing_field":
        del ann["bbox"]
    elif case == "wrong_count":
        ann["keypoints"] = ann["keypoints"][:-3]
    elif case == "non_numeric":
        ann["keypoints"][4] = "x"
        ann["keypoints"][2] = 2
    elif case == "nothing_usable":
        for a in data["annotations"]:
            a["keypoints"] = [0] * 51
    path = tmp_path / "bad_coco.json"
    path.write_text("{not json" if case == "invalid_json" else json.dumps(data))
    with pytest.raises(DataError, match="bad_coco.json"):
        load_coco(path, EMBEDDED / "coco" / "images", aspect_ratio=0.75)


@pytest.mark.parametrize("case", ["invalid_json", "empty", "missing_field", "wrong_count",
                                  "non_numeric", "not_an_object"])
def test_malformed_mpii_raises_data_error_naming_the_file(tmp_path, case):
    entries = json.loads(MPII_FIXTURE.read_text())["annotations"]
    e = entries[2]
    if case == "empty":
        entries = []
    elif case == "missing_field":
        del e["joints_vis"]
    elif case == "wrong_count":
        e["joints"] = e["joints"][:15]
    elif case == "non_numeric":
        e["center"] = ["a", 3]
    elif case == "not_an_object":
        entries[2] = [1, 2, 3]
    path = tmp_path / "bad_mpii.json"
    path.write_text("[{" if case == "invalid_json" else json.dumps(entries))
    with pytest.raises(DataError, match="bad_mpii.json"):
        load_mpii(path, EMBEDDED / "mpii" / "images")


def test_missing_image_eval_raises_train_skips_with_one_warning(tmp_path):
    """Evaluation stops at a bad image; training skips it where data.skip_bad_images (the
    default stops: tests/test_reliability.py)."""
    images = tmp_path / "images"
    images.mkdir()
    fixture = json.loads(MPII_FIXTURE.read_text())["annotations"]
    for e in fixture[1:]:
        shutil.copy(EMBEDDED / "mpii" / "images" / e["image"], images)
    (images / "corrupt.jpg").write_bytes(b"not a jpeg")
    (images / "empty.jpg").write_bytes(b"")
    fixture[3]["image"] = "corrupt.jpg"
    fixture[2]["image"] = "empty.jpg"
    ann = tmp_path / "valid.json"
    ann.write_text(json.dumps(fixture))
    records = load_mpii(ann, images)
    cfg = make_cfg(tmp_path, "mpii", skip_bad_images=True).data
    enc = TargetEncoder.from_config(cfg)
    val = TopDownDataset(records, images, MPII16, cfg, train=False, encoder=enc)
    with pytest.raises(DataError, match=fixture[0]["image"]):
        val[0]
    with pytest.raises(DataError, match="corrupt.jpg"):
        val[3]
    with pytest.raises(DataError, match="empty.jpg"):
        val[2]
    train = TopDownDataset(records, images, MPII16, cfg, train=True, encoder=enc)
    with pytest.warns(UserWarning, match=fixture[0]["image"]):
        s = train[0]
    assert s["index"] == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train[3]["index"] == 4  # further skipped files: counted, no second warning
        assert train[2]["index"] == 4  # a zero-byte file: skipped (to the next good sample) too
    assert not caught
    assert len(train.skipped) == 3


def test_augmented_samples_figure(prepared, tmp_path):
    from sgpose_lib.report.samples import plot_augmented_samples

    cfg = make_cfg(prepared, "mpii")
    out = plot_augmented_samples(cfg, tmp_path / "aug.png", n=2)
    assert out.is_file() and out.stat().st_size > 10_000


def test_augmentation_is_per_track_with_the_official_settings():
    cfg = Config()
    assert (cfg.data.coco_augment.scale_factor, cfg.data.coco_augment.rotation_factor,
            cfg.data.coco_augment.half_body_prob) == (0.35, 45.0, 0.3)       # official COCO
    assert (cfg.data.mpii_augment.scale_factor, cfg.data.mpii_augment.rotation_factor,
            cfg.data.mpii_augment.half_body_prob) == (0.25, 30.0, 0.0)       # official MPII
    cfg.data.track = "mpii"
    assert cfg.data.augment is cfg.data.mpii_augment


@pytest.mark.parametrize("track", ["coco", "mpii"])
def test_rotation_and_scale_draws_follow_the_official_distribution(prepared, track):
    """r = clip(f N, -2f, 2f) with p = 0.6 and s = clip(1 + sf N, 1 - sf, 1 + sf): over 4,000
    draws the rotated share is 0.6, P(|r| = 2f | rotated) = P(|N| >= 2) = 4.6 %, and no draw
    leaves its range."""
    cfg = Config().with_run(track=track)
    aug = cfg.data.augment
    aug.half_body_prob = 0.0
    ds = build_dataset(make_cfg(prepared, track), "train")
    ds.cfg = cfg.data
    records = ds.records
    draws = [ds.augment(records[0], 640, np.random.default_rng(i)) for i in range(4000)]
    r = np.array([d[2] for d in draws])
    s = np.array([d[1][0] for d in draws]) / records[0].scale[0]
    rotated = r != 0
    f, sf = aug.rotation_factor, aug.scale_factor
    assert rotated.mean() == pytest.approx(0.6, abs=0.03)
    assert np.abs(r).max() <= 2 * f + 1e-9
    assert np.mean(np.isclose(np.abs(r[rotated]), 2 * f)) == pytest.approx(0.0455, abs=0.015)
    assert s.min() >= 1 - sf - 1e-6 and s.max() <= 1 + sf + 1e-6
