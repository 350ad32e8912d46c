"""`train_pairs` and `sgpose train-pair`: dvc.yaml's train stage trains the study's runs two at a
time, side by side, one torch thread each. The smoke study (tests/pipeline_study.py) runs the real
command through `dvc repro`; here: the matrix check, the notebook's thread parameter, and the
side-by-side runner with small stand-in commands."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from cli_helpers import run_cli_here
from sgpose_lib.engine import train_pair as tp
from sgpose_lib.errors import ConfigError
from sgpose_lib.engine.run_parameters import check_run_parameters
from sgpose_lib.params import check_runs, read_params, train_stage

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
RUN = {"track": "mpii", "variant": "sg", "radius": 5, "seed": 0}


def _params(pairs) -> dict:
    return {"profiles": {}, "runs": {"r1": RUN, "r2": RUN, "r3": RUN}, "train_pairs": pairs}


def test_every_run_of_the_study_is_in_exactly_one_pair():
    params = read_params(PARAMS)
    runs = check_runs(params, PARAMS)
    members = [run for entry in params["train_pairs"].values() for run in entry.values()]
    assert sorted(members) == sorted(runs)
    # a compared pair (baseline and SG r = 5 of one seed) trains together
    for entry in params["train_pairs"].values():
        a, b = runs[entry["a"]], runs[entry["b"]]
        assert (a["track"], a["seed"]) == (b["track"], b["seed"])
    assert train_stage("mpii_sg_r5_s3", PARAMS) == "train@mpii_s3"
    assert train_stage("coco_baseline_s0", PARAMS) == "train@coco_s0"


@pytest.mark.parametrize("pairs, message", [
    ({"p": {"a": "r1", "b": "r2"}}, "train_pairs: runs ['r3'] are in no pair"),
    ({"p": {"a": "r1", "b": "r2"}, "q": {"a": "r2", "b": "r3"}},
     "train_pairs.q.a: 'r2' is already in train_pairs.p"),
    ({"p": {"a": "r1", "b": "r9"}}, "train_pairs.p.b: 'r9' is not one of the runs"),
    ({"p": {"a": "r1"}}, "train_pairs.p.b: missing"),
    (["r1", "r2"], "train_pairs: expected a mapping"),
])
def test_a_bad_pairing_is_named_in_one_line(pairs, message):
    from sgpose_lib.params import check_train_pairs
    params = _params(pairs)
    with pytest.raises(ConfigError, match="x.yaml: " + message.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(")):
        check_train_pairs(params["train_pairs"], "x.yaml: train_pairs", params["runs"])


def test_the_notebook_thread_parameter_replaces_the_profile_threads():
    assert check_run_parameters(PARAMS, "cpu", "mpii", "sg", 5, 0).train.threads == 2
    assert check_run_parameters(PARAMS, "cpu", "mpii", "sg", 5, 0, threads=1).train.threads == 1
    with pytest.raises(ConfigError, match="threads: -1 must be an integer >= 0"):
        check_run_parameters(PARAMS, "cpu", "mpii", "sg", 5, 0, threads=-1)


def test_notebook_command_is_the_run_of_the_matrix_on_one_thread():
    argv = tp.notebook_command("mpii_sg_r3_s0", {"track": "mpii", "variant": "sg", "radius": 3.0,
                                                  "seed": 0}, "cpu", "params.yaml")
    first = argv.index("-p")
    assert argv[first::3] == ["-p"] * 8
    given = dict(zip(argv[first + 1::3], argv[first + 2::3]))
    assert argv[2:5] == ["papermill", "notebooks/train.ipynb",
                         "runs/mpii_sg_r3_s0/train/train.ipynb"]
    assert given == {"profile": "cpu", "track": "mpii", "variant": "sg", "radius": "3.0",
                     "seed": "0", "out": "runs/mpii_sg_r3_s0/train",
                     "params_file": "params.yaml", "threads": "1"}


def _waits_for(mine: str, other: str, code: int = 0) -> list[str]:
    """A command that writes `mine`, then waits up to 60 s for `other` (exit 9 if it never
    comes), prints a line and exits with `code`: two of them end only when run side by side."""
    script = (f"import pathlib, sys, time; pathlib.Path({mine!r}).touch()\n"
              f"for _ in range(600):\n"
              f"    if pathlib.Path({other!r}).exists(): break\n"
              f"    time.sleep(0.1)\n"
              f"else: sys.exit(9)\n"
              f"print('saw', {other!r}); sys.exit({code})")
    return [sys.executable, "-c", script]


def test_the_two_commands_run_at_the_same_time_and_their_lines_are_named(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    sink = io.StringIO()
    codes = tp.run_side_by_side({"run_a": _waits_for(a, b), "run_b": _waits_for(b, a, 3)}, sink)
    assert codes == {"run_a": 0, "run_b": 3}
    assert sorted(sink.getvalue().splitlines()) == [f"[run_a] saw {b}", f"[run_b] saw {a}"]


def test_train_pair_fails_naming_the_run_that_failed_after_both_ended(tmp_path, monkeypatch):
    params = yaml.safe_load(PARAMS.read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = tmp_path / "done"

    def stand_in(run, entry, profile, params_file, threads=1):
        # the SG run fails at once; the baseline run still goes on to its end
        if "sg" in run:
            return [sys.executable, "-c", "import sys; print('no'); sys.exit(4)"]
        return [sys.executable, "-c", f"import pathlib, time; time.sleep(0.5); "
                                      f"pathlib.Path({str(done)!r}).touch(); print('{profile}')"]
    monkeypatch.setattr(tp, "notebook_command", stand_in)
    result = run_cli_here(["train-pair", "mpii_s2"], cwd=tmp_path)
    assert result.returncode == 2 and done.is_file()
    assert "[mpii_baseline_s2] cpu" in result.stdout and "[mpii_sg_r5_s2] no" in result.stdout
    assert result.stderr == ("sgpose train-pair: error: train_pairs.mpii_s2: mpii_sg_r5_s2 "
                             "(exit 4) failed (its lines above, prefixed with its name); "
                             "`dvc repro` resumes from the last epoch\n")
    assert (tmp_path / "runs" / "mpii_sg_r5_s2" / "train").is_dir()
    missing = run_cli_here(["train-pair", "mpii_s9"], cwd=tmp_path)
    assert missing.returncode == 2 and "'mpii_s9' is not one of the train_pairs" in missing.stderr


def test_ablation_pairs_train_each_run_by_sgpose_train_on_one_thread(tmp_path):
    from sgpose_lib.params import read_ablation_runs
    path = ROOT / "ablations" / "params.yaml"
    runs = read_ablation_runs(path)
    pairs = yaml.safe_load(path.read_text())["ablation_pairs"]
    assert sorted(r for e in pairs.values() for r in e.values()) == sorted(runs)
    for entry in pairs.values():      # the two runs of a pair share their seed
        assert runs[entry["a"]]["seed"] == runs[entry["b"]]["seed"]
    argv = tp.ablation_command("dwa_off_s1", runs["dwa_off_s1"])
    assert argv[1:4] == ["-m", "sgpose_lib.cli", "train"]
    assert argv[argv.index("--seed") + 1] == "1"
    sets = argv[argv.index("--set") + 1:argv.index("--out")]
    assert sets == ['loss.dwa="off"', "train.threads=1"]   # the shell quoting undone
    assert argv[argv.index("--out") + 1:] == ["ablations/runs/dwa_off_s1/train", "--resume",
                                              "--restart", "--quiet"]
    bad = tmp_path / "ablations.yaml"
    bad.write_text("ablation_runs:\n  a_s0: {seed: 0, set: x=1}\n  b_s0: {seed: 0, set: x=2}\n"
                   "ablation_pairs:\n  p: {a: a_s0, b: a_s0}\n")
    with pytest.raises(ConfigError, match=r"ablation_pairs.p.b: 'a_s0' is already in "
                                          r"ablation_pairs.p"):
        read_ablation_runs(bad)
