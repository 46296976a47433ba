"""The page "Your photograph" (book/photograph.md) in Chromium: the twelve networks run in the browser
on a photograph they were not trained on and agree with torch; so does every network of the
reduction-ratio / kernel-size sweeps, chosen with the page's r / k control, whose labels are those of
the run records; bad input gives a message on the page.

Served from 127.0.0.1 on a free port (the fixtures of conftest.py); every request to another
host is refused and recorded. Writes ``artifacts/photograph*.png``, ``artifacts/photograph.json``
(first-load bytes, bytes fetched per network, milliseconds per network, largest difference to torch)
and ``artifacts/photograph-sweep.json`` (the same for the sweep networks, and the bytes of all).
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

from conftest import ARTIFACTS, SITE, new_page  # the fixtures site, base_url, browser and page are conftest's

from chattn import export, pretrained

PAGE = "book/photograph"
pytestmark = [pytest.mark.built, pytest.mark.usefixtures("site")]      # built implies slow
TOL = 1e-4
TIMEOUT = 300_000                  # ms: the twelve networks on a shared CPU


def _png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def pg(page):
    """conftest's page (only the local server; ``off_site``, ``errors``) that also records the
    local paths it requests (``fetched``) and the console's errors (``console_errors``)."""
    page.fetched, page.console_errors = [], []
    page.on("request", lambda r: page.fetched.append(urlparse(r.url).path) if r.url.startswith("http") else None)
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    return page


def _open(pg, base_url, query=""):
    pg.set_default_timeout(60_000)
    pg.goto(f"{base_url}/{PAGE}.html{query}", wait_until="load")
    pg.wait_for_function("document.getElementById('photograph').dataset.state === 'idle'")


def _results(pg) -> dict:
    return json.loads(pg.locator("#photograph-test-results").text_content())


def _wait(pg, states=("done",)):
    pg.wait_for_function("s => s.includes(document.getElementById('photograph').dataset.state)",
                         arg=list(states), timeout=TIMEOUT)
    return _results(pg)


def _bytes(paths) -> tuple[int, int]:
    """(bytes, gzip bytes) of the site's files at these URL paths."""
    files = [SITE / p.lstrip("/") for p in paths]
    files = [f for f in files if f.is_file()]
    return sum(f.stat().st_size for f in files), sum(len(gzip.compress(f.read_bytes(), 6)) for f in files)


def _compare(got: dict, key: str, net, x: torch.Tensor) -> float:
    """Largest |browser - torch| over the logits of every patch and the gates of the probed patches."""
    want = export.gates(net, x)
    r = got["networks"][key]
    logits = np.array(r["logits"], np.float32).reshape(len(x), -1)
    worst = float(np.abs(logits - want["logits"].numpy()).max())
    probe = torch.tensor(r["probe_indices"])
    names = [n for n in want if n != "logits"]
    assert sorted(r["probe_gates"]) == sorted(names), key
    for name in names:
        g = np.array(r["probe_gates"][name], np.float32).reshape(want[name][probe].shape)
        worst = max(worst, float(np.abs(g - want[name][probe].numpy()).max()))
    assert (logits.argmax(1) == want["logits"].argmax(1).numpy()).mean() > 0.99, key
    return worst


