"""A live slider in a real notebook front end: JupyterLab 4 in headless Chromium.

The test starts JupyterLab (installed by the set-up) on 127.0.0.1, on a free port, with a random
token and its own settings/workspace/runtime directories, serving a temporary directory that holds
a copy of one chapter notebook (``CHATTN_LAB_NOTEBOOK``, default ``book/06_eca.ipynb``: a
kernel-size slider). Playwright drives Debian's Chromium: open the notebook, *Run > Run All Cells*,
wait for the kernel, then move the first live slider one step with the keyboard, and check that the
figure (the Image widget's bytes) changes and that no error shows, neither in a cell nor under the
slider. The kernel is this environment's (``CHATTN_STATIC`` unset: live mode).

Screenshots: ``artifacts/jupyterlab-slider-before.png`` and ``artifacts/jupyterlab-slider-after.png``
(the slider block), ``artifacts/jupyterlab-notebook.png`` (the window after the move).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ARTIFACTS, ROOT, keep_local  # and the fixture browser

NOTEBOOK = ROOT / os.environ.get("CHATTN_LAB_NOTEBOOK", "book/06_eca.ipynb")
RUN_TIMEOUT_MS = 300_000            # all cells of one chapter, on a shared CPU
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a directory with a copy of NOTEBOOK."""
    base = tmp_path_factory.mktemp("lab")
    work = base / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    token = secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CHATTN_STATIC", "JUPYTER_PATH")}
    env.update(JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"))
    log = open(base / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabServerApp.extension_manager=readonly"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                json.load(r)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"JupyterLab did not start:\n{(base / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield {"url": url, "token": token, "work": work, "log": base / "lab.log"}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def lab_page(lab, browser):
    """A page of conftest's Chromium that may only talk to JupyterLab (``off_site``, ``errors``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.off_site, pg.errors = keep_local(pg, lab["url"]), []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def notebook_json(pg) -> dict:
    """The open notebook's model (cells and outputs) as JupyterLab holds it."""
    return pg.evaluate("() => jupyterapp.shell.currentWidget.context.model.toJSON()")


def image_bytes(img) -> str:
    """The bytes the <img> shows (the widget's blob URL), base64."""
    return img.evaluate("""async i => {
        const b = new Uint8Array(await (await fetch(i.src)).arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s);
    }""")


def test_live_slider_moves_the_figure_in_jupyterlab(lab, lab_page):
    page = lab_page
    page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK.name}?token={lab['token']}", wait_until="load")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # The kernel must be up before Run All, else the first cells queue behind its start.
    page.wait_for_function("() => { const w = jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.sessionContext.session &&"
                           " w.sessionContext.session.kernel && w.sessionContext.kernelDisplayStatus === 'idle'; }")

    page.get_by_role("menuitem", name="Run", exact=True).click()       # the menu bar: Run > Run All Cells
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()

    # Done when every code cell has an execution count and the kernel is idle again.
    page.wait_for_function("""() => {
        const w = jupyterapp.shell.currentWidget;
        const cells = w.context.model.toJSON().cells.filter(c => c.cell_type === 'code');
        return w.sessionContext.kernelDisplayStatus === 'idle' && cells.every(c => c.execution_count);
    }""", timeout=RUN_TIMEOUT_MS, polling=1000)
    nb = notebook_json(page)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb["cells"])
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == [], errors

    box = page.locator(".jupyter-widgets.widget-vbox").filter(has=page.locator(".widget-slider")).first
    box.scroll_into_view_if_needed()
    img = box.locator("img").first
    img.wait_for()
    label = box.locator(".widget-readout").first
    ARTIFACTS.mkdir(exist_ok=True)
    before_png = box.screenshot(path=str(ARTIFACTS / "jupyterlab-slider-before.png"))
    before, before_label = image_bytes(img), label.inner_text()

    handle = box.locator(".noUi-handle, .ui-slider-handle").first   # ipywidgets 8 / 7
    handle.focus()
    page.keyboard.press("ArrowRight")                                # one step, as a person would
    deadline = time.time() + 120                                     # the kernel redraws
    while image_bytes(img) == before and time.time() < deadline:
        time.sleep(0.5)
    after = image_bytes(img)
    after_png = box.screenshot(path=str(ARTIFACTS / "jupyterlab-slider-after.png"))
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-notebook.png"))

    assert after != before, "moving the slider did not change the figure"
    assert label.inner_text() != before_label
    assert after_png != before_png
    # No error under the slider (its Output widget) nor anywhere in the notebook.
    assert box.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert [o for c in notebook_json(page)["cells"] for o in c.get("outputs", [])
            if o.get("output_type") == "error"] == []
    assert page.errors == [], page.errors
