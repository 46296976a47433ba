"""chattn.interactive.slider: static frames, live widgets, errors."""
import base64
import itertools
import json
from pathlib import Path
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from chattn import interactive  # noqa: E402
from chattn.interactive import slider  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Tags(HTMLParser):
    """Collect (tag, attrs) of every start tag and the text of <output> elements."""

    def __init__(self):
        super().__init__()
        self.tags, self.outputs, self._in_output = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_output = tag == "output"

    def handle_data(self, data):
        if self._in_output:
            self.outputs.append(data)
            self._in_output = False

    def of(self, tag):
        return [a for t, a in self.tags if t == tag]


def parse(html):
    p = Tags()
    p.feed(html)
    return p


@pytest.fixture(autouse=True)
def reset_mode():
    interactive.set_mode(None)
    yield
    interactive.set_mode(None)
    plt.close("all")


def recording_draw(calls):
    """A draw function whose figure depends on its arguments (a bar per argument)."""
    def draw(**values):
        calls.append(values)
        fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
        heights = [v if isinstance(v, (int, float)) else len(v) for v in values.values()]
        ax.bar(range(len(heights)), heights)
        ax.set_ylim(0, 20)
        ax.set_title(repr(values), fontsize=6)
        return fig
    return draw


def test_static_one_frame_per_value_and_range_input():
    interactive.set_mode("static")
    calls = []
    out = slider(recording_draw(calls), reduction=[2, 4, 8, 16])
    assert isinstance(out, interactive.StaticSlider)
    page = parse(out._repr_html_())
    ranges = [a for a in page.of("input") if a.get("type") == "range"]
    assert len(ranges) == 1
    assert (ranges[0]["min"], ranges[0]["max"], ranges[0]["value"]) == ("0", "3", "0")
    assert json.loads(ranges[0]["data-labels"]) == ["2", "4", "8", "16"]
    assert "oninput" in ranges[0]
    assert page.outputs == ["2"]                      # value label shows the initial value
    imgs = page.of("img")
    assert len(imgs) == 4 == len(out.frames)
    assert [c["reduction"] for c in calls] == [2, 4, 8, 16]
    # Only the first frame is an image at once; the others wait in data-src for the first move.
    assert "src" in imgs[0] and "data-src" not in imgs[0]
    assert all("src" not in a and "data-src" in a for a in imgs[1:])
    uris = [imgs[0]["src"]] + [a["data-src"] for a in imgs[1:]]
    pngs = [base64.b64decode(u.removeprefix("data:image/png;base64,")) for u in uris]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    assert pngs == out.frames
    assert len(set(pngs)) == 4                        # each value draws a different figure
    assert [a["data-frame"] for a in imgs] == ["0", "1", "2", "3"]
    assert "display:none" not in imgs[0]["style"] and all("display:none" in a["style"] for a in imgs[1:])
    # Each frame keeps its place while it loads: its size in pixels, scaled down by CSS.
    assert [(int(a["width"]), int(a["height"])) for a in imgs] == [interactive.png_size(p) for p in pngs]
    assert all("max-width:100%" in a["style"] for a in imgs)
    assert not plt.get_fignums()                      # every figure was closed


def test_static_two_params_row_major_and_self_contained():
    interactive.set_mode("static")
    calls = []
    out = slider(recording_draw(calls), k_size=[1, 3, 5], image=["brick", "coffee"])
    expected = [dict(k_size=k, image=i) for k, i in itertools.product([1, 3, 5], ["brick", "coffee"])]
    assert calls == expected
    page = parse(out.html)
    ranges = [a for a in page.of("input") if a.get("type") == "range"]
    assert [r["max"] for r in ranges] == ["2", "1"]
    imgs = page.of("img")
    assert len(imgs) == 6
    assert [a["alt"] for a in imgs] == [f"k_size={c['k_size']}, image={c['image']}" for c in expected]
    assert page.of("script") == []                    # no script tag, so nothing to load
    assert "http" not in out.html and "require" not in out.html


def test_env_var_selects_static(monkeypatch):
    monkeypatch.setenv("CHATTN_STATIC", "1")
    assert interactive.mode() == "static"
    assert isinstance(slider(recording_draw([]), r=[1, 2]), interactive.StaticSlider)
    monkeypatch.setenv("CHATTN_STATIC", "0")
    assert interactive.mode() == "live"
    interactive.set_mode("static")                    # forcing beats the environment
    assert interactive.mode() == "static"


