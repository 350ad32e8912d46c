"""A run folder is never overwritten or stuck, a damaged checkpoint is never used, and a failure
inside a DataLoader worker or a full disk is one line: through the CLI. A kill, a failing save
and DataLoader workers run it in subprocesses, as a user's shell would; the other cases run the
CLI's main in the test's process (cli_helpers.run_cli_here: the same exit status, stdout and
stderr without a new interpreter's seconds of imports).

Each test starts from a copy of one smoke run trained once per module (1 epoch, 16 samples)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sgpose_lib.engine.checkpoint_io import load_checkpoint

from cli_helpers import one_line_error
from cli_helpers import run_cli_here as _here

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "data" / "embedded"


def _cli(args: list, script: str | None = None) -> subprocess.CompletedProcess:
    """`sgpose ARGS` in a subprocess running this worktree's code (or `script`, which runs the
    CLI's main itself after setting up a failure), one thread."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    head = ["-c", script] if script else ["-m", "sgpose_lib.cli"]
    return subprocess.run([sys.executable, *head, *map(str, args)], env=env,
                          capture_output=True, text=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}


@pytest.fixture(scope="module")
def smoke(prepared, tmp_path_factory) -> dict:
    """{'params': a smoke params.yaml on the session's prepared data, 'run': a run trained 1
    epoch into a folder, 'args': the `sgpose train` arguments minus --out}."""
    tmp = tmp_path_factory.mktemp("smoke_run")
    params = tmp / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace(
        "limit_train: 64, limit_val: 24}",
        f"limit_train: 16, limit_val: 8, root: '{prepared}', image_root: '{EMBEDDED}'}}"))
    args = ["train", "--params", params, "--profile", "smoke", "--track", "mpii", "--variant",
            "baseline", "--epochs", "1", "--quiet"]
    done = _here(args + ["--out", tmp / "run"])
    assert done.returncode == 0, done.stderr
    return {"params": params, "run": tmp / "run", "args": args}


