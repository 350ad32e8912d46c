"""Running the CLI for the tests: `sgpose ARGS` in a subprocess on this worktree's code, as a
user does, or through sgpose_lib.cli.main in the test's own process (the same code without a
new interpreter's seconds of imports), and the one-line error contract (exit 2, one line, no
traceback)."""
from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`sgpose ARGS` in a subprocess running this worktree's code, one thread."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sgpose_lib.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, cwd=cwd)


def run_cli_here(args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`sgpose ARGS` from `cwd` (default: the current folder) through sgpose_lib.cli.main in this
    process: its exit status, stdout and stderr, as run_cli returns them. argparse's exits
    (usage errors, --help) give their status; warnings are written after stderr, as a new
    interpreter prints them (each once per place); the process's torch threads, environment and
    random states (torch's CPU generator, numpy's, Python's) are restored afterwards. An
    exception that is not a user mistake propagates (where the subprocess would print a
    traceback), so it fails the test."""
    from sgpose_lib.cli import main
    out, err = io.StringIO(), io.StringIO()
    threads, environ = torch.get_num_threads(), dict(os.environ)
    states = random.getstate(), np.random.get_state()   # training seeds numpy's
    try:
        with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), torch.random.fork_rng(devices=[]), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse: a usage error (2) or --help (0)
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        os.environ.clear()
        os.environ.update(environ)
    for w in caught:
        err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def one_line_error(done: subprocess.CompletedProcess, command: str) -> str:
    """The message of a one-line CLI error (exit 2, no traceback), without its prefix."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    prefix = f"sgpose {command}: error: "
    assert done.stderr.startswith(prefix), done.stderr
    return done.stderr[len(prefix):].rstrip("\n")
