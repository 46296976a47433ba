"""Debian's Chromium under Playwright, kept on 127.0.0.1: shared by scripts/pdf.py and the tests.

- :data:`CHROMIUM`, :data:`CHROMIUM_ARGS`: the browser (``$CHATTN_CHROMIUM``) and its headless flags;
- :func:`serve`: a directory served on 127.0.0.1, on a port the OS picks;
- :func:`keep_local`: refuse (and record) every request a page makes to another host;
- :func:`toc_docs`: the book's pages in reading order, as jupyter-book reads ``_toc.yml``.
"""
from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = os.environ.get("CHATTN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def require_chromium() -> str:
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install -y chromium (scripts/test.sh does it)")
    return CHROMIUM


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(directory: Path, handler: type[SimpleHTTPRequestHandler] | None = None):
    """Serve ``directory`` on 127.0.0.1 on a free port with ``handler`` (default: static files,
    no request log); yield the base URL ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler or _Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def keep_local(page, base_url: str) -> list[str]:
    """Let ``page`` fetch only from ``base_url``'s host (and data:/blob: URLs); return the list
    that collects every other URL it asked for (those requests are aborted)."""
    local = urlparse(base_url).netloc
    refused: list[str] = []

    def guard(route):
        u = urlparse(route.request.url)
        if u.scheme in ("data", "blob") or u.netloc == local:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return refused


def toc_docs(root: Path) -> list[str]:
    """Every document of ``root/_toc.yml`` in reading order, the root first (e.g. ``book/06_eca``),
    parsed by sphinx-external-toc as jupyter-book does."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(root / "_toc.yml")
    docs: list[str] = []

    def walk(name: str) -> None:
        docs.append(name)
        for subtree in site_map[name].subtrees:
            for item in subtree.items:
                if isinstance(item, str):          # a document (globs and URLs are not pages)
                    walk(item)

    walk(site_map.root.docname)
    return docs
