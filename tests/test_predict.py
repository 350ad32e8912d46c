"""`sgpose predict` and the attention-maps notebook on image files, as a user meets them.

A tiny SG model is trained through the CLI (smoke profile, 1 epoch on 16 samples, seconds);
predict then runs on embedded images in a subprocess: keypoints.json is a COCO results list with
K keypoints per image in image pixels, a PNG is drawn per image, and each bad input (image, box,
checkpoint) is one line on stderr with exit 2 and nothing written (these cases run the CLI's
main in the test's process, cli_helpers.run_cli_here, and check that no C library wrote to the
process's stderr either). The notebook runs through
papermill on an image path with that checkpoint, and without any checkpoint (a fresh clone) it
prints the one-line hint and shows the committed figure instead of failing.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sgpose_lib.engine.checkpoint_io import atomic_save
from sgpose_lib.engine.predict import parse_box
from sgpose_lib.errors import ConfigError
from sgpose_lib.geometry import PIXEL_STD, box_to_center_scale
from sgpose_lib.model import build_model
from sgpose_lib.params import load_config

from cli_helpers import one_line_error, run_cli, run_cli_here

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "data" / "embedded"
LSPET_IMAGE = EMBEDDED / "lspet" / "images" / "im00013.jpg"     # 178 x 237 pixels (w x h)
COCO_IMAGE = EMBEDDED / "coco" / "images" / "000000000785.jpg"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sg_checkpoint(prepared, tmp_path_factory) -> Path:
    """A smoke-profile SG model (MPII-style track, 16 joints) trained for 1 epoch through the CLI."""
    tmp = tmp_path_factory.mktemp("predict_run")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profiles"]["smoke"]["data"].update(root=str(prepared), image_root=str(EMBEDDED),
                                               limit_train=16, limit_val=8)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = run_cli(["train", "--params", tmp / "params.yaml", "--profile", "smoke", "--track",
                    "mpii", "--variant", "sg", "--epochs", "1", "--out", tmp / "run", "--quiet",
                    "--set", "train.val_every=0", "train.threads=1", "train.batch_size=8"],
                   cwd=tmp)
    assert done.returncode == 0, done.stderr
    return tmp / "run" / "last.pt"


@pytest.fixture(scope="module")
def coco_baseline_checkpoint(tmp_path_factory) -> Path:
    """An untrained smoke baseline of the COCO track (17 joints, no SGM)."""
    cfg = load_config("smoke", ROOT / "params.yaml", track="coco", variant="baseline", seed=0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("predict_baseline") / "coco_baseline.pt"
    atomic_save({"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()}, path)
    return path


def _crop_bounds(box, input_size=(64, 64), padding=1.25) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) image-pixel corners of the region a top-down crop of `box` covers."""
    w, h = input_size
    center, scale = box_to_center_scale(*box, aspect_ratio=w / h, padding=padding)
    half = scale * PIXEL_STD / 2
    return center - half - 1, center + half + 1


def _check_results(results, names, joints: int) -> None:
    """A COCO keypoint results list: one entry per image, K finite [x, y, score] triples."""
    assert isinstance(results, list) and [r["image_id"] for r in results] == names
    for r in results:
        assert set(r) == {"image_id", "category_id", "keypoints", "score"}
        assert r["category_id"] == 1 and isinstance(r["score"], float) and 0 <= r["score"] <= 1
        assert len(r["keypoints"]) == 3 * joints
        assert all(isinstance(v, float) and math.isfinite(v) for v in r["keypoints"])


# --- the command, on embedded images ------------------------------------------------------------