def test_live_returns_widgets_that_redraw():
    import ipywidgets as widgets

    interactive.set_mode("live")
    calls = []
    box = slider(recording_draw(calls), reduction=[2, 4, 8], image=["brick", "coffee"])
    assert isinstance(box, widgets.VBox)
    sliders = [w for w in box.children if isinstance(w, widgets.SelectionSlider)]
    image = next(w for w in box.children if isinstance(w, widgets.Image))
    assert [s.description for s in sliders] == ["reduction", "image"]
    assert sliders[0].label == "2" and sliders[0].value == 2 and len(sliders[0].options) == 3
    assert calls == [dict(reduction=2, image="brick")]
    first = image.value
    assert bytes(first).startswith(PNG_MAGIC)
    sliders[0].value = 8
    assert calls[-1] == dict(reduction=8, image="brick")
    assert image.value != first


def test_draw_errors_propagate():
    def broken(r):
        raise RuntimeError(f"boom {r}")

    for m in ("static", "live"):
        interactive.set_mode(m)
        with pytest.raises(RuntimeError, match="boom 1"):
            slider(broken, r=[1, 2])


@pytest.mark.parametrize("m", ["static", "live"])
@pytest.mark.parametrize("where", ["title", "xlabel", "ticks", "text"])
def test_a_figure_that_shows_nan_or_inf_is_refused(m, where):
    import numpy as np

    def draw(r):
        fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
        value = float("nan") if r == 2 else 1.0
        if where == "title":
            ax.set_title(f"sd {value:.2f}")
        elif where == "xlabel":
            ax.set_xlabel(f"log energy {-np.inf if r == 2 else 0.0}")
        elif where == "ticks":
            ax.set_xticks([0, 1], ["ok", f"{-np.inf if r == 2 else 0}"])
        else:
            fig.text(0.1, 0.1, f"gate {value}")
        return fig

    interactive.set_mode(m)
    with pytest.raises(ValueError, match="not finite"):
        slider(draw, r=[2, 1])


@pytest.mark.parametrize("text", ["Infant", "nano", "info", "banana split", "1e-05", "finance"])
def test_words_that_contain_nan_or_inf_are_not_flagged(text):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.set_title(text)
    interactive.check_figure_text(fig)


def test_draw_must_return_a_figure():
    interactive.set_mode("static")
    with pytest.raises(TypeError, match="Figure"):
        slider(lambda r: None, r=[1, 2])


@pytest.mark.parametrize("m", ["static", "live"])
@pytest.mark.parametrize("args, kwargs, error, match", [
    ((), {}, ValueError, "at least one"),
    ((), dict(a=[1], b=[2], c=[3]), ValueError, "at most 2"),
    ((), dict(reduction=[]), ValueError, "reduction"),
    ((), dict(reduction=4), TypeError, "reduction"),
    ((), dict(image="brick"), TypeError, "image"),
    ((), dict(reduction=[4, 4]), ValueError, "reduction"),
    (("not callable",), dict(reduction=[4]), TypeError, "draw"),
])
def test_bad_arguments(m, args, kwargs, error, match):
    interactive.set_mode(m)
    draw = args[0] if args else recording_draw([])
    with pytest.raises(error, match=match):
        slider(draw, **kwargs)


def test_png_size_reads_the_header_and_refuses_other_data():
    import io

    fig, _ = plt.subplots(figsize=(2, 1), dpi=50)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert interactive.png_size(buf.getvalue()) == (100, 50)
    with pytest.raises(ValueError, match="png"):
        interactive.png_size(b"GIF89a" + bytes(30))


def test_set_mode_rejects_unknown():
    with pytest.raises(ValueError, match="mode"):
        interactive.set_mode("dynamic")


def reduction_caption(reduction):
    """A caption in words and numbers, as a chapter writes one."""
    return f"r = {reduction}: {64 // reduction} hidden units & {reduction ** 2:,} <b>"


