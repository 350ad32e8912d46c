"""Matplotlib for the report package: the backend, and the one way a figure is written.

Scripts and the CLI draw off-screen (Agg); inside a Jupyter kernel the notebook's inline backend
is kept, so figures show in cells. Every module of the package that draws imports `plt` from here,
so the backend is chosen before pyplot is first imported. `save_figure` writes a PNG at the dpi
the figure asks for (100 for photographs and sample grids, 120-140 for plots).
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and the CLI draw off-screen; notebooks stay inline
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int, close: bool = True, **savefig_kw) -> Path:
    """Write `fig` as `path` (its folder created) at `dpi` dots per inch, passing `savefig_kw`
    (e.g. bbox_inches) to `Figure.savefig`; close the figure unless `close` is False (a caller
    that returns it). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, **savefig_kw)
    if close:
        plt.close(fig)
    return path