def _copy(smoke: dict, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(smoke["run"], run, ignore=shutil.ignore_patterns(".lock"))
    return run


# --- a folder holding any run file is a run ---------------------------------------------------

def test_run_files_without_last_pt_are_not_overwritten(smoke, tmp_path):
    """best.pt and the logs but no last.pt (a full disk can leave exactly this): a new run there
    is refused, a resume says there is nothing to resume; --restart starts over."""
    run = _copy(smoke, tmp_path)
    (run / "last.pt").unlink()
    before = _files(run)
    message = one_line_error(_here(smoke["args"] + ["--out", run]), "train")
    assert message == (f"{run}: holds a run (best.pt, log.jsonl, timing.jsonl, epochs.csv, "
                       "config.json, environment.json); --resume continues it, --restart "
                       "deletes it and starts over")
    message = one_line_error(_here(smoke["args"] + ["--out", run, "--resume"]), "train")
    assert message.startswith(f"{run}: nothing to resume (no last.pt); it holds best.pt, ")
    assert _files(run) == before
    done = _here(smoke["args"] + ["--out", run, "--restart"])
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


@pytest.mark.parametrize("flags", [["--restart"], ["--resume", "--restart"]],
                         ids=["restart", "pipeline"])
def test_restart_works_on_a_damaged_last_pt(smoke, tmp_path, flags):
    """--restart deletes the run unread; the pipeline's mode (--resume --restart: the DVC stages
    and the train notebook) starts over where last.pt cannot be read."""
    run = _copy(smoke, tmp_path)
    (run / "last.pt").write_bytes(b"\0" * 64)
    assert "not a readable checkpoint" in one_line_error(
        _here(smoke["args"] + ["--out", run, "--resume"]), "train")
    done = _here(smoke["args"] + ["--out", run, *flags])
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    assert json.loads(done.stdout.splitlines()[-1])["finished_before"] is False


def test_convergence_train_starts_over_on_a_damaged_last_pt(smoke, tmp_path):
    conv = tmp_path / "convergence.yaml"
    conv.write_text("setting: s\nsettings:\n  s: {profile: smoke, epochs: {mpii: 1}, "
                    "val_every: 1}\nruns:\n  r: {track: mpii, variant: baseline, radius: 5, "
                    "seed: 0}\n")
    run = _copy(smoke, tmp_path)
    (run / "last.pt").write_bytes(b"")
    done = _here(["convergence", "train", "--params", conv, "--study-params", smoke["params"],
                 "--run", "r", "--out", run, "--quiet"])
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


def test_until_plateau_restart_on_a_damaged_last_pt(smoke_cfg, tmp_path):
    from sgpose_lib.engine.schedule import PlateauRule
    from sgpose_lib.engine.until_plateau import _folder_run
    from sgpose_lib.errors import CheckpointError
    (tmp_path / "last.pt").write_bytes(b"junk")
    rule = PlateauRule(every=1, min_epochs=1, max_epochs=2, tol=1.0)
    assert _folder_run(tmp_path, smoke_cfg(), rule, restart=True) == (0, True)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        _folder_run(tmp_path, smoke_cfg(), rule, restart=False)


# --- a save cut short -------------------------------------------------------------------------

KILLED_DURING_SAVE = """
import os, signal, sys
import torch
from sgpose_lib.cli import main
real_save = torch.save
def save_then_die(obj, f):
    if obj.get("epoch") == 2:   # the second epoch's checkpoint: half written, then SIGKILL
        f.write(b"partial")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real_save(obj, f)
torch.save = save_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_during_a_save_leaves_no_temporary_file_after_the_resume(smoke, tmp_path):
    run = _copy(smoke, tmp_path)
    two = [a if a != "1" else "2" for a in smoke["args"]] + ["--out", run, "--resume"]
    killed = _cli(two, script=KILLED_DURING_SAVE)
    assert killed.returncode == -9
    assert [p.name for p in run.glob(".*.tmp")], "the kill left no temporary file"
    (run / ".notes.tmp").write_text("not a save of ours")   # kept: not a save's temporary name
    done = _here(two)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in run.glob(".*.tmp")) == [".notes.tmp"]
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


FULL_DISK_IN_TORCH = """
import sys
import torch
from sgpose_lib.cli import main
real_save = torch.save
def disk_full(obj, f):
    if obj.get("epoch") == 2:   # torch reports a failed write as RuntimeError, not OSError
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter "
                           "failed writing file data/3: file write failed\\nframe #0: c10::...")
    real_save(obj, f)
