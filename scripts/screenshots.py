"""Screenshots of the built site for a note: light and dark at 1280 px, light at 390 px.

    python scripts/screenshots.py book/06_eca#trained-at-every-kernel-size book/comparison book/photograph

Each argument is a page (``book/06_eca``) with an optional ``#anchor``; the shot is the viewport
scrolled to the anchor (the whole page with ``--full``). The site is ``_build/html`` or
``$CHATTN_SITE``, served on 127.0.0.1; Chromium is Debian's (scripts/chromium.py). The files go to
``artifacts/screenshots/<page>[-<anchor>]-<light|dark>-<width>.png``; their paths are printed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, keep_local, require_chromium, serve  # noqa: E402

SHOTS = [("light", 1280, 900), ("dark", 1280, 900), ("light", 390, 844)]


def shoot(targets: list[str], site: Path, out: Path, full: bool = False) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            for mode, width, height in SHOTS:
                context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=mode)
                context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
                page = context.new_page()
                keep_local(page, base)
                for target in targets:
                    doc, _, anchor = target.partition("#")
                    if not (site / f"{doc}.html").is_file():
                        raise SystemExit(f"no page {doc}.html in {site}")
                    page.goto(f"{base}/{doc}.html", wait_until="load")
                    page.evaluate("window.MathJax?.startup?.promise")
                    if anchor:
                        found = page.evaluate("id => { const e = document.getElementById(id);"
                                              " if (e) e.scrollIntoView({block: 'start'}); return !!e; }", anchor)
                        if not found:
                            raise SystemExit(f"no #{anchor} on {doc}")
                    page.wait_for_timeout(300)
                    name = doc.replace("/", "_") + (f"-{anchor}" if anchor else "") + f"-{mode}-{width}.png"
                    page.screenshot(path=str(out / name), full_page=full)
                    written.append(out / name)
                context.close()
        finally:
            browser.close()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="+", help="page[#anchor], e.g. book/06_eca#trained-at-every-kernel-size")
    parser.add_argument("--full", action="store_true", help="the whole page, not the viewport")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "screenshots"))
    args = parser.parse_args(argv)
    site = Path(os.environ.get("CHATTN_SITE", ROOT / "_build" / "html"))
    if not (site / "index.html").is_file():
        print(f"no built site at {site}: build it first (bash scripts/book.sh --no-serve)", file=sys.stderr)
        return 1
    for path in shoot(args.targets, site, Path(args.out), args.full):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
