"""The book reads like a book: numbered titles in _toc.yml order, a diagram at the start of every
module chapter, plotting code folded, every figure checked for nan/inf, no printed nan/inf and no
empty code block on the built site.

The notebook checks need no build; the site checks read ``_build/html`` (see ``test_site.py``:
without a build they skip, under ``scripts/test.sh`` they fail).
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
import yaml

from conftest import ROOT, SITE, site_pages, toc_files

import chattn
from chattn.interactive import _NOT_FINITE

APPENDIX_PART = "Beyond the book"     # pages past the chapters, lettered A, B, ... in toc order
APPENDICES = [c["file"] for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
              if part.get("caption") == APPENDIX_PART for c in part["chapters"]]
NOTEBOOKS = [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]
CHAPTERS = [f for f in NOTEBOOKS if f not in APPENDICES]
MODULE_OF = dict(zip((f"book/{n}" for n in ("01_se", "02_encnet", "03_gsop", "04_fcanet", "05_bilinear",
                                            "06_eca", "07_rcan", "08_dianet", "09_srm", "10_gct",
                                            "11_soca")), chattn.available()))
DRAWS = re.compile(r"plt\.|slider\(|\.imshow\(|\bfig\b|\bax\.|axes\[")


def cells(chapter: str) -> list[dict]:
    return json.loads((ROOT / f"{chapter}.ipynb").read_text(encoding="utf-8"))["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


# ------------------------------------------------------------------------ notebooks

def test_chapter_titles_are_numbered_in_toc_order():
    titles = [text(cells(c)[0]).splitlines()[0] for c in CHAPTERS]
    numbers = [re.match(r"# (\d+)\. \S", t) for t in titles]
    assert all(numbers), [t for t, n in zip(titles, numbers) if not n]
    assert [int(n.group(1)) for n in numbers] == list(range(1, len(CHAPTERS) + 1)), titles
    assert len(CHAPTERS) == 12                    # eleven modules, then the comparison as chapter 12


def source_title(page: str) -> str:
    path = ROOT / f"{page}.ipynb"
    first = text(cells(page)[0]) if path.exists() else (ROOT / f"{page}.md").read_text(encoding="utf-8")
    return first.lstrip().splitlines()[0]


def test_appendix_titles_are_lettered_in_toc_order():
    assert APPENDICES, f"no part {APPENDIX_PART!r} in _toc.yml"
    titles = [source_title(page) for page in APPENDICES]
    letters = [re.match(r"# ([A-Z])\. \S", t) for t in titles]
    assert all(letters), titles
    assert [m.group(1) for m in letters] == [chr(ord("A") + i) for i in range(len(APPENDICES))], titles


@pytest.mark.parametrize("chapter", list(MODULE_OF), ids=lambda c: c.split("/")[-1])
def test_module_chapter_opens_its_derivation_with_its_diagram(chapter):
    cs = cells(chapter)
    first_h2 = next(i for i, c in enumerate(cs) if c["cell_type"] == "markdown"
                    and re.search(r"^## ", text(c), re.M))
    diagram = cs[first_h2 + 1]
    assert diagram["cell_type"] == "code"
    assert f'viz.diagram("{MODULE_OF[chapter]}")' in text(diagram), text(diagram)
    assert first_h2 == 3, "title, install, imports, then the derivation"


@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=lambda c: c.split("/")[-1])
def test_plotting_code_is_folded_and_every_figure_is_checked(chapter):
    for i, c in enumerate(cells(chapter)):
        if c["cell_type"] != "code":
            continue
        src = text(c)
        if DRAWS.search(src):
            assert "hide-input" in tags(c), f"{chapter} cell {i} draws: fold it (hide-input)\n{src[:200]}"
        # plt.show() would skip the nan/inf check: figures go through viz.show() or slider()
        assert not re.search(r"\bplt\.show\(", src), f"{chapter} cell {i}: use viz.show()"


def test_fallback_glue_runs_where_myst_nb_is_missing():
    """In Colab there is no myst_nb: each set-up cell's fallback ``glue`` must show the value there.

    Every notebook's set-up cell (the first code cell after the install cell) runs in one fresh
    process with ``myst_nb`` unimportable, then calls ``glue`` as the chapters do.
    """
    import subprocess
    import sys

    setups = {}
    for chapter in NOTEBOOKS:
        code = [text(c) for c in cells(chapter) if c["cell_type"] == "code"]
        setup = next((s for s in code if "from myst_nb import glue" in s), None)
        if setup is not None:
            setups[chapter] = setup
    assert len(setups) >= 9, sorted(setups)
    script = "\n".join([
        "import sys, json", "sys.modules['myst_nb'] = None   # as in Colab: import myst_nb fails",
        "import matplotlib; matplotlib.use('Agg')",
        "failed = {}",
        "for chapter, setup in json.loads(sys.stdin.read()).items():",
        "    ns = {}",
        "    try:",
        "        exec(compile(setup, chapter, 'exec'), ns)",
        "        ns['glue']('x', 'a glued value', display=False)",
        "    except Exception as e:",
        "        failed[chapter] = f'{type(e).__name__}: {e}'",
        "print(json.dumps(failed))",
    ])
    out = subprocess.run([sys.executable, "-c", script], input=json.dumps(setups), capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert not failed, failed


@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=lambda c: c.split("/")[-1])
def test_no_empty_code_cell_or_fence(chapter):
    for i, c in enumerate(cells(chapter)):
        assert text(c).strip(), f"{chapter} cell {i} is empty"
        # a fence opened and closed at once (e.g. a stray ``` after a closing fence) renders an
        # empty code block
        if c["cell_type"] == "markdown":
            assert not re.search(r"^```[\w-]*\n```$", text(c), re.M), f"{chapter} cell {i}: empty code fence"


@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=lambda c: c.split("/")[-1])
def test_every_cell_has_its_own_id(chapter):
    """nbformat 4.5 cells carry an ``id`` (a missing one is a warning in every build today and an
    error in nbformat's next versions); a cell added by a script must get one too."""
    ids = [c.get("id") for c in cells(chapter)]
    assert None not in ids, f"{chapter}: cells {[i for i, x in enumerate(ids) if x is None]} have no id"
    assert len(set(ids)) == len(ids), f"{chapter}: a cell id repeats"


# ------------------------------------------------------------------------ built site

class _Blocks(HTMLParser):
    """The text of every <pre> block (code and printed output) of a page, the text inside cell
    outputs (``div.cell_output``: printed text and HTML tables), and the <h1> titles."""

    def __init__(self):
        super().__init__()
        self.pre, self.h1, self.outputs = [], [], []
        self._pre = self._h1 = None
        self._out_depth = 0                     # > 0 inside a cell output: nesting depth of its divs
        self._listing = None                    # depth of the text_html output we are in, if any

    def handle_starttag(self, tag, attrs):
        if tag == "div":
            classes = (dict(attrs).get("class") or "").split()
            if self._out_depth:
                self._out_depth += 1
                if "text_html" in classes and self._listing is None:
                    self._listing = self._out_depth     # a source listing (IPython Code) or a table
            elif "cell_output" in classes:
                self._out_depth = 1
        elif tag == "pre":
            self._pre = []
        elif tag == "h1":
            self._h1 = []

    def handle_endtag(self, tag):
        if tag == "div" and self._out_depth:
            if self._listing == self._out_depth:
                self._listing = None
            self._out_depth -= 1
        elif tag == "pre" and self._pre is not None:
            self.pre.append("".join(self._pre))
            self._pre = None
        elif tag == "h1" and self._h1 is not None:
            self.h1.append("".join(self._h1).strip())
            self._h1 = None

    def handle_data(self, data):
        if self._pre is not None:
            self._pre.append(data)
        if self._h1 is not None:
            self._h1.append(data)
        # printed text and HTML tables count; source code shown with IPython's Code (a <pre>
        # inside a text_html output) is the package's source, not a result
        if self._out_depth and not (self._listing is not None and self._pre is not None):
            self.outputs.append(data)


def blocks(page) -> _Blocks:
    b = _Blocks()
    b.feed(page.read_text(encoding="utf-8"))
    return b


class _Prose(HTMLParser):
    """The text of a page outside code, scripts and typeset maths."""
    SKIP = ("code", "pre", "script", "style", "textarea")
    VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr")

    def __init__(self):
        super().__init__()
        self._open, self._skip, self.text = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        skip = tag in self.SKIP or "math" in (dict(attrs).get("class") or "").split()
        self._open.append((tag, skip))
        self._skip += skip

    def handle_endtag(self, tag):
        while self._open:
            opened, skip = self._open.pop()
            self._skip -= skip
            if opened == tag:
                break

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


_RAW_MATH = re.compile(r"\$[^$\s][^$\n]*?\$")


@pytest.mark.built
def test_no_page_shows_untypeset_dollar_maths():
    """A ``$...$`` that reaches the reader as text: maths in a place MyST does not parse it (an
    inline ``{glue:md}`` value is CommonMark: no dollar maths)."""
    raw = {}
    for p in site_pages():
        prose = _Prose()
        prose.feed(p.read_text(encoding="utf-8"))
        hits = _RAW_MATH.findall(" ".join(prose.text))
        if hits:
            raw[str(p.relative_to(SITE))] = hits[:5]
    assert not raw, f"maths shown as text: {raw}"


@pytest.mark.built
def test_no_page_has_an_empty_code_block():
    empty = [str(p.relative_to(SITE)) for p in site_pages()
             if any(not block.strip() for block in blocks(p).pre)]
    assert not empty, f"pages with an empty code block: {empty}"


@pytest.mark.built
def test_no_printed_output_shows_nan_or_inf():
    bad = {}
    for p in site_pages():
        hits = sorted({m.group(0) for out in blocks(p).outputs for m in _NOT_FINITE.finditer(out)})
        if hits:
            bad[str(p.relative_to(SITE))] = hits
    assert not bad, f"printed nan/inf: {bad}"


@pytest.mark.built
def test_built_titles_are_numbered_in_toc_order():
    site_pages()
    for n, chapter in enumerate(CHAPTERS, start=1):
        h1 = blocks(SITE / f"{chapter}.html").h1
        assert h1 and re.match(rf"{n}\. ", h1[0]), (chapter, h1)
    for i, page in enumerate(APPENDICES):
        h1 = blocks(SITE / f"{page}.html").h1
        assert h1 and re.match(rf"{chr(ord('A') + i)}\. ", h1[0]), (page, h1)


@pytest.mark.built
def test_notation_page_is_linked_from_the_introduction():
    site_pages()
    intro = (SITE / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'href="notation.html' in intro
    notation = (SITE / "book" / "notation.html").read_text(encoding="utf-8")
    for term in ("挤压", "激励", "squeeze", "excitation"):
        assert term in notation


def test_symbol_equals_number_stays_on_one_line_in_prose_only():
    import importlib.util
    from docutils import nodes
    from docutils.core import publish_doctree
    spec = importlib.util.spec_from_file_location("chattn_book", ROOT / "book" / "_ext" / "chattn_book.py")
    book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book)
    nb = "\u00a0=\u00a0"
    assert book.keep_symbol_equals_number("r = 4, E = 24 epochs, p = 0.011, x = \u22123, \u03b7\u00b2 = 0.85") == (
        f"r{nb}4, E{nb}24 epochs, p{nb}0.011, x{nb}\u22123, \u03b7\u00b2{nb}0.85")
    assert book.keep_symbol_equals_number("\u5728 r = 4 \u65f6") == f"\u5728 r{nb}4 \u65f6"       # 在 r = 4 时
    for unchanged in ("Config.r = 4", "a = b", "width = x", "reduction = 4"):
        assert book.keep_symbol_equals_number(unchanged) == unchanged
    doc = publish_doctree("At r = 4 the gate ``r = 4`` and :math:`r = 4`.\n\n::\n\n    r = 4\n")
    book.NoBreakAroundEquals(doc).run()
    texts = [str(n) for n in doc.findall(nodes.Text)]
    assert texts[0] == f"At r{nb}4 the gate " and texts.count("r = 4") == 3         # code, maths, block
    # the symbol a node of its own (emphasis, inline maths): the " = " after it is joined too
    doc = publish_doctree("At *r* = 16 and :math:`k` = 3, but *reduction* = 4 and *r* = a.\n")
    book.NoBreakAroundEquals(doc).run()
    texts = [str(n) for n in doc.findall(nodes.Text)]
    assert texts == ["At ", "r", f"{nb}16 and ", "k", f"{nb}3, but ", "reduction", " = 4 and ", "r", " = a."], texts
