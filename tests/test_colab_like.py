"""The book as a Colab reader meets it: a wheel, a clean machine, live widgets.

For each ipywidgets line a reader may have (7.7.1 as Colab pins it; 8 as JupyterLab 4 and current
Jupyter use), the test

1. builds a wheel of chattn (``pip wheel --no-deps .``, once per session);
2. creates a fresh virtual environment outside the repository with only the wheel (not editable)
   and its ``book`` extra, ``ipykernel`` and that ipywidgets (no jupyter-book, no test tools);
   torch (``torch==2.13.0``, from this machine's disk) is installed once into a directory both
   environments see through a ``.pth`` file, as Colab has torch preinstalled; pip's cache is reused;
3. copies every ``book/*.ipynb`` into an empty temporary directory and runs each top to bottom
   with nbclient in that environment's kernel, in live mode (``CHATTN_STATIC`` unset);
4. asserts: no cell fails; a notebook that calls ``slider(`` shows a live widget (a
   ``application/vnd.jupyter.widget-view+json`` output whose model is a box holding a
   SelectionSlider and an Image); and nothing from the repository was read: ``chattn`` imports
   from the environment's site-packages, the kernel's working directory is the copy, no module
   was loaded from the repository and an audit hook saw no file under it opened.

Each notebook's time is written to ``artifacts/colab-like-ipywidgets-<version>.txt`` (slowest
first). The install cell's own failure message is checked too (pip failing on a bad URL).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
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
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 120
# The environment of the kernel: the reader's, not this test run's.
DROP_ENV = ("CHATTN_STATIC", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONSTARTUP")

# Runs first in every notebook copy: record every file opened under the repository.
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
del _audit"""

# Runs last: where everything came from.
REPORT = """\
import importlib.util as _u, json as _json, sysconfig as _sc
import chattn as _c, chattn.interactive as _ci, ipywidgets as _w
print("COLAB-LIKE " + _json.dumps({
    "chattn": _c.__file__, "purelib": _sc.get_paths()["purelib"], "cwd": _os.getcwd(),
    "mode": _ci.mode(), "static_env": _os.environ.get("CHATTN_STATIC"), "ipywidgets": _w.__version__,
    "jupyter_book": _u.find_spec("jupyter_book") is not None,
    "repo_opens": sorted(set(_repo_opens)),
    "repo_modules": sorted(n for n, m in list(_sys.modules.items())
                           if (getattr(m, "__file__", None) or "").startswith(_REPO + _os.sep)),
    "repo_on_path": [p for p in _sys.path if p and _os.path.abspath(p).startswith(_REPO)],
}))"""


def pip(python: Path, *args: str) -> None:
    """pip install quietly; its output is shown only when it fails."""
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"pip install {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the sources: the two ipywidgets halves run in parallel (scripts/test.sh),
    # and two setuptools builds in one tree collide in its build/ folder ("File exists").
    import shutil
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
    run record in it (the grid's, ``sweep/`` and ``recoloured/``), byte for byte. The files are
    those on disk, not a list."""
    import hashlib
    import zipfile
    size = wheel.stat().st_size
    assert size < 25_000_000, f"the wheel is {size / 1e6:.1f} MB"
    weights = ROOT / "chattn" / "weights"
    on_disk = {f"chattn/weights/{p.relative_to(weights).as_posix()}": p for p in weights.rglob("*")
               if p.is_file() and p.suffix in (".safetensors", ".json")}
    assert {n.split("/")[2] for n in on_disk if n.count("/") == 3} >= {"sweep", "recoloured"}
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


@pytest.fixture(scope="module", params=list(IPYWIDGETS), ids=lambda v: f"ipywidgets{v}")
def colab(request, wheel, torch_dir, tmp_path_factory):
    """A fresh venv with the wheel, its book extra, ipykernel and one ipywidgets; its kernel spec."""
    version = request.param
    base = tmp_path_factory.mktemp(f"colab-ipywidgets{version}")
    venv = base / "venv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "preinstalled-torch.pth").write_text(f"{torch_dir}\n")
    pip(python, f"chattn[book] @ {wheel.as_uri()}", IPYWIDGETS[version], "ipykernel")
    setup = time.perf_counter() - start
    kernels = base / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Colab-like (ipywidgets {version})", "language": "python"}))
    work = base / "notebooks"               # an empty directory: only the copies
    work.mkdir()
    for nb in NOTEBOOKS:
        shutil.copy(nb, work / nb.name)
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    times: dict[str, float] = {}
    yield {"version": version, "python": python, "kernels": kernels, "work": work, "env": env,
           "times": times, "setup": setup}
    ARTIFACTS.mkdir(exist_ok=True)
    lines = [f"{t:6.1f} s  {name}" for name, t in sorted(times.items(), key=lambda kv: -kv[1])]
    lines.append(f"{setup:6.1f} s  (venv set-up: wheel + book extra + ipykernel + ipywidgets {version})")
    (ARTIFACTS / f"colab-like-ipywidgets-{version}.txt").write_text("\n".join(lines) + "\n")
    print(f"\nColab-like, ipywidgets {version}:\n" + "\n".join(lines))


def run(colab, nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """Execute ``nb`` in the Colab-like kernel, cwd = ``path``'s directory; raise on a cell error."""
    ksm = KernelSpecManager(kernel_dirs=[str(colab["kernels"])])
    km = KernelManager(kernel_name="colab", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=colab["env"])
    return nb


def widget_views(nb) -> list[dict]:
    return [out["data"][WIDGET_VIEW] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if WIDGET_VIEW in out.get("data", {})]


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
def test_notebook_runs_live_from_the_wheel(colab, source):
    path = colab["work"] / source.name
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell(HOOK.format(root=str(ROOT))))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    start = time.perf_counter()
    try:
        run(colab, nb, path)
    except CellExecutionError as error:
        pytest.fail(f"{source.name} (ipywidgets {colab['version']}): a cell failed\n{str(error)[-3000:]}")
    finally:
        colab["times"][source.name] = time.perf_counter() - start

    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
    report_text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    report = json.loads(re.search(r"COLAB-LIKE (.*)", report_text).group(1))
    site = report["purelib"]
    assert report["chattn"].startswith(site + os.sep), report["chattn"]
    assert report["cwd"] == str(colab["work"])
    assert report["mode"] == "live" and report["static_env"] is None
    assert report["ipywidgets"].startswith(colab["version"])
    assert not report["jupyter_book"]
    assert report["repo_opens"] == [] and report["repo_modules"] == [] and report["repo_on_path"] == []

    original = nbformat.read(source, as_version=4)
    calls_slider = any("slider(" in c.source for c in original.cells if c.cell_type == "code")
    views = widget_views(nb)
    if calls_slider:
        assert views, f"{source.name} calls slider() but shows no live widget"
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})["state"]
        for view in views:
            box = state[view["model_id"]]
            children = [state[ref.removeprefix("IPY_MODEL_")]["model_name"]
                        for ref in box["state"]["children"]]
            assert "SelectionSliderModel" in children and "ImageModel" in children, children
    assert len(nb.cells) == n_cells + 2


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
