"""The smoke study that the pipeline tests share: built once per test session, also under
pytest-xdist (`make test` runs two workers).

`shared_study` builds a copy of the project's files (tracked or not ignored) as its own git repo,
with the smoke profile and four runs, and reproduces it as a user whose first `dvc repro` was
interrupted would: Ctrl-C (SIGINT to its process group) once its first evaluation has started,
then `dvc repro` again to the end. Both outputs are kept for test_pipeline_interrupt.py. No race:
the first `dvc repro` finds first on its PATH an `sgpose` that, for `sgpose evaluate`, marks
that it was reached and waits at a gate before it hands over to the real one, so the interrupt
always lands in an evaluation, after the training before it has finished.

Under xdist the workers share the study: the first to ask builds it under a lock in the
session's common temp folder, the others wait for that lock and reuse the result. The built
study is read-only for the tests: each test that runs DVC in it works on `copy_study`
(workspace, git repo and DVC cache)."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_RUNS = """runs:
  mpii_baseline_s0: {track: mpii, variant: baseline, radius: 5, seed: 0}
  mpii_sg_r5_s0: {track: mpii, variant: sg, radius: 5, seed: 0}
  coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: 0}
  coco_sg_r5_s0: {track: coco, variant: sg, radius: 5, seed: 0}
train_pairs:
  mpii_s0: {a: mpii_baseline_s0, b: mpii_sg_r5_s0}
  coco_s0: {a: coco_baseline_s0, b: coco_sg_r5_s0}
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


GATE = """#!{python}
import os, sys, time
from pathlib import Path
gate = os.environ.get("SGPOSE_TEST_GATE")
if gate and sys.argv[1:2] == ["evaluate"]:
    # announce that this evaluation has started, then hold it until the gate opens
    Path(gate, "reached-" + Path(sys.argv[sys.argv.index("--checkpoint") + 1]).parts[1]).touch()
    deadline = time.time() + 600
    while not Path(gate, "open").exists() and time.time() < deadline:
        time.sleep(0.05)
os.execv({sgpose!r}, [{sgpose!r}] + sys.argv[1:])
"""


@dataclass(frozen=True)
class Interrupted:
    """The first `dvc repro`: exit code, output, and the runs whose evaluation reached the gate."""
    returncode: int
    output: str
    reached: list[str]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted_repro(dst: Path, env: dict, scratch: Path) -> Interrupted:
    """`dvc repro` in `dst`, interrupted (SIGINT to its process group) as soon as its first
    `sgpose evaluate` starts; `scratch` holds the gated `sgpose` and the gate."""
    gated, gate = scratch / "gated-bin", scratch / "gate"
    gated.mkdir(parents=True)
    gate.mkdir()
    (gated / "sgpose").write_text(GATE.format(
        python=sys.executable, sgpose=str(Path(sys.executable).parent / "sgpose")))
    (gated / "sgpose").chmod(0o755)
    log = scratch / "repro.log"   # a file, not a pipe: a full pipe would stall dvc
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
            if list(gate.glob("reached-*")):
                os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=300)
        finally:
            (gate / "open").touch()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    reached = sorted(p.name.removeprefix("reached-") for p in gate.glob("reached-*"))
    return Interrupted(proc.returncode, log.read_text(), reached)


def copy_project(dst: Path, env: dict) -> None:
    """The project's files (tracked or not ignored) copied into `dst` as a git repo of their own,
    its params.yaml set to the smoke profile and the four SMOKE_RUNS in two train_pairs: the state of a fresh clone
    whose user chose the smoke profile."""
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


def build_study(dst: Path, env: dict, scratch: Path) -> dict:
    """The smoke study reproduced in `dst` (interrupted once, then to the end); returns the files
    under reports/ before the repro and both outputs."""
    copy_project(dst, env)
    reports_before = sorted(files_under(dst / "reports"))
    first = interrupted_repro(dst, env, scratch)
    rerun = sh(["dvc", "repro"], dst, env)
    return {"reports_before": reports_before, "interrupted": asdict(first), "rerun": rerun}


@dataclass(frozen=True)
class SharedStudy:
    """The reproduced smoke study: its folder, the environment of its commands, the files under
    reports/ before the repro, the interrupted first `dvc repro` and the output of the second."""
    dst: Path
    env: dict
    reports_before: set[str]
    interrupted: Interrupted
    rerun: str


def shared_study(tmp_path_factory) -> SharedStudy:
    """The smoke study, built once per test session: in the temp folder that all xdist workers
    share, under an exclusive lock; a failed build leaves no marker, so each worker that asks
    fails with the build's own error."""
    env = study_env()
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent   # the session's folder, above each worker's own
    dst, marker = base / "shared-study", base / "shared-study.json"
    with open(base / "shared-study.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            for folder in (dst, base / "shared-study-scratch"):
                shutil.rmtree(folder, ignore_errors=True)
            dst.mkdir()
            marker.write_text(json.dumps(build_study(dst, env, base / "shared-study-scratch")))
    built = json.loads(marker.read_text())
    return SharedStudy(dst, env, set(built["reports_before"]), Interrupted(**built["interrupted"]),
                       built["rerun"])


def copy_study(study: SharedStudy, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the reproduced study (workspace, git repo, DVC cache) that a test may change."""
    dst = tmp_path / "study"
    shutil.copytree(study.dst, dst, symlinks=True)
    return dst, study.env
