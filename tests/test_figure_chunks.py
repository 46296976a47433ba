"""Every PNG the book shows carries its smallest text size (``chattn:min-text-px``), from the
kernel that draws it to the file the site serves: the build's IPython startup file
(book/_ext/ipython/chattn_figures.py) and page_weight's palette PNGs. tests/test_legibility.py reads
the chunk in Chromium."""
from __future__ import annotations

import base64
import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from chattn import interactive  # noqa: E402
from conftest import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import chattn_book  # noqa: E402
import page_weight  # noqa: E402


def test_palette_pngs_keep_the_text_chunks():
    fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
    ax.plot([0, 1, 0])
    ax.tick_params(labelsize=9)
    png = interactive.figure_png(fig)
    plt.close(fig)
    small = page_weight.smaller_png(png)
    assert small != png and len(small) < len(png)           # it was made a palette PNG
    from PIL import Image
    assert Image.open(io.BytesIO(small)).mode == "P"
    assert interactive.png_min_text_px(small) == interactive.png_min_text_px(png) == pytest.approx(10.0)


def test_the_build_kernels_make_figures_with_the_chunk(tmp_path, monkeypatch):
    """A kernel started with the IPYTHONDIR the extension prepares: a figure shown by plt.show()
    in the cell that imports pyplot, one left open at the end of a cell, and one displayed as a
    cell's value all carry the chunk, with the figure's own smallest size."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    ipython = chattn_book.kernel_ipython_dir(tmp_path / "_build" / "html")
    assert ipython == (tmp_path / "_build" / ".ipython").resolve()
    assert (ipython / "profile_default" / "startup" / "00-chattn-figures.py").is_file()
    monkeypatch.setenv("IPYTHONDIR", str(ipython))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(3, 2), dpi=72); ax.plot([1, 2]); ax.tick_params(labelsize=7)\n"
        "plt.show()",
        "fig, ax = plt.subplots(figsize=(3, 2), dpi=72); ax.set_title('t', fontsize=12)\n"
        "ax.tick_params(labelsize=13)",
        "fig",
        "fig, ax = plt.subplots(figsize=(3, 2), dpi=72); ax.axis('off'); ax.imshow([[0, 1]])",
    )])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    sizes = [[interactive.png_min_text_px(base64.b64decode(o["data"]["image/png"]))
              for o in cell.outputs if "image/png" in o.get("data", {})] for cell in nb.cells]
    assert sizes == [[pytest.approx(7)], [pytest.approx(12)], [pytest.approx(12)], [None]]
