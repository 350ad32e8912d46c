"""The CPU instruction set of torch's kernels, pinned to AVX2 so that an AVX-512 machine trains the
bits an AVX2-only one does. It does not make two CPU vendors agree: an Intel Xeon and an AMD EPYC,
both pinned, give the same loss at a run's first step (the forward pass) but not from the second
on (oneDNN and MKL may still pick backward kernels by vendor or cache size; README, "Same numbers
on another machine").

torch picks its CPU kernels by the widest instruction set the processor has (ATen's dispatch,
AVX2 or AVX-512, and oneDNN's JIT-compiled convolutions and MKL's BLAS likewise), and kernels of
different widths add up in different orders: the same seed trained on an AVX-512 and on an
AVX2-only machine gives different weights, and a different PCKh (README, "Same numbers on another
machine"). The thread count changes the order of reductions too; the `cpu` profile fixes it
(train.threads: 2), whatever the machine's cores.

Importing sgpose_lib (before torch: the CLI, the pipelines and the notebooks do) applies
SGPOSE_CPU_ISA:
- "avx2", the default on a Linux x86-64 machine whose /proc/cpuinfo lists avx2: sets
  ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (each unless
  already set), so that an AVX-512 machine computes what an AVX2 one does;
- "native", the default elsewhere (ARM, other systems, x86-64 without AVX2): the dispatch is left
  alone.
The variables in effect (`dispatch()`) are part of a run's identity: a checkpoint records them,
and a CPU run is not continued under others (engine/train.py). environment.json records them with
the level torch used (`cpu_capability`).
"""
from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

CHOICE_VARIABLE = "SGPOSE_CPU_ISA"   # "avx2" or "native"; unset: default_choice()
AVX2_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def has_avx2(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the processor lists the avx2 flag in `cpuinfo` (False where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and "avx2" in line.split() for line in text.splitlines())


def default_choice(machine: str | None = None, avx2: bool | None = None) -> str:
    """"avx2" on an x86-64 processor known to have AVX2, else "native"."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return "native"
    return "avx2" if (has_avx2() if avx2 is None else avx2) else "native"


def pin_cpu_isa(environ=os.environ, default: str | None = None) -> dict[str, str]:
    """Apply SGPOSE_CPU_ISA (unset: `default`, else default_choice()): with "avx2", set the
    AVX2_PIN variables not already set in `environ`; returns those set. Another value is warned
    about and changes nothing."""
    raw = environ.get(CHOICE_VARIABLE)
    choice = (raw if raw is not None else default or default_choice()).strip().lower()
    if choice == "native":
        return {}
    if choice != "avx2":
        warnings.warn(f"{CHOICE_VARIABLE}={raw!r} is not 'native' or 'avx2': the CPU dispatch "
                      "is left as it is", stacklevel=2)
        return {}
    if raw is not None and default_choice() != "avx2":
        warnings.warn(f"{CHOICE_VARIABLE}=avx2 on a processor not known to have AVX2 "
                      f"({platform.machine()}): the CPU dispatch is left as it is", stacklevel=2)
        return {}
    pinned = {k: v for k, v in AVX2_PIN.items() if k not in environ}
    environ.update(pinned)
    return pinned


def dispatch(environ=os.environ) -> dict[str, str | None]:
    """The instruction-set variables in effect (None: unset), the numerics a run is trained with."""
    return {k: environ.get(k) for k in AVX2_PIN}


def dispatch_differences(stored: dict | None, current: dict) -> list[str]:
    """'cpu dispatch KEY: old -> new' for each variable that differs; a checkpoint written before
    the dispatch was recorded (stored None) was trained with none of them set."""
    stored = stored or {k: None for k in AVX2_PIN}
    return [f"cpu dispatch {k}: {stored.get(k)!r} -> {current.get(k)!r}"
            for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)]
