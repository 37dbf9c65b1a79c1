"""The documentation matches the code: the generated reference, the README and docs/, the
CHANGELOG; every command the docs show is run."""

from __future__ import annotations

import os
import re
import shlex
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


def test_every_option_ini_key_fixture_marker_and_strategy_is_documented() -> None:
    """docs/reference.md is the one place every one of them is listed."""
    text = _reference()
    for opt in _options():
        assert f"`{opt.flags[0]}" in text, opt.flags[0]
        assert opt.ini and f"`{opt.ini}`" in text, opt.ini
    for option in config.OPTIONS:
        if option.env:
            assert f"`{option.env}`" in text, option.env
    for name in plugin.FIXTURES:
        assert f"### `{name}`" in text, name
        assert (getattr(plugin, name).__doc__ or "").strip(), f"{name} has no docstring"
    for name in strategies.__all__:
        assert re.search(rf"### (class )?`{re.escape(name)}[`(= ]", text), name
    for family in FAMILIES:
        assert f"`{family}`" in text
    assert "@pytest.mark.actionsec(" in text
    for arg in ("target", "mode", "invariants", "clock"):
        assert f"{arg}: " in text.split("## Marker", 1)[1].split("## Fixtures", 1)[0], arg


def test_reference_states_each_default_as_help_does() -> None:
    """The default column and ``pytest --help`` agree (they once did not on --actionsec-trusted)."""
    rows = {
        line.split("|")[1].strip().strip("`").split("=")[0]: line.split("|")[4].strip().strip("`")
        for line in _reference().splitlines()
        if line.startswith("| `--actionsec")
    }
    for option in config.OPTIONS:
        stated = re.search(r"\(default: ([^()]*)\)$", option.help_text())
        assert stated is not None, option.flag
        assert rows[option.flag] == stated[1], option.flag
    assert rows["--actionsec-trusted"] == "nova.exception.NovaException"


# -- README and docs/: short, linked, every link resolving ------------------------------

DOCS = ROOT / "docs"
README_MAX_LINES = 150
#: pages other branches of this release write; a one-line stub holds each place until then
SLOTS = ("policies.md", "notifications.md", "history.md", "campaigns.md")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _local_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code is not linked
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    slug = heading.strip().lower().replace("`", "")
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_readme_is_read_in_five_minutes() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_links_to_the_docs_index_reference_and_slots() -> None:
    links = set(_local_links(README))
    for page in ("docs/index.md", "docs/tutorial.md", "docs/reference.md"):
        assert page in links, page
    for slot in SLOTS:
        assert f"docs/{slot}" in links, slot


def test_docs_index_has_one_line_per_page() -> None:
    index = DOCS / "index.md"
    linked = [t.split("#")[0] for t in _local_links(index)]
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if p != index)
    assert sorted(linked) == pages
    assert len(linked) == len(set(linked))


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    for target in _local_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{page.relative_to(ROOT)}: no heading #{anchor}"


# -- every command shown in a code block is run -----------------------------------------


def _code_blocks(text: str) -> list[str]:
    """The content of each fenced code block (indented ones too, as in a list)."""
    return re.findall(r"^[ \t]*```[\w-]*\n(.*?)^[ \t]*```", text, flags=re.S | re.M)


_PREFIXES = ("pytest", "python -m", "python3 -m", "pip install", "tox", "stestr")
_ENV_ASSIGNMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")


