"""The CPU instruction set of torch's kernels, pinned on request so that a run gives the same bits
on every x86-64 machine with AVX2.

torch picks its CPU kernels by the widest instruction set the processor has (ATen's dispatch,
AVX2 or AVX-512, and oneDNN's JIT-compiled convolutions likewise), and kernels of different
widths add up in different orders: the same seed trained on an AVX-512 and on an AVX2-only
machine gives different weights, and a different PCKh (README, "Same numbers on another
machine"). The thread count changes the order of reductions too; the `cpu` profile fixes it
(train.threads: 2), whatever the machine's cores.

With SGPOSE_CPU_ISA=avx2 in the environment, importing sgpose_lib sets ATEN_CPU_CAPABILITY=avx2,
ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (each unless already set), so that an
AVX-512 machine computes what an AVX2 one does. The default, "native", leaves the dispatch alone:
the committed study was trained that way. As with `openmp`, it only acts when sgpose_lib is
imported before torch (the CLI and the notebooks do). environment.json records the dispatch level
torch used (`cpu_capability`) and these variables.
"""
from __future__ import annotations

import os
import warnings

CHOICE_VARIABLE = "SGPOSE_CPU_ISA"   # "native" (default) or "avx2"
AVX2_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def pin_cpu_isa(environ=os.environ) -> dict[str, str]:
    """With SGPOSE_CPU_ISA=avx2, set the AVX2_PIN variables not already set in `environ`; returns
    those set. A value other than "native" or "avx2" is warned about and changes nothing."""
    choice = environ.get(CHOICE_VARIABLE, "native").strip().lower()
    if choice == "native":
        return {}
    if choice != "avx2":
        warnings.warn(f"{CHOICE_VARIABLE}={environ[CHOICE_VARIABLE]!r} is not 'native' or "
                      "'avx2': the CPU dispatch is left as it is", stacklevel=2)
        return {}
    pinned = {k: v for k, v in AVX2_PIN.items() if k not in environ}
    environ.update(pinned)
    return pinned
