"""numerics.py: torch's CPU kernels pinned to AVX2 on request (SGPOSE_CPU_ISA=avx2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgpose_lib import numerics

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_isa_pin_sets_what_is_unset_and_warns_on_a_bad_value():
    env = {"SGPOSE_CPU_ISA": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2_VNNI"}
    assert numerics.pin_cpu_isa(env) == {"ATEN_CPU_CAPABILITY": "avx2",
                                         "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2_VNNI"              # the user's own setting is kept
    assert numerics.pin_cpu_isa({}) == {}                         # native: nothing set
    with pytest.warns(UserWarning, match="SGPOSE_CPU_ISA='avx512' is not 'native' or 'avx2'"):
        assert numerics.pin_cpu_isa({"SGPOSE_CPU_ISA": "avx512"}) == {}


def test_pinned_training_equals_an_avx2_machine_and_records_it(smoke_params, tmp_path):
    """SGPOSE_CPU_ISA=avx2 on this machine gives the bits of a machine whose torch dispatches to
    AVX2 (emulated with ATen's, oneDNN's and MKL's own variables; leaving out oneDNN's or MKL's
    changes the bits of this run here, ATen's alone does not), and environment.json says so."""
    base = {k: v for k, v in os.environ.items()
            if k not in (numerics.CHOICE_VARIABLE, *numerics.AVX2_PIN)}
    envs = {"pinned": {numerics.CHOICE_VARIABLE: "avx2"},
            "avx2 machine": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
    runs = {}
    for name, extra in envs.items():
        out = tmp_path / name.replace(" ", "_")
        subprocess.run([sys.executable, "-m", "sgpose_lib.cli", "train", "--params", str(smoke_params),
                        "--profile", "smoke", "--track", "mpii", "--variant", "sg", "--out",
                        str(out), "--set", "train.epochs=1", "--quiet"],
                       env={**base, "PYTHONPATH": str(ROOT), **extra}, check=True, timeout=300,
                       capture_output=True)
        runs[name] = ((out / "log.jsonl").read_bytes(), (out / "last.pt").read_bytes())
        record = json.loads((out / "environment.json").read_text())
        assert record["cpu_capability"] == "AVX2"
    assert runs["pinned"] == runs["avx2 machine"]
    assert record["cpu_isa"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
