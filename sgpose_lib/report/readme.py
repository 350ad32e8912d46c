"""The 'Results' section of the project README, generated from the report's headline numbers.

`write_results_section` turns `build_report`'s summary (or <out>/tables/summary.json) into a short
Markdown summary: the answer in two sentences and the claims table (claims.py), then per track
baseline, SG-HRNet and SG − baseline as mean [95 % t-interval] (n = seeds) beside the paper's
values; `update_readme` puts it between the README's
`<!-- results:start -->` and `<!-- results:end -->` markers.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from ..analysis.backgrounds import CONDITIONS
from .claims import answer_sentences, build_claims, claims_markdown
from .dark_gains import dark_lines
from .page import build_report
from .runs import read_json_or_none
from .formatting import NO_RUN, UNDEFINED, fmt_estimate
from .stats import Estimate

RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"


def _e(d: dict | None, digits: int = 1, signed: bool = False) -> str:
    if not d:
        return NO_RUN
    e = Estimate.from_dict(d)
    text = fmt_estimate(e, digits, signed)
    return text + (f" (n={e.n})" if text not in (NO_RUN, UNDEFINED) else "")


def write_results_section(summary: dict | None = None, params_path: str | Path = "params.yaml",
                          runs_dir: str | Path = "runs", out_dir: str | Path = "reports") -> str:
    """A short Markdown 'Results' summary of the headline numbers (from `build_report`'s return
    value, or from <out>/tables/summary.json, or built now)."""
    if summary is None:
        path = Path(out_dir) / "tables" / "summary.json"
        summary = (json.loads(path.read_text()) if path.is_file()
                   else build_report(params_path, runs_dir, out_dir, figures=False))
    conv = read_json_or_none(Path(out_dir) / "convergence" / "summary.json")
    claims = build_claims(summary, summary.get("robustness") or {}, summary.get("attention") or {},
                          conv)
    lines = ["## Results", "",
             f"**The answer.** {answer_sentences(claims)}", "",
             claims_markdown(claims).rstrip(), "",
             *(["**SG beside a free gain** (the DARK decoder, training-free):",
                *dark_lines(summary.get("dark") or {}), ""] if summary.get("dark") else []),
             "Verdicts follow the 95 % t-interval of SG − baseline paired by seed (*not resolved*: "
             "it covers 0; the bound is its limit); MDE = minimum detectable effect at 80 % power. "
             "How each is computed: `reports/README.md`; full tables: `reports/tables/`; page: "
             "`reports/index.html`.", "",
             f"Our runs: {summary['profiles_used'].get('mpii', '')}, on the embedded real data. "
             "Numbers are mean over seeds [95 % t-interval]; SG − baseline is paired by seed.", "",
             *_headline_lines(summary), *_extra_lines(summary), "",
             _caveat(summary)]
    return "\n".join(lines) + "\n"


def _get(part: dict, key: str, metric: str):
    return (part.get(key) or {}).get(metric)


def _p_text(d: dict | None) -> str:
    """', paired t-test p = ...' of a difference's dict ('' without one)."""
    if not d:
        return ""
    if d.get("n", 0) < 2:
        return ", no test (n = 1)"
    p = d.get("p")
    return ", paired t-test p = n/a" if p is None else \
        (", paired t-test p < 0.001" if p < 0.001 else f", paired t-test p = {p:.3f}")


