"""engine/runtime.compile_cache: torch.compile's on-disk kernels, one folder per CPU dispatch, so
that kernels compiled under one dispatch (numerics.py) are never loaded under another."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sgpose_lib import numerics
from sgpose_lib.engine.runtime import compile_cache, dispatch_folder

ROOT = Path(__file__).resolve().parents[1]

# the path `sgpose evaluate` takes above its compile threshold (compile_for_set of a BN-folded
# channels_last model), on a two-conv model; prints the largest difference from the eager model
EVALUATE_COMPILED = """
import sgpose_lib, torch
from sgpose_lib.config import Config
from sgpose_lib.engine.inference import compile_for_set
from sgpose_lib.model.fuse import prepare_for_inference

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1))
    def forward(self, x):
        return self.body(x), []

torch.manual_seed(0)
cfg = Config()
cfg.eval.compile, cfg.eval.batch_size, cfg.data.mpii_image_size = "on", 2, [16, 16]
model = prepare_for_inference(Net().eval(), channels_last=True, fuse_bn=True)
compiled, was_compiled = compile_for_set(model, cfg, samples=2, flip=False)
x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    print(was_compiled, float((compiled(x)[0] - model(x)[0]).abs().max()))
"""


def test_compile_cache_is_one_folder_per_dispatch(monkeypatch, tmp_path):
    """The folder is $TORCHINDUCTOR_CACHE_DIR (else ~/.cache/sgpose/inductor) / the dispatch's
    name, set for the compiler; a second call keeps it; the name follows oneDNN's cap."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    folder = compile_cache()
    assert folder == tmp_path / "cache" / dispatch_folder()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    assert compile_cache() == folder
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "sgpose" / "inductor"
    assert compile_cache() == home_cache / dispatch_folder()
    aten = f"aten-{torch.backends.cpu.get_cpu_capability().lower()}"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert dispatch_folder() == f"{aten}_onednn-avx2"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert dispatch_folder() == f"{aten}_onednn-native"


@pytest.mark.skipif("avx512f" not in Path("/proc/cpuinfo").read_text(errors="ignore")
                    if Path("/proc/cpuinfo").exists() else True,
                    reason="needs a processor with AVX-512, whose native dispatch differs from "
                           "the pin")
def test_kernels_compiled_natively_are_not_loaded_under_the_pin(tmp_path):
    """A native (AVX-512) evaluation, then one under the default AVX2 pin, with one cache folder:
    each compiles its own kernels and equals its eager model. Sharing the kernels, the pinned
    process computed wrong heatmaps (off by 0.64 here; the reverse order aborted)."""
    base = {k: v for k, v in os.environ.items()
            if k not in (numerics.CHOICE_VARIABLE, *numerics.AVX2_PIN)}
    base.update(PYTHONPATH=str(ROOT), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))
    for choice in ("native", "avx2"):
        done = subprocess.run([sys.executable, "-c", EVALUATE_COMPILED], capture_output=True,
                              text=True, timeout=300,
                              env={**base, numerics.CHOICE_VARIABLE: choice})
        assert done.returncode == 0, done.stderr[-2000:]
        was_compiled, difference = done.stdout.split()
        assert was_compiled == "True" and float(difference) < 1e-4, (choice, done.stdout)
    assert len(list((tmp_path / "cache").iterdir())) == 2
