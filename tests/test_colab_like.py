"""The book as a Colab reader meets it: a wheel, a clean machine, live widgets.

For each ipywidgets line a reader may have (7.7.1 as Colab pins it; 8 as JupyterLab 4 and current
Jupyter use), the test

1. builds a wheel of chattn (``pip wheel --no-deps .``, once per session, for both environments);
2. creates a fresh virtual environment outside the repository with only the wheel (not editable)
   and its ``book`` extra, ``ipykernel`` and that ipywidgets (no jupyter-book), and nbval where
   it runs the notebooks; torch (``torch==2.13.0``, from this machine's disk) is installed once
   into a directory both environments see through a ``.pth`` file, as Colab has torch
   preinstalled. Both environments are set up side by side; pip compiles no bytecode (the kernels
   write it, once, for what they import);
3. in Colab's environment (ipywidgets 7.7.1, :data:`EVERY_NOTEBOOK`), copies every
   ``book/*.ipynb`` into an empty temporary directory and runs them all with **nbval**
   (``pytest --nbval-lax``), in live mode (``CHATTN_STATIC`` unset);
4. asserts: every cell of every notebook ran and none failed; a notebook that calls ``slider(``
   displayed a live widget (a ``application/vnd.jupyter.widget-view+json`` bundle whose model is a
   box holding a SelectionSlider and an Image); and nothing from the repository was read:
   ``chattn`` imports from the environment's site-packages, the kernel's working directory is the
   copy, no module was loaded from the repository and an audit hook saw no file under it opened;
5. in the other environment (ipywidgets 8), builds every slider the notebooks showed again, live,
   with the values the notebooks gave it (recorded from the widgets by the last cell of each copy),
   displays it and moves each of its sliders: a live widget view, a new figure and caption.

Why the notebooks run in one environment only: the two differ in ipywidgets alone, and the
notebooks reach ipywidgets only through :func:`chattn.interactive.slider` (``_live``: the
SelectionSliders, Image, caption HTML, error Output and their VBox). Everything else a notebook
runs (the networks, the statistics, ``draw`` and ``caption``) is the same code on the same packages
in both, and runs here in live mode under 7.7.1 and in the book build (every notebook, ipywidgets 8,
static mode). What ipywidgets 8 changes is checked in its environment on every slider of the book
(step 5), and by ``tests/test_jupyterlab.py`` (a chapter run in JupyterLab 4 with ipywidgets 8, its
slider moved in the front end).

Each notebook's time is written to ``artifacts/colab-like-ipywidgets-7.7.1.txt`` (slowest first).
The install cell's own failure message and a live slider's redraw are checked with nbclient in both
environments' kernels.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
IPYWIDGETS = {"7.7.1": "ipywidgets==7.7.1", "8": "ipywidgets>=8,<9"}
#: The environment that runs every notebook: Colab's (module docstring: why one).
EVERY_NOTEBOOK = "7.7.1"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 120
pytestmark = pytest.mark.slow
# The environment of the kernel: the reader's, not this test run's. Bytecode is written as on
# Colab: pip installs without compiling (--no-compile, all of torch and scipy, ~25 CPU-s a venv),
# and the first kernel compiles only what the notebooks import, for every later kernel.
DROP_ENV = ("CHATTN_STATIC", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONSTARTUP",
            "PYTHONDONTWRITEBYTECODE")
# pip as the venvs use it: quiet, and no bytecode compiled at install (see DROP_ENV).
PIP_INSTALL = ("-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile")

# Runs first in every notebook copy: record every file opened under the repository, and the model
# of every widget view the kernel sends to the front end (display() and a cell's last value).
HOOK = """\
import os as _os, sys as _sys
_REPO = {root!r}
_repo_opens = []
def _audit(event, args, _repo=_REPO, _log=_repo_opens):
    if event == "open" and args and isinstance(args[0], (str, bytes, _os.PathLike)):
        path = _os.path.abspath(_os.fsdecode(args[0]))
        if path == _repo or path.startswith(_repo + _os.sep):
            _log.append(path)
