"""sgpose: HRNet with segmentation-guided attention (Tang et al., 2024), a reproducible study.

Importing the package, before torch loads, chooses the OpenMP wait policy (see `openmp`: passive
waiting when other processes keep the cores busy, the default otherwise; results are the same) and,
with SGPOSE_CPU_ISA=avx2, pins torch's CPU kernels to AVX2 (see `numerics`: the same bits on every
x86-64 machine with AVX2).
"""
from .numerics import pin_cpu_isa
from .openmp import choose_wait_policy

choose_wait_policy()
pin_cpu_isa()
