"""The answer first: one row per claim of the paper, its evidence, ours, and a computed verdict.

`claims_table` reads the summaries the report already made (Tables 1-3, robustness, attention)
and the convergence pipeline's summary, and writes reports/tables/claims.{md,csv}:

| claim | paper's evidence | ours, 15 epochs | verdict | ours, trained to the plateau | verdict |

Every cell with a number gives n, the estimate with its 95 % t-interval, the paired t-test and
exact sign-flip p, and the minimum detectable effect (stats.py); the verdict words are
stats.verdict of the t-interval, with the bound (the largest effect the interval allows) where
it is not resolved. "15 epochs" is the default study at the end of its 15-epoch schedule (the
evaluation stage: flip test, all validation persons); "trained to the plateau" is the convergence
pipeline, the end of each run (mean of its last 3 validations) over the pairs whose two runs
trained the same schedule; the COCO row's verdict is that of body-only AP, with the mean
per-person OKS of the same pairs beside it. dark_gains.py puts SG's gain beside DARK's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from .paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3
from .dark_gains import DARK_NOTE, dark_lines
from .formatting import NO_RUN, fmt_bound, fmt_estimate, fmt_number, fmt_tests
from .stats import Estimate, n_needed, paired_difference, verdict
from .table import write_table

PAPER_EFFECT = {"PCKh": 0.3, "AP": 1.9}   # the paper's SG − baseline (Tables 1 and 2)


@dataclass(frozen=True)
class Claim:
    """One claim: the paper's evidence, our estimate at 15 epochs and at the plateau (points,
    the direction the claim predicts given by `good_if_positive`), and the effects whose n is
    given (name -> points)."""
    claim: str
    paper: str
    short: Estimate | None
    short_what: str
    plateau: Estimate | None = None
    plateau_what: str = ""
    good_if_positive: bool = True
    effects: tuple[tuple[str, float], ...] = ()


def _est(d: Mapping | None) -> Estimate | None:
    return Estimate.from_dict(d) if d and d.get("mean") is not None else None


def _cell(e: Estimate | None, what: str) -> str:
    """'+4.0 [−1.3, +9.2] (n = 5; t-test p = 0.084, sign-flip p = 0.250; MDE 6.6), what'."""
    if e is None:
        return f"{NO_RUN} not measured" + (f" ({what})" if what else "")
    parts = [f"n = {e.n}"]
    if e.n >= 2 and math.isfinite(e.p):
        parts.append(fmt_tests(e))
    if math.isfinite(e.mde):
        parts.append(f"MDE {fmt_number(e.mde)}")
    return f"{fmt_estimate(e, signed=True)} ({'; '.join(parts)})" + (f", {what}" if what else "")


def _verdict_cell(e: Estimate | None, good_if_positive: bool, effects) -> str:
    word = verdict(e, good_if_positive)
    text = f"**{word}**"
    if word == "not resolved":
        text += f": {fmt_bound(e, good_if_positive)}"
    if e is not None and e.n >= 2 and math.isfinite(e.sd) and effects:
        needs = [f"{name}: {n_needed(e.sd, size) or '> 100,000'}" for name, size in effects]
        # n_needed extrapolates from the observed SD, itself uncertain with few pairs
        rough = (f", from {e.n - 1} degree{'s' if e.n > 2 else ''} of freedom: a rough guide"
                 if e.n < 5 else "")
        text += (f"; seed pairs needed (80 % power, at the SD of these {e.n} pairs, "
                 f"{fmt_number(e.sd, 2)}{rough}) for {', '.join(needs)}")
    return text


def run_cpus(summary: Mapping) -> dict[str, str]:
    """run name -> the CPU that trained it (the report summary's `environments`)."""
    return {run: (entry["environment"] or {}).get("cpu") or ""
            for entry in summary.get("environments") or [] for run in entry["runs"]}


def _radius_claim(summary: Mapping) -> Claim:
    """r = 5 against the better of r = 3 and r = 9, paired by seed (Mean PCKh), over the seeds
    whose two runs were trained on the same CPU (another vendor's kernels give other bits)."""
    radius = summary.get("radius") or {}
    r5 = _est((radius.get("r=5") or {}).get("Mean"))
    others = {r: _est((radius.get(f"r={r}") or {}).get("Mean")) for r in (3, 9)}
    cpu = run_cpus(summary)
    diffs, mixed = {}, []
    for r, e in others.items():
        if r5 is not None and e is not None:
            same = [sd for sd in set(r5.seeds) & set(e.seeds)
                    if cpu.get(f"mpii_sg_r5_s{sd}") == cpu.get(f"mpii_sg_r{r}_s{sd}")]
            mixed += [f"r={r} seed {sd}" for sd in sorted(set(r5.seeds) & set(e.seeds))
                      if sd not in same]
            d = paired_difference({k: v for k, v in zip(r5.seeds, r5.values) if k in same},
                                  {k: v for k, v in zip(e.seeds, e.values) if k in same})
            diffs[r] = d if d.n else None
    worst = min((d for d in diffs.values() if d is not None), key=lambda d: d.mean, default=None)
    what = "; ".join(f"r=5 − r={r}: {fmt_estimate(d, signed=True) if d else NO_RUN}"
                     f"{f' (n = {d.n})' if d else ''}" for r, d in diffs.items())
    paper = ", ".join(f"r={r} {v['Mean']}" for r, v in PAPER_TABLE3.items())
    note = (f"; not paired, trained on another CPU than its r = 5 run: {', '.join(mixed)}"
            if mixed else "")
    return Claim("r = 5 is the best disc radius (Table 3)", f"PCKh Mean {paper}; single runs",
                 worst, (f"the smaller of {what}" if diffs else "") + note)


def _robustness_claim(robust: Mapping) -> Claim:
    """SG − baseline of the mean-OKS drop when the background is replaced by clutter, paired by
    training seed (the verdict's); the bootstrap over persons beside it as a view."""
    cond = (robust.get("conditions") or {}).get("clutter") or {}
    e, persons = _est(cond.get("sg_minus_baseline_drop_seeds")), _est(cond.get("sg_minus_baseline_drop"))
    what = ""
    if e is not None:
        what = "SG − baseline of the mean-OKS drop (× 100) with the background replaced by clutter"
        if persons is not None:
            what += (f"; a view, the bootstrap over the {robust.get('persons', 0)} validation "
                     f"persons: {fmt_estimate(persons, signed=True)}")
    return Claim("SG reduces the influence of complex backgrounds",
                 "qualitative (figures of attention maps); no number", e, what,
                 good_if_positive=False)


def _attention_claim(attention: Mapping, track: str = "mpii", radius: float = 5) -> Claim:
    """Share of the map's mass inside the disc target minus a uniform map's, paired by seed, at
    the SGM site where it is smallest."""
    part = attention.get(f"{track}_r{radius:g}") or {}
    diffs = {}
    for site, cells in part.items():
        share, uniform = _est(cells.get("disc share")), _est(cells.get("disc share (uniform)"))
        if share is not None and uniform is not None:
            diffs[site] = paired_difference(dict(zip(share.seeds, share.values)),
                                            dict(zip(uniform.seeds, uniform.values)))
    worst = min(diffs.items(), key=lambda kv: kv[1].mean, default=None)
    what = (f"disc share − uniform share (points of the map's mass), {track} track r = "
            f"{radius:g}, smallest of the {len(diffs)} sites ({worst[0]})" if worst else "")
    return Claim("The SGM maps attend to the person", "qualitative (Fig. of predicted maps)",
                 worst[1] if worst else None, what)


def build_claims(summary: Mapping, robust: Mapping, attention: Mapping,
                 convergence: Mapping | None) -> list[Claim]:
    """The five claims of the paper from the report's summaries (convergence: its summary.json,
    or None)."""
    curves = (convergence or {}).get("curves", {})

    def plateau(key: str) -> tuple[Estimate | None, str]:
        c = curves.get(key)
        if not c:
            return None, "no convergence run"
        k, n = c.get("pairs") or (0, 0)
        what = f"{c['end']} epochs, {k} of {n} seed pairs with equal schedules"
        return _est(c["final"].get("diff")), what

    t1, t2 = PAPER_TABLE1, PAPER_TABLE2
    base1, sg1 = t1["HRNet-W32"]["Mean"], t1["SG-HRNet (Our)"]["Mean"]
    base2, sg2 = t2["HRNet-W32, pretrain Y"]["AP"], t2["SG-HRNet (Our), pretrain Y"]["AP"]
    mpii_plateau, mpii_what = plateau("mpii/val_Mean")
    coco_plateau, coco_what = plateau("coco/val_body_AP")
    oks, _ = plateau("coco/val_mean_oks")   # the other COCO metric, beside: the two may disagree
    if oks is not None:
        coco_what += f"; beside it, mean per-person OKS × 100: {_cell(oks, '')}"
    return [
        Claim("SG improves MPII PCKh@0.5 (Table 1)",
              f"Mean {base1} → {sg1} ({sg1 - base1:+.1f}); single runs",
              _est(((summary.get("mpii") or {}).get("difference") or {}).get("Mean")),
              "PCKh Mean", mpii_plateau, f"PCKh Mean, {mpii_what}",
              effects=(("the paper's +0.3", PAPER_EFFECT["PCKh"]), ("1 point", 1.0))),
        Claim("SG improves COCO AP (Table 2)",
              f"AP {base2} → {sg2} ({sg2 - base2:+.1f}); single runs",
              _est(((summary.get("coco") or {}).get("difference") or {}).get("AP")),
              "AP × 100, 60 images", coco_plateau, f"body-only AP × 100, {coco_what}",
              effects=(("the paper's +1.9", PAPER_EFFECT["AP"]), ("1 point", 1.0))),
        _radius_claim(summary),
        _robustness_claim(robust),
        _attention_claim(attention),
    ]


def answer_sentences(claims: list[Claim]) -> str:
    """The answer in two generated sentences, from the claims in build_claims' order: the first
    (SG improves MPII PCKh) gives the estimate and verdict at 15 epochs and at the plateau, and
    what the study can detect; where the convergence pipeline has COCO pairs, the first sentence
    ends with the second claim's (COCO) estimate and verdict at the end of their schedule
    (body-only AP × 100)."""
    c, coco = claims[0], claims[1]

    def said(e: Estimate | None, unit: str, claim: Claim = c) -> str:
        if e is None:
            return "not measured"
        word = verdict(e, claim.good_if_positive)
        text = f"{fmt_estimate(e, signed=True)} {unit} (n = {e.n}"
        text += f", t-test p = {e.p:.3f})" if math.isfinite(e.p) else ")"
        if word == "not resolved":
            return text + f", not resolved: {fmt_bound(e, claim.good_if_positive)}"
        return text + (", no test" if word.startswith("no test") else f", {word}")

    on_coco = (f"; on the COCO track, trained to the end of the paper's schedule, it is "
               f"{said(coco.plateau, 'body-only AP', coco)}" if coco.plateau is not None else "")
    first = (f"On the MPII-style track, SG − baseline after the default study's 15 epochs is "
             f"{said(c.short, 'PCKh')}, and trained to the plateau it is "
             f"{said(c.plateau, 'PCKh')}{on_coco}.")
    e = c.short
    if e is None or not math.isfinite(e.sd) or e.n < 2:
        return first
    n_paper = n_needed(e.sd, PAPER_EFFECT["PCKh"])
    second = (f"With {e.n} seed pairs this study detects an effect of {fmt_number(e.mde)} PCKh "
              f"(80 % power), so the paper's +{PAPER_EFFECT['PCKh']} PCKh gain would need "
              f"{n_paper or 'more than 100,000'} pairs: it can neither confirm nor rule out an "
              "effect of the paper's size.")
    if c.short is not None and c.short.has_ci and c.short.lo > PAPER_EFFECT["PCKh"]:
        second = (f"The gain at 15 epochs exceeds the paper's +{PAPER_EFFECT['PCKh']} PCKh "
                  f"(t-interval above it, MDE {fmt_number(e.mde)} with {e.n} pairs).")
    return f"{first} {second}"


COLUMNS = ("Claim", "Paper's evidence", "Ours, 15 epochs", "Verdict, 15 epochs",
           "Ours, trained to the plateau", "Verdict, plateau")


def claims_markdown(claims: list[Claim]) -> str:
    """The claims table in Markdown (no title)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in claims:
        plateau = (_cell(c.plateau, c.plateau_what), _verdict_cell(c.plateau, c.good_if_positive,
                                                                   c.effects))
        if c.plateau is None and not c.plateau_what:
            plateau = (f"{NO_RUN} not measured", "—")
        cells = (c.claim, c.paper, _cell(c.short, c.short_what),
                 _verdict_cell(c.short, c.good_if_positive, c.effects), *plateau)
        lines.append("| " + " | ".join(x.replace("|", "/") for x in cells) + " |")
    return "\n".join(lines) + "\n"


CLAIMS_NOTE = (
    "Verdicts follow the 95 % t-interval of SG − baseline paired by seed: **supported** (it "
    "excludes 0 in the paper's direction), **contradicted** (it excludes 0 the other way), "
    "**not resolved** (it covers 0; then the largest effect it allows is given), **no test** "
    "(n = 1). Beside it: the paired t-test and the exact sign-flip p (for n = 3 the latter "
    "cannot go below 0.25), and the minimum detectable effect MDE = (t(0.975, n−1) + "
    "t(0.80, n−1))·s/√n at 80 % power, α = 0.05, from the SD s of the paired differences; "
    "\"seed pairs needed\" is the smallest n whose MDE reaches the effect named. \"15 epochs\": "
    "the default study (`dvc repro`) at the end of its 15-epoch schedule, final evaluation with "
    "flip test. \"Trained to the plateau\": the convergence pipeline, each run's mean of its last "
    "3 validations, over the seed pairs whose two runs trained the same schedule; the archived "
    "fixed-length runs (160/60 epochs, still improving when they stopped) are a recipe of their "
    "own, reported in `reports/convergence_fixed/`, and do not enter this column. Robustness: the "
    "t-interval over training seeds as for the other claims; the bootstrap over validation "
    "persons beside it is a view (it leaves out the seed-to-seed spread).")


def answer_markdown(summary: Mapping, convergence: Mapping | None) -> str:
    """The page's first screen under the question: the answer in two sentences, the claims
    table, SG beside DARK, and how to read them (from build_report's summary and the
    convergence summary)."""
    claims = build_claims(summary, summary.get("robustness") or {}, summary.get("attention") or {},
                          convergence)
    dark = dark_lines(summary.get("dark") or {})
    return (f"**The answer.** {answer_sentences(claims)}\n\n" + claims_markdown(claims)
            + ("\n**SG beside a free gain.** " + DARK_NOTE + "\n\n" + "\n".join(dark) + "\n"
               if dark else "") + "\n" + CLAIMS_NOTE + "\n")


def claims_table(summary: Mapping, robust: Mapping, attention: Mapping,
                 convergence: Mapping | None) -> tuple[str, pd.DataFrame, list[Claim]]:
    """(Markdown with title and note, a CSV frame, the claims)."""
    claims = build_claims(summary, robust, attention, convergence)
    md = ("# Does segmentation guidance help HRNet? The paper's claims against ours\n\n"
          + claims_markdown(claims) + "\n" + CLAIMS_NOTE + "\n")
    rows = []
    for c in claims:
        for regime, e in (("15 epochs", c.short), ("plateau", c.plateau)):
            rows.append({"claim": c.claim, "regime": regime, "verdict": verdict(e, c.good_if_positive),
                         **{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                            for k, v in (e.to_dict() if e else {}).items()
                            if k not in ("seeds", "values")}})
    return md, pd.DataFrame(rows), claims


def write_claims(out_dir: str | Path, summary: Mapping, robust: Mapping, attention: Mapping,
                 convergence: Mapping | None) -> list[Path]:
    """<out_dir>/tables/claims.{md,csv}."""
    md, frame, _ = claims_table(summary, robust, attention, convergence)
    return write_table(Path(out_dir) / "tables", "claims", md, frame)
