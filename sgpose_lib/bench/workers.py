"""One measurement in a fresh Python process: what the OpenMP runtime, torch.compile and the
allocator keep within a process cannot carry over from one measurement to the next.

`run_worker(module, job, env)` runs `python -m <module> JOB_JSON` with this very sgpose_lib first
on PYTHONPATH (not another checkout's installed copy) and returns the JSON object of the worker's
last stdout line, or {"error": "worker failed (<exit status>): <last stderr line>"};
`run_workers_together(module, jobs)` runs one worker per job at the same time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # the folder holding this sgpose_lib


def run_worker(module: str, job: dict, env: dict[str, str] | None = None) -> dict:
    """The worker `module`'s JSON result for `job`, run with `env` (default: this process'
    environment), or {"error"} when it exits non-zero."""
    return run_workers_together(module, [job], env)[0]


def run_workers_together(module: str, jobs: list[dict],
                         env: dict[str, str] | None = None) -> list[dict]:
    """The worker `module`'s result for each of `jobs`, all started at once (see run_worker)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    procs = [subprocess.Popen([sys.executable, "-m", module, json.dumps(job)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for job in jobs]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            tail = (stderr.strip().splitlines() or ["no output"])[-1]
            results.append({"error": f"worker failed ({proc.returncode}): {tail}"[:300]})
        else:
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results
