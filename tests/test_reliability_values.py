"""Every bad value is refused with one line naming its key and its allowed range: config numbers,
repeated YAML keys, the convergence and ablation matrices, the train notebook's parameters, sizes
written HEIGHTxWIDTH, and images that do not match their annotation."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_helpers import one_line_error as _one_line_error
from cli_helpers import run_cli_here as _cli  # sgpose_lib.cli.main in this process
from sgpose_lib.errors import ConfigError, DataError
from sgpose_lib.params import apply_overrides, load_config

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
EMBEDDED = ROOT / "data" / "embedded"






# --- numbers in range --------------------------------------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("train.lr_factor=-1", "train.lr_factor: -1.0 must be > 0 (a finite number)"),
    ("loss.lam=-1", "loss.lam: -1.0 must be >= 0 (a finite number)"),
    ("train.lr=nan", "train.lr: nan must be > 0 (a finite number)"),
    ("loss.temperature=.inf", "loss.temperature: inf must be > 0 (a finite number)"),
    ("data.padding=0", "data.padding: 0.0 must be > 0 (a finite number)"),
    ("eval.oks_thre=1.5", "eval.oks_thre: 1.5 must be in [0, 1] (a finite number)"),
    ("data.mpii_augment.rotation_prob=2", "data.mpii_augment.rotation_prob: 2.0 must be in [0, 1]"),
    ("train.lr_steps=[3, -1]", "train.lr_steps: -1 must be >= 0"),
    ("train.lr_steps=[1.5]", "--set.train.lr_steps[0]: 1.5 is not a valid int"),
    ("train.epochs=2.5", "--set.train.epochs: 2.5 is not a valid int"),
    ("data.mpii_image_size=[64, 64, 64]",
     "--set.data.mpii_image_size: [64, 64, 64] must have exactly 2 entries [width, height]"),
    ("data.image_size=[64]", "--set.data.image_size: [64] must have exactly 2 entries"),
    ("data.image_size=[64, -64]", "data.image_size: [64, -64] ([width, height]) must be positive"),
])
def test_numbers_out_of_range_are_named_with_their_range(override, message):
    cfg = load_config("smoke", PARAMS)
    with pytest.raises(ConfigError) as caught:
        apply_overrides(cfg, [override])
    assert message in str(caught.value)


def _numeric_fields(cls, prefix: str = "") -> set[str]:
    """Dotted names of the int, float and tuple-of-number fields of dataclass `cls`."""
    names = set()
    for name, kind in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(kind):
            names |= _numeric_fields(kind, f"{prefix}{name}.")
        elif kind in (int, float) or (typing.get_origin(kind) is tuple
                                      and typing.get_args(kind)[0] in (int, float)):
            names.add(f"{prefix}{name}")
    return names


def test_every_number_of_the_config_has_a_range():
    from sgpose_lib.config import NUMBER_RANGES, Config
    sizes = {"data.image_size", "data.mpii_image_size"}   # checked apart: multiples of 32
    assert _numeric_fields(Config) - sizes == {key for key, _ in NUMBER_RANGES}


@pytest.mark.parametrize("override, message", [
    ("train.lr_factor=-1", "train.lr_factor: -1.0 must be > 0 (a finite number)"),
    ("train.lr=nan", "train.lr: nan must be > 0 (a finite number)"),
    ("data.mpii_image_size=[64,64,64]",
     "--set.data.mpii_image_size: [64, 64, 64] must have exactly 2 entries [width, height]"),
])
def test_cli_refuses_bad_numbers_in_one_line(override, tmp_path, message):
    done = _cli(["train", "--params", PARAMS, "--profile", "smoke", "--set", override,
                 "--out", tmp_path / "run"])
    assert _one_line_error(done, "train") == message
    assert not (tmp_path / "run").exists()


# --- sizes: one meaning of AxB -----------------------------------------------------------------

def test_size_text_is_height_by_width_as_everywhere_on_the_command_line():
    from sgpose_lib.cli.arguments import height_width
    from sgpose_lib.cli.parser import build_parser
    cfg = apply_overrides(load_config("smoke", PARAMS, track="coco"), ["data.image_size=96x64"])
    assert cfg.data.image_size == (64, 96) == height_width("96x64")   # (width, height)
    assert cfg.data.input_size == (64, 96)
    same = apply_overrides(load_config("smoke", PARAMS, track="coco"), ["data.image_size=[64, 96]"])
    assert same.data.image_size == cfg.data.image_size
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    assert "HEIGHTxWIDTH" in train.format_help()
    with pytest.raises(ConfigError, match=r"'96by64' is not HEIGHTxWIDTH \(e.g. 256x192\) nor a "
                                          r"list \[width, height\]"):
        apply_overrides(cfg, ["data.image_size=96by64"])


# --- repeated YAML keys ------------------------------------------------------------------------

def test_duplicate_key_in_params_yaml_is_an_error(tmp_path):
    text = PARAMS.read_text()
    lines = text.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("train: {epochs: 2"))
    lines.insert(at + 1, "    train: {epochs: 9}\n")     # a second `train:` in the smoke profile
    (tmp_path / "params.yaml").write_text("".join(lines))
    with pytest.raises(ConfigError, match=rf"params.yaml, line {at + 2}, column 5: not valid "
                                          r"YAML \(duplicate key 'train' in one mapping\)"):
        load_config("smoke", tmp_path / "params.yaml")


def test_duplicate_keys_in_every_yaml_the_project_reads(tmp_path):
    from sgpose_lib.engine.convergence_runs import read_params
    from sgpose_lib.report.ablations import ablation_table
    conv = tmp_path / "conv.yaml"
    conv.write_text((ROOT / "convergence" / "params.yaml").read_text() + "setting: cpu\n")
    with pytest.raises(ConfigError, match="conv.yaml, line .*duplicate key 'setting'"):
        read_params(conv)
    abl = tmp_path / "abl.yaml"
    abl.write_text("ablation_runs:\n  a_s0: {seed: 0, set: x=1}\n  a_s0: {seed: 1, set: x=2}\n")
    with pytest.raises(ConfigError, match="abl.yaml, line 3, column 3: .*duplicate key 'a_s0'"):
        ablation_table(abl)
    with pytest.raises(ConfigError, match="duplicate key 'preset'"):
        apply_overrides(load_config("smoke", PARAMS), ["model={preset: a, preset: b}"])


# --- convergence and ablation matrices ---------------------------------------------------------

CONVERGENCE = ("setting: s\nsettings:\n  s: {profile: smoke, val_every: 1, until_plateau: "
               "{min_epochs: {mpii: 2}, max_epochs: {mpii: 4}, tol: 1.0}}\nruns:\n"
               "  r: {track: mpii, variant: baseline, radius: 5, seed: 0}\n")


@pytest.mark.parametrize("old, new, message", [
    ("val_every: 1, ", "", "settings.s.val_every: missing (required keys: profile, val_every)"),
    ("r: {track: mpii, ", "r: {", "runs.r.track: missing (required keys: track, variant)"),
    ("tol: 1.0", "tol: abc", "settings.s.until_plateau.tol: 'abc' is not a valid float"),
    ("seed: 0", "seed: 0, sede: 1", "runs.r.sede: unknown key (expected one of ['radius', "
                                   "'seed', 'track', 'variant'])"),
    ("val_every: 1", "val_every: 0", "settings.s.val_every: 0 must be >= 1"),
    ("max_epochs: {mpii: 4}", "max_epochs: {mpii: x}",
     "settings.s.until_plateau.max_epochs.mpii: 'x' is not a valid int"),
    ("track: mpii", "track: mip", "runs.r.track: 'mip' is not one of ('mpii', 'coco')"),
])
def test_convergence_params_are_checked_in_one_line(tmp_path, old, new, message):
    conv = tmp_path / "conv.yaml"
    conv.write_text(CONVERGENCE.replace(old, new))
    done = _cli(["convergence", "train", "--params", conv, "--run", "r",
                 "--out", tmp_path / "run"], cwd=ROOT)
    assert _one_line_error(done, "convergence train") == f"{conv}: {message}"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, message", [
    ("ablation_runs:\n  a_s0: {seed: 0}\n", "ablation_runs.a_s0.set: missing"),
    ("ablation_runs:\n  a_s0: {seed: x, set: a=1}\n", "ablation_runs.a_s0.seed: 'x' is not a "
                                                       "valid int"),
    ("ablation_runs:\n  a_s0: {seed: 0, set: a=1, sed: 2}\n", "ablation_runs.a_s0.sed: unknown key"),
    ("ablation_run:\n  a_s0: {seed: 0, set: a=1}\n", "ablation_run: unknown key"),
])
def test_ablation_params_are_checked(tmp_path, text, message):
    from sgpose_lib.report.ablations import ablation_table
    (tmp_path / "abl.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        ablation_table(tmp_path / "abl.yaml", runs_dir=tmp_path / "none")
    assert str(caught.value).startswith(f"{tmp_path / 'abl.yaml'}: {message}")


# --- the train notebook checks its parameters first ---------------------------------------------

def _notebook_cells() -> tuple[str, str, list]:
    """(parameters cell, the cell after it, all code cells) of notebooks/train.ipynb."""
    nb = json.loads((ROOT / "notebooks" / "train.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    at = next(i for i, c in enumerate(code) if "parameters" in c["metadata"].get("tags", []))
    return "".join(code[at]["source"]), "".join(code[at + 1]["source"]), code


@pytest.mark.parametrize("in_matrix", [True, False], ids=["dvc_exp_run_S", "papermill_p"])
def test_train_notebook_checks_its_parameters_before_torch_loads(tmp_path, in_matrix):
    """`dvc exp run -S runs.mpii_sg_r5_s0.radius=abc` writes the value into params.yaml and the
    stage passes it as `-p radius abc`: the cell after the parameters (as papermill runs them,
    with the injected values) stops, naming the key, before torch is imported."""
    params, first, _ = _notebook_cells()
    text = PARAMS.read_text()
    if in_matrix:
        text = text.replace("mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}",
                            "mpii_sg_r5_s0: {track: mpii, variant: sg, radius: abc, seed: 0}")
    (tmp_path / "params.yaml").write_text(text)
    injected = ('profile = "smoke"\nvariant = "sg"\nradius = "abc"\nseed = 0\n'
                'out = "runs/mpii_sg_r5_s0/train"\n')
    script = (f"{params}\n{injected}\ntry:\n"
              + "".join(f"    {line}\n" for line in first.splitlines())
              + "except Exception as e:\n    print(type(e).__name__, e)\n"
              + "import sys\nprint('torch loaded' if 'torch' in sys.modules else 'no torch')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    key = "params.yaml: runs.mpii_sg_r5_s0.radius" if in_matrix else "radius"
    assert done.stdout == f"ConfigError {key}: 'abc' is not a valid float\nno torch\n"


def test_notebook_parameter_check_passes_a_good_run():
    from sgpose_lib.engine.run_parameters import check_run_parameters
    cfg = check_run_parameters(PARAMS, "smoke", "coco", "sg", 3, 2)
    assert (cfg.data.track, cfg.data.radius, cfg.train.seed) == ("coco", 3.0, 2)
    cfg = check_run_parameters(PARAMS, "smoke", "mpii", "sg", 5, 0, "mpii_sg_r5_s1",
                               ROOT / "convergence" / "params.yaml")
    assert cfg.train.seed == 1 and cfg.profile == "cpu"


# --- images against their annotation -----------------------------------------------------------

def _dataset(tmp_path: Path, prepared: Path, train: bool, bad: str, skip: bool = False):
    """An MPII-style dataset of 3 prepared records whose first image is replaced by `bad`:
    'truncated' (the JPEG cut in half) or 'tiny' (a 1x1 JPEG)."""
    from sgpose_lib.data import TopDownDataset, load_mpii
    from sgpose_lib.layouts import MPII16
    cfg = load_config("smoke", PARAMS, track="mpii")
    cfg.data.skip_bad_images = skip
    entries = json.loads((prepared / "mpii_val.json").read_text())[:3]
    images = tmp_path / "images"
    images.mkdir()
    for i, e in enumerate(entries):
        data = (EMBEDDED / e["image"]).read_bytes()
        e["image"] = f"{i}.jpg"
        (images / e["image"]).write_bytes(data)
    first = images / "0.jpg"
    if bad == "truncated":
        first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    else:
        cv2.imwrite(str(first), np.zeros((1, 1, 3), np.uint8))
    (tmp_path / "ann.json").write_text(json.dumps(entries))
    records = load_mpii(tmp_path / "ann.json", images)
    return TopDownDataset(records, images, MPII16, cfg.data, train=train), first, entries[0]


def test_truncated_jpeg_is_warned_about_by_name(prepared, tmp_path):
    dataset, first, _ = _dataset(tmp_path, prepared, train=False, bad="truncated")
    with pytest.warns(UserWarning, match=rf"{first}: JPEG data ends before its end-of-image "
                                         r"marker \(a truncated file\?\)"):
        dataset[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset[1]   # a whole file: no warning


def test_image_of_another_size_is_an_error_or_a_counted_skip(prepared, tmp_path):
    (tmp_path / "eval").mkdir()
    dataset, first, entry = _dataset(tmp_path / "eval", prepared, train=False, bad="tiny")
    size = (f"{first} (record 0): image is 1 pixels wide and 1 high, its annotation says "
            f"{entry['width']} wide and {entry['height']} high")
    with pytest.raises(DataError) as caught:
        dataset[0]
    assert str(caught.value) == size
    (tmp_path / "train").mkdir()
    dataset, first, entry = _dataset(tmp_path / "train", prepared, train=True, bad="tiny")
    with pytest.raises(DataError, match="data.skip_bad_images: true skips such images"):
        dataset[0]
    (tmp_path / "skip").mkdir()
    dataset, first, entry = _dataset(tmp_path / "skip", prepared, train=True, bad="tiny", skip=True)
    with pytest.warns(UserWarning, match="image is 1 pixels wide and 1 high.*: skipped"):
        assert dataset[0]["index"] == 1
    assert dataset.skipped == {str(first)}
