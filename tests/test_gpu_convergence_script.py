"""scripts/gpu_convergence.sh, the GPU path of the convergence pipeline, with stand-ins for DVC
and papermill (the real pipeline runs in test_pipeline): it switches the setting, shortens the
epochs as asked, runs `dvc repro convergence/dvc.yaml` without git where DVC's git integration is
missing, packs the run files and passes on DVC's exit status. And the GPU report names the card
it was trained on, from the committed runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FAKE_DVC = """#!/bin/sh
echo "$@" >> "$CALLS"
case "$1" in repro) mkdir -p convergence/runs/r/train reports/convergence
                    echo '{}' > convergence/runs/r/train/config.json
                    echo 'epoch' > convergence/runs/r/train/epochs.csv
                    echo lock > convergence/dvc.lock; exit "${DVC_EXIT:-0}";; esac
"""


def _run_script(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    repo, tools = tmp_path / "repo", tmp_path / "bin"
    (repo / "convergence").mkdir(parents=True)
    (repo / "scripts").mkdir()
    tools.mkdir()
    shutil.copy(ROOT / "convergence" / "params.yaml", repo / "convergence" / "params.yaml")
    shutil.copy(ROOT / "scripts" / "gpu_convergence.sh", repo / "scripts" / "gpu_convergence.sh")
    for name, text in (("dvc", FAKE_DVC), ("papermill", "#!/bin/sh\n"), ("sgpose", "#!/bin/sh\n")):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    full_env = {**os.environ, "PATH": f"{tools}{os.pathsep}{Path(sys.executable).parent}"
                f"{os.pathsep}/usr/bin{os.pathsep}/bin", "CALLS": str(tmp_path / "calls.txt"),
                "OUT": str(tmp_path / "out"), **env}
    done = subprocess.run(["bash", "scripts/gpu_convergence.sh"], cwd=repo, env=full_env,
                          capture_output=True, text=True, timeout=120)
    return done, repo


def test_script_sets_the_gpu_setting_and_packs_the_runs(tmp_path):
    done, repo = _run_script(tmp_path, EPOCHS="3", VAL_EVERY="1")
    assert done.returncode == 0, done.stdout + done.stderr
    params = yaml.safe_load((repo / "convergence" / "params.yaml").read_text())
    assert params["setting"] == "gpu"
    gpu = params["settings"]["gpu"]
    assert gpu["epochs"] == {"mpii": 3, "coco": 3} and gpu["val_every"] == 1
    assert gpu["profile"] == "paper" and gpu["set"]["train.bf16"] is True   # the rest is kept
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    # no git work tree here: DVC runs without its git integration, then the pipeline
    assert calls == ["config --local core.no_scm true", "repro convergence/dvc.yaml"]
    with tarfile.open(tmp_path / "out" / "convergence_gpu.tgz") as tar:
        names = set(tar.getnames())
    assert {"convergence/params.yaml", "convergence/dvc.lock", "reports/convergence",
            "convergence/runs/r/train/config.json", "convergence/runs/r/train/epochs.csv"} <= names


def test_script_passes_on_a_failed_repro_and_refuses_an_unknown_setting(tmp_path):
    done, _ = _run_script(tmp_path / "a", DVC_EXIT="3")
    assert done.returncode == 3 and (tmp_path / "a" / "out" / "convergence_gpu.tgz").is_file()
    done, _ = _run_script(tmp_path / "b", SETTING="tpu")
    assert done.returncode == 2 and "no setting 'tpu'" in done.stdout + done.stderr
    assert "repro" not in (tmp_path / "b" / "calls.txt").read_text()


def test_gpu_report_names_the_card_it_was_trained_on():
    from sgpose_lib.engine.convergence_runs import read_params
    from sgpose_lib.report.convergence import collect
    from sgpose_lib.report.machines import trained_on
    _, where = collect(read_params(ROOT / "convergence" / "gpu" / "params.yaml"),
                       ROOT / "convergence" / "gpu" / "runs")
    lines = trained_on(where)
    assert lines == ["mpii track: hrnet_w32 at 256×256 (h×w) on the embedded data, NVIDIA H200",
                     "coco track: hrnet_w32 at 256×192 (h×w) on the embedded data, NVIDIA H200"]
    report = (ROOT / "reports" / "convergence_gpu" / "convergence.md").read_text()
    assert "Trained on: " + "; ".join(lines) + "." in report
