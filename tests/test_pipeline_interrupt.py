"""An interrupted `dvc repro` of the smoke study: the next one reruns no finished stage."""
from __future__ import annotations

import re

import pytest

from pipeline_study import dvc_available

pytestmark = pytest.mark.skipif(not dvc_available(), reason="dvc is not installed beside this Python")


def test_interrupted_dvc_repro_reruns_no_finished_stage(study):
    """Ctrl-C (SIGINT to the process group) while `dvc repro` runs its later stages; the next
    `dvc repro` finishes the pipeline and reruns none of the stages that had completed.

    The shared smoke study is built this way (tests/pipeline_study.py): its first `dvc repro`
    is interrupted as soon as an evaluation starts (a gate holds it, so the interrupt cannot
    come too late), then `dvc repro` runs again to the end; this test reads both outputs. The
    end-to-end test (test_pipeline.py) checks that the study so finished is complete and that a
    third `dvc repro` has nothing left to do."""
    first = study.interrupted
    assert first.returncode != 0, first.output[-2000:]
    assert len(first.reached) == 1, first.reached        # held at the gate: one evaluation
    run = first.reached[0]
    started = re.findall(r"Running stage '([^']+)'", first.output)
    assert started[-1] == f"evaluate@{run}", started     # the one held at the gate
    completed = started[:-1]
    pair = {"mpii": "mpii_s0", "coco": "coco_s0"}[run.split("_")[0]]  # SMOKE_RUNS' train_pairs
    assert f"train@{pair}" in completed and "prepare" in completed, started
    rerun = re.findall(r"Running stage '([^']+)'", study.rerun)
    assert f"evaluate@{run}" in rerun and "report" in rerun, rerun
    assert not set(completed) & set(rerun), (completed, rerun)
