"""The documentation matches the code: the generated reference, the README, the CHANGELOG."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_actionsec
from pytest_actionsec import config, docs, plugin, strategies
from pytest_actionsec.oracle import FAMILIES, INVARIANTS

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"
README = ROOT / "README.md"
CHANGELOG = ROOT / "CHANGELOG.md"
CI_RUN = ROOT / ".ci" / "run"

REGENERATE = "python -m pytest_actionsec.docs > docs/reference.md"


def _options() -> list[docs.OptionDoc]:
    return docs.collect_options()


def _ini_keys() -> list[str]:
    return [o.ini for o in _options() if o.ini]


# -- docs/reference.md ----------------------------------------------------------


def test_reference_is_generated_from_the_code() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == docs.render(), (
        f"docs/reference.md is stale: run `{REGENERATE}`"
    )


def test_generator_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest_actionsec.docs"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert out == docs.render()


def test_options_are_collected_from_pytest_addoption() -> None:
    flags = {o.flags[0] for o in _options()}
    assert flags == {o.flag for o in config.OPTIONS} | {
        plugin.OPT_ACTIVE,
        plugin.OPT_UPDATE_BASELINE,
    }
    assert set(_ini_keys()) == {o.ini for o in config.OPTIONS} | {
        "actionsec",
        "actionsec_update_baseline",
    }
    assert all(o.help for o in _options())


def _reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


@pytest.mark.parametrize("inv", sorted(i for i in INVARIANTS if INVARIANTS[i].builtin))
def test_every_invariant_is_documented(inv: str) -> None:
    invariant = INVARIANTS[inv]
    row = f"| `{inv}` | {invariant.family} |"
    assert row in _reference()
    assert f"`{inv}`" in README.read_text(encoding="utf-8")


def test_every_option_ini_key_fixture_and_strategy_is_documented() -> None:
    text = _reference()
    for opt in _options():
        assert f"`{opt.flags[0]}" in text, opt.flags[0]
        assert opt.ini and f"`{opt.ini}`" in text, opt.ini
    for name in plugin.FIXTURES:
        assert f"### `{name}`" in text, name
        assert (getattr(plugin, name).__doc__ or "").strip(), f"{name} has no docstring"
    for name in strategies.__all__:
        assert re.search(rf"### (class )?`{re.escape(name)}[`(= ]", text), name
    for family in FAMILIES:
        assert f"`{family}`" in text
    assert "@pytest.mark.actionsec(" in text


def test_readme_lists_every_option_ini_key_marker_argument_and_fixture() -> None:
    text = README.read_text(encoding="utf-8")
    for opt in _options():
        assert f"`{opt.flags[0]}" in text, opt.flags[0]
        assert f"`{opt.ini}`" in text, opt.ini
    for name in plugin.FIXTURES:
        assert f"`{name}`" in text, name
    for arg in ("target", "mode", "invariants", "clock"):
        assert f"{arg}=" in text
    for name in strategies.__all__:
        assert f"`{name}`" in text or f"{name}(" in text, name
    assert "docs/reference.md" in text


# -- README ---------------------------------------------------------------------------


def _ci_test_command() -> str:
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line.startswith("python -m pytest")]
    assert len(commands) == 1
    return commands[0]


def test_readme_second_command_is_the_one_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    expected = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test,nova]' && "
        + _ci_test_command()
    )
    blocks = re.findall(r"```(?:sh|console|bash)?\n(.*?)```", text, flags=re.S)
    commands = [b.strip() for b in blocks if b.strip().startswith("python3 -m venv")]
    assert commands[:2] and commands[1] == expected, commands
    assert "-e '.[test,nova]'" in CI_RUN.read_text(encoding="utf-8")


def test_readme_first_command_runs_the_builtin_suite_against_nova() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|console|bash)?\n(.*?)```", text, flags=re.S)
    first = next(b.strip() for b in blocks if b.strip().startswith("python3 -m venv"))
    assert "pytest-actionsec[nova]" in first or ".[nova]" in first
    assert "pytest --actionsec" in first and "--actionsec-report=" in first


def test_readme_names_the_cve_and_the_dependencies() -> None:
    text = README.read_text(encoding="utf-8")
    assert "CVE-2019-14433" in text
    for dep in (
        "pytest",
        "hypothesis",
        "oslo.versionedobjects",
        "freezegun",
        "pytest-xdist",
        "jsonschema",
        "mypy",
        "ruff",
        "PyMySQL",
        "psycopg2-binary",
    ):
        assert dep in text, dep


# -- CHANGELOG ------------------------------------------------------------------------

_VERSION_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>.+))?$", re.M)
_KINDS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _versions() -> list[tuple[str, str | None]]:
    text = CHANGELOG.read_text(encoding="utf-8")
    return [(m["version"], m["date"]) for m in _VERSION_HEADING.finditer(text)]


def test_changelog_newest_version_is_the_package_version() -> None:
    versions = _versions()
    assert versions[0][0] == "Unreleased", "keep an '## [Unreleased]' section on top"
    released = [v for v, _ in versions if v != "Unreleased"]
    assert released and released[0] == pytest_actionsec.__version__


def test_pyproject_version_is_the_package_version() -> None:
    """The version pip installs is the one the package and the CHANGELOG say."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version = "(?P<version>[^"]+)"$', text, flags=re.M)
    assert found is not None, "pyproject.toml has no version line"
    assert found["version"] == pytest_actionsec.__version__


def test_changelog_follows_keep_a_changelog() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    for version, date in _versions()[1:]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
        assert date is not None and (
            date == "Unreleased" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)
        ), date
    for heading in re.findall(r"^### (.+)$", text, flags=re.M):
        assert heading in _KINDS, heading
    assert len(_versions()) == len({v for v, _ in _versions()})
