"""The whole study with the smoke profile: `dvc repro` end to end in a temporary copy of the repo,
then the ablation pipeline on it.

One reproduced study (the session's `study` fixture, tests/pipeline_study.py) serves the study's
pipeline tests: the end-to-end test checks that every stage ran (prepare, train via papermill,
evaluate, baselines, the notebooks of the report and attention stages, index.html and the
README's results section), that a further `dvc repro` does nothing, and that changing one run's
radius invalidates only that run's stages (and the report). The study was built through an interrupted `dvc repro` and a second
one (test_pipeline_interrupt.py reads their outputs). The tests that change the study (an
experiment and the ablation pipeline here) each start from their own copy of it; the ablation
test is in this file so that it runs on the worker that built the study, right after it (the
convergence pipeline, test_pipeline_convergence.py, needs no study and runs beside the build)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline_study import copy_study, dvc_available, files_under, sh

pytestmark = pytest.mark.skipif(not dvc_available(), reason="dvc is not installed beside this Python")


def test_dvc_repro_smoke_end_to_end(study, tmp_path):
    dst, env, reports_before = study.dst, study.env, study.reports_before
    smoke = yaml.safe_load((dst / "params.yaml").read_text())["profiles"]["smoke"]
    for name in ("mpii_baseline_s0", "mpii_sg_r5_s0", "coco_baseline_s0", "coco_sg_r5_s0"):
        train = dst / "runs" / name / "train"
        for file in ("last.pt", "train.ipynb", "log.jsonl"):   # train.ipynb run through papermill
            assert (train / file).is_file(), (name, file)
        cfg = json.loads((train / "config.json").read_text())   # its parameters reached the run
        assert cfg["profile"] == "smoke" and cfg["train"]["epochs"] == smoke["train"]["epochs"]
        assert cfg["train"]["seed"] == 0 and cfg["data"]["track"] == name[:4]
        assert (dst / "runs" / name / "eval" / "metrics.json").is_file()
    for name in ("index.html", "report.ipynb", "attention_maps.ipynb", "radius_ablation.ipynb",
                 "tables/table1_pckh.md", "tables/table2_coco.md", "tables/table3_radius.md",
                 "tables/robustness.md", "tables/attention.md", "README.md",
                 "figures/attention/attention_maps.png", "figures/augmented_samples.png",
                 "figures/study/robustness_oks.png", "figures/study/robustness_conditions.png",
                 "figures/study/attention_stats.png"):
        assert (dst / "reports" / name).is_file(), name
    assert (dst / "reports" / "figures" / "attention" / "attention_maps.png").stat().st_size > 0
    # every file the stages added under reports/ is a declared output: the notebooks run with
    # their defaults (radius_ablation.ipynb) only show, and nothing lands in the scratch _work/
    outs = [out for stage in yaml.safe_load((dst / "dvc.lock").read_text())["stages"].values()
            for out in (o["path"] for o in stage.get("outs", []))]
    added = {f"reports/{f}" for f in files_under(dst / "reports") - reports_before}
    assert added and not [f for f in added if not any(f == o or f.startswith(o + "/") for o in outs)]
    assert not (dst / "reports" / "_work").exists()
    # the report notebook as the report stage runs it: the attention stage's figure linked, not
    # drawn from the checkpoints; study figures linked relative to reports/, none embedded
    report_nb = _outputs_text(dst / "reports" / "report.ipynb")
    assert '<img src=\\"figures/attention/attention_maps.png\\"' in report_nb
    assert '<img src=\\"figures/study/pckh_bars.png\\"' in report_nb and "image/png" not in report_nb
    assert not (dst / "reports" / "figures" / "study" / "attention_maps.png").exists()
    assert "image/png" in _outputs_text(dst / "reports" / "radius_ablation.ipynb")
    results = (dst / "README.md").read_text().split("<!-- results:start -->")[1]
    assert results.split("<!-- results:end -->")[0].count("Our runs: profile `smoke`") == 1
    page = (dst / "reports" / "index.html").read_text()   # figures linked, not embedded twice
    assert 'src="figures/study/pckh_bars.png"' in page and 'src="data:image/png' not in page
    # papermill gives its injected cell a random id on every run: the page leaves that cell out,
    # so that re-running the report on the same runs rewrites index.html byte for byte
    assert "injected-parameters" not in page and "celltag_parameters" in page
    for cond in ("original", "blur", "clutter", "grey"):  # the perturb stage's cached output
        assert len(list((dst / "data" / "perturbed" / cond / "coco" / "images").glob("*.jpg"))) == 60
    assert (dst / "runs" / "coco_sg_r5_s0" / "analysis" / "robustness" / "robustness.json").is_file()
    assert (dst / "runs" / "mpii_sg_r5_s0" / "analysis" / "attention.json").is_file()
    robustness = (dst / "reports" / "tables" / "robustness.md").read_text()
    assert "clutter: SG − baseline" in robustness and "profile `smoke`" in robustness
    discussion = (dst / "reports" / "README.md").read_text()
    assert "profile `smoke`" in discussion and "## 2. The SGM reduces" in discussion
    table1 = (dst / "reports" / "tables" / "table1_pckh.md").read_text()
    assert "profile `smoke`" in table1 and "97.3" in table1  # ours and the paper's SG row

    # DVC commands run in a copy: the shared study stays as it was built for the other tests
    dst, env = copy_study(study, tmp_path)
    # the bytecode caches that any import writes beside the sources (unless
    # PYTHONDONTWRITEBYTECODE is set) lie in the folders the train stages depend on: .dvcignore
    # keeps them out of the stages' hashes, so a further `dvc repro` still does nothing
    sh(["python", "-m", "compileall", "-q", "sgpose_lib"], dst, env)
    assert list((dst / "sgpose_lib" / "engine" / "__pycache__").glob("train.*.pyc"))
    again = sh(["dvc", "repro"], dst, env)
    assert "Running stage" not in again

    params = (dst / "params.yaml").read_text()
    (dst / "params.yaml").write_text(params.replace(
        "mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5", "mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 3"))
    status = sh(["dvc", "status"], dst, env)
    stale = {line.strip().rstrip(":") for line in status.splitlines()
             if line and not line.startswith(("\t", " "))}
    (dst / "params.yaml").write_text(params)
    assert "train@mpii_s0" in stale      # the pair that trains mpii_sg_r5_s0 (train_pairs)
    assert not {s for s in stale if s.startswith("train@") and s != "train@mpii_s0"}

    # DVC's own tools: metrics of every run and the study summary, per-epoch plots, experiments
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], dst, env))
    files = next(iter(shown.values()))["data"]
    assert "runs/mpii_sg_r5_s0/eval/metrics.json" in files and "reports/tables/summary.json" in files
    mean = files["runs/mpii_sg_r5_s0/eval/metrics.json"]["data"]["Mean"]
    assert mean == json.loads((dst / "runs/mpii_sg_r5_s0/eval/metrics.json").read_text())["Mean"]
    plots = sh(["dvc", "plots", "show", "--json"], dst, env)
    assert "runs/mpii_sg_r5_s0/train/epochs.csv" in plots and "learning_curves.csv" in plots
    # an experiment (the SG run at r = 3, trained and evaluated: `dvc exp run` with its evaluate
    # stage as the target) leaves its results in the workspace: last, in this test's own copy
    out = sh(["dvc", "exp", "run", "-S", "runs.mpii_sg_r5_s0.radius=3", "--name", "radius3",
              "evaluate@mpii_sg_r5_s0"], dst, env)
    assert "Running stage 'train@mpii_s0'" in out and "Running stage 'report'" not in out
    exps = sh(["dvc", "exp", "show", "--json"], dst, env)
    assert "radius3" in exps and "runs/mpii_sg_r5_s0/eval/metrics.json" in exps
    cfg = json.loads((dst / "runs" / "mpii_sg_r5_s0" / "train" / "config.json").read_text())
    assert cfg["data"]["radius"] == 3 and cfg["train"]["threads"] == 1  # train-pair: 1 thread


def test_ablation_pipeline_smoke(study, tmp_path):
    """`dvc repro ablations/dvc.yaml` (two ablations, smoke profile) in a copy of the reproduced
    study: trains, evaluates and writes reports/ablations/ablations.md with each row paired
    against the study's SG runs."""
    dst, env = copy_study(study, tmp_path)
    (dst / "ablations" / "params.yaml").write_text(
        "ablation_runs:\n"
        "  sites_final_s0: {seed: 0, set: \"'model.sgm_sites=[final]'\"}\n"
        "  dwa_off_s0: {seed: 0, set: \"'loss.dwa=\\\"off\\\"'\"}\n"
        "ablation_pairs:\n"
        "  both_s0: {a: sites_final_s0, b: dwa_off_s0}\n")
    out = sh(["dvc", "repro", "ablations/dvc.yaml"], dst, env)
    assert "train@both_s0" in out, out
    cfg = json.loads((dst / "ablations" / "runs" / "sites_final_s0" / "train" / "config.json").read_text())
    assert cfg["model"]["sgm_sites"] == ["final"] and cfg["profile"] == "smoke"
    assert cfg["train"]["threads"] == 1                    # side by side, one thread each
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
    sh(["dvc", "repro", "-f", "-s", "ablations/dvc.yaml:train@both_s0"], dst, env)
    after = {p.name: p.read_bytes() for p in train.iterdir() if p.name != ".lock"}
    assert {"last.pt", "best.pt", "log.jsonl", "epochs.csv"} <= set(before) and after == before


def _outputs_text(executed: Path) -> str:
    nb = json.loads(executed.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])
