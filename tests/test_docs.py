"""The README stays short and the docs hold together: the README has at most 150 lines, no file
repeats a heading (the README's generated Results block brings its own "## Results"), every page
of docs/ is linked from the README, and every relative link of the README and docs/*.md points to
an existing file (and, into a Markdown file, to an existing heading)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _headings(text: str) -> list[str]:
    return [ln.strip() for ln in _prose(text).splitlines() if re.match(r"#{1,6}\s", ln)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading line."""
    title = re.sub(r"^#+\s*", "", heading).strip().lower()
    title = re.sub(r"[^\w\- ]", "", title.replace("`", ""))
    return title.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    # headings with their code spans: strip only fenced blocks here
    text = re.sub(r"^```.*?^```[^\n]*$", "", path.read_text(), flags=re.S | re.M)
    return {_slug(ln) for ln in text.splitlines() if re.match(r"#{1,6}\s", ln)}


def test_docs_exist():
    assert DOCS, "docs/*.md"


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines (at most 150)"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_heading_twice(path):
    headings = _headings(path.read_text())
    repeated = sorted({h for h in headings if headings.count(h) > 1})
    assert not repeated, f"{path.name}: headings repeated: {repeated}"


def test_results_heading_only_in_the_generated_block():
    """The report writes '## Results' between the markers; the README must not add its own, or
    every regeneration leaves two."""
    text = README.read_text()
    assert text.count(RESULTS_START) == 1 and text.count(RESULTS_END) == 1
    before, rest = text.split(RESULTS_START)
    block, after = rest.split(RESULTS_END)
    assert not any(h.lstrip("#").strip() == "Results" for h in _headings(before + after))
    assert [h for h in _headings(block) if h.startswith("## ")][:1] == ["## Results"]
    assert "<!-- walltime:start -->" in text and "<!-- walltime:end -->" in text


def test_every_docs_page_is_linked_from_the_readme():
    targets = {(README.parent / t.split("#")[0]).resolve()
               for t in LINK.findall(_prose(README.read_text())) if not re.match(r"\w+:", t)}
    missing = [p.name for p in DOCS if p.resolve() not in targets]
    assert not missing, f"docs pages not linked from README.md: {missing}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path):
    broken = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):      # https:, mailto: ...
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.name}: broken links {broken}"
