"""The book shows a reader little code: the visible code lines of every notebook, read from the
.ipynb files (no build).

A visible code line is a non-blank line of a code cell that carries none of the tags that hide its
input on the site (``hide-input``, ``hide-cell``, ``remove-input``, ``remove-cell``). The median
over the chapter notebooks 01-11 is at most 60; the comparison at most 120.
"""
from __future__ import annotations

import json
import statistics

import pytest

from conftest import ROOT

HIDING_TAGS = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
CHAPTER_MEDIAN_MAX = 60
COMPARISON_MAX = 120
CHAPTERS = sorted((ROOT / "book").glob("[01][0-9]_*.ipynb"))
COMPARISON = ROOT / "book" / "comparison.ipynb"


def visible_code_lines(cells: list[dict]) -> int:
    """Non-blank lines of the code cells whose input the site shows."""
    return sum(1 for cell in cells if cell["cell_type"] == "code"
               and not HIDING_TAGS & set(cell.get("metadata", {}).get("tags", []))
               for line in "".join(cell["source"]).splitlines() if line.strip())


def lines_of(path) -> int:
    return visible_code_lines(json.loads(path.read_text(encoding="utf-8"))["cells"])


def test_visible_code_lines_counts_only_shown_non_blank_lines():
    def code(source, *tags):
        return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}}
    cells = [code(["a = 1\n", "\n", "   \n", "b = 2\n"]), code("c = 3\nd = 4", "hide-input"),
             code("e = 5", "remove-cell"), code("f = 6", "hide-cell"), code("g = 7", "remove-input"),
             code("h = 8", "hide-output"), {"cell_type": "markdown", "source": "text\nmore", "metadata": {}}]
    assert visible_code_lines(cells) == 3          # a, b and h: hide-output still shows the code


def test_chapters_show_at_most_60_code_lines_at_the_median_and_the_comparison_120():
    assert [p.name[:2] for p in CHAPTERS] == [f"{i:02d}" for i in range(1, 12)], [p.name for p in CHAPTERS]
    per_chapter = {p.stem: lines_of(p) for p in CHAPTERS}
    comparison = lines_of(COMPARISON)
    median = statistics.median(per_chapter.values())
    print("\nvisible code lines: " + ", ".join(f"{k} {v}" for k, v in per_chapter.items())
          + f"; median {median}; comparison {comparison}")
    problems = []
    if median > CHAPTER_MEDIAN_MAX:
        problems.append(f"median over chapters 01-11 is {median} > {CHAPTER_MEDIAN_MAX}: {per_chapter}")
    if comparison > COMPARISON_MAX:
        problems.append(f"comparison shows {comparison} > {COMPARISON_MAX}")
    if problems:
        pytest.fail("; ".join(problems))