def test_static_captions_are_text_under_the_frames_one_per_frame():
    interactive.set_mode("static")
    plain = slider(recording_draw([]), reduction=[2, 4, 8])
    captioned = slider(recording_draw([]), caption=reduction_caption, reduction=[2, 4, 8])
    assert captioned.frames == plain.frames           # the caption is not drawn into the image
    assert plain.captions is None and "chattn-caption" not in plain.html
    assert captioned.captions == [reduction_caption(r) for r in (2, 4, 8)]
    page = parse(captioned.html)
    ps = [a for a in page.of("p") if a.get("class") == "chattn-caption"]
    assert [a["data-frame"] for a in ps] == ["0", "1", "2"]
    assert "style" not in ps[0] and all(a["style"] == "display:none" for a in ps[1:])
    # Escaped text, after the frames, in a region a screen reader announces when it changes.
    assert "&amp; 64 &lt;b&gt;" in captioned.html and "<b>" not in captioned.html
    assert captioned.html.index("chattn-caption") > captioned.html.rindex("chattn-frame")
    assert any(a.get("class") == "chattn-captions" and a.get("aria-live") == "polite" for a in page.of("div"))


def test_static_captions_with_two_params_follow_the_frames():
    interactive.set_mode("static")
    out = slider(recording_draw([]), caption=lambda k, image: f"k = {k} on {image}",
                 k=[1, 3], image=["brick", "coffee"])
    assert out.captions == ["k = 1 on brick", "k = 1 on coffee", "k = 3 on brick", "k = 3 on coffee"]


def test_live_caption_is_an_html_widget_under_the_image_that_follows_the_slider():
    import ipywidgets as widgets

    interactive.set_mode("live")
    box = slider(recording_draw([]), caption=reduction_caption, reduction=[2, 4, 8])
    kinds = [type(w).__name__ for w in box.children]
    assert kinds == ["SelectionSlider", "Image", "HTML", "Output"]
    control, text = box.children[0], box.children[2]
    assert isinstance(text, widgets.HTML)
    assert text.value == '<p class="chattn-caption">r = 2: 32 hidden units &amp; 4 &lt;b&gt;</p>'
    control.value = 8
    assert "r = 8: 8 hidden units" in text.value
    no_caption = slider(recording_draw([]), reduction=[2, 4])
    assert not any(isinstance(w, widgets.HTML) for w in no_caption.children)


@pytest.mark.parametrize("m", ["static", "live"])
@pytest.mark.parametrize("caption, error, match", [
    ("r = 4", TypeError, "caption must be None or a callable"),
    (lambda r: 4.0, TypeError, "caption must return a str, got float"),
    (lambda r: "  ", ValueError, "empty"),
    (lambda r: f"accuracy {float('nan')} %", ValueError, "not finite"),
    (lambda r: f"ratio {float('inf')}", ValueError, "not finite"),
])
def test_bad_captions_are_refused(m, caption, error, match):
    interactive.set_mode(m)
    with pytest.raises(error, match=match):
        slider(recording_draw([]), caption=caption, r=[1, 2])


def test_a_caption_error_comes_from_the_caption():
    def caption(r):
        raise KeyError(f"no accuracy for r={r}")

    interactive.set_mode("static")
    with pytest.raises(KeyError, match="r=1"):
        slider(recording_draw([]), caption=caption, r=[1, 2])


@pytest.mark.slow
def test_static_caption_switches_with_its_frame_in_chromium():
    """The inline handler in a real browser: moving the range shows one frame and its caption."""
    sys_path = str(Path(__file__).resolve().parents[1] / "scripts")
    import sys
    sys.path.insert(0, sys_path)
    from chromium import CHROMIUM, CHROMIUM_ARGS
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium (scripts/test.sh does it)")
    interactive.set_mode("static")
    out = slider(recording_draw([]), caption=lambda k, image: f"k = {k} on {image}",
                 k=[1, 3, 5], image=["brick", "coffee"])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page()
            pg.set_content(f"<!doctype html><html><body>{out.html}</body></html>")
            shown = """() => Array.from(document.querySelectorAll('[data-frame]'))
                .filter(e => getComputedStyle(e).display !== 'none')
                .map(e => e.tagName + ':' + e.dataset.frame + ':' + e.textContent)"""
            assert pg.evaluate(shown) == ["IMG:0:", "P:0:k = 1 on brick"]
            ranges = pg.locator("input[type=range]")
            for index, value in ((0, "2"), (1, "1")):
                ranges.nth(index).fill(value)          # fill() sets the value and fires input
            assert pg.evaluate(shown) == ["IMG:5:", "P:5:k = 5 on coffee"]
            assert pg.locator("output").all_text_contents() == ["5", "coffee"]
        finally:
            browser.close()


