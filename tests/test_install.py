"""The package as a user installs it: a built wheel in a fresh virtual environment.

The wheel is built from a copy of the checkout (``pip wheel --no-deps``), checked for
what the package needs at run time (every module, ``py.typed``, the report schema and
any other data file beside the modules, the ``pytest11`` entry point, the extras), then
installed in a fresh venv with the ``nova`` extra the way the examples' requirement
lines say (the wheel in a fork's ``tools/wheels``; ``pip install --find-links
tools/wheels 'pytest-actionsec[nova]' -r test-requirements.txt`` plus
``examples/ci/tox.ini``'s deps), and
``pytest --actionsec`` runs from an empty folder: its JSON report must validate
against the schema the wheel shipped.

Slow (it installs nova and its dependencies from the package index, through pip's
cache): marked ``install``. CI runs it; locally skip it with ``-m "not install"`` or
``ACTIONSEC_SKIP_INSTALL=1``.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_actionsec"
SKIP_ENV = "ACTIONSEC_SKIP_INSTALL"

pytestmark = [
    pytest.mark.install,
    pytest.mark.skipif(
        os.environ.get(SKIP_ENV, "").strip() not in ("", "0"),
        reason=f"{SKIP_ENV} is set: the wheel is not built and installed",
    ),
]

#: What is not part of the source a wheel is built from.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "dist",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "__pycache__",
    ".pytest_cache",
)


def _check(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """The environment without this checkout on the path (the installed copy must win)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout."""
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def _build_wheel(tmp: Path) -> Path:
    """The wheel built (build requirements from the index) from a copy of the checkout
    in ``tmp/src``."""
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    dist = tmp / "dist"
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        cwd=tmp,
        env=_clean_env(),
    )
    (built,) = dist.glob("pytest_actionsec-*.whl")
    return built


def _fork(root: Path, *dists: Path) -> Path:
    """A fork's root as the examples expect it: ``test-requirements.txt`` with the lines
    of ``examples/nova_fork/test-requirements.txt``, ``dists`` in ``tools/wheels``."""
    wheels = root / "tools" / "wheels"
    wheels.mkdir(parents=True)
    for dist in dists:
        shutil.copy2(dist, wheels / dist.name)
    shutil.copy2(ROOT / "examples" / "nova_fork" / "test-requirements.txt", root)
    return root


def _tox_deps(env: str, toxinidir: Path) -> list[str]:
    """``examples/ci/tox.ini``'s deps of ``[testenv:ENV]``, one item a line, with tox's
    ``{[testenv:X]deps}`` and ``{toxinidir}`` substituted."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "examples" / "ci" / "tox.ini", encoding="utf-8")
    deps: list[str] = []
    for line in tox[f"testenv:{env}"]["deps"].splitlines():
        line = line.strip()
        if line.startswith("{[testenv:") and line.endswith("]deps}"):
            deps += _tox_deps(line[len("{[testenv:") : -len("]deps}")], toxinidir)
        elif line:
            deps.append(line.replace("{toxinidir}", str(toxinidir)))
    assert "{" not in " ".join(deps), deps
    return deps


def _record(archive: zipfile.ZipFile) -> dict[str, str]:
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
    rows = csv.reader(io.StringIO(archive.read(name).decode("utf-8")))
    return {row[0]: row[1] for row in rows if row and row[1]}


def test_the_wheel_carries_what_the_package_reads_at_run_time(wheel: Path) -> None:
    import pytest_actionsec

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
        metadata = archive.read(f"{info}/METADATA").decode("utf-8")
        entry_points = archive.read(f"{info}/entry_points.txt").decode("utf-8")
    source = {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert {"pytest_actionsec/py.typed", "pytest_actionsec/report.schema.json"} <= source
    assert source <= names, sorted(source - names)  # every module and data file
    assert not [n for n in names if n.startswith("tests/")]
    assert wheel.name.startswith(f"pytest_actionsec-{pytest_actionsec.__version__}-")
    points = configparser.ConfigParser()
    points.read_string(entry_points)
    assert points["pytest11"]["actionsec"] == "pytest_actionsec.plugin"
    for extra in ("nova", "redis", "db", "fuzz", "test"):
        assert f"Provides-Extra: {extra}" in metadata, extra
    assert 'Requires-Dist: redis>=4.0; extra == "redis"' in metadata.replace(" ;", ";")
    assert "Classifier: Typing :: Typed" in metadata
    assert "Classifier: Framework :: Pytest" in metadata


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed as the examples' requirement lines say."""
    tmp = tmp_path_factory.mktemp("venv")
    root = tmp / "venv"
    _check([sys.executable, "-m", "venv", str(root)], cwd=tmp, env=_clean_env())
    python = root / "bin" / "python"
    fork = _fork(tmp / "fork", wheel)
    _check(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--find-links=tools/wheels",
            "pytest-actionsec[nova]",
            "-r",
            "test-requirements.txt",
            *_tox_deps("actionsec", fork),
        ],
        cwd=fork,
        env=_clean_env(),
    )
    yield python


