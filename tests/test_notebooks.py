"""The notebooks of notebooks/: committed clean (no outputs, no execution counts, no papermill
or editor state), and, executed through papermill at smoke size, the uses of them that the
pipeline does not make. test_pipeline.py's `dvc repro` runs each notebook the way its stage
does (train.ipynb for every run, report.ipynb with the figures and the attention stage's figure
linked, radius_ablation.ipynb with its defaults, attention_maps.ipynb with out_png), and its
end-to-end test checks what they write and show. Here: report.ipynb and attention_maps.ipynb
with their output defaults (scratch or no file; maps drawn from the checkpoints), report.ipynb
without the attention figure and with attention off.

The executions run in a temporary project folder: its params.yaml is the project's with the smoke
profile (1 epoch, one thread, data prepared by the `prepared` fixture) and two runs, trained here
with `sgpose_lib.engine.train.train` and evaluated, so that report.ipynb and attention_maps.ipynb have
checkpoints and metrics to read. Every notebook changes directory to the folder holding
params.yaml above its working directory, so relative paths (and the defaults) resolve inside the
temporary folder; the kernel imports this checkout's sgpose_lib through PYTHONPATH.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUNS = {"mpii_baseline_s0": {"track": "mpii", "variant": "baseline", "radius": 5, "seed": 0},
        "mpii_sg_r5_s0": {"track": "mpii", "variant": "sg", "radius": 5, "seed": 0}}
# what nbstripout removes besides outputs and execution counts
CELL_KEYS_STRIPPED = ("collapsed", "scrolled", "ExecuteTime", "execution", "heading_collapsed",
                      "hidden", "papermill")
NOTEBOOK_KEYS_STRIPPED = ("signature", "widgets", "papermill")


def _ids(paths):
    return [p.name for p in paths]


def _parameters(nb: dict) -> dict:
    """name -> default value of the notebook's `parameters` cell (literals only)."""
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse("".join(cells[0]["source"])).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"train.ipynb", "report.ipynb", "radius_ablation.ipynb",
                                           "attention_maps.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    """What nbstripout would leave: no outputs, no execution counts, no run metadata."""
    nb = json.loads(path.read_text())
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    ids = [cell.get("id") for cell in nb["cells"]]  # before validate(), which fills them in
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: missing or repeated cell ids"
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(json.loads(path.read_text()))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i}: execution count"
        stray = [k for k in CELL_KEYS_STRIPPED if k in cell.get("metadata", {})]
        assert not stray, f"{path.name} cell {i} metadata: {stray}"
        assert "injected-parameters" not in cell.get("metadata", {}).get("tags", []), \
            f"{path.name} cell {i}: papermill's injected parameters were committed"
    stray = [k for k in NOTEBOOK_KEYS_STRIPPED if k in nb.get("metadata", {})]
    assert not stray, f"{path.name} notebook metadata: {stray}"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_defaults_do_not_name_committed_outputs(path):
    """A notebook run with its defaults writes nowhere under reports/ except the scratch
    reports/_work/ (dvc.yaml passes the committed output paths explicitly)."""
    for name, value in _parameters(json.loads(path.read_text())).items():
        if isinstance(value, str) and value.strip("./").startswith("reports"):
            assert value.strip("./").startswith("reports/_work"), \
                f"{path.name}: parameter {name} = {value!r} writes into committed reports/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_papermill_reads_every_parameter(path):
    """papermill's own reading of the parameters cell (`papermill --help-notebook`, and the
    check that warns "Passed unknown parameter") finds each of its assignments: a comment it
    cannot parse (one holding `=`, say) would drop the parameter from its list."""
    translators = pytest.importorskip("papermill.translators")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.reads(path.read_text(), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    found = [p.name for p in translators.PythonTranslator.inspect(cell)]
    assert found == list(_parameters(json.loads(path.read_text()))), path.name


# ------------------------------------------------------------------------ smoke executions
@pytest.fixture(scope="module")
def project(prepared, tmp_path_factory) -> Path:
    """A temporary project: params.yaml (smoke profile, 1 epoch, the two RUNS) and those runs
    trained and evaluated under runs/."""
    from sgpose_lib.params import load_config
    from sgpose_lib.engine.evaluate import evaluate_checkpoint
    from sgpose_lib.engine.train import train

    proj = tmp_path_factory.mktemp("project")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "smoke"
    smoke = params["profiles"]["smoke"]
    smoke["data"].update(root=str(prepared), image_root=str(ROOT / "data" / "embedded"))
    smoke["train"].update(epochs=1, threads=1)
    params["runs"] = RUNS
    params["train_pairs"] = {"mpii_s0": {"a": "mpii_baseline_s0", "b": "mpii_sg_r5_s0"}}
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name, run in RUNS.items():
        cfg = load_config("smoke", proj / "params.yaml", **run)
        train(cfg, proj / "runs" / name / "train", progress=False)
        evaluate_checkpoint(proj / "runs" / name / "train" / "last.pt",
                            proj / "runs" / name / "eval", workers=0)
    return proj


@pytest.fixture
def execute(project, tmp_path, monkeypatch):
    """execute(name, **parameters): run notebooks/<name> with papermill in the temporary project;
    returns the executed notebook's path."""
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures

    def run(name: str, **parameters) -> Path:
        out = tmp_path / name
        papermill.execute_notebook(str(ROOT / "notebooks" / name), str(out),
                                   parameters=parameters, kernel_name="python3", cwd=str(project),
                                   progress_bar=False, log_output=False)
        return out
    return run


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} \
        if folder.is_dir() else set()