torch.save = disk_full
sys.exit(main(sys.argv[1:]))
"""


def test_full_disk_reported_by_torch_is_one_line_and_keeps_the_checkpoint(smoke, tmp_path):
    run = _copy(smoke, tmp_path)
    two = [a if a != "1" else "2" for a in smoke["args"]] + ["--out", run, "--resume"]
    message = one_line_error(_cli(two, script=FULL_DISK_IN_TORCH), "train")
    assert message.endswith(": could not save checkpoint ([enforce fail at inline_container.cc:"
                            "626] . PytorchStreamWriter failed writing file data/3: file write "
                            "failed); the previous checkpoint is intact")
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    assert not list(run.glob(".*.tmp"))


# --- checkpoints carry a checksum of their tensors --------------------------------------------

def test_flipped_bytes_in_a_weight_stop_evaluation_and_resume(smoke, tmp_path):
    run = _copy(smoke, tmp_path)
    path = run / "last.pt"
    weight = torch.load(path, weights_only=True)["model"]["final_layer.weight"]
    data = bytearray(path.read_bytes())
    at = data.find(weight.numpy().tobytes())
    assert at > 0
    data[at + 8:at + 16] = bytes(b ^ 0xFF for b in data[at + 8:at + 16])
    path.write_bytes(bytes(data))
    expected = (f"{path}: damaged: its tensors do not match the checksum saved with them "
                "(SHA-256); restore the file, or train the run again with --restart")
    assert one_line_error(_here(["evaluate", "--checkpoint", path, "--quiet"]),
                           "evaluate") == expected
    assert one_line_error(_here(smoke["args"] + ["--out", run, "--resume"]), "train") == expected


def test_checkpoint_without_a_checksum_loads_with_a_note(smoke, tmp_path):
    ckpt = torch.load(smoke["run"] / "last.pt", weights_only=True)
    del ckpt["tensor_sha256"]
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    done = _here(["evaluate", "--checkpoint", old, "--quiet"])
    assert done.returncode == 0, done.stderr
    assert (f"note: {old}: a checkpoint without a checksum of its tensors (saved before sgpose "
            "stored one): loaded unchecked\n") in done.stderr
    assert "Mean" in json.loads(done.stdout)


# --- bad images, also inside DataLoader workers ------------------------------------------------

def _bad_image_split(prepared: Path, tmp_path: Path, split: str, bad: str) -> tuple[Path, Path]:
    """(annotation file, image root) of the prepared MPII-style `split` whose first entry's image
    is `bad`: 'missing' (no file) or 'tiny' (a 1x1 JPEG in place of the annotated size)."""
    images = tmp_path / "images"
    (images / "bad").mkdir(parents=True)
    (images / "lspet").symlink_to(EMBEDDED / "lspet")
    entries = json.loads((prepared / f"mpii_{split}.json").read_text())
    entries[0]["image"] = f"bad/{bad}.jpg"
    if bad == "tiny":
        cv2.imwrite(str(images / "bad" / "tiny.jpg"), np.zeros((1, 1, 3), np.uint8))
    ann = tmp_path / f"{split}.json"
    ann.write_text(json.dumps(entries))
    return ann, images


def test_missing_image_in_a_dataloader_worker_is_one_line(smoke, prepared, tmp_path):
    ann, images = _bad_image_split(prepared, tmp_path, "val", "missing")
    done = _cli(["evaluate", "--checkpoint", smoke["run"] / "last.pt", "--val-ann", ann,
                 "--image-root", images, "--workers", "1", "--quiet"])
    assert one_line_error(done, "evaluate") == (
        f"{images / 'bad' / 'missing.jpg'} (record 0): image missing or unreadable")


def test_image_of_another_size_than_annotated_stops_evaluation(smoke, prepared, tmp_path):
    ann, images = _bad_image_split(prepared, tmp_path, "val", "tiny")
    entry = json.loads(ann.read_text())[0]
    done = _cli(["evaluate", "--checkpoint", smoke["run"] / "last.pt", "--val-ann", ann,
                 "--image-root", images, "--workers", "1", "--quiet"])
    assert one_line_error(done, "evaluate") == (
        f"{images / 'bad' / 'tiny.jpg'} (record 0): image is 1 pixels wide and 1 high, its "
        f"annotation says {entry['width']} wide and {entry['height']} high")


def test_image_of_another_size_stops_training_unless_skipped(smoke, prepared, tmp_path):
    ann, images = _bad_image_split(prepared, tmp_path, "train", "tiny")
    args = smoke["args"] + ["--set", f"data.train_ann={ann}", f"data.image_root={images}",
                            "data.workers=1", "train.val_every=0"]
    message = one_line_error(_cli(args + ["--out", tmp_path / "stop"]), "train")
    assert message.startswith(f"{images / 'bad' / 'tiny.jpg'} (record 0): image is 1 pixels "
                              "wide and 1 high")
    assert message.endswith("; data.skip_bad_images: true skips such images in training")
    done = _cli(args + ["data.skip_bad_images=true", "--out", tmp_path / "skip"])
    assert done.returncode == 0, done.stderr
    assert "tiny.jpg (record 0): image is 1 pixels wide and 1 high" in done.stderr
    assert "skipped (data.skip_bad_images; further skipped files are counted" in done.stderr
