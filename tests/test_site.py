"""The built book: self-contained pages, Colab buttons, and the notebooks' install cell.

The built-site tests read ``_build/html`` (or ``$CHATTN_SITE``); ``scripts/test.sh`` always builds
the book first. Run standalone without a build they skip, saying so. The notebook checks need no
build. (``scripts/test.sh`` sets ``CHATTN_REQUIRE_SITE=1``: there a missing site fails.)
``python tests/test_site.py`` prints a summary of the site.
"""
from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from conftest import ROOT, SITE, html_pages, site_pages, toc_files, toc_notebooks  # noqa: F401

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")

INSTALL_CELL = f'''# In Colab: install chattn when it is not importable (the book's own build has it installed).
try:
    import chattn
except ImportError:
    %pip install -q "chattn[book] @ git+{REPO_URL}"
    try:
        import chattn
    except ImportError as error:
        raise ImportError("Installing chattn from {REPO_URL} failed: the pip output above "
                          "says why (no network, or a wrong repository URL).") from error'''

# <link rel=...> values that make the browser fetch the href.
FETCHING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch",
                 "icon", "shortcut", "apple-touch-icon", "manifest", "mask-icon"}


class Resources(HTMLParser):
    """The URLs a page makes the browser fetch: (tag, attribute, url)."""

    def __init__(self):
        super().__init__()
        self.fetched: list[tuple[str, str, str]] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.anchors.append(a["href"])
        if tag in ("script", "img", "iframe", "source", "embed", "audio", "video", "track") and a.get("src"):
            self.fetched.append((tag, "src", a["src"]))
        if tag == "object" and a.get("data"):
            self.fetched.append((tag, "data", a["data"]))
        if tag == "link" and a.get("href") and FETCHING_RELS & set(a.get("rel", "").lower().split()):
            self.fetched.append((tag, "href", a["href"]))


def is_external(url: str) -> bool:
    u = urlparse(url)
    return bool(u.netloc) or u.scheme not in ("", "data", "blob")


def parse(page: Path) -> Resources:
    r = Resources()
    r.feed(page.read_text(encoding="utf-8"))
    return r


def external_resources(pages) -> list[tuple[str, str, str, str]]:
    return [(str(p.relative_to(SITE)), tag, attr, url)
            for p in pages for tag, attr, url in parse(p).fetched if is_external(url)]


# ---------------------------------------------------------------- the notebooks themselves

