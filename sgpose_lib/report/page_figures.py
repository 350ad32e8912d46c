"""The report page's figures and where its discussion's evidence goes.

`figure_html` gives a figure as an <img> whose alt text describes it (IPython's Image gives every
figure nbconvert's "No description has been provided for this image"): linked relative to the
page's folder, or embedded as a data URI, so the page reads offline either way.

`discussion_blocks` lays out the generated discussion (<out>/README.md) for the page: its sections
in order, each followed by the evidence it points to, so that no text sends the reader sections
away. The ablation table goes under the section that names reports/ablations/; each convergence
setting (reports/convergence, convergence_fixed, convergence_gpu) gets its figure and its
details (convergence.md) under the paragraph that discusses it. Evidence that no section names
comes after the last section, under its own heading.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

from .page import CONVERGENCE_OTHERS, discussion_markdown

# file name (or folder/name) -> what the figure shows, for readers who cannot see it
FIGURE_ALT = {
    "pckh_bars.png": "Bar chart: PCKh@0.5 (%) per joint group and Mean of the HRNet baseline and "
                     "SG-HRNet, mean over seeds with 95 % t-intervals and one dot per seed; a "
                     "dotted line marks the mean-pose floor.",
    "coco_bars.png": "Bar chart: COCO keypoint AP, AP50, AP75, APM, APL and AR (%) of the HRNet "
                     "baseline and SG-HRNet on a 0 to 10 % axis, each value printed above its "
                     "bar; n and whether there is a CI are in the legend.",
    "radius_ablation.png": "Two bar charts: PCKh@0.5 Mean of SG-HRNet per disc radius r = 3, 5, "
                           "9 with the baseline as a line (ours, left) and the paper's Table 3 "
                           "values (right).",
    "learning_curves.png": "Line charts, one row per metric: the validation metric per epoch of "
                           "the baseline and SG-HRNet (left) and SG − baseline per epoch "
                           "(right), with 95 % t-interval bands where there are two or more "
                           "seeds.",
    "training_curves.png": "Line charts: the training losses L_key (log scale) and L_seg per "
                           "step of each group of runs, smoothed over faint raw values, one row "
                           "per track.",
    "dwa_weights.png": "Line charts: the DWA task weights w_k (solid) and w_s (dashed) per step "
                       "of the SG runs, one panel per track.",
    "attention_maps.png": "Grid of validation images, one per row: the input crop, the "
                          "ground-truth disc map, the segmentation map of each of the four SGM "
                          "sites over the crop, and the predicted skeletons of SG-HRNet and the "
                          "baseline with the share of joints predicted correctly.",
    "robustness_oks.png": "Bar chart: mean per-person OKS (× 100) of the baseline and SG-HRNet on "
                          "the original COCO validation images and with the background blurred, "
                          "replaced by clutter or by grey, with 95 % CIs over persons.",
    "robustness_conditions.png": "COCO validation images under the four background conditions "
                                 "(original, blur, clutter, grey), with the baseline's and "
                                 "SG-HRNet's predicted skeletons over each.",
    "attention_stats.png": "Bar charts, one per track and radius: the share of each SGM map's "
                           "mass inside the disc target at each site, beside a uniform map's "
                           "share.",
}
CONVERGENCE_ALT = ("Line charts of the convergence setting {setting}, one row per track and "
                   "metric: the validation metric per epoch of the baseline and SG-HRNet with "
                   "each run's first lr drop (left), and SG − baseline per epoch (right), shaded "
                   "where one run of a pair has already ended.")
DETAIL_SHIFT = 3  # convergence.md's '## track' headings sit under the page's '#### setting'


def figure_alt(png: str | Path) -> str:
    """What the figure `png` shows: FIGURE_ALT by file name, the convergence figure with its
    setting (from the summary.json beside it), or a description made from the file name."""
    png = Path(png)
    if png.name in FIGURE_ALT:
        return FIGURE_ALT[png.name]
    if png.name == "curves.png":
        summary = png.parent / "summary.json"
        setting = (json.loads(summary.read_text()).get("setting") if summary.is_file()
                   else png.parent.name)
        return CONVERGENCE_ALT.format(setting=f"'{setting}'")
    return f"Figure: {png.stem.replace('_', ' ')} ({png.parent.name})."


def figure_html(png: str | Path, out_dir: str | Path, link: bool, alt: str | None = None) -> str:
    """`png` as an <img> with `alt` (default: `figure_alt`): with `link`, its path relative to
    `out_dir` (where the page is written), else the PNG embedded as a base64 data URI. A missing
    file gives a one-line note instead."""
    png = Path(png)
    if not png.is_file():
        return f"<p><em>No figure {html.escape(str(png))} yet.</em></p>"
    if link:
        src = Path(os.path.relpath(png, out_dir)).as_posix()
    else:
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
    text = html.escape(alt or figure_alt(png), quote=True)
    return f'<img src="{html.escape(src, quote=True)}" alt="{text}" style="max-width: 100%;"/>'


def shift_headings(text: str, levels: int, deepest: int = 5) -> str:
    """Markdown `text` with every heading moved `levels` down; one that would go below level
    `deepest` becomes a bold line (the page's h6 prints smaller than its text)."""
    def shift(m: re.Match) -> str:
        level = len(m.group(1)) + levels
        return "#" * level + " " + m.group(2) if level <= deepest else f"**{m.group(2)}**"
    return re.sub(r"(?m)^(#{1,6}) +(.*?) *$", shift, text)


def _body(path: Path) -> str:
    """A generated Markdown file without its '# ' title line."""
    return re.sub(r"\A# [^\n]*\n+", "", path.read_text())


def _settings(out: Path) -> dict[str, Path]:
    """setting name -> its report folder (reports/convergence and CONVERGENCE_OTHERS) for the
    folders that hold a summary.json."""
    found = {}
    for name in ("convergence", *CONVERGENCE_OTHERS):
        summary = out / name / "summary.json"
        if summary.is_file():
            found[json.loads(summary.read_text())["setting"]] = out / name
    return found


def _setting_blocks(folder: Path, setting: str) -> list[tuple[str, object]]:
    """A convergence setting's figure, then its details (convergence.md)."""
    blocks: list[tuple[str, object]] = [("figure", folder / "curves.png")]
    if (folder / "convergence.md").is_file():
        blocks.append(("markdown", f"#### Setting `{setting}` in detail "
                                   f"({folder.name}/convergence.md)\n\n"
                       + shift_headings(_body(folder / "convergence.md"), DETAIL_SHIFT)))
    return blocks


def _ablation_blocks(out: Path) -> list[tuple[str, object]]:
    path = out / "ablations" / "ablations.md"
    if not path.is_file():
        return [("markdown", f"*No ablation table ({path}): run `dvc repro "
                             "ablations/dvc.yaml`.*")]
    return [("markdown", "#### The ablation table (ablations/ablations.md)\n\n" + _body(path))]


def discussion_blocks(out_dir: str | Path) -> list[tuple[str, object]]:
    """The page's 'What the numbers say': ('markdown', text) and ('figure', path) blocks of
    `page.discussion_markdown` (<out>/README.md for the page, its sections '### '), with the
    ablation table after the section naming reports/ablations/ and, in each section, every
    convergence setting's figure and details after its paragraph ('Setting `name`' ...)."""
    out = Path(out_dir)
    settings = _settings(out)
    placed: set[str] = set()
    blocks: list[tuple[str, object]] = []
    for section in re.split(r"(?m)^(?=### )", discussion_markdown(out)):
        if not section.strip():
            continue
        for part in re.split(r"(?m)^(?=Setting `)", section):
            blocks.append(("markdown", part))
            m = re.match(r"Setting `([^`]+)`", part)
            if m and m.group(1) in settings and m.group(1) not in placed:
                placed.add(m.group(1))
                blocks += _setting_blocks(settings[m.group(1)], m.group(1))
        if "reports/ablations" in section and "ablations" not in placed:
            placed.add("ablations")
            blocks += _ablation_blocks(out)
    if "ablations" not in placed and (out / "ablations" / "ablations.md").is_file():
        blocks.append(("markdown", "### Ablations"))
        blocks += _ablation_blocks(out)
    for setting, folder in settings.items():
        if setting not in placed:
            blocks.append(("markdown", f"### Convergence: setting `{setting}`"))
            blocks += _setting_blocks(folder, setting)
    return blocks
