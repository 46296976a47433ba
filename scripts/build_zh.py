"""Build the Chinese edition into ``_build/html/zh/`` (after the English build, which it reuses).

    python scripts/build_zh.py              # the site, -W -n like the English build
    python scripts/build_zh.py --gettext    # the messages to translate: _build/gettext/*.pot

The same sources, configuration and table of contents as ``jupyter-book build .``, with
``language = zh_CN``: Sphinx takes each page's translations from
``locales/zh_CN/LC_MESSAGES/<page>.po`` (compiling the ``.mo`` files itself). The notebooks are
not run again: the Chinese build reads the English build's notebook cache
(``_build/.jupyter_cache``) and writes its slider frames into the English site's ``_images/``
(``chattn_frames_dir``), so both editions show the same frames from the same files.

Updating the catalogues after the English changed (the README's translation loop)::

    python scripts/build_zh.py --gettext
    sphinx-intl update -p _build/gettext -l zh_CN      # new messages empty, changed ones fuzzy
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
#: The edition's folder under the English site (``_build/html/<FOLDER>/``).
FOLDER = "zh"

#: What the Chinese edition changes in the book's configuration (_config.yml stays the one source).
ZH = {
    "language": "zh_CN",
    "html_title": "通道注意力：挤压、激励、缩放",
    "nb_execution_cache_path": str(BUILD / ".jupyter_cache"),
    "chattn_frames_dir": "../_images",
    # myst-nb's toggle of a folded cell (the book folds only inputs: hide-input)
    "nb_code_prompt_show": "显示代码",
    "nb_code_prompt_hide": "隐藏代码",
}


def build(builder: str, out: Path, doctrees: Path, overrides: dict) -> int:
    from jupyter_book.sphinx import build_sphinx

    os.environ.setdefault("CHATTN_STATIC", "1")
    return build_sphinx(
        ROOT, out, noconfig=True, path_config=str(ROOT / "_config.yml"),
        confoverrides={"external_toc_path": (ROOT / "_toc.yml").as_posix(), "nitpicky": True,
                       "latex_individualpages": False,
                       **overrides},
        doctreedir=doctrees, builder=builder, warningiserror=True, keep_going=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gettext", action="store_true",
                   help="write the English messages (.pot) into _build/gettext instead")
    args = p.parse_args(argv)
    if not (BUILD / ".jupyter_cache").is_dir():
        print("build the English edition first (its notebook cache): bash scripts/book.sh", file=sys.stderr)
        return 2
    if args.gettext:
        # (babel marks "95 % of" or "{cite}" as Python formats when it reads the templates, whatever
        # they say: scripts/carry_numbers.py removes those flags from the catalogues after the merge)
        return build("gettext", BUILD / "gettext", BUILD / ".doctrees-gettext",
                     {"nb_execution_cache_path": ZH["nb_execution_cache_path"], "project": "chattn"})
    return build("html", BUILD / "html" / FOLDER, BUILD / ".doctrees-zh", ZH)


if __name__ == "__main__":
    sys.exit(main())
