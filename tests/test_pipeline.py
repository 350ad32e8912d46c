"""The whole study with the smoke profile: `dvc repro` end to end in a temporary copy of the repo.

One `dvc repro` (the `study` fixture) serves every test here: the end-to-end test checks that every
stage ran (prepare, train via papermill, evaluate, baselines, the notebooks of the report and
attention stages, index.html and the README's results section), that a second `dvc repro` does
nothing, and that changing one run's radius invalidates only that run's stages (and the report).
The tests that change the study (an experiment, an interrupted repro, the ablation and
convergence pipelines) each start from their own copy of that reproduced study."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SMOKE_RUNS = """runs:
  mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: 0}
  mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}
  coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: 0}
  coco_sg_r5_s0: {track: coco, variant: sg, radius: 5, seed: 0}
"""

pytestmark = pytest.mark.skipif(shutil.which("dvc", path=str(Path(sys.executable).parent)) is None,
                                reason="dvc is not installed beside this Python")


def _sh(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict, set[str]]:
    """A copy of the project's files (tracked or not ignored) as its own git repo, smoke profile,
    reproduced once with `dvc repro`; returns it, the environment, and the files that were under
    reports/ before the repro. Tests that change it work on `_copy(study)`."""
    dst = tmp_path_factory.mktemp("study")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dst / name)
    params = (dst / "params.yaml").read_text().replace("profile: cpu\n", "profile: smoke\n", 1)
    params = params[:params.index("runs:\n")] + SMOKE_RUNS
    (dst / "params.yaml").write_text(params)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"]):
        _sh(cmd, dst, env)
    reports_before = _files(dst / "reports")
    _sh(["dvc", "repro"], dst, env)
    return dst, env, reports_before


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _copy(study, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the reproduced study (workspace, git repo, DVC cache) that a test may change."""
    src, env, _ = study
    dst = tmp_path / "study"
    shutil.copytree(src, dst, symlinks=True)
    return dst, env


def test_dvc_repro_smoke_end_to_end(study, tmp_path):
    dst, env, reports_before = study
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
    added = {f"reports/{f}" for f in _files(dst / "reports") - reports_before}
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

    again = _sh(["dvc", "repro"], dst, env)
    assert "Running stage" not in again

    params = (dst / "params.yaml").read_text()
    (dst / "params.yaml").write_text(params.replace(
        "mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5", "mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 3"))
    status = _sh(["dvc", "status"], dst, env)
    stale = {line.strip().rstrip(":") for line in status.splitlines()
             if line and not line.startswith(("\t", " "))}
    (dst / "params.yaml").write_text(params)
    assert "train@mpii_sg_r5_s0" in stale
    assert not {s for s in stale if s.startswith("train@") and s != "train@mpii_sg_r5_s0"}

    # DVC's own tools: metrics of every run and the study summary, per-epoch plots, experiments
    shown = json.loads(_sh(["dvc", "metrics", "show", "--json"], dst, env))
    files = next(iter(shown.values()))["data"]
    assert "runs/mpii_sg_r5_s0/eval/metrics.json" in files and "reports/tables/summary.json" in files
    mean = files["runs/mpii_sg_r5_s0/eval/metrics.json"]["data"]["Mean"]
    assert mean == json.loads((dst / "runs/mpii_sg_r5_s0/eval/metrics.json").read_text())["Mean"]
    plots = _sh(["dvc", "plots", "show", "--json"], dst, env)
    assert "runs/mpii_sg_r5_s0/train/epochs.csv" in plots and "learning_curves.csv" in plots
    # an experiment (the whole pipeline, report included, with the SG run at r = 3) leaves its
    # results in the workspace: run it in a copy, which no other test reads
    exp, env = _copy(study, tmp_path)
    _sh(["dvc", "exp", "run", "-S", "runs.mpii_sg_r5_s0.radius=3", "--name", "radius3"], exp, env)
    exps = _sh(["dvc", "exp", "show", "--json"], exp, env)
    assert "radius3" in exps and "runs/mpii_sg_r5_s0/eval/metrics.json" in exps
    cfg = json.loads((exp / "runs" / "mpii_sg_r5_s0" / "train" / "config.json").read_text())
    assert cfg["data"]["radius"] == 3