def test_twelve_networks_on_hubble_match_torch(pg, base_url, tmp_path):
    import skimage.data

    page = pg

    _open(page, base_url)
    first = list(page.fetched)
    assert not [p for p in first if "/_static/photograph/" in p and not p.endswith((".js", ".css"))], first
    first_bytes, first_gzip = _bytes(first)

    page.click("#photograph-all")
    assert page.locator("#photograph-network-boxes input:checked").count() == 12
    assert [p for p in page.fetched if "/ort/" in p or "/models/" in p] == []     # nothing before an image

    hubble = np.ascontiguousarray(skimage.data.hubble_deep_field()[300:560, 300:700])  # not trained on; 8 x 12 patches
    page.set_input_files("#photograph-file", str(_png(tmp_path / "hubble.png", hubble)))
    got = _wait(page)
    page.locator("#photograph-results").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "photograph.png"), full_page=True)

    x, (rows, cols) = export.image_patches(hubble)
    assert (got["image"]["rows"], got["image"]["cols"]) == (rows, cols) == (8, 12)
    assert sorted(got["networks"]) == sorted(pretrained.shipped()) and len(got["networks"]) == 12
    worst = {}
    for attn in got["networks"]:
        worst[attn] = _compare(got, attn, pretrained.load(attn), x)
        assert worst[attn] <= TOL, (attn, worst[attn])
    runtime = [p for p in page.fetched if "/ort/" in p]
    models = {p for p in page.fetched if "/models/" in p}
    assert len(models) == 12
    assert page.off_site == [], page.off_site
    assert page.errors == [] and page.console_errors == [], (page.errors, page.console_errors)

    # a 512 x 512 photograph of the book (256 patches), networks already loaded: time per network
    page.click("button[data-photo=astronaut]")
    page.wait_for_function("JSON.parse(document.getElementById('photograph-test-results').textContent)"
                           ".image?.name === 'astronaut'")
    astronaut = _wait(page)
    assert astronaut["image"]["rows"] * astronaut["image"]["cols"] == 256
    one_net = _bytes(runtime + [p for p in models if p.endswith("/se.onnx")])
    report = {
        "first_load": {"requests": len(first), "bytes": first_bytes, "gzip_bytes": first_gzip},
        "one_network_se": {"bytes": one_net[0], "gzip_bytes": one_net[1]},
        "all_twelve": dict(zip(("bytes", "gzip_bytes"), _bytes(runtime + sorted(models)))),
        "ms_per_network_512x512": {k: round(v["ms"]) for k, v in astronaut["networks"].items()},
        "ms_per_network_hubble_96_patches": {k: round(v["ms"]) for k, v in got["networks"].items()},
        "max_abs_difference_to_torch": worst,
    }
    (ARTIFACTS / "photograph.json").write_text(json.dumps(report, indent=1))
    assert page.errors == [] and page.console_errors == [], (page.errors, page.console_errors)


LABEL = re.compile(r"^(?P<letter>[rk]) = (?P<value>\d+|ψ\(C\) = [\d, ]+ by stage)(?P<grid>, the chapters' network)? · "
                   r"(?P<mean>\d+\.\d)(?: ± (?P<std>\d+\.\d))?% \((?P<seeds>\d) seeds?\) · (?P<params>[\d,]+) params$")


def _check_label(text: str, attn: str, key: str, points: dict) -> None:
    """The control's words for one network against chattn.pretrained's records (``points``: the
    sweep's :class:`~chattn.analysis.SweepPoint` by value)."""
    import statistics

    option, values = pretrained.SWEEPS[attn]
    m = LABEL.match(text)
    assert m, (key, text)
    assert m["letter"] == {"reduction": "r", "k_size": "k"}[option], text
    if m["grid"]:                                                   # the grid's network (the chapters')
        assert key == attn, (key, text)
        runs = [r for r in pretrained.records() if r["attn"] == attn]
        acc, params = [r["test_accuracy"] for r in runs], runs[0]["params"]
        default = pretrained.default_option(attn, option)
        if default is None:                                         # ECA: k = psi(C) per stage
            ks = sorted({mod.k_size for mod in export._places(pretrained.load(attn))})
            assert m["value"] == f"ψ(C) = {', '.join(map(str, ks))} by stage", text
        else:
            assert m["value"] == str(default), text
    else:
        point = points[int(m["value"])]
        assert key == f"{attn}_{m['letter']}{point.value}", (key, text)
        acc, params = point.accuracies, point.params
    assert int(m["seeds"]) == len(acc), text
    assert abs(float(m["mean"]) - 100 * statistics.fmean(acc)) <= 0.05 + 1e-9, text
    if len(acc) > 1:
        assert abs(float(m["std"]) - 100 * statistics.stdev(acc)) <= 0.05 + 1e-9, text
    assert int(m["params"].replace(",", "")) == params, text


