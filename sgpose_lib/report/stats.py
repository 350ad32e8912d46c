"""Statistics over seeds: a mean or a paired difference with its 95 % t-interval, the tests
beside it and the smallest effect the comparison can detect (report/formatting.py prints them).

With the few seeds a study can afford, the interval is Student's t (the bootstrap of fewer than
~10 values never leaves their range and is too narrow):

    CI  = x̄ ± t(0.975, n−1) · s / √n                     (`t_interval`)
    p   = paired t-test (scipy.stats.ttest_rel), and, for n ≤ 10, the exact sign-flip p: the
          share of the 2^n sign patterns of the differences whose |mean| ≥ the observed one
          (`sign_flip_p`; for n = 3 it cannot go below 2/8 = 0.25)
    MDE = (t(0.975, n−1) + t(0.80, n−1)) · s / √n          (`mde`: 80 % power, α = 0.05, two-sided)
    n for an effect δ: the smallest n ≥ 2 with MDE(s, n) ≤ δ  (`n_needed`)

The verdict follows the t-interval (`verdict`): *supported* (it excludes 0 in the expected
direction), *contradicted* (it excludes 0 the other way), *not resolved* (it covers 0; `bound`
gives the largest effect it allows). The percentile bootstrap is kept as a labelled second view
(`boot_lo`, `boot_hi`; `bootstrap_ci`), and as the CI over validation persons (n in the hundreds).
Values keep the unit they are given in (PCKh %, AP x 100).
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import t as student_t
from scipy.stats import ttest_rel

CONFIDENCE = 0.95
POWER = 0.80
SIGN_FLIP_MAX_N = 10  # the exact sign-flip p is given up to this n (2^n patterns)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds (or a paired difference) with its 95 % t-interval [lo, hi] (nan when
    n < 2 or the values are constant). For a paired difference also: `p` the paired t-test,
    `p_sign` the exact sign-flip p (n ≤ 10), `mde` the minimum detectable effect. `sd` is the
    sample SD of the values, [boot_lo, boot_hi] the percentile bootstrap view. `n` counts finite
    values; `seeds` lists them."""
    mean: float
    lo: float = math.nan
    hi: float = math.nan
    n: int = 0
    p: float = math.nan
    seeds: tuple = ()
    values: tuple = ()
    sd: float = math.nan
    p_sign: float = math.nan
    mde: float = math.nan
    boot_lo: float = math.nan
    boot_hi: float = math.nan

    @property
    def has_ci(self) -> bool:
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def has_boot(self) -> bool:
        return self.n >= 2 and math.isfinite(self.boot_lo) and math.isfinite(self.boot_hi)

    def scaled(self, k: float) -> "Estimate":
        return Estimate(self.mean * k, self.lo * k, self.hi * k, self.n, self.p, self.seeds,
                        tuple(v * k for v in self.values), self.sd * abs(k), self.p_sign,
                        self.mde * abs(k), self.boot_lo * k, self.boot_hi * k)

    @classmethod
    def from_dict(cls, d: Mapping) -> "Estimate":
        """The Estimate back from its to_dict() form (None = nan)."""
        scalars = ("mean", "lo", "hi", "n", "p", "sd", "p_sign", "mde", "boot_lo", "boot_hi")
        e = {k: (math.nan if v is None else v) for k, v in d.items() if k in scalars}
        e.update({k: tuple(d[k]) for k in ("seeds", "values") if d.get(k) is not None})
        return cls(**e)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"], d["values"] = list(self.seeds), list(self.values)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}


def _finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile t(q, df) (e.g. t(0.975, 2) = 4.303)."""
    return float(student_t.ppf(q, df))


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """x̄ ± t((1 + confidence)/2, n − 1) · s/√n of the finite `values`; (nan, nan) when n < 2
    or s = 0 (constant values: no interval can be estimated)."""
    x = _finite(values)
    if len(x) < 2 or np.ptp(x) == 0:
        return (math.nan, math.nan)
    half = t_quantile((1 + confidence) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return (float(x.mean() - half), float(x.mean() + half))


def bootstrap_ci(values, confidence: float = CONFIDENCE, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (nan values dropped): `n_resamples`
    resamples with replacement drawn by numpy's Generator seeded with `seed`, so the same input
    gives the same interval. Fewer than 2 values: (nan, nan). With fewer than ~10 values it
    never leaves the values' range: a view, not a verdict."""
    x = _finite(values)
    if len(x) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def sign_flip_p(differences) -> float:
    """Exact two-sided sign-flip (permutation) p of paired differences: the share of the 2^n
    sign patterns whose |mean| is at least the observed |mean| (ties count). nan for n = 0 or
    n > 20 (too many patterns). All n differences of one sign give 2/2^n (0.25 for n = 3)."""
    d = _finite(differences)
    if not 0 < len(d) <= 20:
        return math.nan
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    means = np.abs(signs @ d) / len(d)
    observed = abs(d.mean())
    return float(np.mean(means >= observed - 1e-12 * max(1.0, observed)))