# --- the smallest text of a figure, carried by its PNG ---------------------------------------

def figure_with_text(tick_pt=7, title_pt=14, dpi=80):
    fig, ax = plt.subplots(figsize=(3, 2), dpi=dpi)
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_title("title", fontsize=title_pt)
    ax.tick_params(labelsize=tick_pt)
    ax.legend(fontsize=max(tick_pt, title_pt) + 1)
    return fig


def test_min_text_px_is_the_smallest_drawn_font_in_png_pixels():
    fig = figure_with_text(tick_pt=7, title_pt=14, dpi=80)
    assert interactive.min_text_px(fig) == pytest.approx(7 * 80 / 72)
    assert interactive.min_text_px(fig, dpi=160) == pytest.approx(7 * 160 / 72)
    fig.axes[0].tick_params(labelsize=16)
    assert interactive.min_text_px(fig) == pytest.approx(14 * 80 / 72)        # now the title


def test_min_text_px_skips_hidden_empty_and_outside_text():
    fig = figure_with_text(tick_pt=12, title_pt=12)
    ax = fig.axes[0]
    ax.text(0.5, 0.5, "tiny but hidden", fontsize=3).set_visible(False)
    ax.text(0.5, 0.5, "   ", fontsize=3)
    ax.text(0.5, 0.5, "transparent", fontsize=3, alpha=0)
    fig.text(5.0, 5.0, "far outside the figure", fontsize=3)
    hidden_legend = ax.legend(["x"], fontsize=3)
    hidden_legend.set_visible(False)
    assert interactive.min_text_px(fig) == pytest.approx(12 * 80 / 72)
    ax.annotate("note", (0.5, 0.5), fontsize=5)
    assert interactive.min_text_px(fig) == pytest.approx(5 * 80 / 72)


def test_min_text_px_sees_colorbars_and_is_none_without_text():
    import numpy as np

    fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
    im = ax.imshow(np.arange(4.0).reshape(2, 2))
    ax.axis("off")
    assert interactive.min_text_px(fig) is None
    cbar = fig.colorbar(im)
    cbar.ax.tick_params(labelsize=6)
    assert interactive.min_text_px(fig) == pytest.approx(6 * 80 / 72)


def test_figure_png_writes_the_chunk_and_png_min_text_px_reads_it():
    fig = figure_with_text(tick_pt=9, dpi=100)
    png = interactive.figure_png(fig, metadata={"Title": "kept"})
    assert png.startswith(PNG_MAGIC)
    text = interactive.png_text(png)
    assert text[interactive.MIN_TEXT_KEY] == f"{9 * 100 / 72:.2f}" and text["Title"] == "kept"
    assert interactive.png_min_text_px(png) == pytest.approx(9 * 100 / 72, abs=0.01)
    # The PNG is the figure at its dpi: the size is in the PNG's own pixels.
    width, _ = interactive.png_size(interactive.figure_png(fig, dpi=50, bbox_inches=None))
    assert width == 150
    blank, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.axis("off")
    assert interactive.png_min_text_px(interactive.figure_png(blank)) is None


def test_png_min_text_px_refuses_a_png_without_the_chunk():
    import io

    fig = figure_with_text()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    with pytest.raises(ValueError, match="chattn:min-text-px"):
        interactive.png_min_text_px(buf.getvalue())
    with pytest.raises(ValueError, match="png"):
        interactive.png_text(b"not a png at all, longer than the header")


def test_slider_frames_carry_their_smallest_text():
    interactive.set_mode("static")

    def draw(size):
        fig, ax = plt.subplots(figsize=(2, 1.5), dpi=72)
        ax.tick_params(labelsize=size)
        ax.set_title("t", fontsize=20)
        return fig

    out = slider(draw, size=[6, 11])
    assert [interactive.png_min_text_px(f) for f in out.frames] == [pytest.approx(6), pytest.approx(11)]
