"""An interrupted `dvc repro` of the smoke study: the next one reruns no finished stage."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_study import copy_study, dvc_available, sh

pytestmark = pytest.mark.skipif(not dvc_available(), reason="dvc is not installed beside this Python")


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
    `dvc repro` reruns none of the stages that had completed.

    No race: the interrupted `dvc repro` finds first on its PATH an `sgpose` that, for
    `sgpose evaluate`, marks that it was reached and waits at a gate before it hands over to the
    real one; the test interrupts once the first evaluation is held there (the training before
    it has landed), so `dvc repro` cannot finish first. dvc.yaml stays as it is, so no stage of
    the reproduced study goes stale but the one run changed here."""
    import re
    import signal
    dst, env = copy_study(study, tmp_path)
    gated = tmp_path / "gated-bin"
    gated.mkdir()
    (gated / "sgpose").write_text(GATE.format(
        python=sys.executable, sgpose=str(Path(sys.executable).parent / "sgpose")))
    (gated / "sgpose").chmod(0o755)
    params = (dst / "params.yaml").read_text()
    run = "coco_baseline_s0: {track: coco, variant: baseline, radius: 5, seed: "
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
    assert [p.name for p in gate.glob("reached-*")] == ["reached-coco_baseline_s0"]
    started = re.findall(r"Running stage '([^']+)'", output)
    assert started[-1] == "evaluate@coco_baseline_s0", started   # the one held at the gate
    completed = started[:-1]
    assert "train@coco_baseline_s0" in completed, started

    # the next repro, up to the stage after the interrupted one (the report after it is a
    # stage like any other, and costs half a minute): the finished training is not rerun
    rerun = sh(["dvc", "repro", "analyze@coco_baseline_s0"], dst, env)
    rerun_stages = re.findall(r"Running stage '([^']+)'", rerun)
    assert rerun_stages and not set(completed) & set(rerun_stages), (completed, rerun_stages)
    assert rerun_stages == ["evaluate@coco_baseline_s0", "analyze@coco_baseline_s0"], rerun_stages
    status = sh(["dvc", "status", "dvc.yaml"], dst, env)
    stale = {line.strip().rstrip(":") for line in status.splitlines()
             if line and not line.startswith(("\t", " "))}
    assert stale == {"report"}, status   # all else up to date: nothing lost, nothing half-done
    cfg = json.loads((dst / "runs" / "coco_baseline_s0" / "train" / "config.json").read_text())
    assert cfg["train"]["seed"] == 7
    assert (dst / "runs" / "coco_baseline_s0" / "eval" / "metrics.json").is_file()
