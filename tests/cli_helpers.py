"""Running the CLI as a user does, for the tests: `sgpose ARGS` in a subprocess on this
worktree's code, and the one-line error contract (exit 2, one line, no traceback)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`sgpose ARGS` in a subprocess running this worktree's code, one thread."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sgpose_lib.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, cwd=cwd)


def one_line_error(done: subprocess.CompletedProcess, command: str) -> str:
    """The message of a one-line CLI error (exit 2, no traceback), without its prefix."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    prefix = f"sgpose {command}: error: "
    assert done.stderr.startswith(prefix), done.stderr
    return done.stderr[len(prefix):].rstrip("\n")
