"""The OpenMP wait policy, chosen before torch loads its OpenMP runtime.

torch's CPU ops run on OpenMP threads that spin after each parallel region (GNU OpenMP's active
wait). On an idle machine that is fastest; when another CPU-bound process shares the cores, the
spinning threads take the time that process and their own sibling thread need, and training falls
to about a quarter of its idle speed (`sgpose bench --shared-load`: the cpu profile's train step at
26 % of idle with the default, 45 % with OMP_WAIT_POLICY=PASSIVE, which costs 25 % when idle).

`choose_wait_policy` therefore sets OMP_WAIT_POLICY=PASSIVE when, as sgpose_lib is imported, other
processes keep at least one core busy, and leaves the default otherwise. The policy only decides
how idle threads wait: the arithmetic, and so every result, is the same under either. An explicit
OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment is always kept, and SGPOSE_WAIT_POLICY=keep
turns the choice off (the bench uses it to time OpenMP's own default). It has no effect when torch
was imported before sgpose_lib (the runtime has then already read the environment). A load that
starts after the import is not seen.
"""
from __future__ import annotations

import os
import time

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
CHOICE_VARIABLE = "SGPOSE_WAIT_POLICY"  # "keep": leave OpenMP's default alone
SAMPLES, INTERVAL_S = 5, 0.01   # procs_running read 5 times, 10 ms apart (50 ms in all)


def others_running(samples: list[int]) -> int:
    """Runnable tasks besides this process: the median of /proc/loadavg's procs_running samples
    (each counts this process itself) minus one, at least 0."""
    ordered = sorted(samples)
    return max(ordered[len(ordered) // 2] - 1, 0)


def read_procs_running(path: str = "/proc/loadavg") -> int | None:
    """The number of runnable tasks now (4th field of /proc/loadavg, 'running/total'); None where
    the file does not exist (not Linux) or cannot be read."""
    try:
        with open(path) as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def choose_wait_policy(environ=os.environ) -> str | None:
    """Set OMP_WAIT_POLICY=PASSIVE in `environ` when other processes keep a core busy and no wait
    variable is set already (nor SGPOSE_WAIT_POLICY=keep); returns the policy set, or None."""
    if any(name in environ for name in WAIT_VARIABLES) or environ.get(CHOICE_VARIABLE) == "keep":
        return None
    samples = []
    for i in range(SAMPLES):
        value = read_procs_running()
        if value is None:
            return None
        samples.append(value)
        if i + 1 < SAMPLES:
            time.sleep(INTERVAL_S)
    if others_running(samples) >= 1:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    return None
