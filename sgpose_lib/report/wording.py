"""How the report words small things: a count with its noun, a range, an input size.

One function per rule, so that every table, figure and paragraph says it the same way:
    count(1, "seed") -> "1 seed", count(3, "seed") -> "3 seeds"
    value_range(1.62, 1.64) -> "1.6" (both ends print alike), value_range(1.6, 2.3) -> "1.6–2.3"
    epoch_span([60, 60]) -> "epoch 60", epoch_span([140, 145]) -> "epochs 140 to 145"
    input_size((96, 128)) -> "128×96 (h×w)" from a config's (width, height)
"""
from __future__ import annotations

from collections.abc import Sequence


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 seed', '0 seeds', '3 seeds' (`plural`: the plural where it is not noun + 's')."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def value_range(lo: float, hi: float, digits: int = 1, sep: str = "–",
                signed: bool = False) -> str:
    """'lo–hi' at `digits` decimals (with `signed`, '+' before positive values; negative ones
    with the minus sign −, as everywhere in the report), or one value where both ends print the
    same."""
    spec = f"{'+' if signed else ''}.{digits}f"
    a, b = (format(v, spec).replace("-", "−") for v in (lo, hi))
    return a if a == b else f"{a}{sep}{b}"


def epoch_span(epochs: Sequence[int]) -> str:
    """'epoch 60' for one distinct epoch, 'epochs 140 to 145' for several (min to max)."""
    lo, hi = min(epochs), max(epochs)
    return f"epoch {lo}" if lo == hi else f"epochs {lo} to {hi}"


def input_size(width_height: Sequence[int]) -> str:
    """A config's input size (width, height) written as the report writes sizes everywhere:
    height×width, e.g. (96, 128) -> '128×96 (h×w)', like the paper's 256×192."""
    w, h = width_height
    return f"{h}×{w} (h×w)"
