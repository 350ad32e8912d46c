"""The report page: its structure (reports/index.html, parsed with html.parser), the pieces that
build it (figures with alt text, the discussion with its evidence under it, the offline template)
and the wording of its text and figures, on hand-made inputs."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sgpose_lib.report.canvas import plt
from sgpose_lib.report.page_check import NBCONVERT_DEFAULT_ALT, page_problems

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "reports" / "index.html"
PNG = base64.b64decode(  # a 1 x 1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg==")


# --- the page itself -------------------------------------------------------------------------

def test_the_report_page_is_sound():
    """reports/index.html (the `report` stage): every heading has content after it, every image a
    description and a file, nothing is fetched from the network."""
    if not PAGE.is_file():
        pytest.skip("no reports/index.html: `dvc repro` writes it")
    assert page_problems(PAGE) == []


def _page(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "index.html"
    path.write_text(f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}"
                    "</body></html>", encoding="utf-8")
    return path


def test_a_sound_page_has_no_problems(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a b.png").write_bytes(PNG)
    data = base64.b64encode(PNG).decode()
    body = ('<h1>Title<a class="anchor-link" href="#Title">¶</a></h1><p>intro</p>'
            '<h2>Section</h2><h3>Sub</h3><p>text</p>'
            '<h2>Figures</h2><img src="figures/a%20b.png" alt="A bar chart."/>'
            f'<img src="data:image/png;base64,{data}" alt="Another chart.">'
            '<p><a href="https://doi.org/10.18280/ts.410522">doi</a></p>')
    head = "<style>.a { color: red; } /* see https://example.org */</style>"
    assert page_problems(_page(tmp_path, body, head)) == []


def test_each_problem_of_a_page_is_named(tmp_path):
    body = ('<h2>Empty</h2><h2>Next</h2><p>x</p><h3>Last</h3>'
            '<img src="missing.png" alt="Chart.">'
            '<img src="data:image/png;base64,@@@" alt="Broken.">'
            f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}">'
            f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}" '
            f'alt="{NBCONVERT_DEFAULT_ALT}">')
    head = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js">'
            '</script><link rel="stylesheet" href="//cdn.example.org/a.css">'
            '<style>@font-face { src: url("https://fonts.example.org/f.woff"); }</style>')
    problems = page_problems(_page(tmp_path, body, head))
    assert "heading h2 'Empty' has no content after it" in problems
    assert "heading h3 'Last' has no content after it" not in problems  # the images follow it
    assert "image missing.png: missing.png does not exist beside the page" in problems
    assert "image embedded image 2: a data URI that does not decode" in problems
    assert "image embedded image 3: no alt text" in problems
    assert "image embedded image 4: nbconvert's default alt text" in problems
    assert any(p.startswith("<script> loads https://cdnjs") for p in problems)
    assert any(p.startswith("<link> loads //cdn.example.org") for p in problems)
    assert any(p.startswith("a style sheet loads from the network") for p in problems)
    assert len(problems) == 8


def test_a_heading_at_the_end_of_the_page_has_no_content(tmp_path):
    assert page_problems(_page(tmp_path, "<h1>T</h1><p>x</p><h2>Tail</h2>")) == [
        "heading h2 'Tail' has no content after it"]


def test_the_offline_template_loads_nothing_from_the_network(tmp_path):
    """The `report` stage's nbconvert template: the lab template without require.js, MathJax
    and Mermaid from a CDN; the lab template itself fails the check."""
    nbformat = pytest.importorskip("nbformat")
    from nbconvert import HTMLExporter
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Page\n\nText."),
                nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
                    "display_data", data={"text/html": '<img src="f.png" alt="A chart."/>'})])]
    (tmp_path / "f.png").write_bytes(PNG)
    for template, extra in (("offline", [str(ROOT / "notebooks" / "templates")]), ("lab", [])):
        exporter = HTMLExporter(template_name=template, extra_template_basedirs=extra,
                                exclude_input=True)
        html, _ = exporter.from_notebook_node(nb)
        page = tmp_path / f"{template}.html"
        page.write_text(html, encoding="utf-8")
        loads = [p for p in page_problems(page) if "network" in p]
        assert (loads == []) == (template == "offline"), (template, loads)


# --- figures with alt text, the discussion with its evidence ---------------------------------

def test_figure_html_links_or_embeds_with_a_description(tmp_path):
    from sgpose_lib.report.page_figures import FIGURE_ALT, figure_html
    png = tmp_path / "figures" / "study" / "coco_bars.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(PNG)
    linked = figure_html(png, tmp_path, link=True)
    assert 'src="figures/study/coco_bars.png"' in linked
    assert f'alt="{FIGURE_ALT["coco_bars.png"]}"' in linked
    embedded = figure_html(png, tmp_path, link=False, alt='a "quoted" chart')
    src = re.search(r'src="data:image/png;base64,([^"]+)"', embedded).group(1)
    assert base64.b64decode(src) == PNG
    assert 'alt="a &quot;quoted&quot; chart"' in embedded
    assert figure_html(tmp_path / "none.png", tmp_path, link=True).startswith("<p><em>No figure")


def test_a_convergence_figure_is_described_with_its_setting(tmp_path):
    from sgpose_lib.report.page_figures import figure_alt
    (tmp_path / "summary.json").write_text(json.dumps({"setting": "cpu_plateau"}))
    assert "convergence setting 'cpu_plateau'" in figure_alt(tmp_path / "curves.png")
    assert figure_alt(tmp_path / "other_thing.png").startswith("Figure: other thing")


def _convergence(out: Path, folder: str, setting: str) -> None:
    (out / folder).mkdir(parents=True)
    (out / folder / "summary.json").write_text(json.dumps({"setting": setting}))
    (out / folder / "convergence.md").write_text(f"# Convergence ({setting})\n\nIntro.\n\n"
                                                 "## mpii track\n\n### Mean at budgets\n\n|a|\n")
    (out / folder / "curves.png").write_bytes(PNG)


def test_the_discussion_gets_its_evidence_under_the_text_that_names_it(tmp_path):
    """Section 5 names reports/ablations/: the ablation table follows it; section 6 discusses two
    settings: each one's figure and details follow its paragraph; a third setting that no text
    names comes at the end, under its own heading."""
    from sgpose_lib.report.page_figures import discussion_blocks
    (tmp_path / "README.md").write_text(
        "# What the numbers say\n\nGenerated.\n\n## 5. Which part does the work\n\n"
        "The ablations: `reports/ablations/ablations.md`.\n\n## 6. Does the gain survive?\n\n"
        "Setting `cpu_plateau` (profile `cpu`):\n\n- a\n\nSetting `cpu` (profile `cpu`), "
        "(`reports/convergence_fixed/convergence.md`):\n\n- b\n\n## Caveats\n\nSmall data.\n")
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "ablations.md").write_text("# Ablations\n\nText.\n\n| t |\n")
    _convergence(tmp_path, "convergence", "cpu_plateau")
    _convergence(tmp_path, "convergence_fixed", "cpu")
    _convergence(tmp_path, "convergence_gpu", "gpu")
    blocks = discussion_blocks(tmp_path)
    names = [b if k == "markdown" else f"FIGURE {b.parent.name}" for k, b in blocks]
    heads = [n.split("\n")[0] for n in names]
    assert heads == ["Generated.", "### 5. Which part does the work",
                     "#### The ablation table (ablations/ablations.md)",
                     "### 6. Does the gain survive?", "Setting `cpu_plateau` (profile `cpu`):",
                     "FIGURE convergence",
                     "#### Setting `cpu_plateau` in detail (convergence/convergence.md)",
                     "Setting `cpu` (profile `cpu`), "
                     "(`reports/convergence_fixed/convergence.md`):",
                     "FIGURE convergence_fixed",
                     "#### Setting `cpu` in detail (convergence_fixed/convergence.md)",
                     "### Caveats", "### Convergence: setting `gpu`", "FIGURE convergence_gpu",
                     "#### Setting `gpu` in detail (convergence_gpu/convergence.md)"]
    detail = names[6]
    assert "##### mpii track" in detail and "**Mean at budgets**" in detail
    assert "# Convergence" not in detail  # its title is the page's heading


# --- wording ---------------------------------------------------------------------------------

def test_wording_rules():
    from sgpose_lib.report.wording import count, epoch_span, input_size, value_range
    assert [count(n, "seed") for n in (0, 1, 3)] == ["0 seeds", "1 seed", "3 seeds"]
    assert value_range(1.62, 1.64) == "1.6"
    assert value_range(1.6, 2.3) == "1.6–2.3"
    assert value_range(-0.3, 0.2, sep=" to ", signed=True) == "−0.3 to +0.2"
    assert value_range(0.7, 0.74, sep=" to ", signed=True) == "+0.7"
    assert epoch_span([60, 60]) == "epoch 60"
    assert epoch_span([145, 140]) == "epochs 140 to 145"
    assert input_size((96, 128)) == "128×96 (h×w)"


def test_no_report_text_writes_sizes_width_first():
    """One notation for input sizes: height×width, '128×96 (h×w)'."""
    for path in (ROOT / "sgpose_lib" / "report").glob("*.py"):
        assert "w×h" not in path.read_text(), path.name


def test_plateau_lines_print_one_epoch_and_one_gain_once():
    from sgpose_lib.report.plateaus import plateau_count, until_plateau_line
    phases = {"b": {"first_drop": 60, "ended_by": "plateau"},
              "s": {"first_drop": 160, "ended_by": "max_epochs"}}
    line = until_plateau_line("coco", phases, finished=2)
    assert "ended by the plateau rule (at epoch 60), 1 at max_epochs" in line
    assert "epochs 60 to 60" not in line
    assert plateau_count([{"gain": 0.7, "plateau": True}, {"gain": 0.74, "plateau": True}]) == (
        2, 2, "+0.7")


def _est(mean, n, ci=None):
    from sgpose_lib.report.stats import Estimate
    lo, hi = ci if ci else (np.nan, np.nan)
    return Estimate(mean, lo, hi, n)


def _labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def test_curve_legends_name_a_band_only_where_there_is_one():
    """n = 1 per variant: no band and no CI in any legend; the lr drops have a legend entry;
    the SG run ends first: the difference panel spans the baseline's epochs and shades those
    without a pair; epoch ticks are whole numbers."""
    from sgpose_lib.report.curve_plots import plot_curves
    table = pd.DataFrame([{"epoch": e, "baseline": _est(10.0 + e, 1),
                           "sg": _est(11.0 + e, 1) if e <= 2 else None,
                           "diff": _est(1.0, 1) if e <= 2 else None} for e in (1, 2, 3)])
    fig, (a, b) = plt.subplots(1, 2)
    plot_curves(a, b, table, "Mean (%)", drops=[("baseline", 2), ("sg", 2), ("sg", 2)])
    assert _labels(a) == ["HRNet baseline, n = 1 seed, no CI", "SG-HRNet, n = 1 seed, no CI",
                          "first lr drop, baseline run", "first lr drop, SG runs"]
    assert _labels(b) == ["SG − baseline, n = 1 pair, no CI",
                          "no pair after epoch 2: the SG run ends at epoch 2"]
    assert not a.collections and not b.collections  # no band drawn
    assert b.get_xlim() == a.get_xlim()
    assert b.get_ylim()[0] <= -1 and b.get_ylim()[1] >= 1  # noise of 1 point is not magnified
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in a.get_xticks())
    assert b.get_ylabel() == "SG − baseline (points)"  # short: it fits beside its own panel
    plt.close(fig)


def test_curve_legends_with_seeds_name_the_band():
    from sgpose_lib.report.curve_plots import plot_curves
    table = pd.DataFrame([{"epoch": e, "baseline": _est(10.0, 2, (9.0, 11.0)),
                           "sg": _est(11.0, 2, (10.0, 12.0)), "diff": _est(1.0, 2, (0.5, 1.5))}
                          for e in (5, 10)])
    fig, (a, b) = plt.subplots(1, 2)
    plot_curves(a, b, table, "Mean (%)")
    assert _labels(a) == ["HRNet baseline, n = 2 seeds (band: 95 % t-interval)",
                          "SG-HRNet, n = 2 seeds (band: 95 % t-interval)"]
    assert _labels(b) == ["SG − baseline, n = 2 pairs (band: 95 % t-interval)"]
    assert len(a.collections) == 2 and len(b.collections) == 1  # the bands
    plt.close(fig)


def test_bar_figures_promise_no_ci_for_single_runs_and_keep_the_legend_off_the_bars():
    from sgpose_lib.report import viz
    from sgpose_lib.report.figures import BAR_MIN_TOP, bars_caption
    single = {"HRNet baseline": {"AP": _est(0.03, 1), "AR": _est(0.5, 1)},
              "SG-HRNet r=5": {"AP": _est(0.01, 1), "AR": _est(0.2, 1)}}
    assert bars_caption(single) == ("Baseline vs SG-HRNet: one run each (n = 1, no CI), values "
                                    "above the bars")
    seeds = {"HRNet baseline": {"AP": _est(20.0, 3, (18.0, 22.0))}}
    assert "error bars = 95 % t-interval" in bars_caption(seeds)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    viz.plot_group_bars(single, ["AP", "AR"], ax=ax, min_top=BAR_MIN_TOP)
    assert ax.get_ylim() == (0.0, BAR_MIN_TOP)  # 0.5 % does not fill the axis
    assert _labels(ax) == ["HRNet baseline (n = 1, no CI)", "SG-HRNet r=5 (n = 1, no CI)"]
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # beside the axes, over no bar
    assert [t.get_text() for t in ax.texts] == ["0.0", "0.5", "0.0", "0.2"]  # values shown
    plt.close(fig)


def test_ablation_differences_are_signed_and_the_reference_row_is_marked():
    from sgpose_lib.report.table import Table
    t = Table("ablations", ["Mean PCKh", "− paper config", "p"], first="Configuration")
    t.add("lam", "ours", {"Mean PCKh": _est(27.2, 3, (25.3, 29.1)),
                          "− paper config": _est(0.2, 3, (-1.5, 2.0))}, "seeds 0, 1, 2",
          signed={"− paper config"}, extra={"p": "0.613"})
    assert t.rows[0][1:4] == ["27.2 [25.3, 29.1]", "+0.2 [−1.5, +2.0]", "0.613"]
    from sgpose_lib.report.ablations import REFERENCE_MARK
    assert REFERENCE_MARK == "¹"


def test_attention_figure_keys_the_skeleton_colours_and_prints_bar_labels_apart():
    from sgpose_lib.report.attention_maps import _bar_format, skeleton_key
    from sgpose_lib.report.samples import LEFT, MIDDLE, RIGHT
    key = {h.get_label(): h.get_color() for h in skeleton_key()}
    assert key["right joints"] == RIGHT and key["left joints"] == LEFT
    assert key["centre joints (head, neck, pelvis, thorax)"] == MIDDLE
    assert "ground truth" in key and "disc target outline" in key
    assert _bar_format(0.02, 0.43) == "{x:.2f}"
    assert _bar_format(0.4856, 0.4857) == "{x:.4f}"


def test_the_committed_page_embeds_the_committed_ablation_table():
    """reports/index.html embeds reports/ablations/ablations.md, a table of another pipeline
    that dvc.yaml's report stage cannot list among its deps (DVC would then pull the ablation
    pipeline into the default `dvc repro`): after `dvc repro ablations/dvc.yaml`, `dvc repro -f
    -s report` refreshes the page. A page left behind its table fails here: every number cell of
    every row must be on the page."""
    table = ROOT / "reports" / "ablations" / "ablations.md"
    if not table.is_file():
        pytest.skip("no ablation table committed")
    page = PAGE.read_text()
    rows = [line for line in table.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| Configuration")]
    assert rows
    for row in rows:
        for cell in [c.strip() for c in row.strip("|").split("|")][1:]:
            assert f">{cell.replace('<', '&lt;')}<" in page, (cell, row[:60])