def test_sweep_networks_through_the_control(pg, base_url, tmp_path):
    """Every network of every sweep, chosen with the module's r / k control, runs on the page and
    agrees with torch; it is fetched only when chosen; the control's labels are the records'."""
    import time

    import skimage.data

    page = pg
    _open(page, base_url, "?module=none")
    page.click("#photograph-none")
    hubble = np.ascontiguousarray(skimage.data.hubble_deep_field()[300:396, 300:556])   # 3 x 8 patches
    x, _ = export.image_patches(hubble)
    page.set_input_files("#photograph-file", str(_png(tmp_path / "hubble.png", hubble)))
    _wait(page, ("done", "idle"))
    start = time.perf_counter()
    worst, chosen = {}, []
    for attn, (option, _) in pretrained.SWEEPS.items():
        page.check(f"#photograph-net-{attn}")                     # the grid's network runs first
        got = _wait(page)
        assert got["shown"] == [attn] and attn in got["networks"], got["shown"]
        control = page.locator(f"select[data-module={attn}]")
        options = control.locator("option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
        letter = {"reduction": "r", "k_size": "k"}[option]
        own = pretrained.own_sweep_values(attn)                   # at the default value: the grid's
        assert [k for k, _ in options] == [attn] + [f"{attn}_{letter}{v}" for v in own], options
        from chattn.analysis import sweep
        points = {p.value: p for p in sweep(attn)}
        for key, text in options:
            _check_label(text, attn, key, points)
        for key, _ in options[1:]:
            assert not [p for p in page.fetched if p.endswith(f"/models/{key}.onnx")], key   # not before chosen
            page.select_option(f"select[data-module={attn}]", key)
            got = _wait(page)
            assert got["shown"] == [key] and key in got["networks"], (key, got["shown"])
            assert [p for p in page.fetched if p.endswith(f"/models/{key}.onnx")], key
            panel = page.locator(f"[data-network={key}]")               # the chosen network's gates are shown
            assert panel.locator("h3").inner_text().endswith(f"({letter} = {key.rsplit('_', 1)[1][1:]})")
            net = pretrained.load(attn, **{option: int(key.rsplit("_", 1)[1][1:])})
            assert panel.locator(".photograph-gate").count() == len(export.gate_names(net)) - 1
            worst[key] = _compare(got, key, net, x)
            assert worst[key] <= TOL, (key, worst[key])
            chosen.append(key)
        if attn == "se":
            page.select_option("select[data-module=se]", "se_r16")
            page.locator("[data-network=se_r16]").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "photograph-sweep.png"))
        page.uncheck(f"#photograph-net-{attn}")
    seconds = time.perf_counter() - start
    assert len(chosen) == sum(len(pretrained.own_sweep_values(a)) for a in pretrained.SWEEPS)
    models = sorted({p for p in page.fetched if "/models/" in p})
    assert len(models) == len(chosen) + len(pretrained.SWEEPS)       # each sweep network once, and the grid's
    runtime = sorted({p for p in page.fetched if "/ort/" in p})
    every = sorted({f"/_static/photograph/{f.relative_to(SITE / '_static' / 'photograph').as_posix()}"
                    for f in (SITE / "_static" / "photograph" / "models").iterdir()})
    got = _results(page)
    report = {
        "sweep_networks": len(chosen),
        "max_abs_difference_to_torch": worst,
        "ms_per_network_hubble_24_patches": {k: round(got["networks"][k]["ms"]) for k in chosen},
        "seconds_for_all_sweep_networks_in_the_page": round(seconds, 1),
        "bytes_sweep_networks": dict(zip(("bytes", "gzip_bytes"), _bytes([p for p in models if
                                                                         p.rsplit("/", 1)[1][:-5] in chosen]))),
        "bytes_runtime_and_every_network": dict(zip(("networks", "bytes", "gzip_bytes"),
                                                    (len(every), *_bytes(runtime + every)))),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "photograph-sweep.json").write_text(json.dumps(report, indent=1))
    assert page.off_site == [], page.off_site
    assert page.errors == [] and page.console_errors == [], (page.errors, page.console_errors)


def _message(pg) -> str:
    return pg.locator("#photograph-message").inner_text()


def test_bad_input_gives_a_message(pg, base_url, tmp_path):
    page = pg
    _open(page, base_url, "?module=eca")
    boxes = page.locator("#photograph-network-boxes input:checked")
    assert sorted(boxes.evaluate_all("bs => bs.map(b => b.value)")) == ["eca", "none"]

    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    page.set_input_files("#photograph-file", str(text))
    _wait(page, ("error",))
    assert "“notes.png” is not an image" in _message(page)

    page.set_input_files("#photograph-file", str(_png(tmp_path / "tiny.png", np.zeros((20, 40, 3), np.uint8))))
    page.wait_for_function("document.getElementById('photograph-message').innerText.includes('tiny.png')")
    assert "40×20 pixels: smaller than one 32×32 patch" in _message(page)

    wide = np.tile(np.arange(3000, dtype=np.uint8), (300, 1))                    # grey, 3000 x 300
    page.set_input_files("#photograph-file", str(_png(tmp_path / "wide.png", wide)))
    got = _wait(page)
    assert "scaled down to 1024×102" in _message(page)
    assert (got["image"]["width"], got["image"]["height"], got["image"]["rows"], got["image"]["cols"]) == (1024, 102, 3, 32)
    assert sorted(got["networks"]) == ["eca", "none"]

    page.route("**/models/se.onnx", lambda route: route.abort())                # a network fails to load
    page.check("#photograph-net-se")                                            # runs on the same image
    got = _wait(page, ("error",))
    assert "The SE network (models/se.onnx) could not be downloaded" in _message(page)
    assert sorted(got["networks"]) == ["eca", "none"] and "se" in got["failed"]  # the others still ran
    assert page.locator("[data-network=se] .photograph-message").is_visible()
    page.screenshot(path=str(ARTIFACTS / "photograph-bad-network.png"))
    assert page.errors == [], page.errors
    # Chromium itself logs the refused request; nothing else may reach the console
    assert [m for m in page.console_errors if "Failed to load resource" not in m] == [], page.console_errors
    assert page.off_site == [], page.off_site


