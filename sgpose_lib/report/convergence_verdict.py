"""The convergence study's verdict lines (reports/README.md section 6, the README's Results), from
the summary that convergence.py writes: per metric, the levels at the end, SG − baseline over the
pairs whose two runs trained the same schedule (t-interval, t-test and sign-flip p, MDE, the
interval's half-width against HALF_WIDTH_GOAL), the verdict word, the value at the early epoch and
the trend; then one line per track on how the runs' constant phases ended."""
from __future__ import annotations

import math
from typing import Mapping

from ..config import TRACKS
from .plateaus import fixed_plateau_line, until_plateau_line
from .formatting import fmt_bound, fmt_estimate, fmt_tests
from .stats import Estimate, n_for_half_width, verdict
from .trend import verdict_text

# the converged interval the study aims for: half-width of SG − baseline's t-interval, in points
# of the metric (PCKh; OKS and AP x 100)
HALF_WIDTH_GOAL = 1.5


def curve_verdict(key: str, c: Mapping) -> str:
    """One metric's verdict from its summary `c` (key 'track/column'): the levels at the end,
    SG − baseline over the equal-schedule pairs with its t-interval, tests and MDE, the verdict
    word of the t-interval, against its value at the early epoch, and the trend."""
    f = c["final"]
    est = {k: Estimate.from_dict(f[k]) if f.get(k) else None
           for k in ("baseline", "sg", "diff", "diff_all")}
    text = {k: fmt_estimate(e, signed=k.startswith("diff")) if e else "—" for k, e in est.items()}
    early = (f", against {fmt_estimate(Estimate.from_dict(c['early_diff']), signed=True)} at "
             f"epoch {c['early_epoch']} of these runs (at the constant lr; not the default "
             "study's 15-epoch schedule, whose lr drops at 12 and 14)" if c["early_diff"] else "")
    k, n = c.get("pairs") or (0, 0)
    d = est["diff"]
    pairs = (f"{k} equal-schedule pair{'s' if k != 1 else ''}" if k == n
             else f"the {k} of {n} pairs with equal schedules")
    detail = f"n = {pairs}; {fmt_tests(d)}" + (f"; MDE {d.mde:.1f}" if d and d.mde == d.mde else "")
    detail += _half_width_clause(d, est["diff_all"])
    word = verdict(d)
    if word == "not resolved":
        word += f": {fmt_bound(d)}"
    view = (f"; {'the' if n == 1 else f'all {n}'} pair{'s' if n != 1 else ''}, schedules "
            f"differing: {text['diff_all']}"
            if k != n and est["diff_all"] else "")
    return (f"{key.split('/')[0]} track, {c['label']}: {c['after']} baseline {text['baseline']}, "
            f"SG {text['sg']}; SG − baseline {text['diff']} ({detail}): **{word}**{view}{early}; "
            f"trend: {verdict_text(c['trend'], est['diff'])}"
            + (f" ({c['provisional']})" if c.get("provisional") else "")
            + _uneven_clause(c) + ".")


def _half_width_clause(d: Estimate | None, view: Estimate | None) -> str:
    """"; half-width 1.2, within the goal of 1.5" for the equal-schedule interval `d`, or how many
    pairs the goal HALF_WIDTH_GOAL needs at the SD of `d` (or, with fewer than 2 equal pairs, of
    all pairs `view`)."""
    goal = f"the goal of {HALF_WIDTH_GOAL}"
    if d is not None and d.n >= 2 and math.isfinite(d.hi - d.lo):
        hw = (d.hi - d.lo) / 2
        if hw <= HALF_WIDTH_GOAL:
            return f"; half-width {hw:.1f}, within {goal}"
        need = n_for_half_width(d.sd, HALF_WIDTH_GOAL)
        return (f"; half-width {hw:.1f}, over {goal}: about {need or 'too many'} pairs reach it "
                f"at this SD of {d.sd:.1f}")
    if view is not None and view.n >= 2 and math.isfinite(view.sd):
        need = n_for_half_width(view.sd, HALF_WIDTH_GOAL)
        return (f"; no interval yet: a half-width within {goal} takes about {need or 'too many'} "
                f"equal-schedule pairs at the SD of all pairs, {view.sd:.1f}")
    return f"; no interval yet (the half-width goal: {HALF_WIDTH_GOAL})"


def _uneven_clause(c: Mapping) -> str:
    """" (runs of unequal length, ...)" for a metric summary whose end pairs runs of unequal
    length, with SG − baseline before either run's first lr drop; "" otherwise."""
    if not c.get("uneven"):
        return ""
    text = f" (runs of unequal length, {'; '.join(c['uneven'])}"
    b = c.get("before_drops")
    if b:
        diff = fmt_estimate(Estimate.from_dict(b["diff"]), signed=True)
        text += f"; at epoch {b['epoch']}, before either run's first lr drop, SG − baseline {diff}"
    return text + ")"


def verdict_markdown(summary: Mapping) -> str:
    """The generated verdict paragraph for reports/README.md."""
    lines = [f"- {curve_verdict(key, c)}" for key, c in summary.get("curves", {}).items()]
    runs = summary.get("runs", {})
    if "rule" in summary:  # until_plateau: one line per track, on how the constant phases ended
        for track in dict.fromkeys(k.split("/")[0] for k in summary.get("curves", {})):
            phases = {n: r["constant_phase"] for n, r in runs.items()
                      if r.get("constant_phase") and r.get("track") == track}
            done = sum(bool(runs[n].get("finished")) for n in phases)
            if phases:
                lines.append(until_plateau_line(track, phases, done,
                                                summary["rule"].get(track, {}).get("runs")))
    else:
        for key, c in summary.get("curves", {}).items():
            column = key.split("/")[1]
            line = fixed_plateau_line(key.split("/")[0], c["label"],
                                      [r[column] for r in runs.values() if column in r])
            if line:
                lines.append(line)
    tracks = {k.split("/")[0] for k, c in summary.get("curves", {}).items()}
    missing = [t for t in TRACKS if t not in tracks]
    if missing and lines:
        lines.append(f"- Not yet run: the {', '.join(missing)} track(s) of the convergence matrix.")
    return "\n".join(lines) + "\n" if lines else "No convergence run on disk yet.\n"