def _outputs_text(executed: Path) -> str:
    nb = json.loads(executed.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def _default_sigint() -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


GATE = """#!{python}
import os, sys, time
from pathlib import Path
gate = os.environ.get("SGPOSE_TEST_GATE")
if gate and sys.argv[1:2] == ["evaluate"]:
    # announce that this evaluation has started, then hold it until the test opens the gate
    Path(gate, "reached-" + Path(sys.argv[sys.argv.index("--checkpoint") + 1]).parts[1]).touch()
    deadline = time.time() + 600
    while not Path(gate, "open").exists() and time.time() < deadline:
        time.sleep(0.05)
os.execv({sgpose!r}, [{sgpose!r}] + sys.argv[1:])
"""


def test_interrupted_dvc_repro_reruns_no_finished_stage(study, tmp_path):
    """Ctrl-C (SIGINT to the process group) while `dvc repro` runs its later stages; the next
    `dvc repro` finishes the pipeline and reruns none of the stages that had completed.

    No race: the interrupted `dvc repro` finds first on its PATH an `sgpose` that, for
    `sgpose evaluate`, marks that it was reached and waits at a gate before it hands over to the
    real one; the test interrupts once the first evaluation is held there (the training before
    it has landed), so `dvc repro` cannot finish first. dvc.yaml stays as it is, so no stage of
    the reproduced study goes stale but the one run changed here."""
    import re
    import signal
    dst, env = _copy(study, tmp_path)
    gated = tmp_path / "gated-bin"
    gated.mkdir()
    (gated / "sgpose").write_text(GATE.format(
        python=sys.executable, sgpose=str(Path(sys.executable).parent / "sgpose")))
    (gated / "sgpose").chmod(0o755)
    params = (dst / "params.yaml").read_text()
    run = "mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: "
    assert run + "0}" in params
    (dst / "params.yaml").write_text(params.replace(run + "0}", run + "7}"))  # train, evaluate, ...
    gate = tmp_path / "gate"
    gate.mkdir()
    log = tmp_path / "repro.log"   # a file, not a pipe: a full pipe would stall dvc
    with open(log, "w") as out:
        # SIGINT back to its default in the child: a CI runner started in the background has it
        # ignored, and an ignored SIGINT is inherited (Ctrl-C in a terminal is not ignored)
        proc = subprocess.Popen(["dvc", "repro"], cwd=dst,
                                env={**env, "PYTHONUNBUFFERED": "1", "SGPOSE_TEST_GATE": str(gate),
                                     "PATH": f"{gated}{os.pathsep}{env['PATH']}"},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_default_sigint)
        try:
            while not list(gate.glob("reached-*")) and proc.poll() is None:
                time.sleep(0.05)
            assert list(gate.glob("reached-*")), "dvc repro ended before any evaluation started"
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=300)
        finally:
            (gate / "open").touch()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text()
    assert proc.returncode != 0, output[-2000:]
    assert [p.name for p in gate.glob("reached-*")] == ["reached-mpii_baseline_s0"]
    started = re.findall(r"Running stage '([^']+)'", output)
    assert started[-1] == "evaluate@mpii_baseline_s0", started   # the one held at the gate
    completed = started[:-1]
    assert "train@mpii_baseline_s0" in completed, started

    rerun = _sh(["dvc", "repro"], dst, env)
    rerun_stages = re.findall(r"Running stage '([^']+)'", rerun)
    assert rerun_stages and not set(completed) & set(rerun_stages), (completed, rerun_stages)
    assert started[-1] in rerun_stages and "report" in rerun_stages
    status = _sh(["dvc", "status", "dvc.yaml"], dst, env)
    assert "up to date" in status, status
    cfg = json.loads((dst / "runs" / "mpii_baseline_s0" / "train" / "config.json").read_text())
    assert cfg["train"]["seed"] == 7
    assert (dst / "runs" / "mpii_baseline_s0" / "eval" / "metrics.json").is_file()