def _outputs_text(executed: Path) -> str:
    nb = json.loads(executed.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def test_report_notebook_defaults_write_only_scratch(execute, project):
    before = _files(project / "reports")
    executed = execute("report.ipynb")  # the defaults: out_dir is the scratch reports/_work
    written = _files(project / "reports") - before
    assert written and all(f.startswith("_work/") for f in written), sorted(written)
    work = project / "reports" / "_work"
    for name in ("tables/table1_pckh.md", "tables/summary.json", "README.md",
                 "figures/study/attention_maps.png", "figures/study/pckh_bars.png"):
        assert (work / name).is_file(), name
    summary = json.loads((work / "tables" / "summary.json").read_text())
    assert sorted(summary["runs_used"]) == sorted(RUNS)
    assert "No checkpoint" not in _outputs_text(executed)
    assert "image/png" in _outputs_text(executed)       # the figures embedded


def test_report_notebook_as_the_report_stage_runs_it(execute, project, tmp_path):
    """What the report stage does: -p out_dir <folder> puts everything there, -p link_figures
    True shows the figures as links relative to that folder instead of embedding them, and
    -p attention_png <file> shows the `attention` stage's figure; where that file is missing
    (the stage has not run) the notebook says which stage draws it, and draws nothing itself.
    With the file there the figure is linked: test_pipeline.py's end-to-end test checks that."""
    out = tmp_path / "reports_out"
    png = out / "figures" / "attention" / "attention_maps.png"
    outputs = _outputs_text(execute("report.ipynb", out_dir=str(out), link_figures=True,
                                    attention_png=str(png)))
    assert (out / "tables" / "table1_pckh.md").is_file() and (out / "README.md").is_file()
    assert (out / "figures" / "study" / "pckh_bars.png").is_file()
    assert '<img src=\\"figures/study/pckh_bars.png\\"' in outputs and "image/png" not in outputs
    assert f"No {png}: the `attention` stage of dvc.yaml draws it." in outputs
    assert not (out / "figures" / "study" / "attention_maps.png").exists()   # not drawn


def test_attention_maps_notebook_defaults_write_nothing(execute, project):
    before = _files(project / "reports")
    # out_png's default (None: no file); validation samples by position, as a string "0,5"
    executed = execute("attention_maps.ipynb", n_images=2, indices="0,5")
    assert _files(project / "reports") == before
    assert "image/png" in _outputs_text(executed)
