"""The learning-rate schedule: step drops at milestones, the paper's shape, and the plateau rule.

`lr_at`: lr x factor^(number of milestones <= epoch), epochs 0-based. The paper trains 210 epochs
with drops at 170 and 200 (`paper_milestones` keeps those fractions for any length). A run trained
until it stops improving (until_plateau.py) ends its constant-lr phase at the first validated epoch
k at which the plateau rule holds, then keeps the paper's shape around it (`schedule_after`).

Plateau rule (`plateau_gain`): a curve (epoch -> value in points, epochs 1-based as in epochs.csv)
of a run of `epochs` epochs has stopped improving when its best value in the last fifth of the
epochs, (e0, epochs] with e0 = epochs - ceil(0.2 x epochs), exceeds the last value at or before e0
by less than 1 point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from ..config import Config, ConfigError

PAPER_EPOCHS, PAPER_MILESTONES = 210, (170, 200)
PLATEAU_TAIL = 0.2   # the last fifth of training
PLATEAU_TOL = 1.0    # points
PLATEAU_MIN_EPOCHS = 10  # shorter runs: no decision (their last fifth is one or two epochs)


def lr_at(epoch: int, cfg: Config) -> float:
    """Learning rate of 0-based `epoch`: lr x lr_factor^(number of lr_steps <= epoch).

    With milestones (170, 200) the first 170 epochs use 1e-3, as the paper states (the official
    code steps its scheduler at epoch start and so decays one epoch earlier)."""
    t = cfg.train
    return t.lr * t.lr_factor ** sum(epoch >= m for m in t.lr_steps)


def same_rates(steps_a: tuple[int, ...], steps_b: tuple[int, ...], epochs: int) -> bool:
    """Whether two milestone lists give the same learning rate to each of the 0-based epochs
    0 .. epochs-1 (for any lr and factor): the drops before `epochs` are the same."""
    return sorted(m for m in steps_a if m < epochs) == sorted(m for m in steps_b if m < epochs)


def paper_milestones(epochs: int) -> tuple[int, ...]:
    """Epochs (0-based starts) of the two lr drops at the paper's fractions 170/210 and 200/210."""
    return tuple(int(round(epochs * m / PAPER_EPOCHS)) for m in PAPER_MILESTONES)


def schedule_after(first_drop: int) -> tuple[int, tuple[int, ...]]:
    """(epochs, milestones) of the paper's shape whose first drop starts at epoch `first_drop`
    (0-based; the constant-lr phase is epochs 1..first_drop, 1-based): epochs =
    round(first_drop x 210/170), second drop at round(epochs x 200/210)."""
    epochs = int(round(first_drop * PAPER_EPOCHS / PAPER_MILESTONES[0]))
    second = int(round(epochs * PAPER_MILESTONES[1] / PAPER_EPOCHS))
    return epochs, (first_drop, max(second, first_drop + 1))


def plateau_gain(curve: Mapping[int, float], epochs: int,
                 tail: float = PLATEAU_TAIL) -> tuple[int, float | None]:
    """(e0, gain) of the plateau rule for `curve` (1-based epoch -> value, points) of a run of
    `epochs` epochs: gain = best value in (e0, epochs] - the last value at or before e0; None when
    no value lies on either side or the run is shorter than PLATEAU_MIN_EPOCHS."""
    e0 = epochs - math.ceil(tail * epochs)
    before = [curve[e] for e in sorted(curve) if e <= e0]
    after = [curve[e] for e in curve if e0 < e <= epochs]
    if not before or not after or epochs < PLATEAU_MIN_EPOCHS:
        return e0, None
    return e0, float(max(after) - before[-1])


# per track: the metrics of a `val` line the rule watches, and their factor to points
RULE_METRICS: dict[str, tuple[tuple[str, float], ...]] = {
    "mpii": (("Mean", 1.0),),
    "coco": (("mean_oks", 100.0), ("body_AP", 100.0)),
}


@dataclass(frozen=True)
class PlateauRule:
    """When the constant-lr phase ends: epochs are 1-based counts of completed epochs."""
    every: int                  # epochs per chunk; the rule is applied after each
    min_epochs: int             # no decision before
    max_epochs: int             # the constant phase ends here at the latest
    tol: float = PLATEAU_TOL    # points
    tail: float = PLATEAU_TAIL  # the share of the epochs so far the gain is measured over

    def __post_init__(self):
        if self.every < 1 or not 1 <= self.min_epochs <= self.max_epochs:
            raise ConfigError(f"until_plateau: need every >= 1 and 1 <= min_epochs <= max_epochs, "
                              f"got every={self.every}, min_epochs={self.min_epochs}, "
                              f"max_epochs={self.max_epochs}")
        if self.max_epochs % self.every:  # each chunk ends on a validation of the final run
            raise ConfigError(f"until_plateau: max_epochs {self.max_epochs} must be a multiple "
                              f"of val_every {self.every}")


def first_drop(curves: Mapping[str, Mapping[int, float]], rule: PlateauRule,
               done: int) -> tuple[int | None, list[dict]]:
    """(k, checks): the epoch at which the constant phase ends, given the curves of the first
    `done` epochs (None: not yet decided), and the rule's value at each check so far."""
    checks = []
    for k in range(rule.every, min(done, rule.max_epochs) + 1, rule.every):
        if k < rule.min_epochs:
            continue
        gains = {name: plateau_gain({e: v for e, v in curve.items() if e <= k}, k, rule.tail)[1]
                 for name, curve in curves.items()}
        checks.append({"epoch": k, "gain": gains})
        if all(g is not None and g < rule.tol for g in gains.values()):
            return k, checks
    if done >= rule.max_epochs:
        return rule.max_epochs, checks
    return None, checks


def rule_met(checks: list[dict], rule: PlateauRule) -> bool:
    """Whether the last check met the rule (else the constant phase ended at max_epochs)."""
    return bool(checks) and all(g is not None and g < rule.tol
                                for g in checks[-1]["gain"].values())
