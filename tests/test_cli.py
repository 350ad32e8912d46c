"""The `sgpose` command line as a user meets it: every mistake is one line on stderr and exit 2,
Ctrl-C is one line and exit 130, outputs are folders written atomically under a lock, and the
help states every option's default and unit. CLI cases run the CLI's `main` in the test's
process (cli_helpers.run_cli_here: exit status, stdout, stderr and warnings as a new interpreter
gives them); Ctrl-C and the lock held by another process run `python -m sgpose_lib.cli` in a
subprocess, as a user's shell would."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sgpose_lib.engine import checkpoint_io
from sgpose_lib.engine.checkpoint_io import atomic_save
from sgpose_lib.cli.parser import build_parser
from sgpose_lib.params import apply_overrides, load_config, settable_keys
from sgpose_lib.data import build_dataset
from sgpose_lib.data.coco import load_coco, load_detections
from sgpose_lib.errors import DataError, SgposeError
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.engine.inference import load_checkpoint_model, predict
from sgpose_lib.model import build_model

from cli_helpers import one_line_error, run_cli, run_cli_here

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
EMBEDDED = ROOT / "data" / "embedded"
LIMIT_VAL = 8  # validation samples of the test checkpoints' own split
_sgpose, _one_line_error = run_cli_here, one_line_error


def _strict_json(text: str):
    """json.loads that rejects NaN and Infinity (not JSON; Python's json writes them)."""
    def reject(token):
        raise ValueError(f"{token} is not valid JSON")
    return json.loads(text, parse_constant=reject)


def _smoke_params(tmp_path: Path, prepared: Path) -> Path:
    """A params.yaml whose smoke profile reads the session's prepared data."""
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS.read_text().replace(
        "limit_train: 64, limit_val: 24}",
        f"limit_train: 32, limit_val: {LIMIT_VAL}, root: '{prepared}', image_root: '{EMBEDDED}'}}"))
    return params


@pytest.fixture(scope="module")
def checkpoints(prepared, tmp_path_factory) -> dict[str, Path]:
    """Untrained SG smoke checkpoints of both tracks (official init, seed 0) on the session's
    prepared data, validation limited to LIMIT_VAL samples: an evaluation takes seconds; the
    metric values do not matter to these tests."""
    tmp = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for track in ("mpii", "coco"):
        cfg = load_config("smoke", PARAMS, track=track, variant="sg", seed=0)
        cfg.data.root, cfg.data.image_root = str(prepared), str(EMBEDDED)
        cfg.data.limit_val, cfg.data.workers = LIMIT_VAL, 0
        torch.manual_seed(0)
        paths[track] = tmp / f"{track}.pt"
        atomic_save({"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()},
                    paths[track])
    return paths


# --- 1. --out is a folder; bad numbers; Ctrl-C; locks ------------------------------------------

@pytest.mark.parametrize("command", ["evaluate", "baselines", "analyze", "attention-stats"])
def test_out_naming_a_file_is_a_one_line_error(command, checkpoints, prepared, tmp_path):
    existing = tmp_path / "metrics.json"
    existing.write_text("{}")
    args = {"evaluate": ["--checkpoint", checkpoints["coco"]],
            "baselines": ["--params", _smoke_params(tmp_path, prepared), "--profile", "smoke"],
            "analyze": ["--checkpoint", checkpoints["coco"]],
            "attention-stats": ["--checkpoint", checkpoints["coco"]]}[command]
    done = _sgpose([command, *args, "--out", existing])
    assert _one_line_error(done, command) == (f"--out {existing}: is a file; --out names a "
                                              "folder (the command writes its files into it)")
    assert existing.read_text() == "{}"


def test_library_refuses_an_output_folder_that_is_a_file(checkpoints, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SgposeError, match="file: is a file; the output must be a folder"):
        evaluate_checkpoint(checkpoints["mpii"], out_dir=tmp_path / "file")


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--checkpoint", "CKPT", "--workers", "-1"],
     "argument --workers: -1 must be >= 0 (see `sgpose evaluate --help`)"),
    (["train", "--seed", "-1"], "argument --seed: -1 must be >= 0 (see `sgpose train --help`)"),
    (["train", "--epochs", "0"], "argument --epochs: 0 must be > 0 (see `sgpose train --help`)"),
    (["train", "--params", PARAMS, "--profile", "smoke", "--set", "data.workers=-1"],
     "data.workers: -1 must be >= 0"),
    (["train", "--params", PARAMS, "--profile", "smoke", "--set", "data.workers=[1"],
     "--set 'data.workers=[1': the value is not valid YAML (expected ',' or ']', but got "
     "'<stream end>')"),
])
def test_negative_counts_and_bad_values_are_one_line_errors(args, message, checkpoints):
    args = [checkpoints["mpii"] if a == "CKPT" else a for a in args]
    assert _one_line_error(_sgpose(args), args[0]) == message


