"""sgpose: HRNet with segmentation-guided attention (Tang et al., 2024), a reproducible study.

Importing the package chooses the OpenMP wait policy before torch loads (see `openmp`): passive
waiting when other processes keep the cores busy, the default otherwise; results are the same.
"""
from .openmp import choose_wait_policy

choose_wait_policy()
