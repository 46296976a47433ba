"""chattn.interactive.slider: static frames, live widgets, errors."""
import base64
import itertools
import json
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