INTERRUPTING_MAIN = """
import signal
import sys

import sgpose_lib.engine.evaluate
from sgpose_lib.cli import main


def ctrl_c_while_predicting(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)  # delivered to this thread before raise_signal returns
    raise AssertionError("SIGINT did not interrupt")


sgpose_lib.engine.evaluate.predict = ctrl_c_while_predicting
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_is_one_line_exit_130_and_leaves_no_metrics(checkpoints, tmp_path):
    """A real SIGINT, sent at a point the test controls: while the model runs, after the output
    folder is locked."""
    out = tmp_path / "eval"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # SIGINT at its default in the child, as in a terminal: a CI runner started in the
    # background has it ignored, and the child would inherit that
    done = subprocess.run([sys.executable, "-c", INTERRUPTING_MAIN, "evaluate", "--checkpoint",
                           str(checkpoints["coco"]), "--out", str(out)],
                          env=env, capture_output=True, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 130, done.stderr
    assert done.stderr == "sgpose evaluate: interrupted\n" and done.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # no metrics.json, no temp file


@pytest.mark.parametrize("command", ["evaluate", "analyze", "baselines"])
def test_second_process_on_a_locked_output_folder_gets_a_clear_error(command, checkpoints,
                                                                      prepared, tmp_path):
    """The lock is held here, as a running evaluation holds it: no race, no timing."""
    out = tmp_path / "out"
    args = {"evaluate": ["--checkpoint", checkpoints["mpii"], "--quiet"],
            "analyze": ["--checkpoint", checkpoints["mpii"]],
            "baselines": ["--params", _smoke_params(tmp_path, prepared), "--profile", "smoke"]}
    with checkpoint_io.folder_lock(out):
        done = run_cli([command, *args[command], "--out", out])
    assert _one_line_error(done, command) == (
        f"{out}: in use by another sgpose process (a second run or evaluation into the same "
        "folder would mix their files)")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


# --- 2. detector boxes, MPII and --boxes, YAML errors, joint layouts ---------------------------

@pytest.mark.parametrize("bbox", [[10, 20, -50, 100], [10, 20, 50, 0]])
def test_detector_box_without_positive_size_names_file_and_entry(bbox, prepared, tmp_path):
    _, coco = load_coco(prepared / "coco_val.json", EMBEDDED, 0.75)
    image_id = next(iter(coco.imgs))
    dets = [{"image_id": image_id, "category_id": 1, "bbox": [10, 20, 50, 100], "score": 0.9},
            {"image_id": image_id, "category_id": 1, "bbox": bbox, "score": 0.8}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    with pytest.raises(DataError, match=rf"dets.json: detection \[1\] \(image_id {image_id}\): "
                                        r"bbox .* has width .* and height .* pixels"):
        load_detections(path, coco, 0.75)


def test_cli_detector_box_with_negative_width(checkpoints, prepared, tmp_path):
    _, coco = load_coco(prepared / "coco_val.json", EMBEDDED, 0.75)
    image_id = next(iter(coco.imgs))
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": image_id, "category_id": 1,
                                 "bbox": [100, 200, -50, 100], "score": 0.9}]))
    done = _sgpose(["evaluate", "--checkpoint", checkpoints["coco"], "--boxes", path])
    assert _one_line_error(done, "evaluate") == (
        f"{path}: detection [0] (image_id {image_id}): bbox [100.0, 200.0, -50.0, 100.0] has "
        "width -50 and height 100 pixels; COCO boxes are [x, y, width, height] with both > 0 "
        "(is the file in [x1, y1, x2, y2]?)")


def test_cli_boxes_for_an_mpii_checkpoint(checkpoints, tmp_path):
    path = tmp_path / "dets.json"
    path.write_text("[]")
    done = _sgpose(["evaluate", "--checkpoint", checkpoints["mpii"], "--boxes", path])
    assert _one_line_error(done, "evaluate") == (
        f"{checkpoints['mpii']}: an MPII-track checkpoint; detector boxes ({path}) apply to the "
        "COCO track only (MPII has no detector boxes: it is scored on the annotated person "
        "centre and scale), so leave out --boxes")


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("profile: smoke\nprofiles:\n  smoke:\n    model: {preset: hrnet_tiny}\n"
                      "    data: workers: 0\n")
    done = _sgpose(["train", "--params", params])
    assert _one_line_error(done, "train") == (
        f"{params}, line 5, column 18: not valid YAML (mapping values are not allowed here)")


@pytest.mark.parametrize("track, val_ann, message", [
    ("mpii", "coco_val.json", "a COCO keypoint file (17-joint COCO layout), not MPII entries: "
     "the joint layouts differ from the MPII track's 16 joints; use a COCO-track checkpoint or "
     "config (data.track: coco) for this file"),
    ("coco", "mpii_val.json", "MPII-format entries (16-joint MPII layout), not a COCO keypoint "
     "file: the joint layouts differ from the COCO track's 17 joints; use an MPII-track "
     "checkpoint or config (data.track: mpii) for this file"),
])
def test_checkpoint_on_the_other_tracks_data_says_layouts_differ(track, val_ann, message,
                                                                 checkpoints, prepared):
    done = _sgpose(["evaluate", "--checkpoint", checkpoints[track], "--val-ann",
                    prepared / val_ann])
    assert _one_line_error(done, "evaluate") == f"{prepared / val_ann}: {message}"


# --- 3. and 4. --val-ann is evaluated whole; metrics.json: settings, units, no NaN -------------

def test_val_ann_is_evaluated_whole_and_metrics_json_records_settings(checkpoints, prepared,
                                                                      tmp_path, capfd):
    subset = tmp_path / "mpii_subset.json"
    subset.write_text(json.dumps(json.loads((prepared / "mpii_val.json").read_text())[:30]))
    out = tmp_path / "eval"
    done = _sgpose(["evaluate", "--checkpoint", checkpoints["mpii"], "--val-ann", subset,
                    "--out", out, "--quiet"])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert capfd.readouterr().err == ""   # nor from C code (OpenCV, pycocotools, torch)
    text = (out / "metrics.json").read_text()
    metrics = _strict_json(text)
    assert metrics["settings"] == {
        "track": "mpii", "val_ann": str(subset), "image_root": str(EMBEDDED),
        "boxes": "annotated centre and scale", "limit_val": 0, "samples": 30, "images": 30,
        "checkpoint": str(checkpoints["mpii"]), "flip_test": True, "fused_inference": True, "compiled": False,
        "decoder": "standard"}
    assert metrics["units"] == {"PCKh": "percent"}
    assert metrics["pelvis"] is None and metrics["thorax"] is None  # no labelled instance: NaN
    assert 0 <= metrics["Mean"] <= 100
    assert _strict_json(done.stdout)["pelvis"] is None
    # the run's own split keeps the run's data.limit_val, and says so
    evaluate_checkpoint(checkpoints["mpii"], out_dir=out, flip=False)
    own = _strict_json((out / "metrics.json").read_text())["settings"]
    assert (own["samples"], own["limit_val"], own["flip_test"]) == (LIMIT_VAL, LIMIT_VAL, False)
    assert own["val_ann"] == str(prepared / "mpii_val.json")


def test_coco_metrics_units_and_progress_bar(checkpoints, tmp_path, capfd):
    loud = _sgpose(["evaluate", "--checkpoint", checkpoints["coco"], "--out", tmp_path / "a",
                    "--no-flip"])
    assert loud.returncode == 0 and "evaluate: " in loud.stderr and "batch" in loud.stderr
    quiet = _sgpose(["evaluate", "--checkpoint", checkpoints["coco"], "--out", tmp_path / "b",
                     "--no-flip", "--quiet"])
    assert quiet.returncode == 0 and quiet.stderr == "" and capfd.readouterr().err == ""
    metrics = _strict_json((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["units"] == {"AP": "fraction", "AR": "fraction", "OKS": "fraction"}
    assert metrics["settings"]["boxes"] == "gt" and metrics["settings"]["flip_test"] is False
    assert metrics["settings"]["samples"] == LIMIT_VAL and -1 <= metrics["AP"] <= 1
    assert (tmp_path / "b" / "keypoints_results.json").is_file()


def test_predict_is_quiet_unless_asked(checkpoints, capfd):
    model, cfg, device = load_checkpoint_model(checkpoints["mpii"])
    dataset = build_dataset(cfg, "val")
    predict(model, dataset, cfg, device, flip=False)
    assert capfd.readouterr().err == ""
    predict(model, dataset, cfg, device, flip=False, progress=True)
    err = capfd.readouterr().err
    assert "evaluate: " in err and "batch" in err  # tqdm's bar


# --- 6. help, `sgpose config`, fresh clone --------------------------------------------------------

def _subparsers(parser):
    """(parser, every subcommand parser below it), depth first."""
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_every_option_states_its_default():
    parsers = list(_subparsers(build_parser()))
    assert {p.prog for p in parsers} >= {"sgpose train", "sgpose config", "sgpose evaluate",
                                         "sgpose robustness evaluate", "sgpose attention-stats"}
    for parser in parsers:
        formatter = parser.formatter_class(parser.prog)
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            text = formatter._get_help_string(action)
            assert "(default: " in text or "(required)" in text, (parser.prog, action.dest)


def test_help_gives_units_and_points_to_sgpose_config():
    train = _sgpose(["train", "--help"])
    assert train.returncode == 0
    text = " ".join(train.stdout.split())
    assert "`sgpose config` prints every settable key" in text
    assert "in pixels of the paper's 64-pixel-high heatmap" in text
    assert "(default: the profile's data.track in --params)" in text
    evaluate = " ".join(_sgpose(["evaluate", "--help"]).stdout.split())
    assert "PCKh@0.5 in percent" in evaluate and "fractions in [0, 1]" in evaluate
    stats = " ".join(_sgpose(["attention-stats", "--help"]).stdout.split())
    assert "--out OUT folder for attention.json" in stats


def test_sgpose_config_lists_every_key_usable_with_set():
    done = _sgpose(["config", "--params", PARAMS, "--profile", "smoke", "--track", "coco",
                    "--variant", "sg"])
    assert done.returncode == 0, done.stderr
    printed = {}
    for line in done.stdout.splitlines():
        if not line.startswith("#"):
            key, value = line.split(" = ", 1)
            printed[key] = value.split("  # ", 1)[0].strip()
    cfg = load_config("smoke", PARAMS, track="coco", variant="sg")
    assert list(printed) == [key for key, _, _ in settable_keys(cfg)]
    assert {"data.train_ann", "data.val_ann", "data.image_root", "data.radius",
            "data.coco_augment.rotation_factor", "train.epochs", "eval.boxes"} <= set(printed)
    assert json.loads(printed["model.sgm_sites"]) == ["stage2", "stage3", "stage4", "final"]
    assert json.loads(printed["data.image_size"]) == [64, 64]
    # each printed line is a valid --set that leaves the configuration as it is
    again = apply_overrides(load_config("smoke", PARAMS, track="coco", variant="sg"),
                            [f"{k}={v}" for k, v in printed.items()])
    assert again.to_dict() == cfg.to_dict()


def test_train_on_a_fresh_clone_prepares_the_data_first(tmp_path):
    """A fresh clone: data/embedded is there, data/prepared (not in git) is not."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "embedded").symlink_to(EMBEDDED)
    (tmp_path / "params.yaml").write_text(PARAMS.read_text())
    done = _sgpose(["train", "--profile", "smoke", "--track", "mpii", "--epochs", "1", "--quiet",
                    "--out", "run", "--set", "data.limit_train=16", "data.limit_val=8",
                    "train.batch_size=8"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("sgpose train: data/prepared not found; preparing it from "
                           "data/embedded (as `sgpose prepare`)\n")
    assert (tmp_path / "data" / "prepared" / "mpii_train.json").is_file()
    assert (tmp_path / "run" / "last.pt").is_file()


def test_repeated_set_options_all_apply():
    """`--set a=1 --set b=2` applies both (each --set adds to the list, as --set a=1 b=2 does)."""
    args = build_parser().parse_args(["train", "--set", "train.epochs=1", "data.workers=0",
                                      "--set", "train.val_every=0"])
    assert args.set == ["train.epochs=1", "data.workers=0", "train.val_every=0"]
    again = build_parser().parse_args(["train"])
    assert again.set == []
