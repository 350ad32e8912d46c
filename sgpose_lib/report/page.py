"""The report: every table, figure and the discussion in one call, and the pieces of its page.

`build_report` reads params.yaml and the runs folder (`runs.load_study`) and writes
    <out>/tables/table1_pckh.{md,csv}     Table 1 analogue: PCKh@0.5 per joint group
    <out>/tables/table2_coco.{md,csv}     Table 2 analogue: COCO AP ... AR, params, GFLOPs
    <out>/tables/table3_radius.{md,csv}   Table 3 analogue: disc radius r in {3, 5, 9}
    <out>/tables/learning.{md,csv}        ours vs the untrained and mean-pose floors
    <out>/tables/groups.{md,csv}          every (track, variant, radius) group of the matrix
    <out>/tables/{robustness,attention,learning_curves}.{md,csv}   beyond the paper
    <out>/tables/claims.{md,csv}          the paper's claims against ours, with verdicts
    <out>/tables/summary.json             the headline numbers (also returned)
    <out>/figures/study/*.png             training curves, DWA weights, bars, radius ablation, ...
    <out>/README.md                       the generated discussion
The files hold no timestamp, so they change only when their inputs change. `table_markdown`,
`overview_markdown` and `environment_markdown` give the page (notebooks/report.ipynb) its text.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..config import SGM_SITES, TRACKS
from ..model import model_complexity
from .claims import claims_markdown, claims_table
from .dark_gains import dark_gains
from .curves import study_curves
from .person_bootstrap import study_two_stage
from .discussion import discussion
from .figures import attention_stats_figure, robustness_figures, study_figures
from .findings import attention_table, robustness_table
from .paper import DATA_TEXT, PAPER_CITATION
from .runs import Study, load_study, read_json_or_none
from .staging import staged
from .formatting import none_if_nan
from .table import write_table
from .wording import count
from .study_tables import groups_table, learning_table
from .tables import table1, table2, table3

# the convergence pipeline's reports besides reports/convergence, shown after it in section 6 of
# reports/README.md: the archived fixed-length runs, the GPU runs (convergence/dvc.yaml)
CONVERGENCE_OTHERS = ("convergence_fixed", "convergence_gpu")
# what build_report writes under its output folder, each replaced whole (staging.staged)
REPORT_PARTS = ("tables", "figures/study", "README.md")


def build_report(params_path: str | Path = "params.yaml", runs_dir: str | Path = "runs",
                 out_dir: str | Path = "reports", figures: bool = True, sg_radius: float = 5.0,
                 n_resamples: int = 10_000, seed: int = 0,
                 perturbed_root: str | Path | None = "data/perturbed",
                 exclude_damaged: bool = False) -> dict:
    """Write the study tables (<out>/tables) and figures (<out>/figures/study), the robustness and
    attention tables and <out>/README.md (`build_findings`; `perturbed_root`: the background-swap
    images for the figure); return the headline numbers (also in <out>/tables/summary.json).

    Every run file is checked first (runs.load_study): a damaged one raises DamagedFile before
    anything is written, or with `exclude_damaged` leaves its run out, named with the reason
    wherever the missing runs are. The files are written to a staging folder and replace
    <out>/tables, <out>/figures/study and <out>/README.md only once all are written (staging.py):
    a failed report leaves the previous one as it was."""
    study = load_study(params_path, runs_dir, sg_radius=float(sg_radius),
                       n_resamples=n_resamples, seed=seed, exclude_damaged=exclude_damaged)
    out = Path(out_dir)
    with staged(out, REPORT_PARTS) as stage:
        summary = _write_report(study, out, stage, figures, perturbed_root)
    summary["files"] = {kind: [str(out / Path(p).relative_to(stage)) for p in paths]
                        for kind, paths in summary["files"].items()}
    return summary


def _write_report(study: Study, out: Path, stage: Path, figures: bool,
                  perturbed_root: str | Path | None) -> dict:
    """build_report's files, written under `stage` (the staging folder of `out`, whose
    convergence summaries the discussion reads)."""
    tables = stage / "tables"
    written: dict[str, list[str]] = {"tables": [], "figures": []}
    summary: dict = {"profile": study.profile, "paper": PAPER_CITATION,
                     "sg_radius": study.sg_radius,
                     "runs_used": [r.name for r in study.used],
                     "environments": run_environments(study),
                     "runs_missing": {r.name: r.missing for r in study.missing()},
                     "profiles_used": {t: study.profile_text(t) for t in TRACKS}}
    if any(r.excluded for r in study.runs):  # --exclude-damaged: each left-out run and why
        summary["runs_excluded"] = {r.name: r.excluded for r in study.runs if r.excluded}
    for stem, fn, key in (("table1_pckh", table1, "mpii"), ("table2_coco", table2, "coco"),
                          ("table3_radius", table3, "radius"),
                          ("learning", learning_table, "learning"),
                          ("groups", groups_table, "groups")):
        md, frame, part = fn(study)
        written["tables"] += [str(p) for p in write_table(tables, stem, md, frame)]
        summary[key] = part
    p, m = model_complexity("hrnet_w32", (), 17, (192, 256))
    ps, ms = model_complexity("hrnet_w32", SGM_SITES, 17, (192, 256))
    summary["w32_256x192"] = {"params": p, "macs": m, "sg_params": ps, "sg_macs": ms}
    findings = build_findings(study, summary, stage, Path(perturbed_root) if perturbed_root
                              else None, figures, read_dir=out)
    summary["robustness"], summary["attention"] = findings["robustness"], findings["attention"]
    written["tables"] += findings["files"]
    (tables / "summary.json").write_text(json.dumps(summary, indent=2, default=none_if_nan) + "\n")
    if figures:
        written["figures"] = [str(f) for f in study_figures(study, stage / "figures" / "study")]
    summary["files"] = written
    return summary


def build_findings(study: Study, report_summary: dict, out_dir: Path,
                   perturbed_root: Path | None, figures: bool = True,
                   read_dir: Path | None = None) -> dict:
    """Write the robustness and attention tables, their figures and reports/README.md into
    `out_dir`; the convergence summaries are read from `read_dir` (default: `out_dir`)."""
    read_dir = out_dir if read_dir is None else read_dir
    tables = out_dir / "tables"
    md_r, frame_r, robust = robustness_table(study)
    md_a, frame_a, attention = attention_table(study)
    md_c, frame_c, report_summary["learning_curves"] = study_curves(study, out_dir, figures)
    written = (write_table(tables, "robustness", md_r, frame_r)
               + write_table(tables, "attention", md_a, frame_a)
               + write_table(tables, "learning_curves", md_c, frame_c))
    if figures:
        folder = out_dir / "figures" / "study"
        if perturbed_root is not None and Path(perturbed_root).is_dir():
            written += robustness_figures(study, Path(perturbed_root), folder)
        written += attention_stats_figure(attention, study.profile, folder)
    readme = out_dir / "README.md"
    convergence = read_json_or_none(read_dir / "convergence" / "summary.json")
    others = [(folder, summary) for folder in CONVERGENCE_OTHERS
              if (summary := read_json_or_none(read_dir / folder / "summary.json"))]
    report_summary["dark"] = dark_gains(study)
    report_summary["two_stage"] = study_two_stage(study)
    claims_md, claims_frame, claims = claims_table(report_summary, robust, attention, convergence)
    written += write_table(tables, "claims", claims_md, claims_frame)
    report_summary["claims"] = claims_frame.to_dict(orient="records")
    readme.write_text(discussion(report_summary, robust, attention, convergence, others,
                                 claims_markdown(claims)))
    return {"robustness": robust, "attention": attention,
            "files": [str(p) for p in written] + [str(readme)]}


def table_markdown(out_dir: str | Path, stem: str, shift: int = 1, drop_title: bool = False) -> str:
    """A written table's Markdown with its headings moved `shift` levels down (to sit under a
    page title), without its first '# ' title line with `drop_title`; a missing file gives a
    one-line note."""
    path = Path(out_dir) / "tables" / f"{stem}.md"
    if not path.is_file():
        return f"*{path} not found: run build_report first.*"
    text = path.read_text()
    if drop_title:
        text = re.sub(r"\A# [^\n]*\n+", "", text)
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + shift) + " ", text, flags=re.M)


def discussion_markdown(out_dir: str | Path) -> str:
    """<out>/README.md for the page: without its title and its answer section (the page opens
    with the answer), its headings one level down."""
    path = Path(out_dir) / "README.md"
    if not path.is_file():
        return f"*{path} not found: run build_report first.*"
    text = re.sub(r"\A# [^\n]*\n+", "", path.read_text())
    text = re.sub(r"\A## The answer[^\n]*\n.*?(?=^Generated by)", "", text, flags=re.S | re.M)
    return text.replace("\n## ", "\n### ")


def run_environments(study: Study) -> list[dict]:
    """The distinct software/machine records (train/environment.json) of the runs used, each with
    the runs it covers: the versions, commit and CPU that produced the numbers."""
    seen: list[dict] = []
    for r in study.used:
        env = read_json_or_none(r.folder / "train" / "environment.json")
        if not isinstance(env, dict):
            continue
        key = {k: env.get(k) for k in ("packages", "git_commit", "git_dirty", "cpu",
                                       "cpu_capability", "torch_threads", "cuda_device")}
        for entry in seen:
            if entry["environment"] == key:
                entry["runs"].append(r.name)
                break
        else:
            seen.append({"environment": key, "runs": [r.name]})
    return seen


def environment_markdown(environments: list[dict]) -> str:
    """One line per distinct environment of the runs: packages, commit (dirty or not), CPU."""
    lines = []
    for entry in environments:
        e = entry["environment"]
        pk = ", ".join(f"{k} {v}" for k, v in (e.get("packages") or {}).items() if v)
        commit = (e.get("git_commit") or "unknown")[:10] + (" (modified tree)" if e.get("git_dirty")
                                                             else "")
        lines.append(f"- {count(len(entry['runs']), 'run')}: {pk}; commit {commit}; "
                     f"CPU {e.get('cpu')} "
                     f"({e.get('cpu_capability')}, {e.get('torch_threads')} threads)"
                     + (f"; GPU {e['cuda_device']}" if e.get("cuda_device") else ""))
    return "\n".join(lines)


def overview_markdown(summary: dict) -> str:
    """What produced the numbers of the page: profile per track, runs used and missing."""
    used = summary.get("runs_used") or []
    missing = summary.get("runs_missing") or {}
    lines = [f"**Paper**: {PAPER_CITATION}.", "",
             f"**params.yaml profile**: `{summary.get('profile')}`."]
    for t in TRACKS:
        lines.append(f"- **{t} track**: {summary['profiles_used'].get(t, '')}. {DATA_TEXT[t]}")
    lines += ["", f"**Runs used** ({len(used)}): " + (", ".join(f"`{r}`" for r in used) or "none")
              + "."]
    lines.append("**Missing runs**: " + (", ".join(f"`{k}` ({v})" for k, v in missing.items())
                                          if missing else "none") + ".")
    if summary.get("environments"):
        lines += ["", "**Software and machine** (each run's `train/environment.json`):",
                  environment_markdown(summary["environments"])]
    return "\n".join(lines) + "\n"