def test_toc_lists_every_chapter_and_they_exist():
    files = toc_files()
    assert files[0] == "book/intro"
    chapters = [f for f in files if f.split("/")[-1][:2].isdigit()]
    assert [c.split("/")[-1][:2] for c in chapters] == [f"{i:02d}" for i in range(1, 12)]
    missing = [f for f in files if not any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


@pytest.mark.parametrize("nb", toc_notebooks(), ids=lambda p: p.name)
def test_first_cell_installs_chattn_from_the_config_repository(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# "), \
        f"{nb.name}: the page title comes first"
    first = next(c for c in cells if c["cell_type"] == "code")
    assert "".join(first["source"]).rstrip() == INSTALL_CELL, \
        f"{nb.name}: the first code cell must be exactly the install cell with {REPO_URL}"
    assert "hide-input" in first["metadata"].get("tags", []), f"{nb.name}: fold the install cell"


@pytest.mark.parametrize("nb", toc_notebooks(), ids=lambda p: p.name)
def test_notebook_committed_without_outputs(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{nb.name}: cells {dirty} have outputs; clear them before committing"


def test_readme_names_the_config_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert REPO_URL in readme
    repos = set(re.findall(r"github\.com/([\w.-]+/[\w.-]+)", readme))
    assert repos == {REPO_URL.split("github.com/")[1]}, f"README names another repository: {repos}"


def test_readme_five_lines_run():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## chattn in five lines", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 5
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["y"].shape == (8, 256, 14, 14)
    assert scope["logits"].shape[0] == 2


# ---------------------------------------------------------------- the build's page_weight extension

def page_weight():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import page_weight as module
    finally:
        sys.path.pop(0)
    return module


def test_palette_png_when_it_looks_the_same_and_never_for_a_photo_like_image():
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    ax.plot(np.sin(np.linspace(0, 6, 200)), label="sin")
    ax.set_title("a figure: lines and text")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    small = page_weight().smaller_png(png)
    assert len(small) < 0.7 * len(png)
    before = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    after = Image.open(io.BytesIO(small))
    assert after.mode == "P" and after.size == (320, 240)
    mse = ((np.asarray(after.convert("RGB"), dtype=float) - before) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) >= page_weight().PSNR_MIN

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    assert page_weight().smaller_png(buf.getvalue()) == buf.getvalue()   # 256 colours would show


def test_icon_fonts_keep_the_icons_pages_and_stylesheets_use():
    css = ('.fa-bars:before,.fa-navicon:before{content:"\\f0c9"}.fa-rocket:before{content:"\\f135"}'
           '.admonition:before{--pst-icon-note:"\\f05a"}p{color:red}')
    assert page_weight().icon_codepoints(css, {"fa-bars"}) == {0xF0C9, 0xF05A}


def test_static_is_pruned_to_what_pages_and_stylesheets_name(tmp_path):
    site = tmp_path
    (site / "_static" / "css").mkdir(parents=True)
    (site / "_static" / "mathjax" / "input").mkdir(parents=True)
    (site / "book").mkdir()
    (site / "book" / "a.html").write_text('<link rel="stylesheet" href="../_static/css/s.css?v=1">'
                                          '<script src="../_static/app.js"></script>')
    (site / "_static" / "css" / "s.css").write_text("@font-face{src:url(../font.woff)}")
    for name in ("font.woff", "app.js", "unused.js", "app.js.map", "css/unused.css", "mathjax/input/tex.js"):
        (site / "_static" / name).write_text("x")
    page_weight().prune_static(site)
    left = sorted(p.relative_to(site / "_static").as_posix() for p in (site / "_static").rglob("*") if p.is_file())
    assert left == ["app.js", "css/s.css", "font.woff", "mathjax/input/tex.js"]


# ---------------------------------------------------------------- the built site


@pytest.mark.built
def test_no_page_fetches_anything_off_site():
    pages = site_pages()
    external = external_resources(pages)
    print(f"{len(pages)} pages, {len(external)} external resource URLs")
    assert external == [], "\n".join(map(str, external[:20]))


@pytest.mark.built
def test_stylesheets_import_nothing_off_site():
    site_pages()
    bad = []
    for css in SITE.joinpath("_static").rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        for marker in ("url(http", "url('http", 'url("http', "url(//", "@import url(http", '@import "http'):
            if marker in text:
                bad.append((str(css.relative_to(SITE)), marker))
    assert bad == []


@pytest.mark.built
def test_local_resources_exist():
    missing = []
    for page in site_pages():
        for tag, attr, url in parse(page).fetched:
            if is_external(url) or url.startswith(("data:", "#")):
                continue
            target = (page.parent / unquote(urlparse(url).path)).resolve()
            if not target.exists():
                missing.append((str(page.relative_to(SITE)), url))
    assert missing == []


@pytest.mark.built
def test_math_is_typeset_by_the_local_mathjax():
    """MathJax's loader from the site, told to load TeX input and CommonHTML output, and only
    those components are on the site (not the whole distribution, not the combined bundles)."""
    site_pages()
    mathjax = SITE / "_static" / "mathjax"
    for component in ("startup.js", "core.js", "input/tex.js", "output/chtml.js"):
        assert (mathjax / component).stat().st_size > 10_000, component
    assert not list(mathjax.glob("tex-*.js")) and not (mathjax / "sre").exists()
    intro = (SITE / "book" / "intro.html").read_text(encoding="utf-8")
    scripts = [url for tag, _, url in parse(SITE / "book" / "intro.html").fetched if tag == "script"]
    assert any(urlparse(u).path.endswith("_static/mathjax/startup.js") for u in scripts), scripts
    assert '"input/tex"' in intro and '"output/chtml"' in intro
    assert not any("require" in u for u in scripts)


@pytest.mark.built
def test_static_holds_only_what_pages_use():
    """No source maps, no theme translations, no icon script: the site is what its pages load."""
    site_pages()
    static = SITE / "_static"
    assert not list(static.rglob("*.map")) and not (static / "locales").exists()
    assert not (static / "scripts" / "fontawesome.js").exists()
    assert not any("fontawesome.js" in p.read_text(encoding="utf-8") for p in html_pages())
    # Sphinx's search index is loaded by the search page only (no search-as-you-type), in each
    # edition (the Chinese one in zh/ has its own index).
    loads_index = sorted(p.relative_to(SITE).as_posix() for p in html_pages()
                         if any(u.split("?")[0].endswith("searchindex.js") for _, _, u in parse(p).fetched))
    editions = ["search.html"] + (["zh/search.html"] if (SITE / "zh" / "search.html").exists() else [])
    assert loads_index == editions
    # The page "Your photograph" fetches its runtime and networks only when the reader acts
    # (tests/test_photograph.py checks what it fetches): here, that the folder holds only those.
    photograph = static / "photograph"
    size = sum(p.stat().st_size for p in static.rglob("*") if p.is_file() and photograph not in p.parents)
    assert size < 5_000_000, f"_static without photograph/ is {size / 1e6:.1f} MB"
    if photograph.exists():
        import chattn.pretrained
        assert sorted(p.name for p in (photograph / "ort").iterdir() if p.name != "LICENSE") == \
            sorted(["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"])
        # the grid's twelve networks and every network of the r / k sweeps (se_r8, eca_k3, ...); at a
        # sweep's default value the grid's network is that value's, not a file of its own
        letters = {"reduction": "r", "k_size": "k"}
        sweeps = [f"{attn}_{letters[option]}{v}" for attn, (option, _) in chattn.pretrained.SWEEPS.items()
                  for v in chattn.pretrained.own_sweep_values(attn)]
        assert sorted(p.stem for p in (photograph / "models").iterdir()) == \
            sorted(chattn.pretrained.shipped() + sweeps)


@pytest.mark.built
def test_slider_frames_are_files():
    """Static sliders on the site refer to frame files; no frame is inlined as a data: URI."""
    pages = [p for p in site_pages() if "chattn-frame" in p.read_text(encoding="utf-8")]
    assert pages, "no slider on the site"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "data:image/png" not in text, f"{page.name} inlines an image"
        frames = re.findall(r'class="chattn-frame"[^>]*?\s(src|data-src)="([^"]+)"', text)
        assert frames and all(not u.startswith("data:") for _, u in frames)
        for _, url in frames:
            assert (page.parent / url).is_file(), f"{page.name}: {url} is missing"


@pytest.mark.built
def test_every_notebook_page_has_its_colab_button():
    site_pages()
    colab = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    repo = REPO_URL.split("github.com/")[1]
    branch = CONFIG["repository"]["branch"]
    prefix = CONFIG["repository"].get("path_to_book") or ""
    notebooks = toc_notebooks()
    assert notebooks, "no notebook in _toc.yml"
    for nb in notebooks:
        rel = nb.relative_to(ROOT).with_suffix("")
        page = SITE / rel.with_suffix(".html")
        assert page.exists(), f"{rel} was not built"
        want = f"{colab}/github/{repo}/blob/{branch}/{prefix}{rel.as_posix()}.ipynb"
        assert want in parse(page).anchors, f"{page.name}: no Colab link {want}"


@pytest.mark.built
def test_search_index_covers_the_book():
    site_pages()
    assert (SITE / "search.html").exists()
    index = (SITE / "searchindex.js").read_text(encoding="utf-8")
    for doc in toc_files():
        assert f'"{doc}"' in index, f"{doc} is not in the search index"


if __name__ == "__main__":
    pages = html_pages() if SITE.exists() else []
    if not pages:
        sys.exit(f"no built site at {SITE}")
    ext = external_resources(pages)
    print(f"site {SITE}: {len(pages)} pages, {len(ext)} external resource URLs, "
          f"{len(toc_notebooks())} notebooks")
    for e in ext:
        print("  external:", *e)
    sys.exit(1 if ext else 0)
