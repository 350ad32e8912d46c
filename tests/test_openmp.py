"""The OpenMP wait policy chosen at import: passive when other processes keep a core busy, the
default otherwise, never over the user's own setting, and the same results under either."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgpose_lib import openmp
from sgpose_lib.openmp import choose_wait_policy, others_running, read_procs_running

ROOT = Path(__file__).resolve().parents[1]


def test_others_running_is_the_median_minus_this_process():
    assert others_running([1, 1, 1, 1, 1]) == 0        # only this process runs
    assert others_running([2, 2, 1, 2, 2]) == 1        # one other process keeps a core busy
    assert others_running([1, 1, 4, 1, 1]) == 0        # a blip in one sample is not a load
    assert others_running([0, 0, 0]) == 0


def test_read_procs_running_reads_the_fourth_field(tmp_path):
    good = tmp_path / "loadavg"
    good.write_text("0.52 0.71 1.02 3/120 4242\n")
    assert read_procs_running(str(good)) == 3
    bad = tmp_path / "bad"
    bad.write_text("garbage\n")
    assert read_procs_running(str(bad)) is None
    assert read_procs_running(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("samples, expected", [([2, 2, 3, 2, 2], "PASSIVE"), ([1, 1, 2, 1, 1], None)])
def test_passive_only_when_another_process_runs(monkeypatch, samples, expected):
    values = iter(samples)
    monkeypatch.setattr(openmp, "read_procs_running", lambda: next(values))
    monkeypatch.setattr(openmp, "INTERVAL_S", 0.0)
    env: dict[str, str] = {}
    assert choose_wait_policy(env) == expected
    assert env.get("OMP_WAIT_POLICY") == expected


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "300000"),
                                         ("SGPOSE_WAIT_POLICY", "keep")])
def test_the_users_setting_is_kept(monkeypatch, name, value):
    monkeypatch.setattr(openmp, "read_procs_running", lambda: 5)
    env = {name: value}
    assert choose_wait_policy(env) is None and env == {name: value}


def test_import_beside_a_busy_process_chooses_passive():
    env = {k: v for k, v in os.environ.items() if k not in openmp.WAIT_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out = subprocess.run([sys.executable, "-c", "import os, sgpose_lib; "
                              "print(os.environ.get('OMP_WAIT_POLICY'))"], env=env,
                             capture_output=True, text=True, check=True, timeout=60).stdout
    finally:
        busy.kill()
        busy.wait()
    assert out.strip() == "PASSIVE"


def test_training_is_bit_identical_under_either_policy(smoke_params, tmp_path):
    """Only how idle threads wait changes: the smoke run's log and weights are the same bytes
    (two threads, so that threads do wait: the test process's one thread per xdist worker would
    leave nothing to wait for)."""
    runs = {}
    for policy in ("ACTIVE", "PASSIVE"):
        env = {k: v for k, v in os.environ.items() if k not in openmp.WAIT_VARIABLES}
        env.update(PYTHONPATH=str(ROOT), OMP_WAIT_POLICY=policy)
        out = tmp_path / policy
        subprocess.run([sys.executable, "-m", "sgpose_lib.cli", "train", "--params", str(smoke_params),
                        "--profile", "smoke", "--track", "mpii", "--variant", "sg", "--out",
                        str(out), "--set", "train.epochs=1", "train.threads=2", "data.limit_train=32",
                        "data.limit_val=8", "--quiet"], env=env, check=True,
                       timeout=300, capture_output=True)
        runs[policy] = ((out / "log.jsonl").read_bytes(), (out / "last.pt").read_bytes())
    assert runs["ACTIVE"] == runs["PASSIVE"]


def test_each_run_records_the_wait_settings_in_force(monkeypatch):
    """environment.json names the OpenMP wait settings the run started under (null = default)."""
    from sgpose_lib.engine.provenance import environment
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert environment()["openmp_wait"] == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None}

