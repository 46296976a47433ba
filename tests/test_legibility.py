"""Figures a reader can read where they are shown, measured in Chromium on the built site.

**Text size.** Every PNG the book shows carries its smallest text size in its own pixels (tEXt
chunk ``chattn:min-text-px``, written by :func:`chattn.interactive.figure_png` for slider frames
and, through the build's IPython startup file, for every other figure). In Chromium, at 1280 and
at 390 CSS px, every ``<img>`` of the article of every page with figures (not the theme's header icons) (each slider frame
shown in turn) is measured: its text is displayed at

    min-text-px * displayed CSS width / natural width    CSS px,

which must be at least :data:`MIN_CSS_PX` (the issue: "at least about 11 CSS px"). A figure without
the chunk fails (nothing says how small its text is). Results, slowest first, go to
``artifacts/legibility-<width>.json``.

**No sideways page, nothing cut off.** ``document.scrollingElement.scrollWidth <= innerWidth`` on
every page, with every slider frame shown in turn (a wide figure scrolls in a box of its own); a
display formula, table or output wider than its box must be in a box that scrolls, not clipped.
At 1280 px no display formula is wider than its box (on a 390 px phone about 70 per edition are,
and scroll sideways in their own box: MathJax does not break a display formula).

**Dark mode.** Slider labels, value labels and captions reach WCAG AA (4.5:1) against the colour
actually behind them; figures are not dimmed (no filter, full opacity) and sit on white.

The site is ``_build/html`` or ``$CHATTN_SITE``; without one these tests skip, except under
``scripts/test.sh`` (``CHATTN_REQUIRE_SITE=1``), where that fails.
"""
from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from chattn.interactive import png_min_text_px
from conftest import ARTIFACTS, ROOT, SITE, new_page, site_docs  # and the fixtures browser, base_url

MIN_CSS_PX = 10.5            # "at least about 11 CSS px"
WCAG_AA = 4.5
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

pytestmark = [pytest.mark.built, pytest.mark.usefixtures("site")]      # built implies slow


def figure_docs() -> list[str]:
    """Pages whose main content shows an image (the photograph page's come from the reader)."""
    out = []
    for d in site_docs():
        text = (SITE / f"{d}.html").read_text(encoding="utf-8")
        if d != "book/photograph" and "<img" in text.split('id="main-content"', 1)[-1]:
            out.append(d)
    return out


# Every image of the main content, each slider frame shown alone in turn (its src fetched):
# natural and displayed width, and whether the page then scrolls sideways.
MEASURE = """async () => {
    await window.MathJax?.startup?.promise;                 // the maths typeset, at their width
    const root = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    const sideways = () => document.scrollingElement.scrollWidth - window.innerWidth;
    const article = document.querySelector('article.bd-article') || root, ast = getComputedStyle(article);
    const column = article.clientWidth - parseFloat(ast.paddingLeft) - parseFloat(ast.paddingRight);
    // Wide maths, tables and outputs: clipped (wider than their box, and no box of theirs scrolls)?
    const scrolls = e => { for (let p = e; p && p !== root; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX; if ((o === 'auto' || o === 'scroll') && p.scrollWidth > p.clientWidth) return true; }
        return false; };
    const clipped = Array.from(root.querySelectorAll('mjx-container[display="true"], table, div.math, .cell_output .output'))
        .filter(e => e.scrollWidth > e.clientWidth + 1 && !scrolls(e) && getComputedStyle(e).overflowX !== 'visible')
        .map(e => e.tagName.toLowerCase() + ': ' + e.textContent.trim().slice(0, 50));
    // Display maths wider than their box (which then scrolls sideways: allowed on a phone only).
    const wideMaths = Array.from(root.querySelectorAll('mjx-container[display="true"]'))
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.scrollWidth} px in ${e.clientWidth}: ` +
                  (e.querySelector('mjx-assistive-mml')?.textContent ?? e.textContent).trim().slice(0, 50));
    const out = {scroll: sideways(), column, clipped, wideMaths, images: []};
    for (const img of Array.from(root.querySelectorAll('img'))) {
        const frames = img.closest('.chattn-frames');
        const saved = frames ? Array.from(frames.querySelectorAll('[data-frame]')).map(e => [e, e.style.display]) : [];
        if (frames) {
            const block = img.closest('.chattn-slider');
            block.querySelectorAll('[data-frame]').forEach(e => {
                e.style.display = (e.dataset.frame === img.dataset.frame) ? '' : 'none'; });
        }
        if (!img.getAttribute('src') && img.dataset.src) img.src = img.dataset.src;
        if (!img.complete) await new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); });
        // The picture's own width: the box less padding and border (dark mode pads figures).
        const st = getComputedStyle(img), px = k => parseFloat(st[k]) || 0;
        const width = img.getBoundingClientRect().width - px('paddingLeft') - px('paddingRight')
                      - px('borderLeftWidth') - px('borderRightWidth');
        out.images.push({src: img.currentSrc || img.src, frame: img.dataset.frame ?? null,
                         alt: img.alt || '', natural: img.naturalWidth, width,
                         scroll: sideways()});
        saved.forEach(([e, d]) => { e.style.display = d; });
    }
    return out;
}"""


