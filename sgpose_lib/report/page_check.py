"""Is the report page sound? The structure checks of reports/index.html (tests/test_page.py).

`page_problems` parses a page with the standard library's html.parser and returns one line per
problem, none for a sound page:
- a heading (h1–h6) with nothing after it before the next heading of the same or a higher level
  (or the end of the page): a section without content;
- an <img> without alt text, or with nbconvert's default ("No description has been provided for
  this image", what IPython's Image gets);
- an <img> whose image is not there: a data URI that does not decode, or a linked file missing
  beside the page;
- a <script>, <link> or <img> that loads from the network (an http(s) or protocol-relative URL in
  its src or href, e.g. require.js or MathJax from a CDN), or a style sheet that does
  (url(http…)): the page must read offline. Links a reader may follow (<a href>) are fine.
"""
from __future__ import annotations

import base64
import binascii
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

NBCONVERT_DEFAULT_ALT = "No description has been provided for this image"
HEADINGS = {f"h{k}": k for k in range(1, 7)}
LOADING = {"script": "src", "link": "href", "img": "src"}  # tags whose attribute fetches a file
_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
_REMOTE_CSS = re.compile(r"url\(\s*['\"]?\s*(https?:)?//|@import\s+['\"]\s*(https?:)?//", re.I)


class _PageParser(HTMLParser):
    """Collects, in page order, the headings with whether content followed each, the images and
    what the page loads."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[dict] = []   # {'level', 'text', 'content': bool}
        self.images: list[dict] = []     # the <img> attributes
        self.loads: list[tuple[str, str]] = []  # (tag, url)
        self.css: list[str] = []
        self._in_heading: dict | None = None
        self._skip = 0  # inside <head>, <script> or <style>: no page content

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag in LOADING and attrs.get(LOADING[tag]):
            self.loads.append((tag, attrs[LOADING[tag]]))
        if tag in ("head", "script", "style"):
            self._skip += 1
        elif tag in HEADINGS and not self._skip:
            self._in_heading = {"level": HEADINGS[tag], "text": "", "content": False}
            self.headings.append(self._in_heading)
        elif tag == "img":
            self.images.append(attrs)
            self._content()

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in ("head", "script", "style"):
            self._skip -= 1

    def handle_endtag(self, tag):
        if tag in ("head", "script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in HEADINGS:
            self._in_heading = None

    def handle_data(self, data):
        if self._skip:
            if self.lasttag == "style":
                self.css.append(data)
            return
        if self._in_heading is not None:
            self._in_heading["text"] += data
        elif data.strip():
            self._content()

    def _content(self) -> None:
        """Content at this point: it belongs to every open section (the headings before it, up
        to the first of each level going back)."""
        if self._in_heading is not None:
            return
        level = 7
        for heading in reversed(self.headings):
            if heading["level"] < level:
                heading["content"] = True
                level = heading["level"]


def _image_problem(src: str, folder: Path) -> str | None:
    """Why the image of `src` is not there, or None."""
    if src.startswith("data:"):
        head, _, data = src.partition(",")
        if not head.endswith(";base64") or not data:
            return "a data URI that is not base64"
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return "a data URI that does not decode"
        return None if raw else "an empty data URI"
    if _REMOTE.match(src):
        return None  # reported as a network load
    path = folder / unquote(urlsplit(src).path)
    return None if path.is_file() else f"{src} does not exist beside the page"


def page_problems(page: str | Path) -> list[str]:
    """The problems of the HTML page `page` (see the module docstring); [] when it is sound."""
    page = Path(page)
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    problems = []
    for h in parser.headings:
        if not h["content"]:
            title = " ".join(h["text"].replace("¶", "").split())
            problems.append(f"heading h{h['level']} '{title}' has no content after it")
    for k, img in enumerate(parser.images, 1):
        src = img.get("src", "")
        name = src if not src.startswith("data:") else f"embedded image {k}"
        alt = img.get("alt", "").strip()
        if not alt:
            problems.append(f"image {name}: no alt text")
        elif alt == NBCONVERT_DEFAULT_ALT:
            problems.append(f"image {name}: nbconvert's default alt text")
        why = _image_problem(src, page.parent) if src else "no src"
        if why:
            problems.append(f"image {name}: {why}")
    for tag, url in parser.loads:
        if _REMOTE.match(url):
            problems.append(f"<{tag}> loads {url} from the network")
    for css in parser.css:
        for m in _REMOTE_CSS.finditer(css):
            problems.append(f"a style sheet loads from the network: {css[m.start():m.end() + 40]}")
    return problems
