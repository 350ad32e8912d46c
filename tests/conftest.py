"""Shared fixtures: the embedded data prepared once per test session, and smoke configs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sgpose_lib.params import load_config

ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (`make test`: two workers on two cores) every process gets one torch thread:
# each worker, and the CLI, DVC and notebook processes it starts (OMP_NUM_THREADS is inherited;
# the smoke profile keeps torch's default, threads: 0). Two threads per process would put four
# on two cores, where OpenMP's waiting threads take the time the working ones need.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """The two tracks prepared from data/embedded into a session temp folder."""
    from sgpose_lib.data.prepare import prepare
    out = tmp_path_factory.mktemp("prepared")
    prepare(ROOT / "data" / "embedded", out, seed=0)
    return out


@pytest.fixture
def smoke_cfg(prepared):
    """A factory of smoke-profile configs that read the session's prepared data."""
    def make(track: str = "mpii", variant: str = "sg", **train):
        cfg = load_config("smoke", ROOT / "params.yaml", track=track, variant=variant, seed=0)
        cfg.data.root = str(prepared)
        cfg.data.image_root = str(ROOT / "data" / "embedded")
        for key, value in train.items():
            setattr(cfg.train, key, value)
        return cfg
    return make


@pytest.fixture
def smoke_params(prepared, tmp_path) -> Path:
    """A copy of params.yaml whose smoke profile reads the session's prepared data, for tests that
    run the CLI in a subprocess."""
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    params.write_text(text.replace("limit_train: 64, limit_val: 24}",
                                   f"limit_train: 64, limit_val: 24, root: '{prepared}',"
                                   f" image_root: '{ROOT / 'data' / 'embedded'}'}}"))
    return params


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """The smoke study reproduced once per session (shared by xdist workers; a first `dvc repro`
    interrupted, then a second): see tests/pipeline_study.py. Read-only: tests that run DVC in
    it work on `copy_study`."""
    from pipeline_study import shared_study
    return shared_study(tmp_path_factory)


def pytest_collection_modifyitems(items) -> None:
    """The end-to-end pipeline test first, the convergence pipeline second, the interrupt test
    last: under pytest-xdist (`--dist loadfile`) the first worker builds the shared smoke study
    and runs the tests in test_pipeline.py on it, the second runs the convergence pipeline
    (which needs no study) beside that build, then both share the unit tests; the interrupt
    test only reads the built study, so it can never wait for it."""
    order = {"test_pipeline.py": 0, "test_pipeline_convergence.py": 1,
             "test_pipeline_interrupt.py": 3}   # every other file: 2, in collection order
    items.sort(key=lambda item: order.get(item.path.name, 2))
