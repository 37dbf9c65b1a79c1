"""The ways a fork gets the plugin with no package index serving it, each in a fresh venv.

pip runs with ``--no-index --no-deps`` and its configuration files ignored, so nothing
comes from an index: the plugin from where each form says (a wheel or an sdist in the
fork's ``tools/wheels``, a wheel by its path, a git URL, a vendored copy of the tree, a
checkout), the build requirements of the source forms and the requirement files' other
lines (``pytest``, ``pytest-xdist``) from one folder ``pip download`` fills once. Each
form must install the version of the checkout, register the ``pytest11`` entry point
``actionsec = pytest_actionsec.plugin`` and put the package's files, identical to the
source it came from, where Python imports them; ``pytest_actionsec.config`` (which
imports neither pytest nor Hypothesis nor nova) must import.

The forms are README.md's "Use it in your fork" lines, run as shown with those options
appended, and the plugin lines of ``examples/nova_fork/test-requirements.txt`` and
``examples/ci/tox.ini``. Marked ``install`` (``tests/test_install.py``'s marks).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pytest_actionsec
from tests import test_install as base

pytestmark = base.pytestmark

PACKAGE_FILES = ("plugin.py", "config.py", "py.typed", "report.schema.json")


@dataclass(frozen=True)
class Dists:
    source: Path  # the copy of the checkout both were built from
    wheel: Path
    sdist: Path
    deps: Path  # setuptools, wheel (build requirements), pytest, pytest-xdist


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    tmp = tmp_path_factory.mktemp("dists")
    wheel = base._build_wheel(tmp)
    source = tmp / "src"
    sdist_dir = tmp / "sdist"
    script = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = base._check(
        [sys.executable, "-c", script, str(sdist_dir)], cwd=source, env=base._clean_env()
    )
    deps = tmp / "deps"
    pip = [sys.executable, "-m", "pip", "download", "-q", "-d", str(deps)]
    base._check([*pip, "setuptools>=69", "wheel"], cwd=tmp, env=base._clean_env())
    base._check([*pip, "--no-deps", "pytest", "pytest-xdist"], cwd=tmp, env=base._clean_env())
    return Dists(source, wheel, sdist_dir / name.strip().splitlines()[-1], deps)


def _offline_env(venv: Path) -> dict[str, str]:
    """The venv activated; no pip configuration, so no index nor find-links of its own."""
    env = {k: v for k, v in base._clean_env().items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _fresh_venv(tmp: Path) -> Path:
    root = tmp / "venv"
    base._check([sys.executable, "-m", "venv", str(root)], cwd=tmp, env=base._clean_env())
    return root


_INSTALLED = """\
import importlib.metadata as m, json, pytest_actionsec.config as c
d = m.distribution("pytest-actionsec")
print(json.dumps({
    "version": d.version,
    "pytest11": sorted((e.name, e.value) for e in d.entry_points if e.group == "pytest11"),
    "files": sorted(str(f) for f in d.files or ()),
    "package": c.__file__.rsplit("/", 1)[0],
    "direct": json.loads(d.read_text("direct_url.json") or "{}"),
}))
"""


def _installed(venv: Path, source: Path) -> dict[str, Any]:
    """What the venv has installed, checked against the tree ``source`` it came from."""
    out = base._check(
        [str(venv / "bin" / "python"), "-c", _INSTALLED], cwd=venv, env=base._clean_env()
    )
    got: dict[str, Any] = json.loads(out)
    assert got["version"] == pytest_actionsec.__version__
    assert got["pytest11"] == [["actionsec", "pytest_actionsec.plugin"]]
    package = Path(got["package"])
    expected = sorted(
        p.relative_to(source / "pytest_actionsec")
        for p in (source / "pytest_actionsec").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert {Path(n) for n in PACKAGE_FILES} <= set(expected)
    for name in expected:  # every module and data file, as in the source
        assert (package / name).read_bytes() == (source / "pytest_actionsec" / name).read_bytes()
    return got


def _pip_offline(command: str, venv: Path, cwd: Path, deps: Path) -> None:
    """``command`` (a ``pip install`` line) run in ``venv`` with nothing from an index."""
    assert command.startswith("pip install "), command
    line = f"{command} --no-index --no-deps --find-links={deps}"
    base._check(["bash", "-c", line], cwd=cwd, env=_offline_env(venv))


def _in_venv(venv: Path, got: dict[str, Any]) -> bool:
    return venv in Path(got["package"]).parents


# -- README.md's lines ----------------------------------------------------------------

#: What each line of the README block installs from, in its order.
README_FORMS = ("folder", "checkout", "git", "wheel", "vendored")


@pytest.fixture(scope="module")
def fork(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of the working tree (the README's git URL and checkout), and a
    fork's layout in it: the wheel in ``tools/wheels`` and ``dist``, a vendored copy of
    the tree in ``tools/pytest-actionsec``."""
    repo = base._git_snapshot(tmp_path_factory.mktemp("fork"))
    base._fork(repo, dists.wheel)
    (repo / "dist").mkdir()
    shutil.copy2(dists.wheel, repo / "dist" / dists.wheel.name)
    shutil.copytree(dists.source, repo / "tools" / "pytest-actionsec", ignore=base._NOT_SOURCE)
    return repo


