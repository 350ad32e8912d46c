"""numerics.py: torch's CPU kernels pinned to AVX2 (SGPOSE_CPU_ISA; the default on x86-64 with
AVX2), and a CPU run not continued under another dispatch."""
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
    assert numerics.pin_cpu_isa({"SGPOSE_CPU_ISA": "native"}) == {}
    assert numerics.pin_cpu_isa({}, default="native") == {}
    unset = {}
    assert numerics.pin_cpu_isa(unset, default="avx2") == numerics.AVX2_PIN == unset
    with pytest.warns(UserWarning, match="SGPOSE_CPU_ISA='avx512' is not 'native' or 'avx2'"):
        assert numerics.pin_cpu_isa({"SGPOSE_CPU_ISA": "avx512"}) == {}


def test_the_default_is_avx2_only_where_the_processor_has_it(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\n"
                       "processor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert numerics.has_avx2(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2_like\n")
    assert not numerics.has_avx2(cpuinfo) and not numerics.has_avx2(tmp_path / "missing")
    assert numerics.default_choice("x86_64", avx2=True) == "avx2"
    assert numerics.default_choice("AMD64", avx2=True) == "avx2"
    assert numerics.default_choice("x86_64", avx2=False) == "native"
    assert numerics.default_choice("aarch64", avx2=True) == "native"


def test_dispatch_differences_name_each_variable():
    pinned = dict(numerics.AVX2_PIN)
    assert numerics.dispatch_differences(pinned, pinned) == []
    # a checkpoint from before the dispatch was recorded was trained with nothing set
    assert numerics.dispatch_differences(None, pinned) == [
        "cpu dispatch ATEN_CPU_CAPABILITY: None -> 'avx2'",
        "cpu dispatch MKL_ENABLE_INSTRUCTIONS: None -> 'AVX2'",
        "cpu dispatch ONEDNN_MAX_CPU_ISA: None -> 'AVX2'"]
    assert numerics.dispatch({"ONEDNN_MAX_CPU_ISA": "AVX2", "OTHER": "1"}) == {
        "ATEN_CPU_CAPABILITY": None, "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": None}


@pytest.mark.skipif(numerics.default_choice() != "avx2", reason="needs an x86-64 CPU with AVX2")
def test_pinned_training_equals_an_avx2_machine_and_records_it(smoke_params, tmp_path):
    """The default (SGPOSE_CPU_ISA unset) on this machine gives the bits of a machine whose torch
    dispatches to AVX2 (emulated with ATen's, oneDNN's and MKL's own variables; leaving out
    oneDNN's or MKL's changes the bits of this run here, ATen's alone does not), and
    environment.json says so. A run trained natively is not continued under the pin."""
    base = {k: v for k, v in os.environ.items()
            if k not in (numerics.CHOICE_VARIABLE, *numerics.AVX2_PIN)}
    envs = {"default": {}, "native": {numerics.CHOICE_VARIABLE: "native"},
            "avx2 machine": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}

    def train(name: str, *extra_args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sgpose_lib.cli", "train", "--params", str(smoke_params),
             "--profile", "smoke", "--track", "mpii", "--variant", "sg", "--out",
             str(tmp_path / name.replace(" ", "_")), "--epochs", "1", "--quiet",
             "--set", "data.limit_train=32", "data.limit_val=8", *extra_args],
            env={**base, "PYTHONPATH": str(ROOT), **envs[name]}, timeout=300,
            capture_output=True, text=True)

    runs = {}
    for name in envs:
        assert train(name).returncode == 0
        out = tmp_path / name.replace(" ", "_")
        runs[name] = ((out / "log.jsonl").read_bytes(), (out / "last.pt").read_bytes())
        record = json.loads((out / "environment.json").read_text())
        if name != "native":                 # native: whatever this processor has
            assert record["cpu_capability"] == "AVX2"
        assert record["cpu_isa"]["ONEDNN_MAX_CPU_ISA"] == ("AVX2" if name != "native" else None)
    assert runs["default"] == runs["avx2 machine"]
    envs["native"] = {}                      # the native run continued under the default pin
    resumed = train("native", "--epochs", "2", "--resume")
    assert resumed.returncode != 0
    assert "trained with another config: cpu dispatch ATEN_CPU_CAPABILITY: None -> 'avx2'" in (
        resumed.stderr)
    assert "SGPOSE_CPU_ISA (avx2 or native) chooses the dispatch" in resumed.stderr
    envs["native"] = {numerics.CHOICE_VARIABLE: "native"}   # as it was trained: it continues
    assert train("native", "--epochs", "2", "--resume").returncode == 0