def _shown_commands() -> dict[str, list[str]]:
    """Each command in a code block of README.md and docs/ -> the pages showing it.

    Continued lines are joined, a trailing ``# comment`` dropped, leading environment
    assignments ignored for the prefix test but kept in the command."""
    shown: dict[str, list[str]] = {}
    for page in _pages():
        for block in _code_blocks(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\s+#\s.*$", "", line.strip())
                command = re.sub(r"\s+", " ", command)
                if _ENV_ASSIGNMENT.sub("", command).startswith(_PREFIXES):
                    shown.setdefault(command, []).append(str(page.relative_to(ROOT)))
    return shown


CI_RUNS = ".ci/run"
INSTALL = "pip install -e '.[nova]'"

#: Every command the docs show, and what runs it: a test (``path::name``, run by the
#: suite, with the arguments it really passes noted where it runs a cheaper variant), a
#: benchmark (``benchmarks/x.py``), or ``.ci/run`` (CI's own entry point).
#: The test that runs every shell command of docs/campaigns.md on loopback.
CAMPAIGN_DOCS = "tests/test_campaign_docs.py::test_each_pytest_command_is_accepted"

#: The test that runs every ``pip install`` line of the README and docs in a fresh venv.
INSTALLS = "tests/test_install.py::test_the_install_commands_of_the_docs_install_the_package"

CHECKOUT = "tests/test_nova_checkout.py"

COMMANDS: dict[str, str] = {
    # docs/how-to/own-tests.md: in nova 34's sdist with its test requirements
    "pytest --actionsec --actionsec-seed=5 --actionsec-report=actionsec.sarif": (
        f"{CHECKOUT}::test_the_built_in_suite_runs_from_the_source_root_and_finds_nova_34s_findings"
    ),
    "stestr run nova.tests.unit.objects.test_actionsec_nova_base": (
        f"{CHECKOUT}::test_cve_2019_14433_put_back_fails_the_stestr_example"
    ),
    'pip install --find-links=tools/wheels "pytest-actionsec[nova]>=0.2.0"': INSTALLS,
    'pip install "./tools/pytest-actionsec[nova]"': INSTALLS,
    'pip install -e ".[nova]"': INSTALLS,
    'pip install "pytest-actionsec[nova] @ git+https://HOST/PATH/pytest-actionsec.git@main"': (
        INSTALLS  # a file:// repository of the working tree for https://HOST/PATH
    ),
    'pip install "./dist/pytest_actionsec-0.2.0-py3-none-any.whl[nova]"': INSTALLS,
    "pip install 'pytest-actionsec[db]'": INSTALLS,
    "pip install 'pytest-actionsec[nova,redis]' pytest-xdist": INSTALLS,
    # README
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[nova]' && "
    "(mkdir -p /tmp/actionsec-run && cd /tmp/actionsec-run && pytest --actionsec "
    "--actionsec-seed=5 --actionsec-report=actionsec-report.json)": (
        "benchmarks/compare_findings.py"  # nova-contract, seeds 1-5, this report
    ),
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test,nova]' && "
    "python -m pytest -n 2 -q -p no:cacheprovider": CI_RUNS,
    "python -m pytest -n 2 -q -p no:cacheprovider": CI_RUNS,
    "python -m pytest_actionsec.docs > docs/reference.md": (
        "tests/test_docs.py::test_generator_runs_as_a_module"
    ),
    # docs/tutorial.md
    "pytest --actionsec --actionsec-seed=5 --actionsec-report=actionsec-report.json": (
        "benchmarks/compare_findings.py"
    ),
    "pytest --actionsec --collect-only -q": (
        "tests/test_docs.py::test_the_suite_is_listed_from_an_empty_directory"
    ),
    "pytest --actionsec --actionsec-target=leaky_packer --actionsec-layers=packer "
    "--actionsec-seed=1 -k 'leak and add_instance_fault'": (
        "tests/test_examples.py::test_regression_demo_catches_the_cve_regression"
    ),
    # docs/how-to/baselines.md (on a leaky target, accepted then gating)
    "pytest --actionsec --actionsec-baseline=actionsec-baseline-contract.json "
    "--actionsec-update-baseline": "tests/test_plugin.py::test_baseline_workflow",
    "pytest --actionsec --actionsec-baseline=actionsec-baseline-contract.json": (
        "tests/test_plugin.py::test_baseline_workflow"
    ),
    # docs/how-to/nightly.md (a 2 s budget)
    "pytest --actionsec --actionsec-budget=10m": (
        "tests/test_examples.py::test_ci_nightly_command_runs_with_a_tiny_budget"
    ),
    # docs/how-to/custom-invariants.md (seed 2, 30 examples)
    "pytest --actionsec --actionsec-target=acme_packers -k acme": (
        "tests/test_examples.py::test_custom_invariant_catches_the_forks_leak_like_a_builtin"
    ),
    # docs/how-to/custom-targets.md (both modes, 10 examples)
    "pytest --actionsec": "tests/test_examples.py::test_custom_target_passes_the_suite",
    # docs/how-to/databases.md (7 examples)
    "pytest --actionsec --actionsec-store=mysql+pymysql://root@127.0.0.1:3306/ "
    "--actionsec-layers=store --actionsec-seed=3 -k 'bounds and add_instance_fault_from_exc'": (
        "tests/test_trust.py::test_the_replay_line_replays_a_mariadb_finding"
    ),
    # docs/explanation/findings.md
    "pytest --actionsec --actionsec-seed=5 --actionsec-report=r.json": (
        "benchmarks/compare_findings.py"
    ),
    "pytest --actionsec --actionsec-seed=5 --actionsec-report=r.json --actionsec-mode=hostile": (
        "benchmarks/compare_findings.py"  # nova-hostile
    ),
    # docs/campaigns.md: every command run on loopback (Redis) by its own test file
    "pytest -p no:cacheprovider -n auto --actionsec --actionsec-budget=20m "
    "--actionsec-database=redis://redis.ci.example:6379/0 "
    "--actionsec-report=actionsec-report-$SHARD.json": CAMPAIGN_DOCS,
    "python -m pytest_actionsec.merge actionsec-report.json actionsec-report-*.json "
    "--sarif actionsec.sarif": CAMPAIGN_DOCS,
    "pytest -p no:cacheprovider -n auto --actionsec --actionsec-budget=20m": CAMPAIGN_DOCS,
    "pytest --actionsec --actionsec-database=.hypothesis/examples,"
    "readonly:redis://redis.ci.example:6379/0": CAMPAIGN_DOCS,
    "pytest --actionsec --dist loadgroup --tx 2*ssh=runner1//python=/opt/venv/bin/python "
    "--tx 2*ssh=runner2//python=/opt/venv/bin/python "
    "--actionsec-database=redis://redis.ci.example:6379/0 --actionsec-report=report.json": (
        CAMPAIGN_DOCS
    ),
    "python -m pytest_actionsec.merge OUT.json IN1.json IN2.json ... [--sarif OUT.sarif]": (
        "tests/test_campaign_docs.py::test_the_merge_command_runs"
    ),
    'python -m pytest -n 2 -q -p no:cacheprovider -m "not install"': CI_RUNS,
    # docs/targets.md
    "pytest --actionsec --actionsec-target=tests.targets.copied_helpers "
    "--actionsec-sink=none --actionsec-boundary=none --actionsec-notifier=none": (
        "tests/test_contract.py::test_the_suite_runs_a_copied_module_and_reports_only_the_true_finding"
    ),
    # in-process: the facts of these targets and their findings on the suite's runs
    "pytest --actionsec --actionsec-target=tests.targets.nova_rocky": (
        "tests/test_contract.py::test_an_event_without_details_is_not_owed_details"
    ),
    "pytest --actionsec --actionsec-target=tests.targets.nova_pike": (
        "tests/test_contract.py::test_a_release_before_the_mirror_is_not_owed_updated_at"
    ),
}


