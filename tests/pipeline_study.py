"""The smoke study that the pipeline tests share: one `dvc repro` per test session, also under
pytest-xdist (`make test` runs two workers).

`shared_study` builds a copy of the project's files (tracked or not ignored) as its own git repo,
with the smoke profile and four runs, and reproduces it once with `dvc repro`. Under xdist the
workers share it: the first to ask builds it under a lock in the session's common temp folder,
the others wait for that lock and reuse the result. The built study is read-only for the tests:
each test that runs DVC in it works on `copy_study` (workspace, git repo and DVC cache)."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_RUNS = """runs:
  mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: 0}
  mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}
  coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: 0}
  coco_sg_r5_s0: {track: coco, variant: sg, radius: 5, seed: 0}
"""


def dvc_available() -> bool:
    return shutil.which("dvc", path=str(Path(sys.executable).parent)) is not None


def study_env() -> dict:
    """The environment of the study's commands: DVC without analytics, this Python's bin first."""
    return {**os.environ, "DVC_NO_ANALYTICS": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(cmd: list[str], cwd: Path, env: dict) -> str:
    """stdout of `cmd`; fails the test with the end of its output if it exits non-zero."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def build_study(dst: Path, env: dict) -> set[str]:
    """The smoke study reproduced in `dst`; returns the files under reports/ before the repro."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dst / name)
    params = (dst / "params.yaml").read_text().replace("profile: cpu\n", "profile: smoke\n", 1)
    params = params[:params.index("runs:\n")] + SMOKE_RUNS
    (dst / "params.yaml").write_text(params)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"]):
        sh(cmd, dst, env)
    reports_before = files_under(dst / "reports")
    sh(["dvc", "repro"], dst, env)
    return reports_before


def shared_study(tmp_path_factory) -> tuple[Path, dict, set[str]]:
    """(study folder, environment, files under reports/ before the repro), built once per test
    session: in the temp folder that all xdist workers share, under an exclusive lock; a failed
    build leaves no marker, so each worker that asks fails with the build's own error."""
    env = study_env()
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent   # the session's folder, above each worker's own
    dst, marker = base / "shared-study", base / "shared-study.json"
    with open(base / "shared-study.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(dst, ignore_errors=True)
            dst.mkdir()
            marker.write_text(json.dumps(sorted(build_study(dst, env))))
    return dst, env, set(json.loads(marker.read_text()))


def copy_study(study, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the reproduced study (workspace, git repo, DVC cache) that a test may change."""
    src, env, _ = study
    dst = tmp_path / "study"
    shutil.copytree(src, dst, symlinks=True)
    return dst, env
