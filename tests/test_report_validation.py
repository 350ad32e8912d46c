"""A damaged per-run file never changes a report silently: `sgpose report` and `sgpose
convergence report` stop with one line naming the file (exit 2, the previous report unchanged
byte for byte), or with --exclude-damaged leave the run out and say so; --runs naming no run is
an error. Run through the CLI's `main` in the test's process (cli_helpers.run_cli_here) on a
small fabricated runs folder: 3 seeds of the baseline and of SG r = 5 on the MPII-style track,
written as training and evaluation write them (engine/run_log.RunLog for the logs and
epochs.csv, json_safe for metrics.json)."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cli_helpers import one_line_error as _one_line_error
from cli_helpers import run_cli_here
from sgpose_lib.engine.checkpoint_io import json_safe
from sgpose_lib.engine.run_log import RunLog
from sgpose_lib.params import load_config

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
GROUPS = ("Head", "Sho", "Elb", "Wri", "Hip", "Kne", "Ank")
EPOCHS, VAL_EVERY = 15, 3
MEANS = {("baseline", 0): 20.0, ("baseline", 1): 22.0, ("baseline", 2): 21.0,
         ("sg", 0): 23.0, ("sg", 1): 27.0, ("sg", 2): 24.5}
DAMAGED = "mpii_sg_r5_s1"  # the run each case damages


def _sgpose(*args, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli_here(args, cwd)




def _metrics(mean: float) -> dict:
    m = {g: mean + k for k, g in enumerate(GROUPS)}
    m.update({"Mean": mean, "Mean@0.1": mean / 4, "pelvis": None, "thorax": None,
              "units": {"PCKh": "percent"}, "settings": {"track": "mpii"}})
    return m


def _write_run(folder: Path, variant: str, seed: int) -> None:
    """A finished, evaluated run as the engine leaves it: config.json, log.jsonl, timing.jsonl,
    epochs.csv (epochs 1..15, validated every 3) and eval/metrics.json."""
    cfg = load_config("smoke", PARAMS, track="mpii", variant=variant, seed=seed)
    cfg.train.epochs, cfg.train.val_every, cfg.train.lr_steps = EPOCHS, VAL_EVERY, (12,)
    train = folder / "train"
    train.mkdir(parents=True)
    (train / "config.json").write_text(json.dumps(cfg.to_dict()))
    (train / "environment.json").write_text(json.dumps({"cpu": "test CPU", "torch_threads": 1,
                                                        "cuda_device": None}))
    log = RunLog(train, enabled=True)
    final = MEANS[variant, seed]
    for e in range(EPOCHS):
        for s in range(2):
            log.write({"kind": "step", "epoch": e, "step": 2 * e + s, "lr": 1e-3,
                       "loss": 1e-3 / (1 + e), "l_key": 1e-3 / (1 + e),
                       "l_seg": 0.5 if variant == "sg" else 0.0, "w_key": 1.0,
                       "w_seg": 1.0 if variant == "sg" else 0.0})
        if (e + 1) % VAL_EVERY == 0:
            log.write({"kind": "val", "epoch": e, "step": 2 * e + 2,
                       **json_safe({k: v for k, v in _metrics(final * (e + 1) / EPOCHS).items()
                                    if k not in ("units", "settings")})})
        log.write({"epoch": e, "seconds": 2.0, "img_per_s": 30.0, "data_wait_share": 0.1},
                  timing=True)
    log.write_epochs(train / "epochs.csv")
    (folder / "eval").mkdir()
    (folder / "eval" / "metrics.json").write_text(json.dumps(json_safe(_metrics(final)),
                                                             indent=2))


def _row(md: str, label: str) -> list[str]:
    """The cells of the Markdown table row `label`."""
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")][1:]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """(folder, params.yaml, runs, the report of the intact runs in <folder>/reports)."""
    root = tmp_path_factory.mktemp("validation")
    params = yaml.safe_load(PARAMS.read_text())
    params["profile"] = "smoke"
    params["runs"] = {}
    for variant in ("baseline", "sg"):
        for seed in (0, 1, 2):
            name = f"mpii_{variant}{'_r5' if variant == 'sg' else ''}_s{seed}"
            params["runs"][name] = {"track": "mpii", "variant": variant, "radius": 5,
                                    "seed": seed}
            _write_run(root / "runs" / name, variant, seed)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    done = _sgpose("report", "--params", root / "params.yaml", "--runs", root / "runs",
                   "--out", root / "reports", cwd=root)
    assert done.returncode == 0, done.stderr
    return root, root / "params.yaml", root / "runs", root / "reports"


@pytest.fixture
def damaged(study, tmp_path):
    """A copy of the runs and of the previous report in tmp_path, for one case to damage."""
    root, params, runs, reports = study
    shutil.copytree(runs, tmp_path / "runs")
    shutil.copytree(reports, tmp_path / "reports")
    return params, tmp_path / "runs", tmp_path / "reports"


def _report_refused(params: Path, runs: Path, out: Path, file: Path, problem: str) -> None:
    """`sgpose report` on the damaged runs: one line naming `file` and `problem`, exit 2, and
    the previous report in `out` unchanged byte for byte, with no staging folder left."""
    before = _snapshot(out)
    done = _sgpose("report", "--params", params, "--runs", runs, "--out", out, cwd=out.parent)
    message = _one_line_error(done, "report")
    assert message.startswith(f"{file}: "), message
    assert problem in message and "--exclude-damaged" in message, message
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "figures", "tables"]


@pytest.mark.parametrize("text, problem", [
    ('"Mean": NaN', "'Mean' is NaN, not a finite number"),
    ('"Mean": "abc"', "'Mean' is \"abc\", not a number"),
    (None, "not complete JSON")])
def test_damaged_metrics_stop_the_report(damaged, text, problem):
    params, runs, out = damaged
    path = runs / DAMAGED / "eval" / "metrics.json"
    raw = path.read_text()
    if text is None:
        path.write_text(raw[: len(raw) // 2])                      # cut mid-file
    else:
        line = next(ln for ln in raw.splitlines() if '"Mean":' in ln)
        path.write_text(raw.replace(line, f"  {text},"))
    _report_refused(params, runs, out, path, problem)


def test_epochs_csv_cut_mid_line_stops_the_report(damaged):
    params, runs, out = damaged
    path = runs / DAMAGED / "train" / "epochs.csv"
    raw = path.read_bytes()
    assert len(raw) > 1400
    path.write_bytes(raw[:-700])                                   # `head -c -700`
    _report_refused(params, runs, out, path, "is cut (no line end)")
    lines = raw.decode().splitlines(keepends=True)                 # cut at a line end: an epoch
    path.write_text("".join(lines[:-1]))                           # short of config.json's 15
    _report_refused(params, runs, out, path, f"{EPOCHS - 1} epochs, but the run was evaluated "
                                             f"after config.json's train.epochs {EPOCHS}")


def test_epochs_csv_non_numeric_cell_stops_the_report_before_any_write(damaged):
    params, runs, out = damaged
    path = runs / DAMAGED / "train" / "epochs.csv"
    rows = list(csv.reader(path.open()))
    rows[3][rows[0].index("val_Mean")] = "abc"                     # epoch 3, validated
    with path.open("w") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    _report_refused(params, runs, out, path, "line 4, column 'val_Mean': 'abc' is not a number")


def test_runs_naming_no_run_is_an_error(study, tmp_path):
    root, params, _, _ = study
    (tmp_path / "empty").mkdir()
    for runs, problem in (("nosuch", "nosuch: runs folder not found"),
                          (tmp_path / "empty", f"{tmp_path / 'empty'}: holds none of the ")):
        done = _sgpose("report", "--params", params, "--runs", runs, "--out", tmp_path / "out",
                       cwd=tmp_path)
        assert _one_line_error(done, "report").startswith(problem)
        done = _sgpose("convergence", "report", "--params", ROOT / "convergence" / "params.yaml",
                       "--runs", runs, "--out", tmp_path / "out", cwd=tmp_path)
        assert _one_line_error(done, "convergence report").startswith(problem)
        assert not (tmp_path / "out").exists()


def test_exclude_damaged_names_the_run_and_n_drops(damaged, study):
    params, runs, out = damaged
    path = runs / DAMAGED / "eval" / "metrics.json"
    path.write_text(path.read_text().replace('"Mean": 27.0', '"Mean": NaN'))
    readme = out.parent / "README.md"
    readme.write_text("<!-- results:start -->\n<!-- results:end -->\n")
    done = _sgpose("report", "--params", params, "--runs", runs, "--out", out, "--readme", readme,
                   "--exclude-damaged", cwd=out.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"sgpose report: run {DAMAGED} excluded (damaged file "
                           "eval/metrics.json: 'Mean' is NaN, not a finite number (an undefined "
                           "value is null))\n")
    summary = json.loads((out / "tables" / "summary.json").read_text())
    assert DAMAGED not in summary["runs_used"] and len(summary["runs_used"]) == 5
    assert summary["runs_excluded"] == {DAMAGED: "eval/metrics.json: 'Mean' is NaN, not a "
                                        "finite number (an undefined value is null)"}
    table1 = (out / "tables" / "table1_pckh.md").read_text()
    assert (f"Missing runs (listed in params.yaml, not used): `{DAMAGED}` (excluded, damaged "
            "file eval/metrics.json: 'Mean' is NaN" in table1)
    assert "SG r=5 n=2 (seeds 0, 2)" in table1
    assert _row(table1, "Ours: SG − baseline (paired by seed)")[-1] == "2"
    previous = (study[3] / "tables" / "table1_pckh.md").read_text()
    assert "Missing runs: none." in previous and "SG r=5 n=3 (seeds 0, 1, 2)" in previous
    assert _row(previous, "Ours: SG − baseline (paired by seed)")[-1] == "3"
    assert "runs_excluded" not in json.loads((study[3] / "tables" / "summary.json").read_text())
    from sgpose_lib.report.page import overview_markdown          # the page's overview
    assert (f"**Missing runs**: `{DAMAGED}` (excluded, damaged file eval/metrics.json: 'Mean' is "
            "NaN" in overview_markdown(summary))
    assert (f"- Missing runs (shown as \"—\"): {DAMAGED} (excluded, damaged file "
            "eval/metrics.json: 'Mean' is NaN" in readme.read_text())        # the headline's
    # the learning curves leave the run out too: n = 2 SG runs at every epoch
    curves = (out / "tables" / "learning_curves.csv").read_text().splitlines()
    head = curves[0].split(",")
    assert {row.split(",")[head.index("sg_n")] for row in curves[1:]} == {"2"}


# --- the convergence report ---------------------------------------------------------------------
def _convergence(tmp_path: Path) -> tuple[Path, Path]:
    """A fixed-length setting of 20 epochs, 2 seeds of each variant, each run's train/ files as
    training writes them: (params.yaml, runs folder)."""
    params = tmp_path / "conv.yaml"
    params.write_text(
        "setting: short\n"
        "settings:\n  short: {profile: cpu, val_every: 5, epochs: {mpii: 20}}\n"
        "runs:\n" + "".join(f"  {v}_s{s}: {{track: mpii, variant: {v}, seed: {s}}}\n"
                            for v in ("baseline", "sg") for s in (0, 1)))
    for v in ("baseline", "sg"):
        for s in (0, 1):
            train = tmp_path / "runs" / f"{v}_s{s}" / "train"
            train.mkdir(parents=True)
            (train / "config.json").write_text(json.dumps({"train": {"epochs": 20,
                                                                     "lr_steps": [16, 19]}}))
            rows = [{"epoch": e, "seconds": 1.0,
                     "val_Mean": (e + 2 * (v == "sg") + s) if e % 5 == 0 else ""}
                    for e in range(1, 21)]
            with (train / "epochs.csv").open("w") as f:
                writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
    return params, tmp_path / "runs"


def test_convergence_report_refuses_a_cut_curve_or_excludes_its_run(tmp_path):
    params, runs = _convergence(tmp_path)
    out = tmp_path / "out"
    assert _sgpose("convergence", "report", "--params", params, "--runs", runs, "--out", out,
                   cwd=tmp_path).returncode == 0
    before = _snapshot(out)
    path = runs / "sg_s1" / "train" / "epochs.csv"
    path.write_bytes(path.read_bytes()[:-3])
    done = _sgpose("convergence", "report", "--params", params, "--runs", runs, "--out", out,
                   cwd=tmp_path)
    assert _one_line_error(done, "convergence report").startswith(
        f"{path}: line 21 is cut (no line end); `--exclude-damaged` leaves run sg_s1 out")
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.yaml", "out", "runs"]
    done = _sgpose("convergence", "report", "--params", params, "--runs", runs, "--out", out,
                   "--exclude-damaged", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "run sg_s1 excluded (damaged file train/epochs.csv: line 21 is cut" in done.stderr
    text = (out / "convergence.md").read_text()
    assert "Excluded runs (a damaged file, left out of every row, n and verdict below): sg_s1 " \
           "(train/epochs.csv: line 21 is cut (no line end))." in text
    assert "sg_s1" not in json.loads((out / "summary.json").read_text())["runs"]
    rows = (out / "convergence.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert {row.split(",")[head.index("sg_n")] for row in rows[1:]} == {"1"}


# --- the swap -----------------------------------------------------------------------------------
def test_a_report_failing_late_leaves_the_previous_one_whole(study, tmp_path, monkeypatch):
    """A report of other runs (one seed fewer) that fails at its figures, after its tables: the
    previous tables, figures and README are all still the previous ones, no staging folder."""
    from sgpose_lib.report import page
    root, params, runs, reports = study
    out = tmp_path / "reports"
    shutil.copytree(reports, out)
    before = _snapshot(out)
    fewer = yaml.safe_load(params.read_text())
    del fewer["runs"]["mpii_sg_r5_s2"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(fewer))

    def fail(*args, **kwargs):
        raise RuntimeError("figure failed")
    monkeypatch.setattr(page, "study_figures", fail)
    with pytest.raises(RuntimeError, match="figure failed"):
        page.build_report(tmp_path / "params.yaml", runs, out, n_resamples=200)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "figures", "tables"]
