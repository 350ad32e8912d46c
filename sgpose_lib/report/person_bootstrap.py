"""SG − baseline with both sources of uncertainty: a two-stage bootstrap over seeds, then persons.

The t-interval over seeds (stats.py) treats each run's score as exact, though it is measured on
a few hundred validation persons. The two-stage bootstrap resamples both: seed pairs with
replacement, then, within each drawn pair, the validation persons with replacement (the same
persons for its two runs: they are paired), and recomputes the mean SG − baseline:

    for b in 1..B:  S* = n pairs drawn from the n;  for each s in S*: P* = N persons drawn
                    d*_s = m(SG_s[P*]) − m(base_s[P*]);   d*_b = mean over S* of d*_s
    CI = the 2.5 % and 97.5 % percentiles of d*_b

m is the track's score of a set of persons from its `eval/persons.json`: PCKh Mean
= 100 · Σ correct / Σ counted (MPII track), mean OKS × 100 (COCO track). With few seeds it is a
view (it inherits the bootstrap's narrowness over seeds), labelled as such beside the verdict's
t-interval; it shows how much of the spread the validation set adds.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .runs import Study
from .validate import read_object


def person_scores(persons: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
    """(numerator, denominator) per person of a persons.json, whose sums give the score (x 100):
    MPII (correct, counted); COCO (OKS, 1), undefined OKS as (0, 0). None when it has none."""
    if persons.get("correct") is not None:
        return (np.asarray(persons["correct"], np.float64),
                np.asarray(persons["counted"], np.float64))
    oks = np.array([math.nan if v is None else v for v in persons.get("oks") or []], np.float64)
    if oks.size == 0:
        return None
    ok = np.isfinite(oks)
    return np.where(ok, oks, 0.0), ok.astype(np.float64)


def two_stage_ci(pairs: Mapping[int, tuple], n_resamples: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Two-stage percentile bootstrap CI (x 100) of the mean SG − baseline over seed pairs;
    `pairs`: seed -> ((num, den) of SG, (num, den) of the baseline), each (N,) over the same N
    persons. (nan, nan) without pairs."""
    if not pairs:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    keys = sorted(pairs)
    stacked = np.stack([np.stack([pairs[k][0][0], pairs[k][0][1], pairs[k][1][0], pairs[k][1][1]])
                        for k in keys])                                   # (n, 4, N)
    n, _, persons = stacked.shape
    drawn = rng.integers(0, n, size=(n_resamples, n))                      # seeds
    idx = rng.integers(0, persons, size=(n_resamples, n, persons))        # persons per pair
    sample = np.take_along_axis(stacked[drawn], idx[:, :, None, :], axis=3)  # (B, n, 4, N)
    sums = sample.sum(axis=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = 100.0 * (sums[..., 0] / sums[..., 1] - sums[..., 2] / sums[..., 3])  # (B, n)
    means = np.nanmean(diff, axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def study_two_stage(study: Study, n_resamples: int = 2000) -> dict:
    """Per track, the two-stage CI of SG − baseline (standard decoder) from each run's
    eval/persons.json: {'lo', 'hi', 'pairs', 'persons'}; tracks without the files left out."""
    out = {}
    for track in ("mpii", "coco"):
        runs = {}
        for r in study.used:
            group = {(track, study.baseline, None): "baseline",
                     (track, study.sg, study.sg_radius): "sg"}.get(r.group)
            path = r.folder / "eval" / "persons.json"
            if group is not None and path.is_file():
                scores = person_scores(read_object(path))
                if scores is not None:
                    runs[(group, r.seed)] = scores
        pairs = {s: (runs[("sg", s)], runs[("baseline", s)]) for (g, s) in runs
                 if g == "sg" and ("baseline", s) in runs
                 and len(runs[("sg", s)][0]) == len(runs[("baseline", s)][0])}
        if pairs:
            lo, hi = two_stage_ci(pairs, n_resamples, study.seed)
            out[track] = {"lo": lo, "hi": hi, "pairs": len(pairs),
                          "persons": int(len(next(iter(pairs.values()))[0][0]))}
    return out