def test_every_command_shown_is_run_by_a_test_a_benchmark_or_ci() -> None:
    shown = _shown_commands()
    unlisted = {c: pages for c, pages in shown.items() if c not in COMMANDS}
    assert not unlisted, f"map each to what runs it in COMMANDS: {unlisted}"
    stale = set(COMMANDS) - set(shown)
    assert not stale, f"no page shows these any more: {stale}"


@pytest.mark.parametrize("runner", sorted(set(COMMANDS.values())))
def test_what_runs_a_command_exists_by_name(runner: str) -> None:
    path, _, name = runner.partition("::")
    assert (ROOT / path).is_file(), path
    if name:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(name)}\(", source, flags=re.M), runner
    if path == CI_RUNS:
        assert _ci_test_command() == "python -m pytest -n 2 -q -p no:cacheprovider"


def test_the_suite_is_listed_from_an_empty_directory(tmp_path: Path) -> None:
    """`pytest --actionsec --collect-only -q` (the tutorial) lists the 138 items on nova
    (128 per-call properties, the notification sink's 8 and the history machine's 2)."""
    pytest.importorskip("nova")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = shlex.split("pytest --actionsec --collect-only -q")
    assert " ".join(command) in COMMANDS
    proc = subprocess.run(
        [sys.executable, "-m", *command, "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    items = [line for line in proc.stdout.splitlines() if line.startswith("actionsec[")]
    assert len(items) == 138 and "138 tests collected" in proc.stdout, proc.stdout[-2000:]
    assert "actionsec[history-server-history-store]" in items
    assert "actionsec[leak-add_instance_fault_from_exc-packer]" in items
    assert "actionsec[integrity-pack_action_event_finish-boundary]" in items


def test_slots_for_this_release_s_other_pages_exist() -> None:
    for slot in SLOTS:
        assert (DOCS / slot).is_file(), slot


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
    blocks = _code_blocks(text)
    commands = [b.strip() for b in blocks if b.strip().startswith("python3 -m venv")]
    assert commands[:2] and commands[1] == expected, commands
    assert "-e '.[test,nova]'" in CI_RUN.read_text(encoding="utf-8")


def test_readme_first_command_runs_the_builtin_suite_against_nova() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = _code_blocks(text)
    first = next(b.strip() for b in blocks if b.strip().startswith("python3 -m venv"))
    assert "pytest-actionsec[nova]" in first or ".[nova]" in first
    assert "pytest --actionsec" in first and "--actionsec-report=" in first


def test_readme_shows_what_the_first_command_prints() -> None:
    text = README.read_text(encoding="utf-8")
    for line in (
        "collected 138 items",
        "actionsec: seed 5 (--actionsec-seed); replay with --actionsec-seed=5",
        "audience:  leak.admin (only admins and nova's service role read this field through "
        "Nova's API)",
        "personas:  admin, project_admin",
        "actionsec: 138 properties in 8 Hypothesis runs",
        "14 failed, 124 passed",
    ):
        assert line in text, line


def test_readme_says_how_to_install_it_four_ways() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pytest-actionsec[nova]>=" in text  # an index
    assert 'pip install -e ".[nova]"' in text  # a checkout
    assert "@ git+https://" in text  # a git URL
    assert ".whl[nova]" in text  # a built wheel


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


def test_the_counts_the_docs_quote_come_from_a_real_run(tmp_path: Path) -> None:
    """README and tutorial quote the README's first command (seed 5, an empty folder):
    its pass/fail counts and its summary line are checked against that run, and the
    number of rules against the registry, so the docs cannot drift from the output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--actionsec",
            "--actionsec-seed=5",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    counts = re.search(r"(\d+) failed, (\d+) passed", done.stdout.splitlines()[-1])
    summary = re.search(
        r"actionsec: (\d+) properties in (\d+) Hypothesis runs, (\d+) examples, "
        r"(\d+) new violation\(s\)",
        done.stdout,
    )
    assert counts and summary, done.stdout[-3000:]
    quoted = f"{counts.group(1)} failed, {counts.group(2)} passed"
    readme = README.read_text(encoding="utf-8")
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert quoted in readme and f"`{quoted}`" in tutorial, quoted
    assert summary.group(0) in readme, summary.group(0)
    assert f"collected {summary.group(1)} items" in readme
    assert f"all {len(INVARIANTS)} rules" in tutorial
