"""The ablation pipeline (ablations/dvc.yaml) at smoke size, beside the reproduced smoke study."""
from __future__ import annotations

import json

import pytest

from pipeline_study import copy_study, dvc_available, sh

pytestmark = pytest.mark.skipif(not dvc_available(), reason="dvc is not installed beside this Python")


def test_ablation_pipeline_smoke(study, tmp_path):
    """`dvc repro ablations/dvc.yaml` (two ablations, smoke profile) in a copy of the reproduced
    study: trains, evaluates and writes reports/ablations/ablations.md with each row paired
    against the study's SG runs."""
    dst, env = copy_study(study, tmp_path)
    (dst / "ablations" / "params.yaml").write_text(
        "ablation_runs:\n"
        "  sites_final_s0: {seed: 0, set: \"'model.sgm_sites=[final]'\"}\n"
        "  dwa_off_s0: {seed: 0, set: \"'loss.dwa=\\\"off\\\"'\"}\n")
    out = sh(["dvc", "repro", "ablations/dvc.yaml"], dst, env)
    assert "train@sites_final_s0" in out and "train@dwa_off_s0" in out
    cfg = json.loads((dst / "ablations" / "runs" / "sites_final_s0" / "train" / "config.json").read_text())
    assert cfg["model"]["sgm_sites"] == ["final"] and cfg["profile"] == "smoke"
    table = (dst / "reports" / "ablations" / "ablations.md").read_text()
    summary = json.loads((dst / "reports" / "ablations" / "ablations.json").read_text())
    for name in ("sites_final", "dwa_off"):
        assert name in table and summary[name]["mean"]["n"] == 1
        assert summary[name]["minus_paper"]["n"] == 1  # paired with mpii_sg_r5_s0 of the study
    assert "up to date" in sh(["dvc", "status", "dvc.yaml"], dst, env)  # the study is untouched
    # the checkpoints persist: a forced re-run (as after a code change) resumes the finished
    # run and leaves it as it was, instead of retraining it (which would give the same weights,
    # but new timings in timing.jsonl)
    train = dst / "ablations" / "runs" / "sites_final_s0" / "train"
    before = {p.name: p.read_bytes() for p in train.iterdir() if p.name != ".lock"}
    sh(["dvc", "repro", "-f", "-s", "ablations/dvc.yaml:train@sites_final_s0"], dst, env)
    after = {p.name: p.read_bytes() for p in train.iterdir() if p.name != ".lock"}
    assert {"last.pt", "best.pt", "log.jsonl", "epochs.csv"} <= set(before) and after == before
