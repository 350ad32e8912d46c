"""sgpose: HRNet with segmentation-guided attention (Tang et al., 2024), a reproducible study.

Importing the package, before torch loads, chooses the OpenMP wait policy (see `openmp`: passive
waiting when other processes keep the cores busy, the default otherwise; results are the same) and
pins torch's CPU kernels to AVX2 on an x86-64 processor that has it (see `numerics`: the same bits
on every such machine; SGPOSE_CPU_ISA=native leaves the dispatch alone).
"""
from .numerics import pin_cpu_isa
from .openmp import choose_wait_policy

choose_wait_policy()
pin_cpu_isa()
