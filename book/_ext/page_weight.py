"""Light pages: what the build writes for the browser, and only that.

- Slider frames as files: a static slider (chattn.interactive) is one self-contained HTML block
  with its frames as ``data:`` URIs (the notebook works alone). At build time each frame becomes
  a file in ``_images/`` named by its content, and the block refers to it (``src`` for the frame
  shown first, ``data-src`` for the others, fetched on the slider's first move).
- Images as small as they look: every PNG the site shows (frames and figures) is stored as a
  256-colour palette PNG when that is indistinguishable from it (PSNR >= 40 dB), else as it was;
  its text chunks are kept.
- Sphinx's search scripts and index are loaded by search.html only (the theme loads them on
  every page for its search-as-you-type, which this book does not turn on).
- The theme's icons come from its webfont CSS: the 1.5 MB ``fontawesome.js`` (which redraws the
  same icons as SVG) is not loaded, and the icon fonts (275 kB) are cut to the icons the site
  shows (the ``fa-*`` classes of its pages and every icon its stylesheets name), as WOFF.
- MathJax: TeX input (its extensions loaded on demand) and CommonHTML output, not the combined
  ``tex-chtml.js`` with its menu; only those components are copied.
- ``_static/`` keeps only what a page or a stylesheet refers to (no source maps, no theme
  translations, no script the pages do not load).
"""
from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import io
import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes

IMAGES = "_images"
PSNR_MIN = 40.0                       # dB: above this a palette image looks like the original

# The MathJax 3 components this book loads (from the sphinx-mathjax-offline package on disk).
MATHJAX_FILES = ["startup.js", "core.js", "input/tex.js", "input/tex/extensions",
                 "output/chtml.js", "output/chtml/fonts", "a11y/assistive-mml.js"]
MATHJAX_CONFIG = {
    "loader": {"load": ["input/tex", "output/chtml", "a11y/assistive-mml"]},
}

_DATA_URI = re.compile(r'(\s(?:data-)?src=")data:image/png;base64,([A-Za-z0-9+/=]+)(")')
_FONTAWESOME = re.compile(r'[ \t]*<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*></script>\n?')
# pydata-sphinx-theme loads Sphinx's search on every page, for its search-as-you-type option.
_SEARCH_SCRIPTS = re.compile(r'[ \t]*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js'
                             r'|searchindex\.js)"></script>\n?')
_URL_ATTR = re.compile(r'\s(?:src|href|data-src)="([^"#?]+)')
_CSS_URL = re.compile(r'url\(\s*[\'"]?([^\'")?#]+)|@import\s+[\'"]([^\'"]+)')


# ---------------------------------------------------------------- images

def smaller_png(png: bytes) -> bytes:
    """``png`` as a 256-colour palette PNG when that looks the same (PSNR >= 40 dB) and is smaller.

    The fast octree quantizer first (a tenth of median cut's time); median cut when the octree's
    palette would show.
    """
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    im = Image.open(io.BytesIO(png))
    if im.mode == "P":
        return png                                          # already a palette image
    # Text chunks travel with the image (chattn:min-text-px, the figure's smallest text size,
    # is what tests/test_legibility.py reads from every PNG the site shows).
    info = PngInfo()
    for key, value in getattr(im, "text", {}).items():
        info.add_text(key, value)
    rgba = im.convert("RGBA")
    if rgba.getextrema()[3][0] == 255:                      # opaque: quantize RGB
        rgba = rgba.convert("RGB")
    pixels = np.asarray(rgba, dtype=np.float64)
    methods = [Image.Quantize.FASTOCTREE] + ([Image.Quantize.MEDIANCUT] if rgba.mode == "RGB" else [])
    for method in methods:
        pal = rgba.quantize(256, method=method, dither=Image.Dither.NONE)
        mse = float(((np.asarray(pal.convert(rgba.mode), dtype=np.float64) - pixels) ** 2).mean())
        if mse == 0 or 10 * np.log10(255 ** 2 / mse) >= PSNR_MIN:
            buf = io.BytesIO()
            pal.save(buf, format="PNG", compress_level=9, pnginfo=info)
            return buf.getvalue() if buf.tell() < len(png) else png
    return png


