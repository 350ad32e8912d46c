"""Does the SG gain grow, hold, shrink or vanish with training? The convergence report's verdict.

From SG − baseline (stats.Estimate, points, paired by seed) early in training (the first paired
epoch >= EARLY_EPOCH) and at the end: `trend_of` names the trend, `verdict_text` says it. A gain
that is positive early and whose final CI includes 0 ("vanish") is said as *not resolved* at the
end, with the largest gain the final CI allows; with one seed per variant (no CI) the final
|SG − baseline| below CHANGE_TOL points is what it rests on, and no test is made.
"""
from __future__ import annotations

import math

from .stats import Estimate

EARLY_EPOCH = 15    # the trend runs from the first paired epoch >= this
CHANGE_TOL = 1.0    # points: gain changes smaller than this "hold"


def trend_of(early: Estimate | None, final: Estimate | None) -> str:
    """grow / hold / shrink / vanish / none / reverse / undecided, from SG − baseline early and
    at the end. `none`: no gain early (mean <= 0) and none at the end; `reverse`: SG ends below
    the baseline (CI below 0, or without a CI at least CHANGE_TOL points below)."""
    if early is None or final is None or not math.isfinite(final.mean):
        return "undecided"
    final_zero = final.has_ci and final.lo <= 0 <= final.hi
    if final_zero or (not final.has_ci and abs(final.mean) < CHANGE_TOL):
        return "vanish" if early.mean > 0 else "none"
    if final.mean < 0:
        return "reverse"
    if final.mean > early.mean + CHANGE_TOL:
        return "grow"
    if final.mean < early.mean - CHANGE_TOL:
        return "shrink"
    return "hold"


VERDICT_TEXT = {
    "grow": "the gain grows with training",
    "hold": "the gain holds with training",
    "shrink": "the gain shrinks with training but stays above zero",
    "vanish": "the gain is not resolved once the models are trained",
    "none": "no gain early or at the end (SG − baseline stays near zero)",
    "reverse": "SG ends below the baseline",
    "undecided": "undecided (runs missing)",
    "short": f"undecided: the runs end before epoch {EARLY_EPOCH}, where the trend starts",
}


SIGNIFICANT_P = 0.05  # a final CI that excludes 0 beside a paired t-test p above this is flagged


def verdict_text(trend: str, final: Estimate | None) -> str:
    """VERDICT_TEXT[trend], with what a vanished gain rests on: a final CI that includes 0 (and
    its upper limit, the largest gain consistent with the runs), or, with one seed per variant
    (no CI, no test), a final |SG − baseline| below CHANGE_TOL points; and,
    where the verdict rests on a final CI that excludes 0 (grow, hold, shrink, reverse) while
    the paired t-test gives p >= SIGNIFICANT_P (a bootstrap CI can; a t-interval excludes 0 only
    where p < 0.05), that p."""
    text = VERDICT_TEXT[trend]
    if final is None:
        return text
    if trend in ("grow", "hold", "shrink", "reverse"):
        if final.has_ci and math.isfinite(final.p) and final.p >= SIGNIFICANT_P:
            return (text + f" (its CI excludes 0, but with n = {final.n} seeds the paired "
                    f"t-test gives p = {final.p:.2f})")
        return text
    if trend != "vanish":
        return text
    if final.has_ci:
        return text + f" (the final CI includes 0: the gain is at most {final.hi:+.1f})"
    return (text + f" (n = {final.n}, no test: the final |SG − baseline| is below "
            f"{CHANGE_TOL:g} point)")