def test_predict_writes_coco_results_and_one_png_per_image(sg_checkpoint, tmp_path):
    out = tmp_path / "pred"
    done = run_cli(["predict", LSPET_IMAGE, COCO_IMAGE, "--checkpoint", sg_checkpoint,
                    "--out", out])
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["track"] == "mpii" and summary["input_size"] == [64, 64]
    assert summary["flip_test"] is True and summary["sgm_maps"] is True
    results = json.loads((out / "keypoints.json").read_text())
    _check_results(results, [LSPET_IMAGE.name, COCO_IMAGE.name], joints=16)
    # image pixels: every keypoint lies in the region the crop of the whole image covers
    low, high = _crop_bounds((0, 0, 178, 237))
    xy = np.reshape(results[0]["keypoints"], (-1, 3))[:, :2]
    assert (xy >= low).all() and (xy <= high).all()
    for name in (LSPET_IMAGE.stem, COCO_IMAGE.stem):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        width, height = np.frombuffer(png.read_bytes()[16:24], ">u4")
        assert width > 3 * height   # the skeleton and, beside it, the four SGM maps
    assert [Path(f["png"]).name for f in summary["images"]] == ["im00013.png", "000000000785.png"]


def test_predict_box_crops_the_person_there(sg_checkpoint, tmp_path):
    box = (40, 20, 100, 200)   # x, y, w, h
    done = run_cli(["predict", LSPET_IMAGE, "--checkpoint", sg_checkpoint, "--out", tmp_path,
                    "--box", ",".join(map(str, box))])
    assert done.returncode == 0, done.stderr
    xy = np.reshape(json.loads((tmp_path / "keypoints.json").read_text())[0]["keypoints"],
                    (-1, 3))[:, :2]
    low, high = _crop_bounds(box)
    assert (xy >= low).all() and (xy <= high).all()


def test_predict_baseline_checkpoint_uses_its_own_track(coco_baseline_checkpoint, tmp_path):
    done = run_cli(["predict", COCO_IMAGE, "--checkpoint", coco_baseline_checkpoint,
                    "--out", tmp_path, "--no-fuse"])
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["track"] == "coco" and summary["sgm_maps"] is False
    _check_results(json.loads((tmp_path / "keypoints.json").read_text()), [COCO_IMAGE.name],
                   joints=17)
    assert (tmp_path / f"{COCO_IMAGE.stem}.png").read_bytes()[:8] == PNG_MAGIC


# --- each bad input: one line, exit 2, nothing written ----------------------------------------

@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(LSPET_IMAGE.read_bytes()[:2000])
    not_ckpt = tmp_path / "weights.pt"
    not_ckpt.write_text("not a checkpoint")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    copy = tmp_path / "copy" / LSPET_IMAGE.name
    copy.parent.mkdir()
    shutil.copy(LSPET_IMAGE, copy)
    return {"TEXT": text, "TRUNCATED": truncated, "NOT_CKPT": not_ckpt, "OTHER": other,
            "COPY": copy, "MISSING": tmp_path / "missing.jpg"}


@pytest.mark.parametrize("args, message", [
    (["MISSING"], "{MISSING}: image not found"),
    (["TEXT"], "{TEXT}: not a readable image (OpenCV cannot decode it)"),
    (["TRUNCATED"], "{TRUNCATED}: not a readable image (OpenCV cannot decode it)"),
    ([LSPET_IMAGE, "COPY"], "{COPY} and " + str(LSPET_IMAGE) + ": two images named 'im00013'; "
     "results and figures are named after the file, so give each a distinct name"),
    ([LSPET_IMAGE, "--box", "a,b,c,d"], "box 'a,b,c,d': x,y,w,h must be numbers (image pixels)"),
    ([LSPET_IMAGE, "--box", "10,20,30"], "box '10,20,30': expected 4 values x,y,w,h (image "
     "pixels), got 3"),
    ([LSPET_IMAGE, "--box", "10,20,0,30"], "box '10,20,0,30': width and height must be > 0 "
     "(got w=0, h=30)"),
    ([LSPET_IMAGE, "--box=10,20,30,-5"], "box '10,20,30,-5': width and height must be > 0 "
     "(got w=30, h=-5)"),
    ([LSPET_IMAGE, "--box", "200,20,50,50"], str(LSPET_IMAGE) + ": box 200,20,50,50 lies "
     "outside the 178x237 image (x,y,w,h in image pixels)"),
    ([LSPET_IMAGE, "--checkpoint", "MISSING"], "{MISSING}: checkpoint not found"),
    ([LSPET_IMAGE, "--checkpoint", "NOT_CKPT"], "{NOT_CKPT}: not a readable checkpoint "
     "(UnpicklingError)"),
    ([LSPET_IMAGE, "--checkpoint", "OTHER"], "{OTHER}: not an sgpose training checkpoint "
     "(expected keys 'model' and 'config')"),
    ([LSPET_IMAGE, "--kpt-thr", "2"], "kpt_thr 2: a keypoint score threshold in [0, 1]"),
])
def test_bad_input_is_one_line(args, message, sg_checkpoint, bad_files, tmp_path, capfd):
    args = [bad_files.get(a, a) if isinstance(a, str) else a for a in args]
    if "--checkpoint" not in args:
        args += ["--checkpoint", sg_checkpoint]
    out = tmp_path / "out"
    got = one_line_error(run_cli_here(["predict", *args, "--out", out]), "predict")
    assert capfd.readouterr().err == ""   # nothing from OpenCV's or torch's C code either
    expected = message.format(**bad_files)
    if "not a readable checkpoint" in expected:   # torch names the failure in several ways
        assert got.startswith(expected.split(" (")[0]), got
    else:
        assert got == expected
    assert not out.exists()