def frames_to_files(app, doctree, docname):
    """Replace the data: URIs of slider frames in ``docname`` by files in ``_images/``.

    A frame's file is named by the frame as the notebook made it, so a frame already written (by
    an earlier build, or by the English build for the Chinese one, whose ``chattn_frames_dir`` is
    ``../_images``) is neither decoded nor shrunk again.
    """
    if app.builder.format != "html":
        return
    out = (Path(app.builder.outdir) / app.config.chattn_frames_dir).resolve()
    here = posixpath.dirname(app.builder.get_target_uri(docname))

    def to_file(m):
        data = base64.b64decode(m.group(2))
        name = hashlib.sha256(data).hexdigest()[:20] + ".png"
        out.mkdir(parents=True, exist_ok=True)
        if not (out / name).exists():
            (out / name).write_bytes(smaller_png(data))
        url = posixpath.join(app.config.chattn_frames_dir, name)
        return m.group(1) + html.escape(posixpath.relpath(url, here or ".")) + m.group(3)

    for node in doctree.findall(nodes.raw):
        text = node.astext()
        if node.get("format") == "html" and "chattn-frame" in text:
            new = _DATA_URI.sub(to_file, text)
            node.children = [nodes.Text(new)]


def shrink_figures(outdir: Path):
    for path in (outdir / IMAGES).glob("*.png"):
        png = path.read_bytes()
        small = smaller_png(png)
        if small is not png:
            path.write_bytes(small)


# ---------------------------------------------------------------- theme, MathJax, _static

def site_pages(outdir: Path) -> list[Path]:
    """The site's own pages, not those of a site built inside it (the Chinese edition in ``zh/``,
    recognised by its own ``_static/``)."""
    nested = [p.parent.resolve() for p in outdir.glob("*/_static")]
    return [p for p in outdir.rglob("*.html") if not any(n in p.resolve().parents for n in nested)]


def drop_unused_scripts(outdir: Path, search_as_you_type: bool):
    """Remove the icon script from every page; and the search scripts and index from every page
    but search.html unless the theme searches as you type (only then do other pages use them)."""
    for page in site_pages(outdir):
        text = page.read_text(encoding="utf-8")
        new = _FONTAWESOME.sub("", text)
        if not search_as_you_type and page.resolve() != (outdir / "search.html").resolve():
            new = _SEARCH_SCRIPTS.sub("", new)
        if new != text:
            page.write_text(new, encoding="utf-8")


_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_ICON_SELECTOR = re.compile(r"^\s*\.(fa-[a-z0-9-]+):(?::)?before\s*$")
_ICON = re.compile(r"\\([0-9a-fA-F]{4,5})|([\ue000-\uf8ff])")
_FONT_URL = re.compile(r"url\((\.\./vendor/fontawesome/webfonts/(fa-[a-z]+-\d+))\.woff2\) format\(\"woff2\"\)"
                       r",url\(\1\.ttf\) format\(\"truetype\"\)")


def icon_codepoints(css: str, used_classes: set[str]) -> set[int]:
    """Icons a stylesheet draws: ``.fa-x:before`` rules of the used classes, and every icon its
    other rules name (admonition icons, toggles...)."""
    points = set()
    for selector, body in _RULE.findall(css):
        parts = selector.split(",")
        icons = [_ICON_SELECTOR.match(p) for p in parts]
        if all(icons) and not any(m.group(1) in used_classes for m in icons):
            continue                                 # an icon the pages never show
        for esc, char in _ICON.findall(body):
            cp = int(esc, 16) if esc else ord(char)
            if 0xE000 <= cp <= 0xF8FF:
                points.add(cp)
    return points


