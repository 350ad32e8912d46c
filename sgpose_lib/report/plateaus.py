"""Per-run plateau decisions of the convergence report, and how each run's constant phase ended.

Each run (curves.CurveRun, with its config's epochs and lr_steps) gets two decisions of the plateau
rule (schedule.plateau_gain: less than 1 point gained over the last fifth), in points of one metric:
- the whole run, whose last fifth holds the paper's two lr drops;
- its constant-lr phase, the epochs before its first drop (a run still in that phase: the epochs
  so far).
Runs of an until_plateau setting also get how their constant phase ended (`constant_phase`),
recomputed from their curves with the setting's rule (schedule.first_drop, every metric of the
track at once): `plateau` (the rule held at epoch k), `max_epochs`, or `running`; a first drop in
config.json other than that k is reported (`matches_config` false).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..engine.schedule import RULE_METRICS, PlateauRule, first_drop, paper_milestones, rule_met
from .curves import CurveRun, plateau, validated
from .wording import epoch_span, value_range

EARLIER_CHECKS = 3  # checks shown before the deciding one: how close to the threshold the run was


def run_plateaus(runs: Sequence[CurveRun], track: str, column: str, factor: float,
                 fixed_epochs: int | None, summary_runs: dict) -> list[str]:
    """Each run's two decisions for `column`, recorded in `summary_runs`; one text per run.
    `fixed_epochs`: the setting's epochs of the track (drops at the paper's fractions of them),
    None where each run has its own (config.json)."""
    texts = []
    for r in runs:
        if r.track != track or r.table is None:
            continue
        curve = validated(r.table, column, factor)
        epochs = fixed_epochs or (r.epochs if r.lr_steps else r.done)
        first = (paper_milestones(fixed_epochs)[0] if fixed_epochs
                 else r.lr_steps[0] if r.lr_steps else r.done)
        p = plateau(curve, epochs)
        p["before_first_drop"] = plateau(curve[curve.index <= first], first)
        summary_runs.setdefault(r.name, {})[column] = p
        texts.append(_plateau_text(r.name, p, r.done, epochs, constant=not fixed_epochs
                                   and not r.lr_steps))
    return texts


def wall_times(runs: Sequence[CurveRun], summary_runs: dict) -> str:
    """Each run's epochs done, wall time (its epochs' seconds summed, validation excluded) and
    median epoch seconds, recorded in `summary_runs`; the report's paragraph on them ('' where
    no run has epoch times). An epoch counts its whole wall time, also while its process was
    paused or shared the cores: the median epoch shows the pace."""
    texts = []
    for r in runs:
        if r.table is None:
            continue
        seconds = r.table["seconds"].dropna() if "seconds" in r.table else None
        entry = summary_runs.setdefault(r.name, {})
        entry["epochs_done"] = r.done
        entry["wall_s"] = float(seconds.sum()) if seconds is not None else None
        entry["epoch_median_s"] = (float(seconds.median())
                                   if seconds is not None and len(seconds) else None)
        if entry["wall_s"]:
            texts.append(f"{r.name} {entry['wall_s'] / 60:.1f} min ({r.done} epochs, median "
                         f"epoch {entry['epoch_median_s']:.0f} s)")
    if not texts:
        return ""
    return ("\nTraining wall time per run (epoch time summed, validation excluded; an epoch "
            "counts its whole wall time, also while its process was paused or shared the cores, "
            "and the median epoch shows the pace): " + "; ".join(texts) + ".\n")


def _plateau_text(name: str, p: Mapping, done: int, epochs: int, constant: bool) -> str:
    def one(q: Mapping, where: str) -> str:
        state = {True: "plateau", False: "still improving", None: "undefined"}[q["plateau"]]
        gain = f", {q['gain']:+.1f} over {where}" if q["gain"] is not None else ""
        return state + gain
    if constant:
        return f"{name}: at lr 1e-3 after {done} epochs: {one(p, 'the last fifth')}"
    partial = f", {done}/{epochs} epochs" if done < epochs else ""
    return (f"{name}: {one(p, 'the last fifth')}; at lr 1e-3 before the first drop: "
            f"{one(p['before_first_drop'], 'its last fifth')}{partial}")


def constant_phase(run: CurveRun, rule: PlateauRule, fixed_epochs: int | None = None) -> dict:
    """How the constant-lr phase of an until_plateau run ended: {'first_drop': k or None,
    'ended_by': 'plateau' | 'max_epochs' | 'running' | 'run_epochs', 'gain': metric -> points at
    the deciding check, 'checks': every check so far ({'epoch', 'gain'}), 'matches_config':
    whether config.json's first drop is k}. 'run_epochs': the setting's run_epochs gives the run
    `fixed_epochs`, the length its config.json has, so its schedule was set, not decided by the
    rule (a run on disk of another length was trained by the rule)."""
    if fixed_epochs is not None and fixed_epochs == run.epochs:
        return {"first_drop": (run.lr_steps or (None,))[0], "ended_by": "run_epochs",
                "gain": {}, "checks": [], "matches_config": True}
    curves = {name: validated(run.table, f"val_{name}", factor).to_dict()
              for name, factor in RULE_METRICS[run.track]}
    k, checks = first_drop(curves, rule, run.done)
    ended = "running" if k is None else "plateau" if rule_met(checks, rule) else "max_epochs"
    config_first = run.lr_steps[0] if run.lr_steps else None
    return {"first_drop": k, "ended_by": ended,
            "gain": checks[-1]["gain"] if checks else {}, "checks": checks,
            "matches_config": config_first == k}


def schedule_text(runs: Sequence[CurveRun], track: str, rule: PlateauRule,
                  summary_runs: dict, fixed: Mapping[str, int] | None = None) -> str:
    """A markdown list, one item per run of `track`: where its constant phase ended and why (the
    deciding check and the EARLIER_CHECKS before it, to show how near the threshold the run
    was), its schedule and progress; each run's constant_phase recorded in `summary_runs`.
    `fixed`: the setting's run_epochs (run -> epochs), the runs whose schedule was set (see
    constant_phase)."""
    texts = []
    for r in runs:
        if r.track != track or r.table is None:
            continue
        c = constant_phase(r, rule, (fixed or {}).get(r.name))
        summary_runs.setdefault(r.name, {}).update(track=r.track, finished=r.finished,
                                                   constant_phase=c)
        progress = "finished" if r.finished else f"{r.done}/{r.epochs} epochs"
        if c["ended_by"] == "run_epochs":
            texts.append(f"{r.name}: a fixed schedule (run_epochs), {r.epochs} epochs, drops at "
                         f"{', '.join(map(str, r.lr_steps or ()))}: its pair's schedule, not "
                         f"decided by the rule; {progress}")
            continue
        gains = _gains_text(c["gain"])
        if c["first_drop"] is None:
            texts.append(f"{r.name}: at the constant lr, {r.done} epochs so far "
                         f"(last check: {gains or 'none yet'})")
            continue
        why = ("the plateau rule held" if c["ended_by"] == "plateau"
               else "max_epochs reached, rule not met")
        plan = (f"{r.epochs} epochs, drops at {', '.join(map(str, r.lr_steps))}"
                if c["matches_config"] else
                f"MISMATCH: config.json's first drop is {r.lr_steps[0] if r.lr_steps else None}")
        earlier = "; ".join(f"{_gains_text(x['gain'])} at {x['epoch']}"
                            for x in c["checks"][:-1][-EARLIER_CHECKS:])
        texts.append(f"{r.name}: constant lr for {c['first_drop']} epochs ({why}: {gains}"
                     f"{'; earlier checks: ' + earlier if earlier else ''}); {plan}; {progress}")
    return "".join(f"- {t}\n" for t in texts)


def _gains_text(gains: Mapping[str, float | None]) -> str:
    """'Mean +0.9', 'mean_oks +0.8, body_AP +0.2': a check's gain per metric, in points."""
    return ", ".join(f"{name} {g:+.1f}" for name, g in gains.items() if g is not None)


