"""The shared-load bench section: the `cpu` profile's training step alone and beside a busy process.

The training step of the `cpu` profile's SG run on the COCO track (hrnet_small, input 96x128
(width x height), batch 32, 2 torch threads, channels_last; `sgpose_lib.engine.step.train_step`
on a random batch) is timed (a) alone and (b) while one other CPU-bound process runs (a busy loop
that the bench starts before and stops after), under each OpenMP wait setting of WAIT_SETTINGS.
An OpenMP thread that finishes its share of an op spins for a while before it sleeps; when another
process wants the core, that spinning takes time from it and from the other thread. Each
measurement runs in a fresh Python process, because the OpenMP runtime reads these variables
once, when torch loads it. Reported: img/s (batch / median step time after two warm-up steps),
the share of the idle default's img/s, and the CPU share of the timed steps (see `timing`).

With `together` = 2 (`pair_config`: one torch thread each), two identical workers run at once, as
`sgpose train-pair` trains the study's runs; their img/s add up, and the busy process makes three
on the two cores.

Run as a module, this file is the worker: `python -m sgpose_lib.bench.shared_load JOB_JSON`
prints one JSON line with the measurement.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch

from ..config import Config, config_from_dict
from ..params import load_config, project_root
from ..openmp import CHOICE_VARIABLE
from ..engine.train_pair import PAIR_THREADS
from .models import bench_model, make_train_step
from .timing import cpu_share, load_average, seconds, settings
from .workers import run_workers_together

WAIT_KEYS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", CHOICE_VARIABLE)  # cleared, then set as below
WAIT_SETTINGS: dict[str, dict[str, str]] = {
    "default": {CHOICE_VARIABLE: "keep"},          # OpenMP's own default (active wait)
    "sgpose (chosen at import)": {},              # what a run gets: sgpose_lib.openmp
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
}
LOADS = ("alone", "busy")  # busy: beside one CPU-bound process
BUSY_LOOP = "while True: pass"
WARMUP_STEPS = 2
PAIR_WAITS = {name: WAIT_SETTINGS[name] for name in ("default", "sgpose (chosen at import)")}


def shared_load_config(params: str | Path | None = None) -> Config:
    """The config of the timed step: the `cpu` profile, COCO track, SG variant, of params.yaml."""
    return load_config("cpu", params or project_root() / "params.yaml", track="coco", variant="sg")


def pair_config(params: str | Path | None = None) -> Config:
    """`shared_load_config` with the threads of a run of a side-by-side pair (PAIR_THREADS)."""
    cfg = shared_load_config(params)
    cfg.train.threads = PAIR_THREADS
    return cfg


def bench_shared_load(cfg: Config, steps: int, log: Callable[[str], None] = print,
                      waits: dict[str, dict[str, str]] = WAIT_SETTINGS, together: int = 1) -> dict:
    """img/s of cfg's training step (model, input size, batch, threads, memory format, loss) over
    `steps` timed steps, alone and beside a busy process, under each OpenMP setting of `waits`;
    each in fresh processes, `together` of them at once (img/s summed over them). Shares are
    relative to the "default" setting run alone."""
    (w, h), sgm = cfg.data.input_size, bool(cfg.model.sgm_sites)
    res: dict = {"settings": settings("cpu", model=cfg.model.preset, input_hw=[h, w],
                                      batch=cfg.train.batch_size, threads=cfg.train.threads,
                                      variant="sg" if sgm else "baseline",
                                      channels_last=cfg.train.channels_last, steps=steps,
                                      warmup_steps=WARMUP_STEPS, together=together),
                 "runs": {}}
    job = {"config": cfg.to_dict(), "steps": steps}
    for name, env in waits.items():
        for load in LOADS:
            run = _run_workers(job, env, busy=load == "busy", together=together)
            res["runs"].setdefault(name, {})[load] = run
            log(f"shared load, {name}, {load}: " + (run["error"] if "error" in run else
                                                    f"{run['img_per_s']:.1f} img/s, CPU share {run['cpu_share']}"))
    reference = res["runs"].get("default", {}).get("alone", {}).get("img_per_s")
    for runs in res["runs"].values():
        for run in runs.values():
            if reference and "img_per_s" in run:
                run["share_of_idle_default"] = run["img_per_s"] / reference
    res["settings"]["load_end"] = load_average()
    return res


def _run_workers(job: dict, wait_env: dict[str, str], busy: bool, together: int) -> dict:
    """`together` measurements at once, in fresh processes with the OpenMP variables `wait_env`
    (and none other), beside a busy-loop process if `busy`: img/s summed, CPU share
    the workers' mean, threads of the first, each worker's JSON under "workers"; {"error"} if one failed."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_KEYS}
    env.update(wait_env)
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        workers = run_workers_together(__name__, [job] * together, env)
    finally:
        if spinner is not None:
            spinner.terminate()
            spinner.wait()
    failed = [w["error"] for w in workers if "error" in w]
    if failed:
        return {"error": failed[0], "env": wait_env}
    if together == 1:
        return {**workers[0], "env": wait_env}
    return {"img_per_s": sum(w["img_per_s"] for w in workers),
            "cpu_share": round(statistics.mean(w["cpu_share"] for w in workers), 2),
            "threads": workers[0]["threads"], "workers": workers, "env": wait_env}


def measure(job: dict) -> dict:
    """The worker: WARMUP_STEPS then job["steps"] timed training steps of job["config"] on CPU."""
    cfg = config_from_dict(job["config"])
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    model = bench_model(cfg.model.preset, bool(cfg.model.sgm_sites), "cpu", cfg.model.num_joints)
    step = make_train_step(model, cfg.train.batch_size, cfg.data.input_size, "cpu",
                           cfg.train.channels_last, cfg)
    for _ in range(WARMUP_STEPS):
        step()
    shares: list[float] = []
    samples = [seconds(step, "cpu", shares) for _ in range(job["steps"])]
    return {"img_per_s": cfg.train.batch_size / statistics.median(samples), "samples_s": samples,
            "cpu_share": cpu_share(shares), "threads": torch.get_num_threads()}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