def test_ablation_pipeline_smoke(study, tmp_path):
    """`dvc repro ablations/dvc.yaml` (two ablations, smoke profile) in a copy of the reproduced
    study: trains, evaluates and writes reports/ablations/ablations.md with each row paired
    against the study's SG runs."""
    dst, env = _copy(study, tmp_path)
    (dst / "ablations" / "params.yaml").write_text(
        "ablation_runs:\n"
        "  sites_final_s0: {seed: 0, set: \"'model.sgm_sites=[final]'\"}\n"
        "  dwa_off_s0: {seed: 0, set: \"'loss.dwa=\\\"off\\\"'\"}\n")
    out = _sh(["dvc", "repro", "ablations/dvc.yaml"], dst, env)
    assert "train@sites_final_s0" in out and "train@dwa_off_s0" in out
    cfg = json.loads((dst / "ablations" / "runs" / "sites_final_s0" / "train" / "config.json").read_text())
    assert cfg["model"]["sgm_sites"] == ["final"] and cfg["profile"] == "smoke"
    table = (dst / "reports" / "ablations" / "ablations.md").read_text()
    summary = json.loads((dst / "reports" / "ablations" / "ablations.json").read_text())
    for name in ("sites_final", "dwa_off"):
        assert name in table and summary[name]["mean"]["n"] == 1
        assert summary[name]["minus_paper"]["n"] == 1  # paired with mpii_sg_r5_s0 of the study
    assert "up to date" in _sh(["dvc", "status", "dvc.yaml"], dst, env)  # the study is untouched
    # the checkpoints persist: a forced re-run (as after a code change) resumes the finished
    # run and leaves it as it was, instead of retraining it (which would give the same weights,
    # but new timings in timing.jsonl)
    train = dst / "ablations" / "runs" / "sites_final_s0" / "train"
    before = {p.name: p.read_bytes() for p in train.iterdir() if p.name != ".lock"}
    _sh(["dvc", "repro", "-f", "-s", "ablations/dvc.yaml:train@sites_final_s0"], dst, env)
    after = {p.name: p.read_bytes() for p in train.iterdir() if p.name != ".lock"}
    assert {"last.pt", "best.pt", "log.jsonl", "epochs.csv"} <= set(before) and after == before


def test_convergence_pipeline_smoke(study, tmp_path):
    """`dvc repro convergence/dvc.yaml` at smoke size, trained until the plateau as the cpu
    setting is: two seeds per variant on the MPII-style track, one on the COCO track, validated
    every epoch; runs this short never meet the rule, so each constant phase ends at max_epochs
    and the paper's drops follow. The report has the matched-budget table, the plateau decisions,
    the curves and a verdict; the archived fixed-length runs get their own report; `dvc plots
    show` draws the per-epoch curves. Runs in a copy of the reproduced study."""
    dst, env = _copy(study, tmp_path)
    (dst / "convergence" / "params.yaml").write_text(
        "setting: smoke\n"
        "settings:\n  smoke: {profile: smoke, val_every: 1,\n"
        "           until_plateau: {min_epochs: {mpii: 2, coco: 2}, max_epochs: {mpii: 3, coco: 2}}}\n"
        "runs:\n"
        "  mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: 0}\n"
        "  mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}\n"
        "  mpii_baseline_s1: {track: mpii, variant: baseline, radius: 5, seed: 1}\n"
        "  mpii_sg_r5_s1: {track: mpii, variant: sg, radius: 5, seed: 1}\n"
        "  coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: 0}\n"
        "  coco_sg_r5_s0: {track: coco, variant: sg, radius: 5, seed: 0}\n")
    _sh(["dvc", "repro", "convergence/dvc.yaml"], dst, env)
    # constant phase ends at max_epochs 3: round(3 x 210/170) = 4 epochs, drops at 3 and 4
    cfg = json.loads((dst / "convergence" / "runs" / "mpii_sg_r5_s1" / "train" / "config.json").read_text())
    assert cfg["train"]["epochs"] == 4 and cfg["train"]["lr_steps"] == [3, 4] and cfg["train"]["seed"] == 1
    curve = (dst / "convergence" / "runs" / "mpii_sg_r5_s1" / "train" / "epochs.csv").read_text()
    assert curve.splitlines()[0].startswith("epoch,") and len(curve.splitlines()) == 5
    out = dst / "reports" / "convergence"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["setting"] == "smoke" and (out / "curves.png").is_file()
    mpii = summary["curves"]["mpii/val_Mean"]
    assert mpii["final"]["diff"]["n"] == 2 and mpii["end"] == "4"
    assert set(summary["curves"]) == {"mpii/val_Mean", "coco/val_mean_oks", "coco/val_body_AP"}
    table = (out / "convergence.md").read_text()
    assert "Stopped improving?" in table and "SG − baseline" in table and "max_epochs" in table
    fixed = json.loads((dst / "reports" / "convergence_fixed" / "summary.json").read_text())
    assert fixed["setting"] == "cpu" and fixed["curves"]["mpii/val_Mean"]["end"] == "160"
    plots = _sh(["dvc", "plots", "show", "--json"], dst, env)
    assert "epochs.csv" in plots
    assert "up to date" in _sh(["dvc", "status", "convergence/dvc.yaml"], dst, env)
