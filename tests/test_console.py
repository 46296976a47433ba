"""No console error on any page of the built site, on a first visit (a fresh browser profile,
empty storage) or a later one (the same profile, the page opened again).

Every page of ``_toc.yml`` (and the search page) is opened in Chromium at 1280 px, served from
127.0.0.1; every ``console.error`` message (the theme's "Got invalid theme mode", a 404 such as
``/favicon.ico``, which Chromium reports as "Failed to load resource"), every uncaught exception
and every failed request of the site is an error. Requests to other hosts are refused and listed.
"""
from __future__ import annotations

import re

import pytest

from conftest import SITE, keep_local, site_docs  # and the fixtures site, browser, base_url

pytestmark = [pytest.mark.built, pytest.mark.usefixtures("site")]      # built implies slow


def visit(context, url) -> list[str]:
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text} ({m.location.get('url', '')})")
          if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    pg.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    pg.on("requestfailed", lambda r: errors.append(f"failed: {r.url} ({r.failure})")
          if not r.url.startswith(("data:", "blob:")) else None)
    refused = keep_local(pg, url)
    pg.goto(url, wait_until="load")
    pg.wait_for_timeout(300)            # the theme's scripts run on DOMContentLoaded and after
    errors += [f"off-site request: {u}" for u in refused]
    pg.close()
    return errors


def test_no_console_error_on_a_first_or_a_later_visit(browser, base_url):
    docs = site_docs() + (["search"] if (SITE / "search.html").is_file() else [])
    assert docs
    problems = []
    for doc in docs:
        url = f"{base_url}/{doc}.html"
        context = browser.new_context(viewport={"width": 1280, "height": 900})   # empty storage
        for visit_name in ("first visit", "later visit"):
            problems += [f"{doc} ({visit_name}): {e}" for e in visit(context, url)]
        context.close()
    assert not problems, f"{len(problems)} errors:\n" + "\n".join(problems[:40])


def test_the_site_has_a_favicon_and_a_theme_mode_default():
    """What the first-visit errors came from, read in the HTML: a favicon link whose file exists,
    and the theme's default mode set (an empty one is what the theme calls invalid)."""
    page = (SITE / "book" / "intro.html").read_text(encoding="utf-8")
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon, "no <link rel=icon>: Chromium asks for /favicon.ico, and it 404s"
    assert (SITE / "book" / icon.group(1)).resolve().is_file(), icon.group(1)
    assert '<body data-default-mode="auto">' in page
    assert 'localStorage.getItem("mode") || "auto"' in page
