"""The built book in a real browser: math typeset, images loaded, sliders move, search answers,
and nothing is fetched from outside the site.

Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/test.sh``) is driven by Playwright
against the site served from 127.0.0.1 on a free port. The chapter page is a parameter:
``CHATTN_BROWSER_PAGE=book/06_eca`` (the default; it has a kernel-size slider). Screenshots go to
``artifacts/``.
"""
from __future__ import annotations

import os

import pytest

from conftest import ARTIFACTS, SITE  # the fixtures site, base_url, browser and page are conftest's

PAGE = os.environ.get("CHATTN_BROWSER_PAGE", "book/06_eca")
pytestmark = [pytest.mark.built, pytest.mark.usefixtures("site")]      # built implies slow


def open_page(pg, base_url, name):
    pg.goto(f"{base_url}/{name}.html", wait_until="load")
    # MathJax 3 resolves startup.promise once the page is typeset.
    pg.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
    pg.evaluate("MathJax.startup.promise")


def shot(pg, name, **kwargs):
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), **kwargs)


@pytest.mark.parametrize("name", [PAGE, "book/intro"])
def test_math_is_typeset_and_images_load(page, base_url, name):
    open_page(page, base_url, name)
    result = page.evaluate("""() => {
        const maths = Array.from(document.querySelectorAll('.math'));
        return {
            maths: maths.length,
            typeset: maths.filter(m => m.querySelector('mjx-container')).length,
            containers: document.querySelectorAll('mjx-container').length,
            raw: document.querySelector('article').innerText.includes('$$'),
            images: document.images.length,
            // Slider frames past the first wait in data-src until the slider moves
            // (tests/test_page_weight.py moves every slider and checks each frame).
            waiting: Array.from(document.images).filter(i => !i.getAttribute('src') && i.dataset.src).length,
            broken: Array.from(document.images).filter(i => i.getAttribute('src') || !i.dataset.src)
                         .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
        };
    }""")
    shot(page, name.replace("/", "_"), full_page=True)
    assert result["maths"] > 0, f"{name} has no math to check"
    assert result["typeset"] == result["maths"], result
    assert not result["raw"], f"raw $$ left on {name}"
    assert result["broken"] == [], result
    assert page.off_site == [], page.off_site
    assert page.errors == [], page.errors


def test_slider_changes_the_figure(page, base_url):
    open_page(page, base_url, PAGE)
    block = page.locator(".chattn-slider").first
    block.scroll_into_view_if_needed()
    rng = block.locator("input[type=range]").first
    label = block.locator("output").first
    visible = "b => Array.from(b.querySelectorAll('img.chattn-frame')).filter(i => i.style.display !== 'none')" \
              ".map(i => i.dataset.frame)"
    n = int(rng.get_attribute("max")) + 1
    assert n >= 2, "the slider needs at least two positions"
    assert block.evaluate(visible) == ["0"]
    first_label = label.inner_text()
    before = block.screenshot(path=str(ARTIFACTS / "slider-before.png"))

    rng.focus()                                   # a person's move: one step with the keyboard
    page.keyboard.press("ArrowRight")
    shown = block.evaluate(visible)
    assert len(shown) == 1 and shown != ["0"]
    assert label.inner_text() != first_label
    # The first move fetched this slider's frames; the one shown loads.
    page.wait_for_function("b => Array.from(b.querySelectorAll('img.chattn-frame'))"
                           ".every(i => i.getAttribute('src') && i.complete && i.naturalWidth > 0)",
                           arg=block.element_handle())

    # The move the brief names: set the value and dispatch an input event.
    rng.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", str(n - 1))
    shown = block.evaluate(visible)
    assert len(shown) == 1 and shown != ["0"]
    after = block.screenshot(path=str(ARTIFACTS / "slider-after.png"))
    assert after != before, "the displayed figure did not change"
    assert page.off_site == [] and page.errors == []


def test_search_finds_pages(page, base_url):
    page.goto(f"{base_url}/search.html?q=excitation", wait_until="load")
    # Sphinx appends results one by one; the summary line appears when the search has finished.
    page.locator("p.search-summary").wait_for(state="visible")
    results = page.locator("ul.search li")
    assert results.count() >= 2
    hrefs = results.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert any("intro" in h for h in hrefs), hrefs
    shot(page, "search")
    assert page.off_site == [] and page.errors == []


def test_slider_moves_when_the_site_is_opened_from_disk(browser):
    """file://: no server; the first move still fetches the slider's frames from beside the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((SITE / f"{PAGE}.html").as_uri(), wait_until="load")
    block = pg.locator(".chattn-slider").first
    rng = block.locator("input[type=range]").first
    rng.evaluate("e => { e.value = e.max; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    last = block.locator("img.chattn-frame:visible")
    assert last.count() == 1 and last.get_attribute("data-frame") != "0"
    pg.wait_for_function("i => i.complete", arg=last.element_handle())
    assert last.evaluate("i => i.naturalWidth") > 0, "the frame did not load from disk"
    assert last.evaluate("i => i.src").startswith("file://")
    assert errors == []
    context.close()