def test_parse_box_accepts_text_and_numbers():
    assert parse_box(None) is None and parse_box("  ") is None
    assert parse_box("10, 20, 30.5, 40") == (10.0, 20.0, 30.5, 40.0)
    assert parse_box("[1 2 3 4]") == (1.0, 2.0, 3.0, 4.0)
    assert parse_box((1, 2, 3, 4)) == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ConfigError, match="finite"):
        parse_box("0,0,nan,4")


# --- the notebook: any image, and a fresh clone ---------------------------------------------

@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """run(project, **parameters): notebooks/attention_maps.ipynb through papermill in `project`
    (a folder with params.yaml); returns the executed notebook's outputs as text."""
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)

    def run(project: Path, **parameters) -> str:
        shutil.copy(ROOT / "params.yaml", project / "params.yaml")
        out = tmp_path / "executed.ipynb"
        papermill.execute_notebook(str(ROOT / "notebooks" / "attention_maps.ipynb"), str(out),
                                   parameters=parameters, kernel_name="python3", cwd=str(project),
                                   progress_bar=False, log_output=False)
        return json.dumps([c.get("outputs", []) for c in json.loads(out.read_text())["cells"]])
    return run


def test_notebook_draws_the_maps_of_an_image_path(notebook, sg_checkpoint, tmp_path):
    project = tmp_path / "project"
    run_dir = project / "runs" / "mpii_sg_r5_s0" / "train"
    run_dir.mkdir(parents=True)
    shutil.copy(sg_checkpoint, run_dir / "last.pt")   # no baseline run: SG only
    out_png = project / "reports" / "_work" / "image_maps.png"
    outputs = notebook(project, image=str(COCO_IMAGE), box="100,50,300,400",
                       out_png=str(out_png))
    assert "image/png" in outputs and "No trained checkpoint" not in outputs
    assert out_png.read_bytes()[:8] == PNG_MAGIC


def test_notebook_on_a_fresh_clone_says_what_to_run(notebook, tmp_path):
    project = tmp_path / "fresh"
    figure = project / "reports" / "figures" / "attention" / "attention_maps.png"
    figure.parent.mkdir(parents=True)
    shutil.copy(ROOT / "reports" / "figures" / "augmented_samples.png", figure)  # any committed PNG
    outputs = json.loads(notebook(project))
    hint = [line for cell in outputs for o in cell if o.get("name") == "stdout"
            for line in "".join(o["text"]).splitlines()]
    assert hint == ["No trained checkpoint runs/mpii_sg_r5_s0/train/last.pt yet: run `make "
                    "repro` (the whole study) or `dvc repro train@mpii_s0` (the runs these "
                    "maps need) first; meanwhile the "
                    "committed figure reports/figures/attention/attention_maps.png is shown "
                    "below."]
    assert any("image/png" in o.get("data", {}) for cell in outputs for o in cell)
    assert not any(o["output_type"] == "error" for cell in outputs for o in cell)
