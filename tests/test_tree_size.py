"""The project's files that git tracks (what a clone holds and what travels to a GPU machine with
the working tree, the embedded data set included) stay under 60 MiB."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 60.0


def test_tracked_files_stay_under_60_mib():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    sizes = {name: (ROOT / name).stat().st_size for name in names if (ROOT / name).is_file()}
    total = sum(sizes.values()) / 2 ** 20
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total < LIMIT_MIB, (f"tracked files: {total:.2f} MiB, over {LIMIT_MIB:g} MiB; the "
                               f"largest: {largest}")