@pytest.mark.parametrize("form", [*README_FORMS, "folder-sdist"])
def test_each_readme_line_installs_with_no_index(
    form: str, dists: Dists, fork: Path, tmp_path: Path
) -> None:
    """Each line as shown, from the fork's root (a checkout for ``-e .``); ``folder-sdist``
    is the first line with only the sdist in ``tools/wheels``."""
    installs = base._readme_installs()
    assert len(installs) == len(README_FORMS)
    command = installs[README_FORMS.index(form.removesuffix("-sdist"))]
    cwd = fork
    source = dists.source
    if form == "folder-sdist":
        cwd = base._fork(tmp_path / "sdist-fork", dists.sdist)
    elif form == "git":
        # pip before 23.3 (a venv's own) wants a host in a requirement's URL
        url = f"file://localhost{fork.as_posix()}"
        command = command.replace("https://HOST/PATH/pytest-actionsec.git", url)
        source = fork
    elif form == "checkout":
        source = fork
    venv = _fresh_venv(tmp_path)
    _pip_offline(command, venv, cwd, dists.deps)
    got = _installed(venv, source)
    direct = got["direct"]
    if form == "checkout":
        assert Path(got["package"]) == fork / "pytest_actionsec"
        assert direct["dir_info"] == {"editable": True}, direct
        return
    assert _in_venv(venv, got), got["package"]  # the venv's own copy
    assert {f"pytest_actionsec/{n}" for n in PACKAGE_FILES} <= set(got["files"])
    if form.startswith("folder"):
        assert direct == {}, direct  # a name found in tools/wheels, not a direct URL
    elif form == "git":
        assert direct["vcs_info"]["vcs"] == "git" and "commit_id" in direct["vcs_info"]
        assert direct["vcs_info"]["requested_revision"] == "main", direct
    elif form == "wheel":
        assert direct["url"] == (fork / "dist" / dists.wheel.name).as_uri(), direct
    else:
        assert direct["url"] == (fork / "tools" / "pytest-actionsec").as_uri(), direct
        assert direct["dir_info"].get("editable", False) is False, direct


# -- the examples' requirement lines --------------------------------------------------


def test_the_examples_requirement_lines_install_with_no_index(dists: Dists, tmp_path: Path) -> None:
    """``-r test-requirements.txt`` (its ``--find-links tools/wheels`` read relative to the
    file, pip run from elsewhere) and each tox env's deps, in one fresh venv, the plugin
    uninstalled before each; tools/wheels holds the sdist for the fuzz env."""
    fork = base._fork(tmp_path / "fork", dists.wheel)
    sdist_fork = base._fork(tmp_path / "sdist-fork", dists.sdist)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = _fresh_venv(tmp_path)
    python = str(venv / "bin" / "python")
    commands = [f"pip install -r {fork / 'test-requirements.txt'}"]
    for env, root in (
        ("actionsec", fork),
        ("actionsec-nightly", fork),
        ("actionsec-fuzz", sdist_fork),
    ):
        commands.append("pip install " + " ".join(f"'{d}'" for d in base._tox_deps(env, root)))
    for command in commands:
        uninstall = [python, "-m", "pip", "uninstall", "-y", "-q", "pytest-actionsec"]
        base._check(uninstall, cwd=elsewhere, env=_offline_env(venv))
        _pip_offline(command, venv, elsewhere, dists.deps)
        got = _installed(venv, dists.source)
        assert _in_venv(venv, got) and got["direct"] == {}, command
    freeze = base._check([python, "-m", "pip", "freeze"], cwd=elsewhere, env=_offline_env(venv))
    assert {"pytest", "pytest-xdist"} <= {
        line.split("==")[0].lower().replace("_", "-") for line in freeze.splitlines()
    }


def test_the_requirement_lines_the_docs_show_are_the_examples() -> None:
    """docs/how-to/fork-ci.md's install step names each line of
    ``examples/nova_fork/test-requirements.txt``; tox.ini's env reads that file."""
    text = (base.ROOT / "docs" / "how-to" / "fork-ci.md").read_text(encoding="utf-8")
    step = " ".join(text.split("## Add it to the fork", 1)[1].split("\n2. ", 1)[0].split())
    example = base.ROOT / "examples" / "nova_fork" / "test-requirements.txt"
    lines = [
        line
        for line in example.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "--find-links tools/wheels" in lines and "pytest-actionsec>=0.2.0" in lines
    for line in lines:
        assert f"`{line}`" in step, line
    deps = base._tox_deps("actionsec", Path("/fork"))
    assert "-r/fork/test-requirements.txt" in deps and "--find-links=/fork/tools/wheels" in deps
