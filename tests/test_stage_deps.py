"""Every training and evaluation stage of the three pipelines lists, among its `deps`, each
sgpose_lib module that its command imports, directly or through other modules: a module left out
there would let a change of the results pass `dvc repro` unseen (the run would not be retrained).

The imports are read from the source (ast), so the check needs neither torch nor DVC."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# The library modules each stage's command starts from (cli/commands.py imports them in the
# handler of the command the stage runs; the study's and the convergence pipeline's train stages
# run notebooks/train.ipynb).
EVALUATE = ("sgpose_lib.engine.evaluate", "sgpose_lib.engine.checkpoint_io")
STAGES = {
    ("dvc.yaml", "train"): ("notebooks/train.ipynb", "sgpose_lib.engine.train_pair"),
    ("dvc.yaml", "evaluate"): EVALUATE,
    ("ablations/dvc.yaml", "train"): ("sgpose_lib.params", "sgpose_lib.engine.train",
                                      "sgpose_lib.engine.train_pair"),
    ("ablations/dvc.yaml", "evaluate"): EVALUATE,
    ("convergence/dvc.yaml", "train"): ("notebooks/train.ipynb",),
}
# imported by every command, and shown not to change any result
RESULT_FREE = {"sgpose_lib/openmp.py"}   # OpenMP wait policy: bit-identical runs (test_openmp)
# the train notebook plots its learning curve with the report's drawing code: that changes the
# figure in the executed notebook, not the run (weights, logs, metrics)
DISPLAY_ONLY = {("dvc.yaml", "train"): "sgpose_lib/report/",
                ("convergence/dvc.yaml", "train"): "sgpose_lib/report/"}


def _module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(tree: ast.AST, package: str) -> set[str]:
    """The sgpose_lib modules named by the imports of `tree` (top level and inside functions), as
    dotted names; `package` resolves relative imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}   # `from pkg import submodule`
    return {n for n in names if n.split(".")[0] == "sgpose_lib" and _module_file(n) is not None}


def _notebook_tree(path: Path) -> ast.AST:
    cells = json.loads(path.read_text())["cells"]
    return ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))


def imported_files(entries: tuple[str, ...]) -> set[str]:
    """Repo-relative paths of every sgpose_lib module the entries import, transitively, with the
    `__init__.py` of each package on the way (Python runs them on import)."""
    todo, seen = [], set()
    for entry in entries:
        if entry.endswith(".ipynb"):
            todo += _imports(_notebook_tree(ROOT / entry), "")
        else:
            todo.append(entry)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:k]))
            rel = path.relative_to(ROOT).as_posix()
            if rel in seen:
                continue
            seen.add(rel)
            package = ".".join(parts[:k]) if path.name == "__init__.py" else ".".join(parts[:k - 1])
            todo += _imports(ast.parse(path.read_text()), package)
    return seen


def _stage_deps(pipeline: str, stage: str) -> list[str]:
    spec = yaml.safe_load((ROOT / pipeline).read_text())["stages"][stage]
    return (spec.get("do") or spec)["deps"]


@pytest.mark.parametrize("pipeline,stage", sorted(STAGES))
def test_stage_deps_cover_every_imported_module(pipeline, stage):
    deps = [d.rstrip("/") for d in _stage_deps(pipeline, stage) if isinstance(d, str)]
    files = imported_files(STAGES[(pipeline, stage)])
    assert "sgpose_lib/engine/train.py" in files or stage == "evaluate"
    display = DISPLAY_ONLY.get((pipeline, stage), "//")
    missing = sorted(f for f in files - RESULT_FREE if not f.startswith(display)
                     and not any(f == d or f.startswith(d + "/") for d in deps))
    assert not missing, f"{pipeline} stage {stage}: add to its deps: {missing}"


def test_import_reader_follows_relative_and_lazy_imports():
    """Hand-checked on engine/train.py: `from .step import ...` (relative), `from ..losses import`
    (two levels), and the package's __init__.py (which pins the CPU kernels, numerics.py)."""
    files = imported_files(("sgpose_lib.engine.train",))
    for rel in ("sgpose_lib/__init__.py", "sgpose_lib/numerics.py", "sgpose_lib/engine/step.py",
                "sgpose_lib/losses.py", "sgpose_lib/config_fields.py", "sgpose_lib/model/sgm.py"):
        assert rel in files, rel
    assert not any(f.startswith("sgpose_lib/report/") for f in files)
