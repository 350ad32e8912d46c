"""Inference over few seeds (report/stats.py): t quantiles, the t-interval, the exact sign-flip p,
the minimum detectable effect and the seed pairs needed, against values computed by hand; a case
where the percentile bootstrap and the t-interval disagree; the verdict words."""
import math

import pytest

from sgpose_lib.report.formatting import fmt_bound, fmt_tests
from sgpose_lib.report.stats import (Estimate, bootstrap_ci, mde, n_for_half_width, n_needed,
                                     paired_difference, sign_flip_p, summarize, t_interval,
                                     t_quantile, verdict)

# the three paired differences SG − baseline (PCKh) of an earlier 3-seed study
DIFFS = [4.93, 1.52, 5.40]


def test_t_quantiles_match_the_tables():
    # Student's t table values
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.80, 2) == pytest.approx(1.0607, abs=1e-4)
    assert t_quantile(0.80, 4) == pytest.approx(0.9410, abs=1e-4)


def test_t_interval_by_hand():
    # mean 3.95; deviations 0.98, -2.43, 1.45 -> s^2 = 8.9678 / 2 = 4.4839, s = 2.117522;
    # s/sqrt(3) = 1.222554; half-width 4.302653 * 1.222554 = 5.260217
    lo, hi = t_interval(DIFFS)
    assert lo == pytest.approx(3.95 - 5.260217, abs=1e-4)
    assert hi == pytest.approx(3.95 + 5.260217, abs=1e-4)
    assert all(math.isnan(v) for v in t_interval([1.0]))
    assert all(math.isnan(v) for v in t_interval([2.0, 2.0, 2.0]))  # s = 0: no interval


def test_bootstrap_and_t_disagree_and_the_verdict_follows_t():
    d = paired_difference(DIFFS, [0.0, 0.0, 0.0])
    # the bootstrap never leaves the range of the 3 differences: it excludes 0 ...
    assert 1.52 - 1e-9 <= d.boot_lo < d.boot_hi <= 5.40 + 1e-9
    assert bootstrap_ci(DIFFS) == (d.boot_lo, d.boot_hi)
    # ... while the t-interval covers 0: t = 3.95 / 1.222554 = 3.2310 with 2 df, p = 0.0839
    assert d.lo < 0 < d.hi
    assert d.p == pytest.approx(0.0839, abs=1e-3)
    assert verdict(d) == "not resolved"
    assert fmt_bound(d) == "the gain is at most +9.2"
    assert fmt_tests(d) == "t-test p = 0.084, sign-flip p = 0.250, the smallest possible at n = 3"


def test_fmt_tests_names_the_sign_flip_floor_and_spaces_a_small_p():
    """The floor 2/2^n is named only where reached; p below 0.001 reads 'p < 0.001'."""
    mixed = paired_difference([3.0, 1.0, -1.0], [0.0, 0.0, 0.0])     # sign-flip p = 6/8
    assert fmt_tests(mixed).endswith("sign-flip p = 0.750")
    tight = paired_difference([5.0, 5.1, 4.9, 5.05, 4.95], [0.0] * 5)  # t = 141, 4 df
    assert fmt_tests(tight) == "t-test p < 0.001, sign-flip p = 0.062, the smallest possible at n = 5"


def test_sign_flip_p_by_enumeration():
    assert sign_flip_p(DIFFS) == 0.25          # all 3 of one sign: 2 of 8 patterns
    assert sign_flip_p([1, 2, 3, 4, 5]) == 2 / 32
    # d = (3, 1, -1), |sum| = 3: the patterns with |±3 ±1 ±1| >= 3 are 6 of 8
    assert sign_flip_p([3, 1, -1]) == 0.75
    assert sign_flip_p([1, 2, -3]) == 1.0      # mean 0: every pattern is as extreme
    assert math.isnan(sign_flip_p([]))


def test_mde_and_seed_pairs_needed():
    # (t(0.975, 4) + t(0.80, 4)) * 2 / sqrt(5) = (2.776445 + 0.940965) * 0.894427 = 3.3250
    assert mde(2.0, 5) == pytest.approx(3.3250, abs=1e-4)
    assert math.isnan(mde(2.0, 1))
    n = n_needed(2.1, 1.0)
    assert n == 37                              # the normal approximation gives (2.8 * 2.1)^2 = 35
    assert mde(2.1, n) <= 1.0 < mde(2.1, n - 1)
    assert n_needed(2.0, 0.3) == 351
    assert n_needed(0.0, 1.0) is None and n_needed(1.0, 0.0) is None


