"""What the tests share: the repository's paths, the built site and its pages, the skip-or-fail of
the tests that need it, the site served on 127.0.0.1, and Chromium with its route guard.

Two loops (README): ``pytest -m "not slow"`` runs the unit tests in about a minute and needs no
build; ``bash scripts/test.sh`` builds the book and runs everything, the ``slow`` integration tests
included (the built site, the PDF, Chromium, JupyterLab, fresh venvs, several processes).

A test that needs the built site (``_build/html``, or ``$CHATTN_SITE``) skips, saying so, when there
is none, unless ``CHATTN_REQUIRE_SITE`` is set (``scripts/test.sh`` sets it): then it fails. Every
test using the ``site``, ``base_url`` or ``page`` fixture is marked ``built`` and ``slow`` here, one
using ``browser`` ``slow``, so a new browser test needs no marker of its own; a test that reads the
build some other way (``site_pages()``, ``site_docs()``, ``SITE``) needs ``@pytest.mark.built``.

Helpers are imported by the test files as ``from conftest import ...`` (tests/ is on ``sys.path``,
as pytest's default ``prepend`` import mode puts it there).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("CHATTN_SITE", ROOT / "_build" / "html"))
ARTIFACTS = ROOT / "artifacts"
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM, CHROMIUM_ARGS, keep_local, serve, toc_docs  # noqa: E402  (shared with scripts/pdf.py)

# Markers (registered in pyproject.toml): ``slow`` for every integration test, ``built`` for those
# that need the built book (they run after the build in scripts/test.sh; ``built`` implies ``slow``).
BUILT_FIXTURES = {"site", "base_url", "page"}      # the built site, served, in a browser page
SLOW_FIXTURES = BUILT_FIXTURES | {"browser"}


@pytest.hookimpl(tryfirst=True)          # before -m deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if BUILT_FIXTURES & fixtures:
            item.add_marker(pytest.mark.built)
        if SLOW_FIXTURES & fixtures or item.get_closest_marker("built"):
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------------ skip or fail

def missing(message: str):
    """A test cannot run because something built is missing: skip, or fail under ``scripts/test.sh``
    (``CHATTN_REQUIRE_SITE`` set), where a missing build is itself the failure."""
    if os.environ.get("CHATTN_REQUIRE_SITE"):
        pytest.fail(message)
    pytest.skip(message)


def require_site() -> Path:
    """The built site's directory; skip or fail (:func:`missing`) when it was not built."""
    if not (SITE / "index.html").exists():
        missing(f"no built site at {SITE}: build it first (bash scripts/test.sh or scripts/book.sh does)")
    return SITE


# ------------------------------------------------------------------ made-up run records

def write_record(directory, attn, seed, acc, options=None, width=32, epochs=3):
    """Write a minimal run record of the small network into ``directory`` under the name
    ``chattn.runs.stem`` gives it: enough for :mod:`chattn.pretrained`'s readers and the tables of
    :mod:`chattn.analysis` (point ``chattn.runs.WEIGHTS_DIR`` at a temporary folder first)."""
    import json

    from chattn import runs

    directory.mkdir(parents=True, exist_ok=True)
    rec = dict(attn=attn, seed=seed, epochs=epochs, test_accuracy=acc, train_accuracy=1.0, params=1, seconds=1.0,
               weights=None, model=dict(attn=attn, num_classes=8, width=width, depth=2, input_size=32,
                                        options=options or {}))
    name = runs.stem(attn, seed, options=options, network={"width": width})
    (directory / f"{name}.json").write_text(json.dumps(rec))


# ------------------------------------------------------------------ the book's pages

def toc_files() -> list[str]:
    """Every document of _toc.yml in reading order, the root first (e.g. ``book/06_eca``)."""
    return toc_docs(ROOT)


def toc_notebooks() -> list[Path]:
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


def html_pages() -> list[Path]:
    """Every built page (theme templates under _static/ are not pages)."""
    return sorted(p for p in SITE.rglob("*.html") if p.relative_to(SITE).parts[0] not in ("_static", "_sources"))


def site_pages() -> list[Path]:
    """Every built page; skip or fail when the site was not built."""
    require_site()
    return html_pages()


def site_docs() -> list[str]:
    """The toc's documents that the built site has, in reading order; skip or fail without a site."""
    require_site()
    return [d for d in toc_files() if (SITE / f"{d}.html").is_file()]


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def one_thread():
    """Run the test with one torch thread (small convolutions: threads only contend on a shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site (skip or fail without one)."""
    return require_site()


@pytest.fixture(scope="session")
def base_url(site):
    """The built site served on 127.0.0.1, on a port the OS picks: its base URL."""
    with serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium (``$CHATTN_CHROMIUM``) under Playwright, headless; fails when missing."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium (scripts/test.sh does it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, base_url, width=1280, height=900, dark=False, timeout_ms=30_000):
    """A page in a fresh context (empty storage) of ``width`` x ``height`` CSS px that may only talk
    to the local server: every other request is aborted and recorded in ``page.off_site``; uncaught
    page errors are in ``page.errors``. ``dark``: the theme's dark mode, as a reader who chose it
    left it. Close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  color_scheme="dark" if dark else "light")
    if dark:
        context.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
    pg = context.new_page()
    pg.set_default_timeout(timeout_ms)
    pg.off_site, pg.errors = keep_local(pg, base_url), []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return pg


@pytest.fixture
def page(browser, base_url):
    """:func:`new_page` at 1280 x 900, light."""
    pg = new_page(browser, base_url)
    yield pg
    pg.context.close()
