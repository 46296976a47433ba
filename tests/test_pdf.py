"""The PDF of the whole book (``_build/html/chattn-book.pdf``, written by ``scripts/pdf.py``), read
back with ``pdftotext`` (poppler-utils, installed by the set-up):

- every page of ``_toc.yml`` is in it, in order: each chapter's title as its notebook's or
  markdown file's first heading says it;
- no raw LaTeX (``\\frac``, ``\\mathbb``, ``\\sum``, ``$$``) outside code: a line of the PDF's text
  that holds one must come from a code listing of the site (the package's docstrings, shown as
  source, legitimately contain LaTeX);
- math was typeset and figures are included: the PDF has images on the chapter pages;
- the front page links it.

``python tests/test_pdf.py`` prints the page count and the size.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT, SITE, missing
from chromium import toc_docs  # scripts/ (conftest puts it on sys.path)
from pdf import PDF_NAME

PDF = SITE / PDF_NAME
pytestmark = pytest.mark.built         # needs the PDF: slow too (conftest)
RAW_LATEX = re.compile(r"\\frac|\\mathbb|\\sum|\$\$")


def norm(text: str) -> str:
    """NFKC (ligatures, non-breaking spaces), no soft hyphens, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    return re.sub(r"\s+", " ", text).strip()


def require_pdf() -> Path:
    if not PDF.exists():
        missing(f"no {PDF}: bash scripts/test.sh (or scripts/book.sh) builds it after the site")
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext not found: apt-get install -y poppler-utils (scripts/test.sh does it)")
    return PDF


def pdftotext(*args: str) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", *args, str(require_pdf()), "-"],
                          capture_output=True, text=True, check=True).stdout


def title_of(doc: str) -> str:
    """The first ``# `` heading of ``doc`` (a notebook's first markdown cell, or a .md file), as
    plain text: markdown emphasis and code marks removed."""
    nb, md = ROOT / f"{doc}.ipynb", ROOT / f"{doc}.md"
    if nb.exists():
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"])
    else:
        text = md.read_text(encoding="utf-8")
    heading = next(line for line in text.splitlines() if line.startswith("# "))[2:]
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)        # [text](link) -> text
    return norm(re.sub(r"[`*_]", "", heading))


class CodeText(HTMLParser):
    """The text of every <pre> block of a page."""

    def __init__(self):
        super().__init__()
        self.depth, self.blocks, self._buf = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "pre" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.blocks.append("".join(self._buf))
                self._buf = []

    def handle_data(self, data):
        if self.depth:
            self._buf.append(data)


def site_code(docs) -> str:
    parser = CodeText()
    for doc in docs:
        parser.feed((SITE / f"{doc}.html").read_text(encoding="utf-8"))
    return "\n".join(norm(b) for b in parser.blocks)


def letters(text: str) -> str:
    """Letters and digits only: a title broken over two lines ("second-" / "order") still matches."""
    return re.sub(r"[\W_]+", "", norm(text)).lower()


def test_every_page_title_is_in_the_pdf_in_order():
    text = letters(pdftotext())
    docs = toc_docs(ROOT)
    assert len(docs) >= 12
    position = 0
    for doc in docs:
        title = letters(title_of(doc))
        assert len(title) >= 5, doc
        found = text.find(title, position)
        assert found >= 0, f"{doc}: title {title!r} not in the PDF after position {position}"
        position = found + len(title)


def test_no_raw_latex_outside_code():
    lines = [norm(line) for line in pdftotext("-layout").splitlines()]
    latex_lines = [line for line in lines if RAW_LATEX.search(line)]
    code = site_code(toc_docs(ROOT))
    raw = [line for line in latex_lines if line not in code]
    assert raw == [], f"{len(raw)} lines of the PDF show raw LaTeX outside code, e.g. {raw[:5]}"


def test_raw_latex_check_would_see_untypeset_math():
    """The check above is not vacuous: the site's own prose has LaTeX before MathJax runs, and
    none of those lines is a code line."""
    require_pdf()
    intro = (SITE / "book" / "intro.html").read_text(encoding="utf-8")
    assert RAW_LATEX.search(intro) or "\\(" in intro or "\\[" in intro
    code = site_code(["book/intro"])
    prose_math = [m.group(0) for m in re.finditer(r"\\\[.*?\\\]", intro, re.S)]
    assert prose_math and not any(norm(m) in code for m in prose_math)


def test_pdf_has_figures_and_typeset_math():
    images = subprocess.run(["pdfimages", "-list", str(require_pdf())], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    assert len(images) >= len(toc_docs(ROOT)) - 4, f"only {len(images)} images in the PDF"
    # Typeset math prints as symbols: the SE gate formula s = F(X; θ) of the front page.
    assert "θ" in pdftotext("-f", "1", "-l", "3")


def test_front_page_links_the_pdf():
    require_pdf()
    intro = (SITE / "book" / "intro.html").read_text(encoding="utf-8")
    assert f'href="../{PDF_NAME}"' in intro


def summary() -> str:
    info = subprocess.run(["pdfinfo", str(require_pdf())], capture_output=True, text=True, check=True).stdout
    pages = re.search(r"Pages:\s+(\d+)", info).group(1)
    return f"{PDF}: {pages} pages, {PDF.stat().st_size / 1e6:.1f} MB"


if __name__ == "__main__":
    print(summary())