def png_bytes(src: str) -> bytes:
    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1])
    return (SITE / unquote(urlparse(src).path).lstrip("/")).read_bytes()


def measure(pg, base_url, doc) -> dict:
    pg.goto(f"{base_url}/{doc}.html", wait_until="load")
    found = pg.evaluate(MEASURE)
    for im in found["images"]:
        try:
            px = png_min_text_px(png_bytes(im["src"]))
            im["min_text_png_px"] = px
            im["displayed_px"] = None if px is None or not im["natural"] else px * im["width"] / im["natural"]
        except (ValueError, OSError) as e:
            im["missing"] = str(e)
    return found


@pytest.mark.parametrize("where", list(WIDTHS))
def test_every_figure_is_legible_where_it_is_shown(browser, base_url, where):
    width, height = WIDTHS[where]
    pg = new_page(browser, base_url, width, height, timeout_ms=60_000)
    docs = figure_docs()
    assert docs, "no page with figures"
    report, problems = {}, []
    for doc in docs:
        found = measure(pg, base_url, doc)
        name = doc.removeprefix("book/")
        sizes = [im["displayed_px"] for im in found["images"] if im.get("displayed_px") is not None]
        report[name] = {"column_css_px": found["column"], "images": len(found["images"]),
                        "smallest_css_px": min(sizes, default=None),
                        "page_scroll_px": max([found["scroll"]] + [im["scroll"] for im in found["images"]]),
                        "each": found["images"]}
        if found["scroll"] > 0:
            problems.append(f"{name}: the page scrolls sideways by {found['scroll']} px")
        problems += [f"{name}: cut off, in no box that scrolls: {c}" for c in found["clipped"]]
        if where == "desktop":                     # on a desk, an equation fits its column
            problems += [f"{name}: display equation wider than its box, {m}" for m in found["wideMaths"]]
        for im in found["images"]:
            what = f"{name} {urlparse(im['src']).path.rsplit('/', 1)[-1][:24]}" + (
                f" (slider frame {im['frame']})" if im["frame"] is not None else "")
            if "missing" in im:
                problems.append(f"{what}: {im['missing']}")
            elif im["displayed_px"] is not None and im["displayed_px"] < MIN_CSS_PX:
                problems.append(f"{what}: text {im['min_text_png_px']:.1f} px in a {im['natural']} px image "
                                f"shown {im['width']:.0f} px wide = {im['displayed_px']:.1f} CSS px")
            if im["scroll"] > 0 and found["scroll"] <= 0:
                problems.append(f"{what}: showing it makes the page scroll sideways by {im['scroll']} px")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"legibility-{width}.json").write_text(json.dumps(report, indent=1))
    summary = "; ".join(f"{k} {v['smallest_css_px']:.1f}" if v["smallest_css_px"] else f"{k} -"
                        for k, v in report.items())
    assert not pg.off_site, pg.off_site
    columns = sorted({round(v["column_css_px"]) for v in report.values()})
    assert not problems, (f"at {width} px (content column {columns} CSS px), smallest displayed text per page: "
                          f"{summary}\n"
                          f"{len(problems)} problems (need >= {MIN_CSS_PX} CSS px):\n" + "\n".join(problems[:40]))
    pg.context.close()


