#!/usr/bin/env python3
"""Point the book at another GitHub repository (a fork):  python scripts/set_repository.py URL

The repository URL is set in one place, ``repository.url`` in ``_config.yml`` (the Colab launch
buttons read it). This script changes it there and rewrites everything that must agree with it:

- every notebook's install cell (``book/*.ipynb``: ``%pip install "chattn[book] @ git+URL"`` and
  the URL in its error message), checked by ``tests/test_site.py``;
- the README (the repository line, the install line, the hand-made Colab link).

Only the old URL (and its ``owner/name`` in Colab links) is replaced, nothing else in the files
changes. ``--root DIR`` works on another checkout (the tests use a copy).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)(?:\.git)?/?$")
CONFIG_URL = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(\S+)[ \t]*$", re.MULTILINE)


def check_url(url: str) -> str:
    """``https://github.com/owner/name`` (Colab opens notebooks from GitHub only), without ``.git``."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    m = GITHUB.match(url.strip())
    if not m:
        raise ValueError(f"url must look like https://github.com/OWNER/NAME, got {url!r}")
    return f"https://github.com/{m.group(1)}/{m.group(2)}"


def config_url(root: Path) -> str:
    """The repository URL set in ``root/_config.yml``."""
    m = CONFIG_URL.search((root / "_config.yml").read_text(encoding="utf-8"))
    if not m:
        raise ValueError(f"no repository: url: in {root / '_config.yml'}")
    return m.group(2)


def _slug(url: str) -> str:
    return url.split("github.com/", 1)[1]


def _replace(text: str, old: str, new: str) -> str:
    """``old`` URL -> ``new``, and ``github/OLD_SLUG/`` (Colab links) -> ``github/NEW_SLUG/``."""
    text = re.sub(re.escape(old) + r"(?![\w.-])", new, text)
    return text.replace(f"/github/{_slug(old)}/", f"/github/{_slug(new)}/")


def install_cell_index(cells: list[dict]) -> int:
    """The install cell: the first code cell (tests/test_site.py requires it there)."""
    for i, c in enumerate(cells):
        if c["cell_type"] == "code":
            return i
    raise ValueError("the notebook has no code cell")


def set_repository(url: str, root: Path = ROOT) -> list[Path]:
    """Set ``url`` in ``root``'s config, notebooks' install cells and README; return the changed files."""
    new = check_url(url)
    old = config_url(root)
    changed = []

    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8")
    updated = CONFIG_URL.sub(lambda m: m.group(1) + new, text, count=1)
    if updated != text:
        config.write_text(updated, encoding="utf-8")
        changed.append(config)

    for nb_path in sorted((root / "book").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        cell = nb["cells"][install_cell_index(nb["cells"])]
        source = "".join(cell["source"])
        if old not in source:
            raise ValueError(f"{nb_path.name}: its install cell does not name {old} (the URL of _config.yml)")
        cell["source"] = _replace(source, old, new).splitlines(keepends=True)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"      # nbformat's own layout
        if text != nb_path.read_text(encoding="utf-8"):
            nb_path.write_text(text, encoding="utf-8")
            changed.append(nb_path)

    readme = root / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        updated = _replace(text, old, new)
        if updated != text:
            readme.write_text(updated, encoding="utf-8")
            changed.append(readme)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="https://github.com/OWNER/NAME")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to change (default: this one)")
    args = parser.parse_args(argv)
    try:
        changed = set_repository(args.url, args.root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"updated {path.relative_to(args.root)}")
    if not changed:
        print("nothing to change: the book already points at", check_url(args.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
