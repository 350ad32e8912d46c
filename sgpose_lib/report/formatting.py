"""How the report writes numbers and estimates (report/stats.py computes them).

Numbers carry a true minus sign and never read "-0.0"; an estimate is "21.0 [20.0, 22.0]" (its
95 % t-interval, none where n < 2); p values are "t-test p = 0.084, sign-flip p = 0.250". A cell
that no run produced is `NO_RUN` ("—"), a metric undefined in every run is `UNDEFINED` ("n/a"),
never a number; `none_if_nan` writes a value for JSON.
"""
from __future__ import annotations

import math

from .stats import Estimate, bound

NO_RUN = "—"        # no run produced this cell
UNDEFINED = "n/a"   # runs exist, but the metric is undefined (nan) in every one of them


def fmt_bound(e: Estimate | None, good_if_positive: bool = True) -> str:
    """'the gain is at most +9.2' (or, where smaller is better, 'the reduction is at most 1.6'):
    the largest effect in the expected direction that the t-interval allows; '' without one."""
    b = bound(e, good_if_positive)
    if not math.isfinite(b):
        return ""
    if good_if_positive:
        return f"the gain is at most {fmt_number(b, signed=True)}"
    return f"the reduction is at most {fmt_number(max(-b, 0.0))}"


def fmt_number(v: float, digits: int = 1, signed: bool = False) -> str:
    """`v` rounded, with a true minus sign; '+' where `signed` and positive; never '-0.0'."""
    if not math.isfinite(v):
        return UNDEFINED
    text = f"{v:.{digits}f}"
    if float(text) == 0.0:
        return f"{0:.{digits}f}"
    return ("+" if signed and v > 0 else "") + text.replace("-", "−")


def fmt_estimate(e: Estimate | None, digits: int = 1, signed: bool = False) -> str:
    """'21.0 [20.0, 22.0]' (the t-interval); n=1: '21.0'; no run: '—'; undefined: 'n/a'."""
    if e is None:
        return NO_RUN
    if e.n == 0 or not math.isfinite(e.mean):
        return UNDEFINED
    text = fmt_number(e.mean, digits, signed)
    if e.has_ci:
        text += f" [{fmt_number(e.lo, digits, signed)}, {fmt_number(e.hi, digits, signed)}]"
    return text


def fmt_p(e: Estimate | None) -> str:
    """The paired t-test p; '—' no run; 'n = 1, no test'."""
    if e is None:
        return NO_RUN
    if e.n < 2:
        return f"n = {e.n}, no test"
    if not math.isfinite(e.p):
        return "n/a (const.)"
    return _p(e.p)


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_tests(e: Estimate | None) -> str:
    """'t-test p = 0.084, sign-flip p = 0.250, the smallest possible at n = 3': the sign-flip p
    where n ≤ 10, its floor 2/2^n named where reached (all differences of one sign, the smallest
    p that n pairs can give); 't-test p < 0.001'; 'n = 1, no test'."""
    text = fmt_p(e)
    if e is None or e.n < 2 or not math.isfinite(e.p):
        return text
    text = f"t-test p < {text[1:]}" if text.startswith("<") else f"t-test p = {text}"
    if math.isfinite(e.p_sign):
        text += f", sign-flip p = {_p(e.p_sign)}"
        if math.isclose(e.p_sign, 2 / 2 ** e.n, rel_tol=1e-9):
            text += f", the smallest possible at n = {e.n}"
    return text


def fmt_n(e: Estimate | None) -> str:
    if e is None:
        return "0"
    return f"{e.n}, no CI" if e.n == 1 else str(e.n)


def none_if_nan(v):
    """`v` for JSON: None for None or a non-finite float."""
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
