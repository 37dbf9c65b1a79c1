"""The plugin where nova's developers work: a nova source checkout with its test requirements.

A fresh venv is built as nova's tox builds it: nova's sdist (the version the running
interpreter has installed) is downloaded and unpacked, ``pip install -e SRC -r
SRC/test-requirements.txt`` installs it editable with nova's test requirements, then
``pip install -e`` this checkout adds the plugin. In that tree:

* ``pytest --actionsec`` from the source root collects the built-in suite, not nova's
  unit tree, and finds exactly what it finds on nova from PyPI in an empty folder; its
  SARIF report names nova's files relative to the source tree.
* The fork example (``examples/nova_fork``) copied into ``nova/tests/unit/objects/``
  passes under pytest, and its ``test_actionsec_nova_base`` passes under nova's own
  ``stestr`` beside nova's tests, which pass as they did without it.
* CVE-2019-14433 put back into ``nova/compute/utils.py`` fails that stestr test with a
  tenant-readable leak of ``message``; restored, it passes again.

Slow (the venv takes minutes to build from the package index): marked ``checkout``.
Skip it with ``-m "not checkout"`` or ``ACTIONSEC_SKIP_CHECKOUT=1``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_ENV = "ACTIONSEC_SKIP_CHECKOUT"

pytestmark = [
    pytest.mark.checkout,
    pytest.mark.skipif(
        os.environ.get(SKIP_ENV, "").strip() not in ("", "0"),
        reason=f"{SKIP_ENV} is set: no nova checkout is built",
    ),
]

#: Items of the built-in suite (``--actionsec`` with the default target and layers).
BUILTIN_ITEMS = 138
#: The fork example's files, copied into the checkout's ``nova/tests/unit/objects/``.
EXAMPLE = ROOT / "examples" / "nova_fork"
EXAMPLE_FILES = ("conftest.py", "test_instance_action_security.py", "test_actionsec_nova_base.py")
OBJECTS = Path("nova", "tests", "unit", "objects")
#: The nova test modules run by stestr with and without the example beside them.
NOVA_MODULES = ("nova.tests.unit.objects.test_instance_action", "nova.tests.unit.test_exception")
BASE_MODULE = "nova.tests.unit.objects.test_actionsec_nova_base"
#: CVE-2019-14433's fix in ``exception_to_dict``, and the line that undoes it.
FIXED_LINE = "        message = fault.__class__.__name__\n"
CVE_LINE = "        message = str(fault)\n"

TIMEOUT_DOWNLOAD = 900
TIMEOUT_INSTALL = 2400
TIMEOUT_RUN = 900


@dataclass(frozen=True)
class Checkout:
    """nova's unpacked sdist and the venv it is installed in (editable, with the plugin)."""

    version: str
    src: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def tail(self) -> str:
        return f"exit {self.returncode}\n{self.stdout[-4000:]}\n{self.stderr[-3000:]}"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's venv, path or pytest/Hypothesis settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        and not k.startswith(("PYTEST_", "HYPOTHESIS_"))
    }
    env.update(extra)
    return env