def test_paired_difference_carries_tests_and_mde():
    d = paired_difference({0: 30.0, 1: 31.0, 2: 29.5, 3: 30.5, 4: 31.5},
                          {0: 28.0, 1: 30.0, 2: 29.0, 3: 28.0, 4: 29.5})
    diffs = [2.0, 1.0, 0.5, 2.5, 2.0]
    assert d.n == 5 and d.values == tuple(diffs)
    assert d.sd == pytest.approx(0.821584, abs=1e-6)
    assert d.mde == pytest.approx(mde(0.821584, 5), abs=1e-6)
    assert d.p_sign == 2 / 32
    assert verdict(d) == "supported" and verdict(d, good_if_positive=False) == "contradicted"


def test_estimate_round_trips_through_json():
    e = summarize([1.0, 2.0, 4.0], seeds=[0, 1, 2])
    back = Estimate.from_dict(e.to_dict())
    assert back == e
    one = summarize([3.0])
    assert verdict(one) == "no test (n = 1)" and not one.has_ci
    assert verdict(None) == "not measured"


# --- the two-stage bootstrap (seeds, then validation persons) ------------------------------------
def test_two_stage_bootstrap_by_hand():
    import numpy as np
    from sgpose_lib.report.person_bootstrap import person_scores, two_stage_ci
    ones, twos = np.ones(10), np.full(10, 2.0)
    # identical runs: every resample gives 0
    assert two_stage_ci({0: ((ones, twos), (ones, twos))}) == (0.0, 0.0)
    # every person: SG 2 of 2 joints, baseline 1 of 2: any resample gives 100 − 50 = 50
    assert two_stage_ci({0: ((twos, twos), (ones, twos))}) == (50.0, 50.0)
    # one pair whose persons differ: the persons alone give the interval a width
    mixed = np.array([2.0] * 5 + [0.0] * 5)
    lo, hi = two_stage_ci({0: ((mixed, twos), (ones, twos))})
    assert lo < 0.0 < hi and lo == pytest.approx(-hi, abs=15)
    # persons.json of each track: MPII (correct, counted); COCO per-person OKS, null = undefined
    num, den = person_scores({"correct": [1, 2], "counted": [2, 2]})
    assert 100 * num.sum() / den.sum() == 75.0
    num, den = person_scores({"oks": [0.5, None, 0.7]})
    assert list(den) == [1.0, 0.0, 1.0] and 100 * num.sum() / den.sum() == pytest.approx(60.0)
    assert person_scores({"metric": None, "oks": []}) is None


def test_pckh_person_counts_sum_to_the_mean():
    import numpy as np
    from sgpose_lib.layouts import MPII16
    from sgpose_lib.metrics import pckh, pckh_person_counts
    rng = np.random.default_rng(0)
    gts = rng.uniform(0, 100, size=(30, 16, 2))
    preds = gts + rng.normal(0, 6, size=gts.shape)
    visible = rng.uniform(size=(30, 16)) > 0.2
    headsize = np.full(30, 20.0)
    correct, counted = pckh_person_counts(preds, gts, visible, headsize, MPII16)
    assert 100 * correct.sum() / counted.sum() == pytest.approx(
        pckh(preds, gts, visible, headsize, MPII16)["Mean"], abs=1e-9)
    assert (correct <= counted).all() and counted.max() <= 14     # pelvis and thorax left out


def test_radius_claim_pairs_only_runs_of_one_cpu():
    from sgpose_lib.report.claims import _radius_claim
    r5 = summarize([30.0, 31.0], seeds=[0, 1]).to_dict()
    r3 = summarize([29.0], seeds=[0]).to_dict()
    r9 = summarize([27.0], seeds=[0]).to_dict()
    env = lambda cpu, runs: {"environment": {"cpu": cpu}, "runs": runs}
    summary = {"radius": {"r=5": {"Mean": r5}, "r=3": {"Mean": r3}, "r=9": {"Mean": r9}},
               "environments": [env("A", ["mpii_sg_r5_s0", "mpii_sg_r5_s1", "mpii_sg_r9_s0"]),
                                env("B", ["mpii_sg_r3_s0"])]}
    claim = _radius_claim(summary)
    # r=3 seed 0 was trained on CPU B: not paired; r=5 − r=9 on seed 0: 30 − 27 = +3.0
    assert claim.short.mean == 3.0 and claim.short.n == 1
    assert "r=5 − r=3: — ; " not in claim.short_what
    assert claim.short_what.endswith("not paired, trained on another CPU than its r = 5 run: "
                                     "r=3 seed 0")


def test_pairs_for_a_half_width_by_hand():
    """t(0.975, n−1) · s/√n ≤ h: s = 1.4, h = 1.5: n = 6 gives 2.5706 · 1.4/√6 = 1.469 (n = 5:
    2.7764 · 1.4/√5 = 1.738); s = 2, h = 1: n = 18 gives 2.1098 · 2/√18 = 0.9946 (n = 17: 2.1199 ·
    2/√17 = 1.0283)."""
    assert n_for_half_width(1.4, 1.5) == 6
    assert n_for_half_width(2.0, 1.0) == 18
    assert n_for_half_width(0.0, 1.0) is None and n_for_half_width(1.0, float("nan")) is None