def _installed_package(python: Path) -> Path:
    out = _check(
        [str(python), "-c", "import pytest_actionsec; print(pytest_actionsec.__file__)"],
        cwd=python.parent,
        env=_clean_env(),
    )
    return Path(out.strip()).parent


def test_the_installed_files_are_the_wheels(wheel: Path, venv: Path) -> None:
    package = _installed_package(venv)
    assert venv.parents[1] in package.parents  # the venv's copy, not the checkout's
    with zipfile.ZipFile(wheel) as archive:
        record = _record(archive)
    checked = 0
    for name, digest in record.items():
        if not name.startswith("pytest_actionsec/"):
            continue
        data = (package.parent / name).read_bytes()
        algorithm, _, expected = digest.partition("=")
        got = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=")
        assert got.decode() == expected, name
        checked += 1
    assert checked >= len(list(PACKAGE.glob("*.py")))


def test_pytest_actionsec_runs_from_an_empty_folder_and_its_report_validates(
    venv: Path, tmp_path: Path
) -> None:
    from jsonschema import Draft202012Validator

    empty = tmp_path / "empty"
    empty.mkdir()
    env = _clean_env()
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis")
    done = subprocess.run(
        [
            str(venv),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--actionsec",
            "--actionsec-examples=3",
            "--actionsec-seed=1",
            "--actionsec-report=report.json",
        ],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # nova 34 has findings (the run fails on them); anything else is not a finished run
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "actionsec summary" in done.stdout
    report = json.loads((empty / "report.json").read_text(encoding="utf-8"))
    shipped = _installed_package(venv) / "report.schema.json"
    schema = json.loads(shipped.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(report)) == []
    assert report["target"] == "nova.objects.instance_action"
    layers = {p["layer"] for p in report["properties"] if p["status"] != "skipped"}
    assert layers == {"packer", "boundary", "store", "api"}  # nova's migrations ran too
    assert sorted(os.listdir(empty)) == ["report.json"]  # nothing else written there


def _readme_installs() -> list[str]:
    """The ``pip install`` lines of the README's "Use it in your fork" block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it in your fork", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


#: The docs' other install lines (extras from an index), run the same way.
DOCS_INSTALLS = (
    "pip install 'pytest-actionsec[db]'",
    "pip install 'pytest-actionsec[nova,redis]' pytest-xdist",
)
#: The packages of the extras those lines ask for (``db``, ``redis``) and pytest-xdist.
EXTRAS_PACKAGES = ("PyMySQL>=1.1", "psycopg2-binary>=2.9", "redis>=4.0", "pytest-xdist>=3.5")
#: The README's git URL: where a fork hosts its copy of this repository.
GIT_URL = "git+https://HOST/PATH/pytest-actionsec.git@main"


def _git_snapshot(tmp: Path) -> Path:
    """A git repository (branch ``main``) of the working tree as it is, uncommitted
    changes included."""
    repo = tmp / "repo"
    shutil.copytree(ROOT, repo, ignore=_NOT_SOURCE)
    ident = ["-c", "user.name=actionsec", "-c", "user.email=actionsec@localhost"]
    _check(["git", "init", "-q", "-b", "main"], cwd=repo)
    _check(["git", "add", "-A"], cwd=repo)
    _check(["git", *ident, "commit", "-q", "-m", "snapshot"], cwd=repo)
    return repo


def _simple_index(tmp: Path, wheel: Path) -> Path:
    """A PEP 503 package index (a folder) that serves only this wheel."""
    project = tmp / "simple" / "pytest-actionsec"
    project.mkdir(parents=True)
    shutil.copy2(wheel, project / wheel.name)
    link = f'<a href="{wheel.name}">{wheel.name}</a>'
    (project / "index.html").write_text(f"<html><body>{link}</body></html>\n")
    (tmp / "simple" / "index.html").write_text(
        '<html><body><a href="pytest-actionsec/">pytest-actionsec</a></body></html>\n'
    )
    return tmp / "simple"


def _where_installed(python: Path) -> tuple[Path, dict[str, Any]]:
    """(the imported package's folder, its ``direct_url.json`` or {})."""
    script = (
        "import json, importlib.metadata as m, pytest_actionsec\n"
        "print(pytest_actionsec.__file__)\n"
        "print(m.distribution('pytest-actionsec').read_text('direct_url.json') or '{}')\n"
    )
    out = _check([str(python), "-c", script], cwd=python.parent, env=_clean_env())
    path, _, direct = out.partition("\n")
    return Path(path).parent, json.loads(direct or "{}")


def test_the_install_commands_of_the_docs_install_the_package(
    wheel: Path, venv: Path, tmp_path: Path
) -> None:
    """Every ``pip install`` line of the README (wheel folder, checkout, git URL, wheel,
    vendored copy) and the docs' extras lines, run as shown in the fresh venv: from the
    fork's ``tools/wheels`` (the built wheel), from a checkout, from a git URL (a
    repository of the working tree, ``file://`` in place of ``https://HOST/PATH``), from
    the wheel in ``./dist``, from a copy of the tree in ``./tools/pytest-actionsec``;
    the extras' lines from a package index (a folder index serving the built wheel; the
    extras' own packages from a folder ``pip download`` filled). Each one installs the
    package from where it says (checked from the import and ``direct_url.json``); the
    venv ends with the wheel installed."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = extras["optional-dependencies"]
    assert set(wanted["db"]) | set(wanted["redis"]) <= set(EXTRAS_PACKAGES)
    installs = _readme_installs()
    assert len(installs) == 5 and all(c.startswith("pip install ") for c in installs)
    folder_cmd, checkout_cmd, git_cmd, wheel_cmd, vendored_cmd = installs
    assert "--find-links=tools/wheels " in folder_cmd
    assert GIT_URL in git_cmd
    assert f"./dist/{wheel.name}[nova]" in wheel_cmd  # the README names the wheel built
    assert '"./tools/pytest-actionsec[nova]"' in vendored_cmd
    repo = _git_snapshot(tmp_path)
    (repo / "dist").mkdir()
    shutil.copy2(wheel, repo / "dist" / wheel.name)
    _fork(repo, wheel)
    shutil.copytree(ROOT, repo / "tools" / "pytest-actionsec", ignore=_NOT_SOURCE)
    # pip before 23.3 wants a host in a requirement's URL: git reads localhost as none
    git_url = f"file://localhost{repo.as_posix()}"
    index = _simple_index(tmp_path, wheel)
    extras = tmp_path / "extras"
    _check(
        [str(venv), "-m", "pip", "download", "-q", "-d", str(extras), *EXTRAS_PACKAGES],
        cwd=tmp_path,
        env=_clean_env(),
    )
    env = _clean_env()
    env["PATH"] = f"{venv.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv.parents[1])
    from_index = dict(env, PIP_INDEX_URL=index.as_uri(), PIP_FIND_LINKS=str(extras))
    site = venv.parents[1]
    runs: list[tuple[str, dict[str, str], str]] = [
        (folder_cmd, env, "index"),  # a name found in a folder: no direct_url.json
        (checkout_cmd, env, "checkout"),
        (git_cmd.replace("https://HOST/PATH/pytest-actionsec.git", git_url), env, "git"),
        (vendored_cmd, env, "vendored"),
        *((command, from_index, "index") for command in DOCS_INSTALLS),
        (wheel_cmd, env, "wheel"),
    ]
    for command, run_env, source in runs:
        _check([str(venv), "-m", "pip", "uninstall", "-y", "-q", "pytest-actionsec"], cwd=repo)
        _check(["bash", "-c", command], cwd=repo, env=run_env)
        package, direct = _where_installed(venv)
        if source == "checkout":
            assert package == repo / "pytest_actionsec", command
            assert direct.get("dir_info", {}).get("editable") is True, direct
            continue
        assert site in package.parents, (command, package)  # the venv's own copy
        if source == "index":
            assert direct == {}, (command, direct)
        elif source == "git":
            assert direct["url"] == git_url, direct
            assert direct["vcs_info"]["vcs"] == "git", direct
            assert direct["vcs_info"]["requested_revision"] == "main", direct
        elif source == "vendored":
            assert direct["url"] == (repo / "tools" / "pytest-actionsec").as_uri(), direct
            assert direct["dir_info"].get("editable", False) is False, direct
        else:
            assert direct["url"].endswith(f"/dist/{wheel.name}"), direct
    done = _check(
        [str(venv), "-c", "import pymysql, psycopg2, redis, xdist, nova; print('ok')"],
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert done.strip() == "ok"
