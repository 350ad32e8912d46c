"""The convergence pipeline (convergence/dvc.yaml) at smoke size, in a fresh copy of the project:
it needs only the root pipeline's `prepare` stage, so it does not wait for the shared smoke study
and runs beside its build (conftest.py schedules it second)."""
from __future__ import annotations

import json

import pytest

from pipeline_study import copy_project, dvc_available, sh, study_env

pytestmark = pytest.mark.skipif(not dvc_available(), reason="dvc is not installed beside this Python")


def test_convergence_pipeline_smoke(tmp_path):
    """`dvc repro convergence/dvc.yaml` at smoke size, trained until the plateau as the cpu
    setting is: one seed per variant on each track (pooling pairs over seeds: test_curves.py),
    validated every epoch; runs this short never meet the rule, so each constant phase ends at
    max_epochs and the paper's drops follow. The report has the matched-budget table, the plateau decisions,
    the curves and a verdict; the archived fixed-length runs get their own report; `dvc plots
    show` draws the per-epoch curves. `dvc repro` runs the root pipeline's `prepare` first (the
    runs' data), as on a fresh clone."""
    dst, env = tmp_path / "project", study_env()
    dst.mkdir()
    copy_project(dst, env)
    (dst / "convergence" / "params.yaml").write_text(
        "setting: smoke\n"
        "settings:\n  smoke: {profile: smoke, val_every: 1,\n"
        "           until_plateau: {min_epochs: {mpii: 2, coco: 2}, max_epochs: {mpii: 3, coco: 2}}}\n"
        "runs:\n"
        "  mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: 0}\n"
        "  mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}\n"
        "  coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: 0}\n"
        "  coco_sg_r5_s0: {track: coco, variant: sg, radius: 5, seed: 0}\n")
    sh(["dvc", "repro", "convergence/dvc.yaml"], dst, env)
    # constant phase ends at max_epochs 3: round(3 x 210/170) = 4 epochs, drops at 3 and 4
    cfg = json.loads((dst / "convergence" / "runs" / "mpii_sg_r5_s0" / "train" / "config.json").read_text())
    assert cfg["train"]["epochs"] == 4 and cfg["train"]["lr_steps"] == [3, 4] and cfg["train"]["seed"] == 0
    curve = (dst / "convergence" / "runs" / "mpii_sg_r5_s0" / "train" / "epochs.csv").read_text()
    assert curve.splitlines()[0].startswith("epoch,") and len(curve.splitlines()) == 5
    out = dst / "reports" / "convergence"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["setting"] == "smoke" and (out / "curves.png").is_file()
    mpii = summary["curves"]["mpii/val_Mean"]
    assert mpii["final"]["diff"]["n"] == 1 and mpii["end"] == "4"
    assert set(summary["curves"]) == {"mpii/val_Mean", "coco/val_mean_oks", "coco/val_body_AP"}
    table = (out / "convergence.md").read_text()
    assert "Stopped improving?" in table and "SG − baseline" in table and "max_epochs" in table
    fixed = json.loads((dst / "reports" / "convergence_fixed" / "summary.json").read_text())
    assert fixed["setting"] == "cpu" and fixed["curves"]["mpii/val_Mean"]["end"] == "160"
    plots = sh(["dvc", "plots", "show", "--json"], dst, env)
    assert "epochs.csv" in plots
    assert "up to date" in sh(["dvc", "status", "convergence/dvc.yaml"], dst, env)