def subset_icon_fonts(outdir: Path):
    """Replace the theme's Font Awesome webfonts by WOFF subsets with only the icons used."""
    from fontTools import subset

    used_classes = set()
    for page in site_pages(outdir):
        used_classes |= set(re.findall(r"\bfa-[a-z0-9-]+", page.read_text(encoding="utf-8")))
    for css_path in (outdir / "_static").rglob("*.css"):
        css = css_path.read_text(encoding="utf-8")
        fonts = _FONT_URL.findall(css)
        if not fonts:
            continue
        points = set()
        for other in (outdir / "_static").rglob("*.css"):
            points |= icon_codepoints(other.read_text(encoding="utf-8"), used_classes)
        for rel, stem in fonts:
            source = (css_path.parent / f"{rel}.ttf").resolve()
            font = subset.load_font(str(source), subset.Options())
            options = subset.Options(flavor="woff", layout_features=["*"], name_IDs=["*"])
            sub = subset.Subsetter(options)
            sub.populate(unicodes=sorted(points))
            sub.subset(font)
            subset.save_font(font, str(source.with_name(f"{stem}.subset.woff")), options)
        css = _FONT_URL.sub(r'url(\1.subset.woff) format("woff")', css)
        css_path.write_text(css, encoding="utf-8")


def copy_mathjax(outdir: Path):
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("MathJax not found: pip install sphinx-mathjax-offline (requirements.txt)")
    src = Path(spec.origin).parent / "static" / "mathjax"
    dst = outdir / "_static" / "mathjax"
    shutil.rmtree(dst, ignore_errors=True)
    for rel in MATHJAX_FILES:
        if (src / rel).is_dir():
            shutil.copytree(src / rel, dst / rel)
        else:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)


def used_static(outdir: Path) -> set[Path]:
    """Files under _static/ that a page (src/href) or, in turn, a stylesheet (url(), @import) names."""
    static = (outdir / "_static").resolve()
    used: set[Path] = set()
    todo: list[Path] = []
    for page in site_pages(outdir):
        if static in page.resolve().parents:
            continue
        for url in _URL_ATTR.findall(page.read_text(encoding="utf-8")):
            if "://" not in url and not url.startswith(("data:", "mailto:", "/")):
                todo.append((page.parent / url).resolve())
    while todo:
        path = todo.pop()
        if path in used or static not in path.parents or not path.is_file():
            continue
        used.add(path)
        if path.suffix == ".css":
            for a, b in _CSS_URL.findall(path.read_text(encoding="utf-8", errors="replace")):
                url = a or b
                if "://" not in url and not url.startswith("data:"):
                    todo.append((path.parent / url.strip()).resolve())
    used |= {p.resolve() for p in (static / "mathjax").rglob("*") if p.is_file()}   # loaded by MathJax
    return used


def prune_static(outdir: Path):
    static = outdir / "_static"
    used = used_static(outdir)
    for path in sorted(static.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file() and path.resolve() not in used:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def light_site(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.builder.outdir)
    shrink_figures(outdir)
    options = app.config.html_theme_options or {}
    drop_unused_scripts(outdir, str(options.get("search_as_you_type", False)).lower() == "true")
    subset_icon_fonts(outdir)
    copy_mathjax(outdir)
    prune_static(outdir)


def use_mathjax_components(app, config):
    config.mathjax_path = "mathjax/startup.js"
    config.mathjax3_config = {**(config.mathjax3_config or {}), **MATHJAX_CONFIG}


def setup(app):
    # Where slider frames go, relative to the output folder ("../_images" for the Chinese edition,
    # which shares the English site's frames).
    app.add_config_value("chattn_frames_dir", IMAGES, "html")
    app.connect("config-inited", use_mathjax_components)
    app.connect("doctree-resolved", frames_to_files)
    app.connect("build-finished", light_site)
    # Frame files are named by their content: two writers of one frame write the same bytes.
    return {"parallel_read_safe": True, "parallel_write_safe": True}