def _run(args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> Ran:
    """Run ``args`` in a session of its own (killed whole, workers included, on timeout)."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{args[:6]} timed out after {timeout}s:\n{out[-3000:]}\n{err[-3000:]}")
    return Ran(proc.returncode, out, err)


def _or_skip(done: Ran, what: str) -> None:
    if done.returncode != 0:
        pytest.skip(f"{what} failed (no package index?): {done.tail()[-1500:]}")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """nova's sdist of the installed version, unpacked and installed as nova's tox does."""
    try:
        version = importlib.metadata.version("nova")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("nova is not installed in the running interpreter")
    tmp = tmp_path_factory.mktemp("checkout")
    env = _clean_env()
    sdists = tmp / "sdist"
    done = _run(
        [
            *(sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:"),
            *("--no-deps", "-d", str(sdists), f"nova=={version}"),
        ],
        cwd=tmp,
        env=env,
        timeout=TIMEOUT_DOWNLOAD,
    )
    _or_skip(done, f"pip download nova=={version}")
    (tarball,) = sdists.glob("nova-*.tar.gz")
    with tarfile.open(tarball) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp / "src", filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            archive.extractall(tmp / "src")
    src = tmp / "src" / f"nova-{version}"
    assert (src / "test-requirements.txt").is_file(), sorted(os.listdir(tmp / "src"))
    assert (src / ".stestr.conf").is_file()
    assert not [p for p in (src / OBJECTS).iterdir() if p.name in EXAMPLE_FILES]

    venv = tmp / "venv"
    done = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp, env=env, timeout=300)
    assert done.returncode == 0, done.tail()
    python = str(venv / "bin" / "python")
    done = _run(
        [python, "-m", "pip", "install", "-q", "-e", str(src), "-r", "test-requirements.txt"],
        cwd=src,
        env=env,
        timeout=TIMEOUT_INSTALL,
    )
    _or_skip(done, "pip install -e SRC -r test-requirements.txt")
    done = _run(
        [python, "-m", "pip", "install", "-q", "-e", str(ROOT)],
        cwd=tmp,
        env=env,
        timeout=TIMEOUT_INSTALL,
    )
    _or_skip(done, "pip install -e ROOT")

    # nova and the plugin are imported from the checkouts, not from copies in the venv
    where = _run(
        [python, "-c", "import nova, pytest_actionsec as a; print(nova.__file__, a.__file__)"],
        cwd=tmp,
        env=env,
        timeout=300,
    )
    assert where.returncode == 0, where.tail()
    nova_file, plugin_file = where.stdout.split()
    assert Path(nova_file).resolve() == (src / "nova" / "__init__.py").resolve()
    assert Path(plugin_file).resolve() == (ROOT / "pytest_actionsec" / "__init__.py").resolve()
    return Checkout(version, src, venv)


# ---------------------------------------------------------------------------
# pytest output


def _outcomes(stdout: str) -> Counter[str]:
    """The counts of pytest's final line (``14 failed, 124 passed, 1 xfailed in 9.1s``)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    last = lines[-1].strip("= ")
    found = re.findall(r"(\d+) (\w+)", last.rsplit(" in ", 1)[0])
    assert found, last
    return Counter({kind: int(n) for n, kind in found})


def _collected(stdout: str) -> int:
    match = re.search(r"^collected (\d+) items?\b", stdout, re.MULTILINE)
    assert match, stdout[:3000]
    return int(match.group(1))


_PROGRESS = re.compile(r"^(?:(?P<name>\S+) )?(?P<marks>[.FEsxX]+)\s*\[\s*\d+%\]$")


def _progress(stdout: str) -> Counter[str]:
    """Items run per progress name: ``actionsec[...]`` items, test files (default output)."""
    counts: Counter[str] = Counter()
    name = None
    for line in stdout.splitlines():
        match = _PROGRESS.match(line.rstrip())
        if match is None:
            continue
        name = match.group("name") or name
        assert name is not None, line
        counts[name] += len(match.group("marks"))
    return counts


def _actionsec_run(python: Path | str, cwd: Path, report: str, hypothesis: Path) -> Ran:
    """``python -m pytest --actionsec --actionsec-seed=5 --actionsec-report=REPORT`` in cwd,
    with a Hypothesis storage of its own (every run starts from the same empty database)."""
    return _run(
        [
            *(str(python), "-m", "pytest", "-p", "no:cacheprovider", "--actionsec"),
            *("--actionsec-seed=5", f"--actionsec-report={report}"),
        ],
        cwd=cwd,
        env=_clean_env(HYPOTHESIS_STORAGE_DIRECTORY=str(hypothesis)),
        timeout=TIMEOUT_RUN,
    )


def _keys(report: Mapping[str, Any]) -> set[tuple[str, str, str, str | None]]:
    return {
        (v["invariant"], v["function"], v["layer"], v.get("field")) for v in report["violations"]
    }


def _fingerprint(key: tuple[str, str, str, str | None]) -> str:
    return "|".join(part or "" for part in key)


def _uri_path(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme == "file", uri
    return Path(unquote(parsed.path))


def test_the_built_in_suite_runs_from_the_source_root_and_finds_nova_34s_findings(
    checkout: Checkout, tmp_path: Path
) -> None:
    src = checkout.src
    header = f"actionsec: under test: nova {checkout.version} at nova/"
    allowed_files = {(OBJECTS / name).as_posix() for name in EXAMPLE_FILES}

    done = _actionsec_run(checkout.python, src, "r.json", tmp_path / "hyp-json")
    sarif_run = _actionsec_run(checkout.python, src, "r.sarif", tmp_path / "hyp-sarif")
    for ran in (done, sarif_run):
        assert ran.returncode == 1, ran.tail()  # nova 34's findings fail the run
        assert "errors during collection" not in ran.stdout, ran.tail()
        lines = ran.stdout.splitlines()
        assert any(line == header or line.startswith(header + " ") for line in lines), lines[:8]
        outcomes = _outcomes(ran.stdout)
        assert not outcomes["error"] and not outcomes["errors"], outcomes
        progress = _progress(ran.stdout)
        builtin = {name: n for name, n in progress.items() if name.startswith("actionsec[")}
        files = {name: n for name, n in progress.items() if not name.startswith("actionsec[")}
        assert len(builtin) == BUILTIN_ITEMS and set(builtin.values()) == {1}, builtin
        assert set(files) <= allowed_files, sorted(files)  # nothing of nova's unit tree
        collected = _collected(ran.stdout)
        assert collected == BUILTIN_ITEMS + sum(files.values()), (collected, files)
        ran_total = sum(n for kind, n in outcomes.items() if not kind.startswith("warning"))
        assert ran_total == collected, outcomes

    report = json.loads((src / "r.json").read_text(encoding="utf-8"))
    assert Path(report["root"]).resolve() == src.resolve()
    found = _keys(report)
    assert found, "no findings on nova 34"

    # the same run on nova from PyPI (this interpreter), in an empty folder
    empty = tmp_path / "empty"
    empty.mkdir()
    pypi = _actionsec_run(sys.executable, empty, "r.json", tmp_path / "hyp-pypi")
    assert pypi.returncode == 1, pypi.tail()
    assert _collected(pypi.stdout) == BUILTIN_ITEMS
    assert f"actionsec: under test: nova {checkout.version} at " in pypi.stdout
    expected = _keys(json.loads((empty / "r.json").read_text(encoding="utf-8")))
    assert found == expected, (sorted(found - expected, key=str), sorted(expected - found, key=str))

    sarif = json.loads((src / "r.sarif").read_text(encoding="utf-8"))
    (run,) = sarif["runs"]
    bases = run["originalUriBaseIds"]
    assert {_uri_path(base["uri"]).resolve() for base in bases.values()} == {src.resolve()}, bases
    results = run["results"]
    assert {r["partialFingerprints"]["actionsecKey/v1"] for r in results} == {
        _fingerprint(key) for key in found
    }
    physical = []
    for result in results:
        for location in result["locations"] + result.get("relatedLocations", []):
            if "physicalLocation" in location:
                physical.append(location["physicalLocation"]["artifactLocation"])
    assert physical, "no result names a file"
    for artifact in physical:
        uri = artifact["uri"]
        assert not uri.startswith("file:") and not uri.startswith("/"), artifact
        assert not Path(uri).is_absolute() and ".." not in Path(uri).parts, artifact
        assert artifact.get("uriBaseId") in bases, artifact
        assert (src / uri).is_file(), artifact  # a file of the source tree


# ---------------------------------------------------------------------------
# The fork example in the checkout, under pytest and under nova's stestr


@dataclass(frozen=True)
class Stestr:
    ran: Ran
    passed: int
    failed: int
    #: tests that passed, by module (``nova.tests.unit.test_exception``: 30)
    by_module: Counter[str]


_STESTR_OK = re.compile(r"^\{\d+\} (?P<id>[\w.]+)(?:\(.*\))? \[[\d.]+s\] \.\.\. ok$", re.MULTILINE)


def _stestr(checkout: Checkout, *filters: str) -> Stestr:
    """``stestr run FILTERS`` from the source root as nova's tox py3 env runs it."""
    bin_dir = checkout.venv / "bin"
    env = _clean_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(checkout.venv),
        OS_NOVA_DISABLE_EVENTLET_PATCHING="False",
        PYTHONDONTWRITEBYTECODE="1",
    )
    stestr = shutil.which("stestr", path=str(bin_dir))
    assert stestr is not None, f"no stestr in {bin_dir} (nova's test requirements install it)"
    ran = _run([stestr, "run", *filters], cwd=checkout.src, env=env, timeout=TIMEOUT_RUN)
    totals = {
        kind: int(n) for kind, n in re.findall(r"^ - (Passed|Failed): (\d+)$", ran.stdout, re.M)
    }
    assert set(totals) == {"Passed", "Failed"}, ran.tail()
    by_module: Counter[str] = Counter()
    for match in _STESTR_OK.finditer(ran.stdout):
        # the module: the dotted id up to the test class (nova's are CamelCase)
        parts = match.group("id").split(".")
        cls = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts) - 1)
        by_module[".".join(parts[:cls])] += 1
    return Stestr(ran, totals["Passed"], totals["Failed"], by_module)


