"""One measurement in a fresh Python process: what the OpenMP runtime, torch.compile and the
allocator keep within a process cannot carry over from one measurement to the next.

`run_worker(module, job, env)` runs `python -m <module> JOB_JSON` with this very sgpose_lib first
on PYTHONPATH (not another checkout's installed copy) and returns the JSON object of the worker's
last stdout line, or {"error": "worker failed (<exit status>): <last stderr line>"}.
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
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(job)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker failed ({proc.returncode}): {tail}"[:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])