def mde(sd: float, n: int, alpha: float = 1 - CONFIDENCE, power: float = POWER) -> float:
    """Minimum detectable effect of a paired t-test: (t(1 − α/2, n−1) + t(power, n−1)) · sd/√n,
    the true mean difference that a two-sided test at level α detects with probability ≈ power.
    nan for n < 2 or a non-finite sd."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    return (t_quantile(1 - alpha / 2, n - 1) + t_quantile(power, n - 1)) * sd / math.sqrt(n)


def n_needed(sd: float, effect: float, alpha: float = 1 - CONFIDENCE, power: float = POWER,
             n_max: int = 100_000) -> int | None:
    """The smallest n ≥ 2 of seed pairs whose MDE (given the SD of the paired differences) is at
    most |effect|; None when sd or effect is not a positive finite number, or n > n_max."""
    if not (math.isfinite(sd) and sd > 0 and math.isfinite(effect) and effect != 0):
        return None
    n = max(2, math.ceil(((1.96 + 0.84) * sd / abs(effect)) ** 2))  # the normal bound: t's is above
    while n > 2 and mde(sd, n - 1, alpha, power) <= abs(effect):
        n -= 1
    while mde(sd, n, alpha, power) > abs(effect):
        n += 1
        if n > n_max:
            return None
    return n


def n_for_half_width(sd: float, half_width: float, confidence: float = CONFIDENCE,
                     n_max: int = 100_000) -> int | None:
    """The smallest n ≥ 2 of seed pairs whose t-interval half-width t(1 − α/2, n−1) · sd/√n is
    at most `half_width` (given the SD of the paired differences); None when sd or half_width is
    not a positive finite number, or n > n_max."""
    if not (math.isfinite(sd) and sd > 0 and math.isfinite(half_width) and half_width > 0):
        return None
    q = 1 - (1 - confidence) / 2
    n = 2
    while t_quantile(q, n - 1) * sd / math.sqrt(n) > half_width:
        n += 1
        if n > n_max:
            return None
    return n


def summarize(values, seeds: Sequence | None = None, confidence: float = CONFIDENCE,
              n_resamples: int = 10_000, seed: int = 0) -> Estimate:
    """Mean, t-interval (bootstrap view beside it), SD and n of `values` (nan values dropped;
    all nan: mean nan, n 0)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    seeds = tuple(seeds) if seeds is not None else tuple(range(len(x)))
    ok = np.isfinite(x)
    if not ok.any():
        return Estimate(math.nan, n=0)
    v = x[ok]
    lo, hi = t_interval(v, confidence)
    blo, bhi = bootstrap_ci(v, confidence, n_resamples, seed)
    return Estimate(float(v.mean()), lo, hi, len(v), seeds=tuple(s for s, k in zip(seeds, ok) if k),
                    values=tuple(float(a) for a in v),
                    sd=float(v.std(ddof=1)) if len(v) >= 2 else math.nan,
                    boot_lo=blo, boot_hi=bhi)


def paired_difference(a, b, confidence: float = CONFIDENCE, n_resamples: int = 10_000,
                      seed: int = 0) -> Estimate:
    """The paired difference a − b: mean of the per-pair differences, its t-interval, the paired
    t-test p (n >= 2 and not all differences equal, else nan), the exact sign-flip p (n ≤ 10),
    the SD of the differences and the MDE at 80 % power, α = 0.05; the bootstrap as a view.

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
    lo, hi = t_interval(d, confidence)
    blo, bhi = bootstrap_ci(d, confidence, n_resamples, seed)
    p, sd = math.nan, math.nan
    if len(d) >= 2:
        sd = float(d.std(ddof=1))
        if np.ptp(d) > 0:  # constant differences: t is infinite or 0/0, no test
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                p = float(ttest_rel(x, y).pvalue)
    p_sign = sign_flip_p(d) if 2 <= len(d) <= SIGN_FLIP_MAX_N else math.nan
    return Estimate(float(d.mean()), lo, hi, len(d), p, tuple(keys), tuple(float(v) for v in d),
                    sd=sd, p_sign=p_sign,
                    mde=mde(sd, len(d), 1 - confidence) if math.isfinite(p) else math.nan,
                    boot_lo=blo, boot_hi=bhi)


def verdict(e: Estimate | None, good_if_positive: bool = True) -> str:
    """'supported' (the t-interval excludes 0 in the expected direction), 'contradicted'
    (excludes 0 the other way), 'not resolved' (covers 0), 'no test (n = 1)', 'not measured'."""
    if e is None or e.n == 0 or not math.isfinite(e.mean):
        return "not measured"
    if not e.has_ci:
        return f"no test (n = {e.n})" if e.n < 2 else "no test (constant differences)"
    sign = 1 if good_if_positive else -1
    if sign * e.lo > 0 and sign * e.hi > 0:
        return "supported"
    if sign * e.lo < 0 and sign * e.hi < 0:
        return "contradicted"
    return "not resolved"


def bound(e: Estimate | None, good_if_positive: bool = True) -> float:
    """The largest effect in the expected direction that the t-interval allows (its upper limit,
    or its lower one where smaller is better); nan without an interval."""
    if e is None or not e.has_ci:
        return math.nan
    return e.hi if good_if_positive else e.lo
