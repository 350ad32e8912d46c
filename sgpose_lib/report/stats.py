"""Statistics over seeds: the mean with a percentile bootstrap CI, paired differences, and how
an estimate is printed.

A group is summarised over its seeds by the mean and a 95 % percentile bootstrap CI of the mean
(`bootstrap_ci`: numpy's Generator seeded, so the same input gives the same interval; fewer than 2
values: no CI). SG vs baseline: `paired_difference` over the seeds both have, its bootstrap CI and
a paired t-test (scipy.stats.ttest_rel). Values keep the unit they are given in (PCKh %, AP x 100).
Printing rules: a cell that no run produced is `NO_RUN` ("—"), a metric undefined in every run is
`UNDEFINED` ("n/a"), never a number.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import ttest_rel

NO_RUN = "—"        # no run produced this cell
UNDEFINED = "n/a"   # runs exist, but the metric is undefined (nan) in every one of them


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % bootstrap CI (nan when n < 2); for a paired difference,
    also the paired t-test p-value. `n` counts finite values; `seeds` lists them."""
    mean: float
    lo: float = math.nan
    hi: float = math.nan
    n: int = 0
    p: float = math.nan
    seeds: tuple = ()
    values: tuple = ()

    @property
    def has_ci(self) -> bool:
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)

    def scaled(self, k: float) -> "Estimate":
        return Estimate(self.mean * k, self.lo * k, self.hi * k, self.n, self.p, self.seeds,
                        tuple(v * k for v in self.values))

    @classmethod
    def from_dict(cls, d: Mapping) -> "Estimate":
        """The Estimate back from its to_dict() form (None = nan)."""
        return cls(**{k: (math.nan if v is None else v) for k, v in d.items()
                      if k in ("mean", "lo", "hi", "n", "p")})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"], d["values"] = list(self.seeds), list(self.values)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (nan values dropped): `n_resamples`
    resamples with replacement drawn by numpy's Generator seeded with `seed`, so the same input
    gives the same interval. Fewer than 2 values: (nan, nan), the CI is undefined.
    With 2-3 values the interval is only indicative (it has few distinct resample means)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def summarize(values, seeds: Sequence | None = None, confidence: float = 0.95,
              n_resamples: int = 10_000, seed: int = 0) -> Estimate:
    """Mean, bootstrap CI and n of `values` (nan values dropped; all nan: mean nan, n 0)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    seeds = tuple(seeds) if seeds is not None else tuple(range(len(x)))
    ok = np.isfinite(x)
    if not ok.any():
        return Estimate(math.nan, n=0)
    lo, hi = bootstrap_ci(x[ok], confidence, n_resamples, seed)
    return Estimate(float(x[ok].mean()), lo, hi, int(ok.sum()),
                    seeds=tuple(s for s, k in zip(seeds, ok) if k),
                    values=tuple(float(v) for v in x[ok]))


def paired_difference(a, b, confidence: float = 0.95, n_resamples: int = 10_000,
                      seed: int = 0) -> Estimate:
    """The paired difference a − b: mean of the per-pair differences, its bootstrap CI and the
    paired t-test p-value (scipy.stats.ttest_rel; n >= 2, else nan).

    `a`, `b`: mappings seed -> value (pairs = the seeds in both) or equal-length sequences
    (pairs by position). Pairs with a nan on either side are dropped."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            raise TypeError("paired_difference: pass two mappings or two sequences")
        keys = sorted(set(a) & set(b))
        x = np.array([a[k] for k in keys], dtype=np.float64)
        y = np.array([b[k] for k in keys], dtype=np.float64)
    else:
        x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
        if len(x) != len(y):
            raise ValueError(f"paired_difference: {len(x)} vs {len(y)} values cannot be paired")
        keys = list(range(len(x)))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, keys = x[ok], y[ok], [k for k, m in zip(keys, ok) if m]
    if len(x) == 0:
        return Estimate(math.nan, n=0)
    d = x - y
    lo, hi = bootstrap_ci(d, confidence, n_resamples, seed)
    p = math.nan
    if len(d) >= 2 and np.ptp(d) > 0:  # constant differences: t is infinite or 0/0, no test
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            p = float(ttest_rel(x, y).pvalue)
    return Estimate(float(d.mean()), lo, hi, len(d), p, tuple(keys), tuple(float(v) for v in d))


def fmt_estimate(e: Estimate | None, digits: int = 1, signed: bool = False) -> str:
    """'21.0 [20.0, 22.0]'; n=1: '21.0'; no run: '—'; undefined (nan in every run): 'n/a'."""
    if e is None:
        return NO_RUN
    if e.n == 0 or not math.isfinite(e.mean):
        return UNDEFINED

    def f(v: float) -> str:
        text = f"{v:.{digits}f}"
        if float(text) == 0.0:
            return f"{0:.{digits}f}"          # no '-0.0' or '+0.0'
        return ("+" if signed and v > 0 else "") + text.replace("-", "−")
    text = f(e.mean)
    if e.has_ci:
        text += f" [{f(e.lo)}, {f(e.hi)}]"
    return text


def fmt_p(e: Estimate | None) -> str:
    if e is None:
        return NO_RUN
    if e.n < 2:
        return f"n={e.n}, no test"
    if not math.isfinite(e.p):
        return "n/a (const.)"
    return "<0.001" if e.p < 0.001 else f"{e.p:.3f}"


def fmt_n(e: Estimate | None) -> str:
    if e is None:
        return "0"
    return f"{e.n}, no CI" if e.n == 1 else str(e.n)


def none_if_nan(v):
    """`v` for JSON: None for None or a non-finite float."""
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
