"""Bad input gets a clear error naming what is wrong; a crash loses nothing.

Cases covered elsewhere: missing folders/files, invalid JSON, malformed COCO/MPII records and
missing images (tests/test_data.py); checkpoints of another width and files that are not
checkpoints (tests/test_model.py); NaN loss (tests/test_train.py); the CLI's one-line errors
(tests/test_train.py)."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import run_cli, run_cli_here
from sgpose_lib.engine import checkpoint_io
from sgpose_lib.engine.checkpoint_io import atomic_save, load_checkpoint
from sgpose_lib.params import apply_overrides, load_config
from sgpose_lib.data.coco import load_coco, load_detections
from sgpose_lib.errors import CheckpointError, ConfigError, DataError, SgposeError
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.engine.train import train

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


# --- 5. configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "nope"}, "profile: 'nope'"),
    ({"variant": "nope"}, "variant: 'nope'"),
    ({"radius": 0}, "data.radius: 0.0 must be > 0"),
    ({"radius": -2}, "data.radius: -2.0 must be > 0"),
])
def test_bad_run_choices_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(kwargs.pop("profile", "smoke"), PARAMS, **kwargs)


@pytest.mark.parametrize("override, message", [
    ("data.sigma=0", "data.sigma: 0.0 must be > 0"),
    ("data.image_size=[100, 128]", "must be positive multiples of 32"),
    ("data.mpii_image_size=[64, 70]", "must be positive multiples of 32"),
    ("train.nope=1", "--set.train.nope: unknown key"),
    ("train.epochs=many", "--set.train.epochs: 'many' is not a valid int"),
    ("model.sgm_sites=[stage9]", "model.sgm_sites"),
])
def test_bad_values_are_named(override, message):
    cfg = load_config("smoke", PARAMS, track="coco" if "image_size=" in override else "mpii")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        apply_overrides(cfg, [override])


def test_unknown_params_key_and_preset(tmp_path):
    text = PARAMS.read_text().replace("model: {preset: hrnet_tiny}",
                                      "model: {preset: hrnet_tiny, widht: 3}")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"profiles.smoke.model.widht: unknown key"):
        load_config("smoke", tmp_path / "params.yaml")
    from sgpose_lib.model import build_model
    cfg = load_config("smoke", PARAMS)
    cfg.model.preset = "hrnet_w99"
    with pytest.raises(ConfigError, match="hrnet_w99"):
        build_model(cfg.model)


def test_batch_larger_than_data_set(smoke_cfg, tmp_path):
    cfg = smoke_cfg("mpii", "baseline", batch_size=1000)
    with pytest.raises(ConfigError, match=r"train.batch_size: 1000 is larger than the 64"):
        train(cfg, tmp_path / "run", progress=False)


# --- 6. checkpoints ---------------------------------------------------------------------------

def _short(smoke_cfg, **kw):
    cfg = smoke_cfg("mpii", "sg", epochs=1, batch_size=8, **kw)
    cfg.data.limit_train, cfg.data.limit_val, cfg.data.workers = 16, 8, 0
    return cfg


def test_checkpoint_of_another_architecture_names_the_tensors(smoke_cfg, tmp_path):
    cfg = _short(smoke_cfg)
    train(cfg, tmp_path / "run", progress=False)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    ckpt["config"]["model"]["sgm_sites"] = []  # a baseline config with SG weights
    torch.save(ckpt, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match=r"wrong.pt: does not fit the model: unexpected sgm"):
        evaluate_checkpoint(tmp_path / "wrong.pt")
    ckpt["config"]["model"]["sgm_sites"] = ["stage2", "stage3", "stage4", "final"]
    ckpt["config"]["model"]["preset"] = "hrnet_small"  # another width
    torch.save(ckpt, tmp_path / "wide.pt")
    with pytest.raises(CheckpointError, match=r"wide.pt: does not fit the model: shape \S+ \("):
        evaluate_checkpoint(tmp_path / "wide.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        evaluate_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an sgpose training checkpoint"):
        evaluate_checkpoint(tmp_path / "foreign.pt")


# --- 7. detector results with unknown image ids -----------------------------------------------

def test_detections_with_unknown_image_ids(prepared, tmp_path):
    _, coco = load_coco(prepared / "coco_val.json", ROOT / "data" / "embedded", 0.75)
    dets = [{"image_id": 123456789, "category_id": 1, "bbox": [0, 0, 50, 100], "score": 0.9}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    with pytest.raises(DataError, match="123456789"):
        load_detections(tmp_path / "dets.json", coco, 0.75)


# --- 8. kill -9 mid-epoch, then resume ---------------------------------------------------------

def _train_cmd(out: Path, prepared: Path, params: Path) -> list[str]:
    return [sys.executable, "-m", "sgpose_lib.cli", "train", "--params", str(params),
            "--profile", "smoke", "--track", "mpii", "--variant", "sg", "--seed", "0",
            "--epochs", "4", "--out", str(out), "--quiet"]


def test_kill_9_mid_epoch_then_resume_equals_uninterrupted(prepared, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS.read_text().replace(
        "limit_train: 64, limit_val: 24}",
        f"limit_train: 64, limit_val: 8, root: '{prepared}', "
        f"image_root: '{ROOT / 'data' / 'embedded'}'}}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_train_cmd(straight, prepared, params), env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen(_train_cmd(killed, prepared, params), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "last.pt")["epoch"] >= 1  # never a half-written file
    subprocess.run(_train_cmd(killed, prepared, params) + ["--resume"], env=env, check=True,
                   capture_output=True)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["epoch"] == b["epoch"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (straight / "log.jsonl").read_text() == (killed / "log.jsonl").read_text()


# --- 9. unwritable output, failed save ---------------------------------------------------------

def test_unwritable_output_fails_before_training(smoke_cfg, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SgposeError, match="output folder is not writable"):
        train(_short(smoke_cfg), tmp_path / "file" / "run", progress=False)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"model": {"w": torch.ones(3)}, "config": {}}, path)

    def disk_full(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", disk_full)
    with pytest.raises(SgposeError, match="No space left on device.*previous checkpoint is intact"):
        atomic_save({"model": {"w": torch.zeros(3)}, "config": {}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


# --- fuzz: corrupted COCO records either load or raise DataError -------------------------------

def _corrupt(ann: dict, rng: np.random.Generator) -> dict:
    ann = copy.deepcopy(ann)
    choice = rng.integers(9)
    if choice == 0:
        ann.pop(["keypoints", "bbox", "image_id", "iscrowd"][int(rng.integers(4))])
    elif choice == 1:
        ann["keypoints"] = ann["keypoints"][: int(rng.integers(0, 50))]
    elif choice == 2:
        ann["keypoints"][int(rng.integers(51))] = ["x", None, [1], {"a": 1}][int(rng.integers(4))]
    elif choice == 3:
        ann["bbox"] = [float(v) for v in rng.normal(0, 500, size=int(rng.integers(0, 6)))]
    elif choice == 4:
        ann["bbox"] = [float(rng.normal(0, 50)), 0.0, -float(rng.random() * 30), 0.0]
    elif choice == 5:
        ann["keypoints"] = [float(v) for v in rng.normal(0, 5000, size=51)]
    elif choice == 6:
        ann["image_id"] = int(rng.integers(10 ** 12))
    elif choice == 7:
        ann["bbox"] = "0 0 10 10"
    else:
        ann["keypoints"] = [0] * 51
    return ann


def test_fuzz_coco_loader(tmp_path):
    src = json.loads((ROOT / "data" / "embedded" / "coco" / "annotations" /
                      "person_keypoints.json").read_text())
    labelled = [a for a in src["annotations"] if a["num_keypoints"] > 0][:20]
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "DataError": 0}
    for trial in range(300):
        data = {**src, "annotations": [_corrupt(labelled[trial % len(labelled)], rng)]
                + labelled[:3]}
        path = tmp_path / f"fuzz{trial}.json"
        path.write_text(json.dumps(data))
        try:
            records, _ = load_coco(path, ROOT / "data" / "embedded" / "coco" / "images", 0.75)
            assert all(np.isfinite(r.joints).all() and (r.scale > 0).all() for r in records)
            outcomes["loaded"] += 1
        except DataError as e:
            assert str(path) in str(e)
            outcomes["DataError"] += 1
    assert outcomes["loaded"] > 0 and outcomes["DataError"] > 0


# --- no run is lost or mixed: through the CLI, in subprocesses ---------------------------------

def _smoke_params(tmp_path: Path, prepared: Path) -> Path:
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS.read_text().replace(
        "limit_train: 64, limit_val: 24}",
        f"limit_train: 32, limit_val: 8, root: '{prepared}', "
        f"image_root: '{ROOT / 'data' / 'embedded'}'}}"))
    return params


def test_cli_resume_refuses_another_config_and_a_missing_run(prepared, tmp_path):
    params = _smoke_params(tmp_path, prepared)
    run = tmp_path / "run"
    base = ["train", "--params", str(params), "--profile", "smoke", "--track", "mpii",
            "--variant", "sg", "--epochs", "1", "--out", str(run), "--quiet"]
    assert run_cli_here(base, tmp_path).returncode == 0   # sgpose_lib.cli.main, in this process
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"}
    other = run_cli_here(base + ["--resume", "--radius", "3"], tmp_path)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "another config: data.radius: 5.0 -> 3.0" in other.stderr
    again = run_cli_here(base + ["--radius", "3"], tmp_path)   # a new run into the folder: refused too
    assert again.returncode == 2 and "holds a run" in again.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before
    workers = run_cli_here(base + ["--resume", "--set", "data.workers=1"], tmp_path)  # result-free
    assert workers.returncode == 0 and json.loads(workers.stdout)["finished_before"] is True
    missing = run_cli_here(base[:-3] + ["--out", str(tmp_path / "tpyo"), "--resume"], tmp_path)
    assert missing.returncode == 2 and "nothing to resume" in missing.stderr
    assert not (tmp_path / "tpyo").exists()
    assert run_cli_here(base + ["--radius", "3", "--restart"], tmp_path).returncode == 0
    assert load_checkpoint(run / "last.pt")["config"]["data"]["radius"] == 3.0


def test_cli_second_process_on_a_locked_folder_gets_a_clear_error(prepared, tmp_path):
    """The folder lock is held here (as a running `sgpose train` holds it): the second process
    stops at once, before touching the folder; no race, no timing."""
    params = _smoke_params(tmp_path, prepared)
    run = tmp_path / "run"
    with checkpoint_io.folder_lock(run):
        proc = run_cli(["train", "--params", str(params), "--profile", "smoke", "--epochs", "1",
                     "--out", str(run), "--quiet"])
    assert proc.returncode == 2 and "in use by another sgpose process" in proc.stderr
    assert sorted(p.name for p in run.iterdir()) == [".lock"]