# --- dark mode ---------------------------------------------------------------------------------

CONTRAST = """() => {
    const rgba = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
    const over = (top, bottom) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]); };
    const background = el => {           // the colour behind el: its ancestors' backgrounds, composited
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        let colour = [255, 255, 255, 1];
        for (const c of layers.reverse()) colour = over(c, colour);
        return colour;
    };
    const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const texts = [];
    document.querySelectorAll('.chattn-slider label, .chattn-slider code, .chattn-slider output, .chattn-caption')
        .forEach(el => {
            if (!el.textContent.trim()) return;
            const frame = el.closest('[data-frame]');
            if (frame && getComputedStyle(frame).display === 'none') frame.style.display = '';
            const bg = background(el);
            const fg = over(rgba(getComputedStyle(el).color), bg);
            texts.push({text: el.textContent.trim().slice(0, 40), tag: el.tagName, ratio: ratio(fg, bg),
                        fg: fg.slice(0, 3), bg: bg.slice(0, 3)});
        });
    const figures = Array.from(document.querySelectorAll('article.bd-article img')).map(img => {
        let filter = 'none', opacity = 1;
        for (let e = img; e; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.filter !== 'none') filter = s.filter;
            opacity *= Number(s.opacity);
        }
        return {src: (img.currentSrc || img.dataset.src || '').split('/').pop().slice(0, 24), filter, opacity,
                background: background(img).slice(0, 3)};
    });
    return {theme: document.documentElement.dataset.theme, texts, figures};
}"""


def test_dark_mode_slider_text_reaches_wcag_aa_and_figures_are_not_dimmed(browser, base_url):
    pg = new_page(browser, base_url, *WIDTHS["desktop"], dark=True, timeout_ms=60_000)
    docs = [d for d in figure_docs() if "chattn-slider" in (SITE / f"{d}.html").read_text(encoding="utf-8")]
    assert docs, "no page with a slider"
    problems, counted = [], 0
    for doc in docs:
        pg.goto(f"{base_url}/{doc}.html", wait_until="load")
        got = pg.evaluate(CONTRAST)
        assert got["theme"] == "dark", f"{doc}: the page is not in dark mode ({got['theme']!r})"
        assert any(t["tag"] == "OUTPUT" for t in got["texts"]), f"{doc}: no slider value label found"
        counted += len(got["texts"])
        for t in got["texts"]:
            if t["ratio"] < WCAG_AA:
                problems.append(f"{doc}: {t['tag']} {t['text']!r} contrast {t['ratio']:.2f} "
                                f"({t['fg']} on {t['bg']})")
        for f in got["figures"]:
            if f["filter"] != "none" or f["opacity"] < 1:
                problems.append(f"{doc}: figure {f['src']} dimmed (filter {f['filter']}, opacity {f['opacity']})")
            if min(f["background"]) < 250:
                problems.append(f"{doc}: figure {f['src']} on {f['background']}, not white")
    assert counted > 0
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    pg.context.close()


def test_screenshots_script_writes_light_dark_and_phone(tmp_path):
    """scripts/screenshots.py (the integrator's screenshots): three PNGs per target, of the sizes asked."""
    import subprocess

    from PIL import Image

    doc = figure_docs()[0]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshots.py"), doc, "--out", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "CHATTN_SITE": str(SITE)}, timeout=300)
    assert done.returncode == 0, done.stderr
    files = [Path(line) for line in done.stdout.split()]
    assert [f.name for f in files] == [f"{doc.replace('/', '_')}-{m}-{w}.png"
                                       for m, w in (("light", 1280), ("dark", 1280), ("light", 390))]
    sizes = [Image.open(f).size for f in files]
    assert sizes == [(1280, 900), (1280, 900), (390, 844)]
    light, dark = (Image.open(f).convert("L").resize((1, 1)).getpixel((0, 0)) for f in files[:2])
    assert dark < light                                  # the dark shot is darker