_sys.addaudithook(_audit)
del _audit
_shown = []
def _record(data, _shown=_shown):
    view = data.get("application/vnd.jupyter.widget-view+json") if isinstance(data, dict) else None
    if view:
        _shown.append(view["model_id"])
def _recording(send):
    def wrapped(data, *args, **kwargs):
        _record(data)
        return send(data, *args, **kwargs)
    return wrapped
_ip = get_ipython()
_ip.display_pub.publish = _recording(_ip.display_pub.publish)
_ip.displayhook.write_format_data = _recording(_ip.displayhook.write_format_data)"""

# Runs last: where everything came from, written beside the notebook copy (nbval keeps no output);
# and every live slider shown, as the parameters chattn.interactive.slider was given (each
# SelectionSlider's name and values, and whether a caption was asked for), pickled beside it.
REPORT = """\
import importlib.util as _u, json as _json, pickle as _pickle, sysconfig as _sc
import chattn as _c, chattn.interactive as _ci, ipywidgets as _w
try:
    from ipywidgets.widgets.widget import _instances as _widgets          # ipywidgets 8
except ImportError:
    _widgets = _w.Widget.widgets                                           # ipywidgets 7
_views = {{m: [type(c).__name__ for c in getattr(_widgets.get(m), "children", ())] for m in _shown}}
with open({report!r}, "w") as _f:
    _json.dump({{
        "chattn": _c.__file__, "purelib": _sc.get_paths()["purelib"], "cwd": _os.getcwd(),
        "mode": _ci.mode(), "static_env": _os.environ.get("CHATTN_STATIC"), "ipywidgets": _w.__version__,
        "jupyter_book": _u.find_spec("jupyter_book") is not None,
        "repo_opens": sorted(set(_repo_opens)),
        "repo_modules": sorted(n for n, m in list(_sys.modules.items())
                               if (getattr(m, "__file__", None) or "").startswith(_REPO + _os.sep)),
        "repo_on_path": [p for p in _sys.path if p and _os.path.abspath(p).startswith(_REPO)],
        "widget_views": _views,
    }}, _f)
