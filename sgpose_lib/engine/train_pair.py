"""`sgpose train-pair PAIR`: the two runs of one `train_pairs` entry of params.yaml, trained side
by side (dvc.yaml's train stage); with `--ablations`, of one `ablation_pairs` entry of
ablations/params.yaml, each by `sgpose train` (ablations/dvc.yaml's train stage).

Each run is the study's train notebook, executed by papermill into `runs/<run>/train/train.ipynb`
with the run's track, variant, radius and seed from `runs` and one torch thread (`-p threads 1`).
On a 2-core machine two one-thread runs side by side train more images per second than one
two-thread run after the other: each small convolution of the `cpu` profile's HRNet keeps one core
busy without the two threads' synchronisation (`sgpose bench --side-by-side`). The thread count
is part of a run's numerics (it orders the convolutions' sums): each run's config records
train.threads = 1.

Both runs go on to their end when one fails (a finished epoch is never lost); the command then
fails naming the runs that failed, and `dvc repro` runs the pair again: the finished run finds
its last epoch done, the failed one resumes from its last.pt. Every line a run
prints is prefixed with `[<run>] `.
"""
from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError, TrainingError
from ..params import ablation_matrix, read_params, study_matrix

PAIR_THREADS = 1  # torch threads of each run of a pair


def notebook_command(run: str, entry: dict, profile: str, params_file: str | Path,
                     threads: int = PAIR_THREADS) -> list[str]:
    """The papermill command that trains `run` (an entry of `runs`: track, variant, radius, seed)
    into runs/<run>/train with `threads` torch threads."""
    out = f"runs/{run}/train"
    return [sys.executable, "-m", "papermill", "notebooks/train.ipynb", f"{out}/train.ipynb",
            "-k", "python3", "--log-level", "WARNING", "--no-progress-bar",
            "-p", "profile", profile, "-p", "track", entry["track"],
            "-p", "variant", entry["variant"], "-p", "radius", str(entry["radius"]),
            "-p", "seed", str(entry["seed"]), "-p", "out", out,
            "-p", "params_file", str(params_file), "-p", "threads", str(threads)]


def _relay(name: str, stream, sink: TextIO, lock: threading.Lock) -> None:
    """Copy the lines of a child's output to `sink`, each prefixed with `[name] `, until it ends."""
    with stream:
        for line in stream:
            with lock:
                sink.write(f"[{name}] {line}")
                sink.flush()


def run_side_by_side(commands: dict[str, list[str]],
                     sink: TextIO | None = None) -> dict[str, int]:
    """Run every command of `commands` (name -> argv) at once, from the current folder, their
    lines relayed to `sink` (default: stdout); the exit status of each when all have ended.
    Ctrl-C is passed on to the commands, then waited for."""
    sink, lock = sink or sys.stdout, threading.Lock()
    procs, relays = {}, []
    for name, argv in commands.items():
        procs[name] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, bufsize=1)
        relay = threading.Thread(target=_relay, args=(name, procs[name].stdout, sink, lock))
        relay.start()
        relays.append(relay)
    try:
        codes = {name: proc.wait() for name, proc in procs.items()}
    except KeyboardInterrupt:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            proc.wait()
        raise
    finally:
        for relay in relays:
            relay.join()
    return codes


def ablation_command(run: str, entry: dict, threads: int = PAIR_THREADS) -> list[str]:
    """The `sgpose train` command that trains the ablation `run` (an entry of ablation_runs: seed
    and `set`, shell-quoted `--set` assignments on the `sg` variant at r = 5) into
    ablations/runs/<run>/train with `threads` torch threads, resuming a finished run unchanged."""
    return [sys.executable, "-m", "sgpose_lib.cli", "train", "--track", "mpii", "--variant", "sg",
            "--radius", "5", "--seed", str(entry["seed"]),
            "--set", *shlex.split(entry["set"]), f"train.threads={threads}",
            "--out", f"ablations/runs/{run}/train", "--resume", "--restart", "--quiet"]


def train_pair(pair: str, profile: str | None = None, params_file: str | Path = "params.yaml",
               ablation_params: str | Path | None = None) -> dict[str, int]:
    """Train the two runs of train_pairs[`pair`] of `params_file` side by side (see the module's
    docstring), or, with `ablation_params` (ablations/params.yaml), of its ablation_pairs[`pair`]
    (each by `sgpose train`, as ablations/dvc.yaml's train stage); TrainingError naming the
    runs that failed. ConfigError for an unknown pair or a bad matrix."""
    params = read_params(params_file)
    if ablation_params:
        key, source = "ablation_pairs", ablation_params
        runs, pairs = ablation_matrix(ablation_params)
    else:
        key, source = "train_pairs", params_file
        runs, pairs = study_matrix(params, params_file)
    if not pairs:
        raise ConfigError(f"{source}: no {key} section (the pipeline trains its runs pair by pair)")
    if pair not in pairs:
        raise ConfigError(f"{pair!r} is not one of the {key} of {source}: {sorted(pairs)}")
    profile = profile or params.get("profile", "cpu")
    commands = {}
    for run in pairs[pair]:
        if ablation_params:
            commands[run] = ablation_command(run, runs[run])
        else:
            Path("runs", run, "train").mkdir(parents=True, exist_ok=True)
            commands[run] = notebook_command(run, runs[run], profile, params_file)
    codes = run_side_by_side(commands)
    failed = [f"{run} (exit {code})" for run, code in codes.items() if code]
    if failed:
        raise TrainingError(f"{key}.{pair}: {', '.join(failed)} failed (its lines above, "
                            f"prefixed with its name); `dvc repro` resumes from the last epoch")
    return codes
