#!/usr/bin/env python3
"""The whole book as one PDF, offline:  python scripts/pdf.py [--language zh] [--site _build/html] [--out FILE]

Chromium (Debian's, driven by Playwright) prints every page of the built site in ``_toc.yml``'s
order, after MathJax has typeset it and its images have loaded; pypdf concatenates the pages and
adds one bookmark per page. The static sliders print at their first position (the other frames
are hidden). Written to ``_build/html/chattn-book.pdf``, next to the site that links it; with
``--language zh``, the Chinese edition's pages (``_build/html/zh/``, served from the English
site's root: the two share the slider frames) into ``_build/html/zh/chattn-book-zh.pdf``.

The site is served from 127.0.0.1 on a port the OS picks; any request to another host is refused
(the book is self-contained, the PDF must be too).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import CHROMIUM_ARGS, keep_local, require_chromium, serve, toc_docs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
PDF_NAME = "chattn-book.pdf"
#: The editions: folder under the site's root, PDF name, title (None: _config.yml's).
EDITIONS = {"en": ("", PDF_NAME, None), "zh": ("zh", "chattn-book-zh.pdf", "通道注意力：挤压、激励、缩放")}
# Print styles on top of the theme's: no "show code cell source" toggles (the folded install and
# import cells), no header-link glyphs, long code lines wrapped instead of cut at the margin, no
# page break inside a figure or an equation.
PRINT_CSS = """
@media print {
  .headerlink, details.hide.above-input, .toggle-details__summary, .copybtn, .header-article, .prev-next-area,
  .bd-footer-content, .bd-footer-article, .bd-header-article { display: none !important; }
  pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }   /* long code lines wrap */
  img, .cell_output, mjx-container[display="true"] { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
}
"""


def print_page(page, url: str) -> bytes:
    """Open ``url``, wait for MathJax and the images, return the page printed to PDF (A4)."""
    page.goto(url, wait_until="load")
    page.add_style_tag(content=PRINT_CSS)
    # MathJax 3 (only on pages with math) resolves startup.promise once the page is typeset.
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
        await document.fonts.ready;
        await Promise.all(Array.from(document.images).filter(i => !i.complete)
            .map(i => new Promise(r => { i.onload = i.onerror = r; })));
    }""")
    return page.pdf(format="A4", print_background=True,
                    margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})


def build_pdf(site: Path = SITE, out: Path | None = None, root: Path = ROOT, language: str = "en") -> Path:
    """Print the pages ``_toc.yml`` lists from ``site`` (in the ``language`` edition's folder)
    into one PDF; return its path."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    folder, name, book_title = EDITIONS[language]
    out = out or site / folder / name
    files = [f"{folder}/{f}" if folder else f for f in toc_docs(root)]
    missing = [f for f in files if not (site / f"{f}.html").exists()]
    if missing:
        raise FileNotFoundError(f"not built in {site}: {missing} (run the book build first)")

    writer = PdfWriter()
    start = time.perf_counter()
    with serve(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        context = browser.new_context(color_scheme="light", viewport={"width": 1000, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(60_000)
        refused = keep_local(page, base)
        for f in files:
            first = len(writer.pages)
            writer.append(PdfReader(io.BytesIO(print_page(page, f"{base}/{f}.html"))))
            title = page.title().split(" \u2014 ")[0].strip() or f
            writer.add_outline_item(title=title, page_number=first)
        browser.close()
    if refused:
        raise RuntimeError(f"pages asked for files outside the site: {refused[:5]}")
    writer.add_metadata({"/Title": book_title or _book_title(root), "/Creator": "chattn scripts/pdf.py (Chromium)"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        writer.write(fh)
    print(f"{out}: {len(writer.pages)} pages, {out.stat().st_size / 1e6:.1f} MB, "
          f"{len(files)} pages of the site in {time.perf_counter() - start:.0f} s")
    return out


def _book_title(root: Path) -> str:
    return str(yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")).get("title", "chattn"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the built site (default _build/html)")
    parser.add_argument("--out", type=Path, default=None, help=f"default SITE/{PDF_NAME} (zh: SITE/zh/...)")
    parser.add_argument("--language", choices=sorted(EDITIONS), default="en", help="the edition to print")
    args = parser.parse_args(argv)
    try:
        build_pdf(args.site, args.out, language=args.language)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