_boxes = [_widgets.get(m) for m in _shown]
with open({sliders!r}, "wb") as _f:
    _pickle.dump([{{"params": {{c.description: [v for _, v in c.options] for c in b.children
                               if type(c).__name__ == "SelectionSlider"}},
                   "caption": any(type(c).__name__ == "HTML" for c in b.children)}}
                  for b in _boxes if b is not None], _f)"""


def pip(python: Path, *args: str) -> None:
    """pip install quietly; its output is shown only when it fails."""
    done = subprocess.run([str(python), *PIP_INSTALL, *args], capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"pip install {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the sources: setuptools writes build/ and *.egg-info into the tree it builds.
    src = tmp_path_factory.mktemp("source") / "chattn"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "_build", "artifacts", "build",
                                                             "node_modules", "*.egg-info", "__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                   check=True)
    (whl,) = out.glob("chattn-*.whl")
    return whl


def test_wheel_is_small_and_ships_every_weight_and_record_file(wheel):
    """Colab installs the wheel on every fresh runtime: under 25 MB, and every shipped network and
    run record in it (the grid's, its ``sweep/``, the recoloured task's and the curve's), byte for byte. The files are
    those on disk, not a list."""
    import hashlib
    import zipfile
    size = wheel.stat().st_size
    assert size < 25_000_000, f"the wheel is {size / 1e6:.1f} MB"
    weights = ROOT / "chattn" / "weights"
    on_disk = {f"chattn/weights/{p.relative_to(weights).as_posix()}": p for p in weights.rglob("*")
               if p.is_file() and p.suffix in (".safetensors", ".json")}
    from chattn.runs import ship_dir
    folders = {str(p.parent.relative_to(ROOT).as_posix()) for p in on_disk.values()}
    shipped = {ship_dir("patches"), ship_dir("patches", {"reduction": 8}), ship_dir("recoloured")}
    assert folders >= {d.relative_to(ROOT).as_posix() for d in shipped}      # grid, sweep/, the other task
    assert any("/curve/" in f for f in folders)                               # and the curve E comes from
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {n for n in z.namelist() if n.startswith("chattn/weights/")}
        assert in_wheel == set(on_disk)
        for name, path in on_disk.items():
            assert hashlib.sha256(z.read(name)).digest() == hashlib.sha256(path.read_bytes()).digest(), name

@pytest.fixture(scope="session")
def torch_dir(tmp_path_factory) -> Path:
    """torch==2.13.0 (and what it needs) installed once, outside the repository, for both venvs:
    Colab has torch preinstalled too, and unpacking it twice would cost a minute of CI."""
    target = tmp_path_factory.mktemp("torch")
    pip(Path(sys.executable), "--target", str(target), "torch==2.13.0")
    return target


def start(python: Path, *args: str, cwd=None, env=None, log: Path) -> subprocess.Popen:
    """``python args...`` in the background, its output in ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen([str(python), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, log: Path, what: str, ok=(0,)) -> None:
    if proc.wait() not in ok:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{log.read_text()[-5000:]}")


def notebook_copy(source: Path, work: Path) -> Path:
    """``source`` copied into ``work`` with HOOK first and REPORT last (it writes ``<name>.json`` and
    ``<name>.sliders.pickle``)."""
    nb = nbformat.read(source, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(HOOK.format(root=str(ROOT))))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT.format(report=str(work / f"{source.stem}.json"),
                                                            sliders=str(work / f"{source.stem}.sliders.pickle"))))
    nbformat.write(nb, work / source.name)
    return work / source.name