def _headline_lines(summary: dict) -> list[str]:
    """Tables 1-3 in one line each: ours against the paper's."""
    m, c, r = summary.get("mpii", {}), summary.get("coco", {}), summary.get("radius", {})
    dm, dc = _get(m, "difference", "Mean"), _get(c, "difference", "AP")
    rs = f"{summary.get('sg_radius', 5.0):g}"
    return [
        "- **MPII-style track (LSPET, PCKh@0.5 Mean)**: baseline "
        f"{_e(_get(m, 'baseline', 'Mean'))}, "
        f"SG-HRNet r={rs} {_e(_get(m, 'sg', 'Mean'))}; SG − baseline {_e(dm, signed=True)}"
        f"{_p_text(dm)}. Paper (Table 1, full MPII, W32): 90.3 → 90.6 (+0.3).",
        f"- **COCO track (60 val2017 images, AP %)**: baseline {_e(_get(c, 'baseline', 'AP'))}, "
        f"SG-HRNet r={rs} {_e(_get(c, 'sg', 'AP'))}; SG − baseline {_e(dc, signed=True)}"
        f"{_p_text(dc)}; body-only AP: baseline {_e(_get(c, 'body_baseline', 'AP'))}, SG "
        f"{_e(_get(c, 'body_sg', 'AP'))}. Paper (Table 2, COCO val2017, pretrained W32): "
        "74.4 → 76.3 (+1.9).",
        "- **Radius r (Mean PCKh)**: " + ", ".join(
            f"r={k[2:]} {_e((r.get(k) or {}).get('Mean'))}" for k in r
            if k.startswith("r=") and "baseline" not in k)
        + ". Paper (Table 3): r=3 90.4, r=5 90.6, r=9 90.3.",
    ]


def _extra_lines(summary: dict) -> list[str]:
    """Backgrounds swapped, the W32 cost, the missing runs: where the summary has them."""
    lines = []
    robust = summary.get("robustness") or {}
    if robust.get("available"):
        lines.append("- **Backgrounds swapped (COCO track, drop of the mean per-person OKS × 100, "
                     "SG − baseline; < 0: SG loses less)**: " + ", ".join(
                         f"{c} {_e(robust['conditions'][c].get('sg_minus_baseline_drop'), signed=True)}"
                         for c in CONDITIONS[1:]) + f" (CIs over the {robust['persons']} "
                     "persons, one seed per variant). Discussion: `reports/README.md`.")
    w = summary.get("w32_256x192")
    if w:
        lines.append(f"- **Cost**: HRNet-W32 at 256×192 has {w['params'] / 1e6:.2f} M parameters "
                     f"and {w['macs'] / 1e9:.2f} G multiply-adds ({w['macs'] / 1024 ** 3:.2f} in "
                     f"1024³ units; paper 28.5 M / 7.10); the four SGMs add "
                     f"{(w['sg_params'] - w['params']) / 1e6:.3f} M parameters and "
                     f"{(w['sg_macs'] - w['macs']) / 1e9:.3f} G multiply-adds.")
    missing = summary.get("runs_missing") or {}
    excluded = summary.get("runs_excluded") or {}  # left out for a damaged file
    if missing:
        lines.append(f"- Missing runs (shown as \"{NO_RUN}\"): " + ", ".join(
            f"{k} (excluded, damaged file {excluded[k]})" if k in excluded else k
            for k in sorted(missing)) + ".")
    return lines


def _caveat(summary: dict) -> str:
    if summary.get("profile") == "paper":
        return ("Caveat: the paper profile trains HRNet-W32 with the paper's recipe, but with "
                "ground-truth boxes for COCO (the paper: detector boxes). With a handful of "
                "seeds the CI is wide and only indicative; the paper reports single runs.")
    return ("Caveat: the embedded data is small (400 LSPET validation persons, 60 COCO "
            f"images) and the `{summary.get('profile')}` profile's model is far smaller than "
            "W32 and trained for a few epochs, so our absolute levels are far below the "
            "paper's; what can be compared is the SG − baseline difference and its CI. "
            "With a handful of seeds the CI is wide and only indicative; the paper reports "
            "single runs.")


def update_readme(readme_path: str | Path, text: str) -> bool:
    """Replace what lies between `<!-- results:start -->` and `<!-- results:end -->` in the
    README with `text`; returns True when the file changed. Without both markers (in that order)
    nothing is written and a warning says so."""
    path = Path(readme_path)
    content = path.read_text() if path.is_file() else ""
    pattern = re.compile(re.escape(RESULTS_START) + r".*?" + re.escape(RESULTS_END), re.S)
    if not pattern.search(content):
        warnings.warn(f"{path}: markers {RESULTS_START} / {RESULTS_END} not found; README left "
                      "unchanged", stacklevel=2)
        return False
    new = pattern.sub(lambda _: f"{RESULTS_START}\n{text.strip()}\n{RESULTS_END}", content, count=1)
    if new == content:
        return False
    path.write_text(new)
    return True