def plateau_count(decisions: list[Mapping]) -> tuple[int, int, str] | None:
    """(runs at a plateau, runs decided, "a to b" range of their gains in points) of plateau
    decisions (`curves.plateau`); None when no run has a gain."""
    gains = [p["gain"] for p in decisions if p["gain"] is not None]
    if not gains:
        return None
    return (sum(bool(p["plateau"]) for p in decisions), len(decisions),
            value_range(min(gains), max(gains), sep=" to ", signed=True))


def fixed_plateau_line(track: str, label: str, decided: list[Mapping]) -> str | None:
    """The verdict's plateau line of a fixed-length setting: runs whose whole run (and whose
    constant-lr phase) stopped improving; the verdict speaks of trained-to-plateau models only
    when every whole run did."""
    whole = plateau_count(decided)
    if not whole:
        return None
    flat, n, gains = whole
    before = plateau_count([p["before_first_drop"] for p in decided if p.get("before_first_drop")])
    before_text = (f"; before the first lr drop (lr 1e-3), {before[0]} of {before[1]} "
                   f"(gain over that phase's last fifth {before[2]})" if before else "")
    return (f"- Plateau ({track} track, {label}): {flat} of {n} runs had stopped improving "
            f"(gain over the last fifth {gains}){before_text}; "
            + ("the verdict is about trained-to-plateau models." if flat == n
               else "the verdict is about models still improving, i.e. at the budget trained, "
               "not at convergence."))


def until_plateau_line(track: str, phases: Mapping[str, Mapping], finished: int,
                       n: int | None = None) -> str:
    """The verdict's plateau line of an until_plateau setting: how the runs' constant phases
    ended (`phases`: run -> constant_phase) and how many of the track's `n` runs (default: those
    in `phases`; the others are not on disk yet) finished their drops."""
    n = len(phases) if n is None else n
    ends = {why: sorted(p["first_drop"] for p in phases.values() if p["ended_by"] == why)
            for why in ("plateau", "max_epochs", "run_epochs")}
    running = sum(p["ended_by"] == "running" for p in phases.values())
    at = f" (at {epoch_span(ends['plateau'])})" if ends["plateau"] else ""
    fixed = (f", {len(ends['run_epochs'])} at a fixed schedule (run_epochs: its pair's)"
             if ends["run_epochs"] else "")
    text = (f"- Plateau ({track} track): the constant-lr phase of {len(ends['plateau'])} of {n} "
            f"runs ended by the plateau rule{at}, {len(ends['max_epochs'])} at max_epochs"
            f"{fixed}, {running} still at the constant lr; {finished} of {n} runs finished the "
            "paper's two drops after it; ")
    if len(ends["plateau"]) + len(ends["run_epochs"]) == n and finished == n:
        return text + "the verdict is about models trained until they stopped improving."
    if running or finished < n:
        return text + "the runs are not finished: the verdict is provisional."
    return text + ("the runs that hit max_epochs were still improving there: the verdict is about "
                   "models trained that long, not at convergence.")
