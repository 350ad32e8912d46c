"""What produced a result: package versions, the code's commit, the CPU and its dispatch level.

`environment()` is written beside every run (`environment.json`) and summarised in the reports, so
that a number can be traced to the software and machine that made it. Nothing here changes a result.
"""
from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ..numerics import CHOICE_VARIABLE, dispatch
from ..openmp import WAIT_VARIABLES

PACKAGES = ("torch", "numpy", "opencv-python-headless", "pycocotools", "sgpose")
# generated outputs: their changes do not make the code that produced a result "dirty"
OUTPUTS = ("runs", "reports", "convergence/runs", "ablations/runs", "dvc.lock",
           "ablations/dvc.lock", "convergence/dvc.lock")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(root: str | Path | None = None) -> dict:
    """Versions of the packages that matter, the git commit of `root` (default: this package's
    checkout) and whether its tracked files other than generated OUTPUTS were modified, the CPU
    model, torch's CPU dispatch level and thread count, the OpenMP wait settings in force
    (openmp.py; null = OpenMP's default), the instruction-set variables (numerics.py; null =
    unset), and the CUDA device if any."""
    root = Path(root) if root else Path(__file__).resolve().parents[2]
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", ".",
                   *(f":(exclude){p}" for p in OUTPUTS)], root)
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(),
            "packages": {name: _version(name) for name in PACKAGES},
            "git_commit": _git(["rev-parse", "HEAD"], root),
            "git_dirty": None if status is None else bool(status),
            "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(),
            "openmp_wait": {k: os.environ.get(k) for k in WAIT_VARIABLES},
            "cpu_isa": {CHOICE_VARIABLE: os.environ.get(CHOICE_VARIABLE), **dispatch()},
            "cuda_device": cuda}
