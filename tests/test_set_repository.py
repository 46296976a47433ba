"""scripts/set_repository.py on a copy of the book: after pointing it at a fork, the copy's own
site checks (tests/test_site.py: install cells and README against _config.yml) pass with the new URL."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "set_repository.py"
FORK = "https://github.com/some-reader/chattn-fork"

_spec = importlib.util.spec_from_file_location("set_repository", SCRIPT)
set_repository = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(set_repository)


@pytest.fixture
def copy(tmp_path):
    """The files the script and tests/test_site.py read: config, toc, README, book, tests (with the
    conftest.py it imports, and scripts/chromium.py that conftest imports)."""
    for name in ("_config.yml", "_toc.yml", "README.md", "tests/test_site.py", "tests/conftest.py",
                 "scripts/chromium.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_ext", "*.bib"))
    return tmp_path


def run_site_checks(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(root / "tests" / "test_site.py"), "-k", "first_cell or readme_names"],
                          cwd=root, capture_output=True, text=True)


@pytest.mark.slow          # runs pytest on the copy in another process
def test_points_the_copy_at_a_fork(copy):
    old = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    run = subprocess.run([sys.executable, str(SCRIPT), FORK, "--root", str(copy)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load((copy / "_config.yml").read_text())["repository"]["url"] == FORK
    notebooks = sorted((copy / "book").glob("*.ipynb"))
    assert notebooks and f"updated book/{notebooks[0].name}" in run.stdout
    for nb in notebooks:
        text = nb.read_text(encoding="utf-8")
        assert old not in text and FORK in text, nb.name
    readme = (copy / "README.md").read_text(encoding="utf-8")
    assert old not in readme and FORK in readme
    # Only the URL changed: the config differs from the original in that one line.
    diff = [(a, b) for a, b in zip((ROOT / "_config.yml").read_text().splitlines(),
                                   (copy / "_config.yml").read_text().splitlines()) if a != b]
    assert diff == [(f"  url: {old}", f"  url: {FORK}")]
    checks = run_site_checks(copy)
    assert checks.returncode == 0, checks.stdout[-3000:]
    assert " passed" in checks.stdout and "failed" not in checks.stdout


@pytest.mark.slow          # runs pytest on the copy in another process
def test_site_checks_catch_a_half_done_change(copy):
    """The copied checks are not vacuous: change the config alone and they fail."""
    config = copy / "_config.yml"
    old = set_repository.config_url(copy)
    config.write_text(config.read_text().replace(f"url: {old}", f"url: {FORK}"))
    assert run_site_checks(copy).returncode != 0


def test_second_run_changes_nothing(copy):
    assert set_repository.set_repository(FORK, copy)
    assert set_repository.set_repository(FORK, copy) == []


@pytest.mark.parametrize("bad", ["github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a", ""])
def test_rejects_a_url_colab_cannot_open(bad, copy):
    with pytest.raises(ValueError, match="url"):
        set_repository.set_repository(bad, copy)
    run = subprocess.run([sys.executable, str(SCRIPT), bad, "--root", str(copy)], capture_output=True, text=True)
    assert run.returncode == 2 and "url must look like" in run.stderr


def test_rejects_a_url_that_is_not_a_string(copy):
    with pytest.raises(TypeError, match="url"):
        set_repository.set_repository(None, copy)


def test_refuses_a_notebook_whose_install_cell_names_another_repository(copy):
    nb_path = sorted((copy / "book").glob("*.ipynb"))[0]
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    i = set_repository.install_cell_index(nb["cells"])
    old = set_repository.config_url(copy)
    nb["cells"][i]["source"] = "".join(nb["cells"][i]["source"]).replace(old, "https://github.com/x/y")
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=nb_path.name):
        set_repository.set_repository(FORK, copy)