@pytest.fixture(scope="session")
def colab_envs(wheel, torch_dir, tmp_path_factory):
    """Both fresh venvs (the wheel, its book extra, ipykernel, one ipywidgets; nbval in
    :data:`EVERY_NOTEBOOK`'s), set up side by side; :data:`EVERY_NOTEBOOK`'s then runs every notebook
    under nbval in the background. What ``colab`` and ``every_notebook`` read."""
    envs = {}
    for version in IPYWIDGETS:
        base = tmp_path_factory.mktemp(f"colab-ipywidgets{version}")
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "preinstalled-torch.pth").write_text(f"{torch_dir}\n")
        runner = ["nbval"] if version == EVERY_NOTEBOOK else []
        envs[version] = {"version": version, "base": base, "python": python, "times": {},
                         "setup_start": time.perf_counter(),
                         "pip": start(python, *PIP_INSTALL, f"chattn[book] @ {wheel.as_uri()}",
                                      IPYWIDGETS[version], "ipykernel", *runner, log=base / "pip.log")}
    # EVERY_NOTEBOOK's first: its nbval run starts as soon as its pip is done.
    for e in sorted(envs.values(), key=lambda e: e["version"] != EVERY_NOTEBOOK):
        finish(e["pip"], e["base"] / "pip.log", f"pip install (ipywidgets {e['version']})")
        e["setup"] = time.perf_counter() - e["setup_start"]
        kernels = e["kernels"] = e["base"] / "kernels"
        (kernels / "colab").mkdir(parents=True)
        (kernels / "colab" / "kernel.json").write_text(json.dumps({
            "argv": [str(e["python"]), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Colab-like (ipywidgets {e['version']})", "language": "python"}))
        work = e["work"] = e["base"] / "notebooks"       # an empty directory: only the copies
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env["PATH"] = f"{e['python'].parent}{os.pathsep}{env.get('PATH', '')}"
        e["env"] = env
        if e["version"] != EVERY_NOTEBOOK:
            continue
        copies = [notebook_copy(nb, work).name for nb in NOTEBOOKS]
        (e["base"] / "pytest.ini").write_text("[pytest]\n")     # no configuration from above the copies
        e["junit"] = e["base"] / "nbval.xml"
        e["nbval_start"] = time.perf_counter()
        e["nbval"] = start(e["python"], "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                           f"--nbval-cell-timeout={CELL_TIMEOUT}", "-c", str(e["base"] / "pytest.ini"),
                           "--rootdir", str(work), "-p", "no:cacheprovider", "-q", f"--junitxml={e['junit']}",
                           *copies, cwd=work, env=env, log=e["base"] / "nbval.log")
    yield envs
    nbval = envs[EVERY_NOTEBOOK]["nbval"]
    if nbval.poll() is None:
        nbval.kill()
        nbval.wait()


def cells_by_notebook(junit: Path) -> dict[str, list[dict]]:
    """nbval's JUnit report: per notebook, each cell's item (name, seconds, outcome, message)."""
    out: dict[str, list[dict]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        out.setdefault(case.get("classname", ""), []).append({
            "name": case.get("name"), "time": float(case.get("time", 0)),
            "outcome": problem.tag if problem is not None else "passed",
            "message": "" if problem is None else f"{problem.get('message', '')}\n{problem.text or ''}"})
    return out


@pytest.fixture(scope="session")
def every_notebook(colab_envs):
    """:data:`EVERY_NOTEBOOK`'s venv, its nbval run of every notebook waited for."""
    e = colab_envs[EVERY_NOTEBOOK]
    # nbval exits 1 when a cell failed: the per-notebook tests say which.
    finish(e["nbval"], e["base"] / "nbval.log", f"nbval (ipywidgets {e['version']})", ok=(0, 1))
    e["nbval_seconds"] = time.perf_counter() - e["nbval_start"]
    e["cells"] = cells_by_notebook(e["junit"])
    e["times"] = {nb.name: sum(c["time"] for c in e["cells"].get(nb.name, [])) for nb in NOTEBOOKS}
    yield e
    ARTIFACTS.mkdir(exist_ok=True)
    version = e["version"]
    lines = [f"{t:6.1f} s  {name}" for name, t in sorted(e["times"].items(), key=lambda kv: -kv[1])]
    lines.append(f"{e['nbval_seconds']:6.1f} s  (nbval, every notebook, kernels included)")
    lines.append(f"{e['setup']:6.1f} s  (venv set-up: wheel + book extra + ipykernel + ipywidgets {version} + nbval)")
    (ARTIFACTS / f"colab-like-ipywidgets-{version}.txt").write_text("\n".join(lines) + "\n")
    print(f"\nColab-like, ipywidgets {version}:\n" + "\n".join(lines))


@pytest.fixture(scope="module", params=list(IPYWIDGETS), ids=lambda v: f"ipywidgets{v}")
def colab(request, colab_envs):
    """One fresh venv and its kernel spec."""
    return colab_envs[request.param]


def calls_slider(source: Path) -> bool:
    """Whether a code cell of the notebook calls ``slider(``."""
    return any("slider(" in c.source for c in nbformat.read(source, as_version=4).cells if c.cell_type == "code")


def run(colab, nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """Execute ``nb`` in the Colab-like kernel, cwd = ``path``'s directory; raise on a cell error."""
    ksm = KernelSpecManager(kernel_dirs=[str(colab["kernels"])])
    km = KernelManager(kernel_name="colab", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=colab["env"])
    return nb


def test_environment_is_a_readers(colab):
    """No jupyter-book, the chosen ipywidgets, chattn from the wheel, torch the one on disk."""
    python = colab["python"]
    probe = subprocess.run([str(python), "-c",
                            "import importlib.util as u, json, chattn, ipywidgets, torch;"
                            "print(json.dumps([u.find_spec('jupyter_book') is not None, ipywidgets.__version__,"
                            " chattn.__file__, torch.__version__]))"],
                           cwd=colab["work"], env=colab["env"], capture_output=True, text=True, check=True)
    has_jb, version, where, torch_version = json.loads(probe.stdout)
    assert torch_version.startswith("2.13.0")
    assert not has_jb
    assert version.split(".")[0] == colab["version"].split(".")[0] and version.startswith(colab["version"])
    assert where.startswith(str(python.parents[1])) and "site-packages" in where
    assert not where.startswith(str(ROOT))          # not editable: the package was copied


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_live_from_the_wheel(every_notebook, source):
    colab = every_notebook
    cells = colab["cells"].get(source.name, [])
    n_code = sum(c.cell_type == "code" for c in nbformat.read(source, as_version=4).cells)
    failed = [f"{c['name']} ({c['outcome']}): {c['message'][-3000:]}" for c in cells if c["outcome"] != "passed"]
    assert not failed, f"{source.name} (ipywidgets {colab['version']}):\n" + "\n".join(failed)
    assert len(cells) == n_code + 2, f"nbval ran {len(cells)} of the {n_code} + 2 code cells"

    report = json.loads((colab["work"] / f"{source.stem}.json").read_text())
    site = report["purelib"]
    assert report["chattn"].startswith(site + os.sep), report["chattn"]
    assert report["cwd"] == str(colab["work"])
    assert report["mode"] == "live" and report["static_env"] is None
    assert report["ipywidgets"].startswith(colab["version"])
    assert not report["jupyter_book"]
    assert report["repo_opens"] == [] and report["repo_modules"] == [] and report["repo_on_path"] == []

    if calls_slider(source):
        views = report["widget_views"]
        assert views, f"{source.name} calls slider() but shows no live widget"
        assert all({"SelectionSlider", "Image"} <= set(children) for children in views.values()), views


# Every slider the notebooks showed (EVERY_NOTEBOOK's run recorded their parameters), built again in
# another ipywidgets: shown (a widget view), then each of its sliders moved to its last value (what
# the front end does), which must redraw the figure and the caption. draw and caption stand in for
# the notebook's own (the same code under any ipywidgets, run in EVERY_NOTEBOOK's environment): a
# figure and a sentence that name the values.
REPLAY = """\
import json, pickle
import matplotlib.pyplot as plt
from IPython.display import display
from chattn.interactive import slider
def draw(**values):
    fig, ax = plt.subplots(figsize=(3, 1))
    ax.set_title(", ".join(f"{{k}}={{v}}" for k, v in values.items()))
    return fig
def caption(**values):
    return ", ".join(f"{{k}} = {{v}}" for k, v in values.items())
for notebook, path in {sliders!r}:
    with open(path, "rb") as f:
        calls = pickle.load(f)
    for call in calls:
        box = slider(draw, caption=caption if call["caption"] else None, **call["params"])
        display(box)
        kinds = [type(c).__name__ for c in box.children]
        controls = [c for c in box.children if type(c).__name__ == "SelectionSlider"]
        image = next(c for c in box.children if type(c).__name__ == "Image")
        text = next((c for c in box.children if type(c).__name__ == "HTML"), None)
        moved = []
        for control in controls:
            if len(control.options) < 2:
                continue
            before = (image.value, text.value if text is not None else None)
            control.value = control.options[-1][1]
            moved.append([control.description, control.label, image.value != before[0],
                          text is None or text.value != before[1]])
        errors = box.children[-1].outputs
        print("SLIDER", json.dumps({{"notebook": notebook, "params": list(call["params"]), "children": kinds,
                                    "moved": moved, "errors": [str(e) for e in errors]}}))
"""


@pytest.mark.parametrize("version", [v for v in IPYWIDGETS if v != EVERY_NOTEBOOK], ids=lambda v: f"ipywidgets{v}")
def test_every_slider_of_the_book_is_live_in_the_other_ipywidgets(colab_envs, every_notebook, version, tmp_path):
    """The sliders of every notebook, with the values each notebook gave them, as live widgets of
    this ipywidgets (module docstring: why the notebooks themselves run in one environment)."""
    colab = colab_envs[version]
    recorded = [(nb.name, str(every_notebook["work"] / f"{nb.stem}.sliders.pickle")) for nb in NOTEBOOKS]
    for name, path in recorded:
        assert Path(path).is_file(), f"{name}: its run in ipywidgets {EVERY_NOTEBOOK} recorded no sliders"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REPLAY.format(sliders=recorded))])
    run(colab, nb, tmp_path / "replay.ipynb")
    outputs = nb.cells[0].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    shown = [o for o in outputs if o.output_type == "display_data" and WIDGET_VIEW in o.data]
    sliders = [json.loads(line.split(" ", 1)[1]) for line in printed.splitlines() if line.startswith("SLIDER ")]
    calls = {source.name for source in NOTEBOOKS if calls_slider(source)}
    assert calls and {s["notebook"] for s in sliders} == calls, (calls, printed[-3000:])
    assert len(shown) == len(sliders), f"{len(shown)} widget views for {len(sliders)} sliders"
    for s in sliders:
        where = f"{s['notebook']} slider {s['params']} (ipywidgets {version})"
        assert s["children"][:len(s["params"])] == ["SelectionSlider"] * len(s["params"]), where
        assert "Image" in s["children"] and s["errors"] == [], (where, s)
        assert s["moved"] and all(image and text for _, _, image, text in s["moved"]), (where, s["moved"])


MOVE = """\
import matplotlib.pyplot as plt
from chattn.interactive import slider
def draw(k):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot(range(k))
    return fig
box = slider(draw, k=[2, 3, 4])
control, image, errors = box.children
before = image.value
control.value = 4                       # what a move of the slider does in the front end
assert control.label == "4", control.label
assert image.value != before and image.value[:4] == b"\\x89PNG"
assert errors.outputs == ()
captioned = slider(draw, caption=lambda k: f"k = {k}: {k} points", k=[2, 3, 4])
control, image, caption, errors = captioned.children
assert caption.value == '<p class="chattn-caption">k = 2: 2 points</p>', caption.value
control.value = 3
assert caption.value == '<p class="chattn-caption">k = 3: 3 points</p>', caption.value
print("MOVED", type(control).__name__, type(image).__name__, type(errors).__name__,
      "CAPTION", type(caption).__name__)"""


def test_slider_redraws_when_moved(colab, tmp_path):
    """chattn.interactive's live slider with this ipywidgets: setting the slider's value (what the
    front end does) redraws the Image, nothing lands in the error Output, and a caption (an HTML
    widget under the image) follows the slider."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(MOVE)])
    run(colab, nb, tmp_path / "move.ipynb")
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    assert "MOVED SelectionSlider Image Output CAPTION HTML" in printed, nb.cells[0].outputs


def test_install_cell_says_why_when_pip_fails(colab, tmp_path):
    """The install cell as committed, with chattn made unimportable and a repository pip cannot
    fetch: pip fails, and the cell raises the ImportError that tells the reader so."""
    source = nbformat.read(NOTEBOOKS[0], as_version=4)
    install = next(c for c in source.cells if c.cell_type == "code").source
    url = re.search(r"git\+(\S+?)\"", install).group(1)
    missing = (tmp_path / "no-such-repository").as_uri()
    cell = install.replace(url, missing)
    assert cell != install and cell.count(missing) == install.count(url) >= 2
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import sys\nsys.modules['chattn'] = None   # as on a machine without chattn"),
        nbformat.v4.new_code_cell(cell)])
    with pytest.raises(CellExecutionError) as info:
        run(colab, nb, tmp_path / "install.ipynb")
    outputs = nb.cells[1].outputs
    error = next(o for o in outputs if o.output_type == "error")
    assert error.ename == "ImportError"
    assert error.evalue == (f"Installing chattn from {missing} failed: the pip output above says why "
                            "(no network, or a wrong repository URL).")
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "error" in printed.lower(), f"pip printed no error: {printed!r}"
    assert "ImportError" in str(info.value)