@pytest.fixture(scope="module")
def stestr_without_example(checkout: Checkout) -> Stestr:
    """nova's tests run by stestr before the example is copied in."""
    assert not (checkout.src / OBJECTS / "test_actionsec_nova_base.py").exists()
    return _stestr(checkout, *NOVA_MODULES)


@pytest.fixture(scope="module")
def fork(checkout: Checkout, stestr_without_example: Stestr) -> Path:
    """The checkout with the fork example copied into nova/tests/unit/objects/."""
    for name in EXAMPLE_FILES:
        shutil.copy2(EXAMPLE / name, checkout.src / OBJECTS / name)
    return checkout.src


def test_the_fork_example_passes_under_pytest_in_the_checkout(
    checkout: Checkout, fork: Path, tmp_path: Path
) -> None:
    target = (OBJECTS / "test_instance_action_security.py").as_posix()
    done = _run(
        [str(checkout.python), "-m", "pytest", "-p", "no:cacheprovider", target],
        cwd=fork,
        env=_clean_env(HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hypothesis")),
        timeout=TIMEOUT_RUN,
    )
    assert done.returncode == 0, done.tail()
    outcomes = _outcomes(done.stdout)
    assert outcomes["passed"] > 0, outcomes
    assert set(outcomes) <= {"passed", "xfailed", "warning", "warnings"}, outcomes
    assert _collected(done.stdout) == outcomes["passed"] + outcomes["xfailed"]
    assert set(_progress(done.stdout)) == {target}


def test_the_fork_example_passes_under_stestr_beside_novas_tests(
    checkout: Checkout, fork: Path, stestr_without_example: Stestr
) -> None:
    before = stestr_without_example
    assert before.ran.returncode == 0 and before.failed == 0, before.ran.tail()
    assert before.passed > 0 and BASE_MODULE not in before.by_module, before.by_module
    for module in NOVA_MODULES:
        assert before.by_module[module] > 0, (module, before.by_module)
    assert sum(before.by_module.values()) == before.passed

    after = _stestr(checkout, *NOVA_MODULES, BASE_MODULE)
    assert after.ran.returncode == 0 and after.failed == 0, after.ran.tail()
    assert after.by_module[BASE_MODULE] == 2, after.by_module
    assert +Counter({m: n for m, n in after.by_module.items() if m != BASE_MODULE}) == (
        before.by_module
    )
    assert after.passed == before.passed + 2, (before.passed, after.passed)
    for test in (
        "InstanceFaultLeakTest.test_fault_shows_members_no_foreign_exception_text",
        "InstanceFaultLeakTest.test_nova_exception_message_is_stored_as_formatted",
    ):
        assert f"{BASE_MODULE}.{test} [" in after.ran.stdout, test


def test_cve_2019_14433_put_back_fails_the_stestr_example(checkout: Checkout, fork: Path) -> None:
    utils = fork / "nova" / "compute" / "utils.py"
    original = utils.read_bytes()
    text = original.decode("utf-8")
    assert text.count(FIXED_LINE) == 1, "exception_to_dict's fix is not where nova 34 has it"
    start = text.index("def exception_to_dict(")
    assert start < text.index(FIXED_LINE) < text.index("\ndef ", start + 1)
    try:
        utils.write_text(text.replace(FIXED_LINE, CVE_LINE), encoding="utf-8")
        assert utils.read_text(encoding="utf-8").count(CVE_LINE) == 1
        vulnerable = _stestr(checkout, BASE_MODULE)
    finally:
        utils.write_bytes(original)
    assert vulnerable.ran.returncode != 0, vulnerable.ran.tail()
    assert vulnerable.failed >= 1, vulnerable.ran.tail()
    assert "leak.tenant" in vulnerable.ran.stdout, vulnerable.ran.tail()
    assert "field:     message" in vulnerable.ran.stdout, vulnerable.ran.tail()

    assert utils.read_bytes() == original
    fixed = _stestr(checkout, BASE_MODULE)
    assert fixed.ran.returncode == 0 and fixed.failed == 0, fixed.ran.tail()
    assert fixed.passed == 2 and fixed.by_module == Counter({BASE_MODULE: 2}), fixed.by_module


SERVERS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_the_store_and_api_layers_run_on_a_server_database_from_the_root(
    checkout: Checkout, server: str, tmp_path: Path
) -> None:
    """nova's test requirements (osprofiler among them) on MariaDB and PostgreSQL: the
    store opens through nova's own DB API and every item judges (no item fails on the
    store: such a failure is one usage error at start-up, exit 4)."""
    from pytest_actionsec.store import StoreError, probe

    url = SERVERS[server]
    try:
        probe(url)
    except StoreError as exc:
        pytest.skip(f"no usable {server}: {exc}")
    ran = _run(
        [
            *(str(checkout.python), "-m", "pytest", "-p", "no:cacheprovider", "--actionsec"),
            *("--actionsec-seed=5", "--actionsec-examples=10", "--actionsec-layers=store,api"),
            *(f"--actionsec-store={url}", "-k", "pack_action_start or add_instance_fault"),
        ],
        cwd=checkout.src,
        env=_clean_env(HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hypothesis")),
        timeout=TIMEOUT_RUN,
    )
    assert ran.returncode in (0, 1), ran.tail()
    assert "cannot be opened" not in ran.stdout + ran.stderr, ran.tail()
    outcomes = _outcomes(ran.stdout)
    assert not outcomes["error"] and not outcomes["errors"], outcomes
    assert (
        outcomes["passed"] + outcomes["failed"] == _collected(ran.stdout) - outcomes["deselected"]
    ), outcomes
    assert outcomes["passed"] > 0, outcomes