def test_opened_from_disk_says_to_serve_it(browser):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto((SITE / f"{PAGE}.html").as_uri(), wait_until="load")
    note = pg.locator("#photograph-needs-server")
    assert note.is_visible() and "bash scripts/book.sh" in note.inner_text()
    assert not pg.locator("#photograph-app").is_visible()
    context.close()



# --- issue 19: transparency, progress, messages, layout -----------------------------------------

def test_transparent_pixels_are_read_on_white_as_image_patches_reads_them(pg, base_url, tmp_path):
    """An RGBA photograph whose left half is transparent: the page composites it onto white, as
    chattn.export.image_patches does (logits and gates agree with torch), and says so."""
    import skimage.data

    page = pg
    _open(page, base_url, "?module=se")
    rgb = np.ascontiguousarray(skimage.data.hubble_deep_field()[300:364, 300:428])      # 2 x 4 patches
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    alpha[:, :64] = 0                                                   # left half: transparent
    rgba = np.concatenate([rgb, alpha], 2)
    page.set_input_files("#photograph-file", str(_png(tmp_path / "cutout.png", rgba)))
    got = _wait(page)
    x, _ = export.image_patches(rgba)
    black, _ = export.image_patches(np.where(alpha > 0, rgb, 0).astype(np.uint8))   # what "ignored" read
    assert not torch.allclose(x, black)
    for attn in ("none", "se"):
        assert _compare(got, attn, pretrained.load(attn), x) <= TOL, attn
    assert "50.0% of the pixels the networks read are transparent" in _message(page)
    assert "white background" in _message(page)
    assert page.errors == [] and page.console_errors == [], (page.errors, page.console_errors)


