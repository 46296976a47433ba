r"""Sliders for the book: one helper, live in a kernel, still moving on the static site.

:func:`slider` takes a function ``draw(**values) -> matplotlib.figure.Figure`` and one or two
keyword arguments, each a list of values (the first is the initial one), and optionally
``caption(**values) -> str``, a sentence under the figure that says what moved, in words and numbers:

- **live** mode (a Jupyter or Colab kernel): ipywidgets sliders re-draw the figure on every move;
- **static** mode (environment variable ``CHATTN_STATIC=1``, set by the book build): every
  combination of values is drawn once, up front, to a PNG, and the figures are emitted as one
  self-contained HTML block (``<input type="range">``, a value label, the ``<img>`` frames and an
  inline ``oninput`` handler; no require.js, nothing fetched from a CDN), so the slider still
  moves on a page served without a kernel. Only the first frame has a ``src``; the others keep
  their image in ``data-src`` until the slider first moves, when the handler gives every frame of
  that slider its ``src``. A page builder may replace the ``data:`` URIs by files (the book's
  Sphinx extension does): the page then fetches one frame per slider on its first load.

:func:`set_mode` forces either mode (tests, or to preview the static block in a notebook).

Example::

    >>> import matplotlib.pyplot as plt
    >>> from chattn.interactive import slider
    >>> def draw(reduction):
    ...     fig, ax = plt.subplots(figsize=(3, 2))
    ...     ax.bar(["C", "C/r"], [64, 64 / reduction])
    ...     return fig
    >>> slider(draw, reduction=[2, 4, 8, 16])       # last expression of a cell: displays itself
    >>> slider(draw, caption=lambda reduction: f"r = {reduction}: {64 // reduction} hidden units",
    ...        reduction=[2, 4, 8, 16])             # a caption under each frame says what moved
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import re
from typing import Any, Callable, Sequence

__all__ = ["slider", "set_mode", "mode", "StaticSlider", "check_figure_text", "figure_png", "min_text_px",
           "png_text", "png_min_text_px", "MIN_TEXT_KEY"]

_MODES = ("live", "static")
#: The keyword of the PNG text chunk that carries a figure's smallest text size in the PNG's pixels
#: (see :func:`figure_png`).
MIN_TEXT_KEY = "chattn:min-text-px"
_forced: str | None = None
_MAX_PARAMS = 2

# One handler, copied onto each range input: find the block, turn the slider positions into a
# frame index (row-major over the parameters), show that frame and its caption (every element with
# a data-frame attribute) and update the value labels. Frames not fetched yet take their src from data-src (the first move fetches that slider's frames).
_ONINPUT = (
    "var b=this.closest('.chattn-slider'),r=b.querySelectorAll('input[type=range]'),i=0;"
    "r.forEach(function(e){i=i*(+e.max+1)+(+e.value);"
    "e.parentNode.querySelector('output').textContent=JSON.parse(e.dataset.labels)[+e.value];});"
    "b.querySelectorAll('[data-frame]').forEach(function(m){"
    "if(!m.getAttribute('src')&&m.dataset.src)m.src=m.dataset.src;"
    "m.style.display=(+m.dataset.frame===i)?'':'none';});"
)


def set_mode(new_mode: str | None) -> None:
    """Force ``"live"`` or ``"static"`` for every later :func:`slider`; ``None`` restores the default.

    The default is ``"static"`` when the environment variable ``CHATTN_STATIC`` is ``1``
    (``true``/``yes``), else ``"live"``.

    Args:
        new_mode: ``"live"``, ``"static"`` or ``None``.
    """
    global _forced
    if new_mode is not None and new_mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES} or None, got {new_mode!r}")
    _forced = new_mode


def mode() -> str:
    """The mode :func:`slider` uses now: ``"live"`` or ``"static"``."""
    if _forced is not None:
        return _forced
    flag = os.environ.get("CHATTN_STATIC", "").strip().lower()
    return "static" if flag in ("1", "true", "yes") else "live"


def _check(draw: Callable, caption: Callable | None, params: dict[str, Any]) -> dict[str, list]:
    if not callable(draw):
        raise TypeError(f"draw must be a callable draw(**values) -> Figure, got {type(draw).__name__}")
    if caption is not None and not callable(caption):
        raise TypeError(f"caption must be None or a callable caption(**values) -> str, "
                        f"got {type(caption).__name__}")
    if not params:
        raise ValueError("slider needs at least one parameter, e.g. slider(draw, reduction=[4, 8, 16])")
    if len(params) > _MAX_PARAMS:
        raise ValueError(f"slider takes at most {_MAX_PARAMS} parameters, got {len(params)}: {list(params)}")
    checked = {}
    for name, values in params.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"{name} must be a list of values, got {type(values).__name__}")
        values = list(values)
        if not values:
            raise ValueError(f"{name} must be a non-empty list of values")
        labels = [str(v) for v in values]
        if len(set(labels)) != len(labels):
            raise ValueError(f"{name} has repeated values: {labels}")
        checked[name] = values
    return checked


# A number that is not one, as matplotlib and numpy print it: nan, inf, -inf, +inf, ∞.
_NOT_FINITE = re.compile(r"(?<![A-Za-z])(nan|[-+\u2212]?inf(inity)?|\u221e)(?![A-Za-z])", re.IGNORECASE)


def check_figure_text(fig) -> None:
    """Raise ``ValueError`` if any text of ``fig`` (title, labels, ticks, legend) shows nan or inf.

    The figure is drawn first, so that tick labels exist. A figure that prints ``nan`` is a bug
    in what it plots, never something to show a reader.

    Args:
        fig: a matplotlib ``Figure``.

    Raises:
        ValueError: a visible text of ``fig`` shows nan or inf.
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    bad = sorted({t.get_text() for t in fig.findobj(Text)
                  if t.get_visible() and _NOT_FINITE.search(t.get_text())})
    if bad:
        raise ValueError(f"the figure shows a value that is not finite: {bad}")


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of PNG bytes, read from the IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("png is not PNG data")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _drawn_texts(fig) -> list:
    """The Text artists ``fig`` draws: visible, under visible parents, not empty, not transparent,
    and inside the figure (tick labels left over from earlier limits lie outside it)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()               # lays out tick labels, legends, colorbars
    box = fig.bbox
    found, todo, seen = [], [fig], set()
    while todo:
        artist = todo.pop()
        if id(artist) in seen or not artist.get_visible():
            continue
        seen.add(id(artist))
        if isinstance(artist, Text):
            if artist.get_text().strip() and artist.get_alpha() != 0:
                extent = artist.get_window_extent()
                if Bbox.intersection(extent, box) is not None and extent.width > 0:
                    found.append(artist)
        todo.extend(artist.get_children())
    return found


def min_text_px(fig, dpi: float | None = None) -> float | None:
    r"""The smallest text ``fig`` draws, as a font size in pixels of a PNG saved at ``dpi``.

    .. math:: \text{px} = \min_t \text{fontsize}_t\,[\text{pt}] \cdot \text{dpi} / 72

    over the figure's visible, non-empty text (titles, axis and tick labels, legends,
    annotations, colorbars). Shown in a page at ``w`` CSS px, a PNG ``W`` px wide displays it at
    ``px * w / W`` CSS px.

    Args:
        fig: a matplotlib :class:`~matplotlib.figure.Figure`.
        dpi: the resolution of the PNG (default: the figure's ``dpi``).

    Returns:
        The size in pixels, or ``None`` when the figure draws no text.
    """
    sizes = [t.get_fontsize() for t in _drawn_texts(fig)]
    if not sizes:
        return None
    return min(sizes) * (fig.dpi if dpi is None else dpi) / 72


def figure_png(fig, dpi: float | None = None, **savefig_kwargs) -> bytes:
    """``fig`` as PNG bytes (``bbox_inches="tight"`` unless given) that carry the figure's smallest
    text size in a tEXt chunk :data:`MIN_TEXT_KEY` (pixels, ``"%.2f"``; ``"none"`` without text).

    Args:
        fig: a matplotlib :class:`~matplotlib.figure.Figure`.
        dpi: the resolution (default: the figure's ``dpi``).
        **savefig_kwargs: passed on to ``fig.savefig`` (``metadata`` entries are kept).

    Returns:
        The PNG bytes; :func:`png_min_text_px` reads the size back.
    """
    if dpi in (None, "figure"):
        dpi = fig.dpi
    size = min_text_px(fig, dpi)
    metadata = {**(savefig_kwargs.pop("metadata", None) or {}),
                MIN_TEXT_KEY: "none" if size is None else f"{size:.2f}"}
    savefig_kwargs.setdefault("bbox_inches", "tight")
    savefig_kwargs.pop("format", None)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata=metadata, **savefig_kwargs)
    return buf.getvalue()


def png_text(png: bytes) -> dict[str, str]:
    """The tEXt chunks of PNG bytes, ``{keyword: text}`` (Latin-1, as the PNG standard says).

    Args:
        png: the bytes of a PNG file.

    Raises:
        ValueError: ``png`` is not PNG data.
    """
    png_size(png)                                # checks the signature
    out, at = {}, 8
    while at + 8 <= len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind = png[at + 4:at + 8]
        if kind == b"tEXt":
            key, _, value = png[at + 8:at + 8 + length].partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        at += 12 + length
    return out


def png_min_text_px(png: bytes) -> float | None:
    """The smallest text size :func:`figure_png` wrote into ``png`` (``None``: no text).

    Args:
        png: the bytes of a PNG file made by :func:`figure_png`.

    Raises:
        ValueError: ``png`` is not PNG data, or has no :data:`MIN_TEXT_KEY` chunk.
    """
    value = png_text(png).get(MIN_TEXT_KEY)
    if value is None:
        raise ValueError(f"the PNG carries no {MIN_TEXT_KEY} text chunk (not made by figure_png)")
    return None if value == "none" else float(value)


def _render(draw: Callable, values: dict[str, Any]) -> bytes:
    """Call ``draw(**values)``, return its figure as PNG bytes (:func:`figure_png`) and close it."""
    from matplotlib.figure import Figure
    import matplotlib.pyplot as plt

    fig = draw(**values)
    if not isinstance(fig, Figure):
        raise TypeError(f"draw must return a matplotlib Figure, got {type(fig).__name__}")
    try:
        check_figure_text(fig)
        return figure_png(fig)
    finally:
        plt.close(fig)


def _caption(caption: Callable | None, values: dict[str, Any]) -> str | None:
    """``caption(**values)``, checked: a non-empty ``str`` that shows no nan or inf."""
    if caption is None:
        return None
    text = caption(**values)
    if not isinstance(text, str):
        raise TypeError(f"caption must return a str, got {type(text).__name__} for {values}")
    if not text.strip():
        raise ValueError(f"caption returned an empty text for {values}")
    if _NOT_FINITE.search(text):
        raise ValueError(f"the caption shows a value that is not finite: {text!r}")
    return text


class StaticSlider:
    """Precomputed frames of a slider, displayed as one self-contained HTML block.

    The three arguments are kept as attributes of the same names.

    Args:
        params: the parameter names and their values, in order.
        frames: PNG bytes, one per combination of values (row-major: the last parameter varies
            fastest).
        captions: one text per frame, in the same order, or ``None`` (no caption).

    Attributes:
        html: the HTML block (what ``_repr_html_`` returns).
    """

    def __init__(self, params: dict[str, list], frames: list[bytes], captions: list[str] | None = None):
        if captions is not None and len(captions) != len(frames):
            raise ValueError(f"captions must give one text per frame: {len(captions)} for {len(frames)} frames")
        self.params = params
        self.frames = frames
        self.captions = captions
        self.html = self._build_html()

    def _build_html(self) -> str:
        esc = html.escape
        rows = []
        for name, values in self.params.items():
            labels = [str(v) for v in values]
            rows.append(
                '<label style="display:block;font-family:sans-serif;margin:2px 0">'
                f'<code>{esc(name)}</code> '
                f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="0" '
                f'aria-label="{esc(name)}" data-labels="{esc(json.dumps(labels))}" '
                f'oninput="{esc(_ONINPUT)}" style="vertical-align:middle;width:16em"> '
                f'<output>{esc(labels[0])}</output></label>')
        imgs = []
        combos = itertools.product(*self.params.values())
        for i, (png, combo) in enumerate(zip(self.frames, combos)):
            alt = ", ".join(f"{k}={v}" for k, v in zip(self.params, combo))
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            width, height = png_size(png)
            # The first frame shows at once; the others wait in data-src (see _ONINPUT).
            # width/height keep the place of a frame that is still loading; CSS scales it down.
            style = "max-width:100%;height:auto" + ("" if i == 0 else ";display:none")
            where = f'src="{uri}"' if i == 0 else f'data-src="{uri}"'
            imgs.append(f'<img class="chattn-frame" data-frame="{i}" alt="{esc(alt)}" '
                        f'width="{width}" height="{height}" style="{style}" {where}>')
        texts = []
        for i, text in enumerate(self.captions or []):
            # Text, not part of the image: it reflows, scales with the reader's font and reads
            # aloud; shown and hidden with its frame by the same handler.
            hidden = "" if i == 0 else ' style="display:none"'
            texts.append(f'<p class="chattn-caption" data-frame="{i}"{hidden}>{esc(text)}</p>')
        captions = ('<div class="chattn-captions" aria-live="polite">' + "".join(texts) + "</div>"
                    if texts else "")
        return ('<div class="chattn-slider">' + "".join(rows)
                + '<div class="chattn-frames">' + "".join(imgs) + "</div>" + captions + "</div>")

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        shape = " x ".join(f"{k}: {len(v)}" for k, v in self.params.items())
        return f"<StaticSlider {shape} ({len(self.frames)} frames)>"


def _caption_html(text: str | None) -> str:
    return "" if text is None else f'<p class="chattn-caption">{html.escape(text)}</p>'


def _live(draw: Callable, caption: Callable | None, params: dict[str, list]):
    import ipywidgets as widgets

    # The first option is the initial value (passing value= too leaves ``label`` empty).
    controls = [widgets.SelectionSlider(options=[(str(v), v) for v in values], description=name,
                                        continuous_update=False)
                for name, values in params.items()]
    # The first frame is drawn here, outside any widget, so an error in draw reaches the caller.
    first = {k: v[0] for k, v in params.items()}
    image = widgets.Image(value=_render(draw, first), format="png")
    below = [image]
    if caption is not None:
        text = widgets.HTML(value=_caption_html(_caption(caption, first)))
        below.append(text)
    errors = widgets.Output()

    def redraw(_change=None):
        with errors:                            # later errors show under the figure
            errors.clear_output()
            values = {c.description: c.value for c in controls}
            image.value = _render(draw, values)
            if caption is not None:
                text.value = _caption_html(_caption(caption, values))

    for c in controls:
        c.observe(redraw, names="value")
    return widgets.VBox([*controls, *below, errors])


def slider(draw: Callable[..., Any], caption: Callable[..., str] | None = None, **params: Sequence) -> Any:
    """Show ``draw(**values)`` with one or two sliders over the given values.

    Args:
        draw: a function of the parameters, by keyword, that returns a matplotlib
            :class:`~matplotlib.figure.Figure` (the helper renders it and closes it).
        caption: ``None``, or a function of the same keywords that returns a sentence saying what
            moved, in words and numbers (e.g. ``"r = 8: 67,816 parameters"``); shown as text under
            the figure (HTML, not part of the image), changing with it.
        **params: one or two ``name=[v0, v1, ...]`` lists; the first value is the initial one.
            Values may be numbers or strings; each list must be non-empty, without repeats.

    Returns:
        In live mode an ``ipywidgets.VBox`` (sliders, image, caption, error area); in static mode a
        :class:`StaticSlider` with all ``len(list1) * len(list2)`` frames. Either displays itself
        as the last expression of a cell.

    Raises:
        TypeError: ``draw`` or ``caption`` is not callable, a value list is not a list, ``draw``
            does not return a Figure or ``caption`` does not return a str.
        ValueError: no parameter, more than two, an empty list, or a caption that is empty or
            shows nan or inf.

    Example::

        >>> slider(draw, k_size=[1, 3, 5, 7, 9], image=["brick", "coffee"])   # 10 frames
    """
    params = _check(draw, caption, params)
    if mode() == "live":
        return _live(draw, caption, params)
    names = list(params)
    combos = [dict(zip(names, combo)) for combo in itertools.product(*params.values())]
    captions = None if caption is None else [_caption(caption, values) for values in combos]
    frames = [_render(draw, values) for values in combos]
    return StaticSlider(params, frames, captions)