def test_empty_and_damaged_files_say_so(pg, base_url, tmp_path):
    page = pg
    _open(page, base_url, "?module=se")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    page.set_input_files("#photograph-file", str(empty))
    _wait(page, ("error",))
    assert "“empty.png” is empty (0 bytes)" in _message(page)
    good = _png(tmp_path / "good.png", np.zeros((64, 64, 3), np.uint8)).read_bytes()
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(good[:len(good) // 2])                          # cut short
    page.set_input_files("#photograph-file", str(damaged))
    page.wait_for_function("document.getElementById('photograph-message').innerText.includes('damaged.png')")
    assert "“damaged.png” starts like a PNG file but is damaged" in _message(page)
    assert "not an image this browser can read" not in _message(page)
    assert page.errors == [], page.errors


def test_progress_shows_bytes_and_percent_and_the_status_counts_what_is_shown(pg, base_url, tmp_path):
    page = pg
    _open(page, base_url, "?module=se")
    assert not page.locator("#photograph-legend").is_visible()       # no legend before an image
    page.evaluate("""() => { window.statusTexts = [];
        new MutationObserver(() => window.statusTexts.push(document.getElementById('photograph-status').textContent))
            .observe(document.getElementById('photograph-status'), {childList: true, characterData: true, subtree: true}); }""")
    img = np.ascontiguousarray((np.indices((64, 96)).sum(0) % 256).astype(np.uint8))
    page.set_input_files("#photograph-file", str(_png(tmp_path / "ramp.png", img)))
    _wait(page)
    texts = page.evaluate("window.statusTexts")
    runtime = [t for t in texts if t.startswith("Loading the runtime")]
    pattern = re.compile(r"^Loading the runtime, onnxruntime-web [\d.]+ \(once\): ([\d.]+) MB of ([\d.]+) MB \((\d+)%\)…$")
    assert runtime and all(pattern.match(t) for t in runtime), runtime[:3]
    last = pattern.match(runtime[-1])
    assert last[1] == last[2] and last[3] == "100", runtime[-1]
    assert any(re.search(r"network: [\d.]+ MB of [\d.]+ MB \(\d+%\)", t) for t in texts), texts
    assert page.locator("#photograph-legend").is_visible()
    # Two networks ran (none, se); untick one: the status counts the one panel shown.
    page.uncheck("#photograph-net-none")
    _wait(page)
    assert page.locator(".photograph-panel").count() == 1
    assert page.locator("#photograph-status").inner_text().startswith("1 network shown, run on 6 patches")
    assert page.errors == [] and page.console_errors == [], (page.errors, page.console_errors)


def _cut_off(page, selector) -> list[str]:
    """Texts of the elements that do not fit their box (wider content than the box shows)."""
    return page.locator(selector).evaluate_all("es => es.filter(e => e.scrollWidth > e.clientWidth + 1)"
                                               ".map(e => e.textContent)")


@pytest.mark.parametrize("width", [1280, 390])
def test_layout_gate_names_and_the_r_k_control_are_not_cut_off(browser, base_url, tmp_path, width):
    page = new_page(browser, base_url, width, 900, timeout_ms=60_000)
    page.goto(f"{base_url}/{PAGE}.html?module=gct", wait_until="load")
    page.wait_for_function("document.getElementById('photograph').dataset.state === 'idle'")
    page.check("#photograph-net-se")
    page.uncheck("#photograph-net-none")
    img = np.ascontiguousarray((np.indices((64, 64, 3)).sum(0) * 7 % 256).astype(np.uint8))
    page.set_input_files("#photograph-file", str(_png(tmp_path / "pattern.png", img)))
    page.wait_for_function("document.getElementById('photograph').dataset.state === 'done'", timeout=TIMEOUT)
    names = page.locator("[data-network=gct] .photograph-gatename").all_inner_texts()
    net = pretrained.load("gct")
    assert len(names) == len(export.gate_names(net)) - 1
    assert all(re.fullmatch(r"stem|stage \d, block \d(, conv \d|, downsample)?", n) for n in names), names
    assert _cut_off(page, ".photograph-gatename") == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    # The chosen r: written out in full below the control, where it wraps; on a desktop the control shows it whole.
    chosen = page.locator("[data-network=se] .photograph-chosen").inner_text()
    label = page.locator("select[data-module=se] option:checked").inner_text()
    assert chosen == f"Running: {label}."
    assert _cut_off(page, "[data-network=se] .photograph-chosen") == []
    if width >= 1000:
        fits = page.locator("select[data-module=se]").evaluate("""s => {
            const c = document.createElement('canvas').getContext('2d'), st = getComputedStyle(s);
            c.font = `${st.fontSize} ${st.fontFamily}`;
            return c.measureText(s.options[s.selectedIndex].text).width + 40 <= s.clientWidth; }""")
        assert fits, label
    assert page.off_site == [], page.off_site
    page.screenshot(path=str(ARTIFACTS / f"photograph-layout-{width}.png"), full_page=True)
    page.context.close()


def test_gct_strips_are_not_near_white_in_dark_mode(browser, base_url, tmp_path):
    """GCT's gates are factors near 1: on the chapters' red-blue scale they are near-white bars,
    glaring on a dark page. In dark mode the page uses a scale centred on a dark grey."""
    page = new_page(browser, base_url, dark=True, timeout_ms=60_000)
    page.goto(f"{base_url}/{PAGE}.html?module=gct", wait_until="load")
    page.wait_for_function("document.getElementById('photograph').dataset.state === 'idle'")
    page.uncheck("#photograph-net-none")
    img = np.ascontiguousarray((np.indices((64, 64, 3)).sum(0) * 7 % 256).astype(np.uint8))
    page.set_input_files("#photograph-file", str(_png(tmp_path / "pattern.png", img)))
    page.wait_for_function("document.getElementById('photograph').dataset.state === 'done'", timeout=TIMEOUT)
    assert "blue-grey-red" in page.locator("[data-network=gct]").inner_text()
    luminance = page.locator("[data-network=gct] canvas.photograph-strip").evaluate_all("""cs => cs.map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = 0;
        for (let i = 0; i < d.length; i += 4) s += (0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]) / 255;
        return s / (d.length / 4); })""")
    assert luminance and max(luminance) < 0.5, luminance
    assert page.off_site == [], page.off_site
    page.screenshot(path=str(ARTIFACTS / "photograph-dark.png"), full_page=True)
    page.context.close()
