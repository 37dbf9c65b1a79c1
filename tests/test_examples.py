"""Every example under examples/ runs here, as a user would run it, so none can rot.

Each example is copied to a temporary directory and run with this interpreter's
pytest in a subprocess (the plugin loads from its entry point, as when installed).
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_actionsec import config, plugin
from pytest_actionsec.history.run import FUNCTION as HISTORY_FUNCTION
from pytest_actionsec.invariants.history import HISTORY_INVARIANTS
from pytest_actionsec.oracle import INVARIANTS
from pytest_actionsec.report import Baseline
from pytest_actionsec.targets import FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: the page that shows the regression demo's command and output
TUTORIAL = ROOT / "docs" / "tutorial.md"
HAVE_NOVA = importlib.util.find_spec("nova") is not None
needs_nova = pytest.mark.skipif(not HAVE_NOVA, reason="needs the nova extra")
KNOWN_OPTIONS = {o.flag for o in config.OPTIONS} | {
    plugin.OPT_ACTIVE,
    plugin.OPT_UPDATE_BASELINE,
}


# The `pytest` script as users run it (unlike `python -m pytest`, it does not put the
# working directory on sys.path, so the examples' `pythonpath = .` is really tested).
_SCRIPT = shutil.which("pytest", path=str(Path(sys.executable).parent))
PYTEST = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "pytest"]


def _copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(
        EXAMPLES / name, dest, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis")
    )
    return dest


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``pytest ARGS`` in ``cwd``, with a private Hypothesis database and no cache."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    full_env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cwd / ".hypothesis")
    full_env.update(env)
    return subprocess.run(
        [*PYTEST, "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _tutorial_command(prefix: str) -> list[str]:
    """The tutorial's line that starts with ``prefix``, split like a shell would."""
    lines = [
        line.strip()
        for line in TUTORIAL.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(prefix)
    ]
    assert lines, f"docs/tutorial.md has no command starting with {prefix!r}"
    return shlex.split(lines[0])


def _options_in(text: str) -> set[str]:
    return set(re.findall(r"--actionsec(?:-[a-z]+)*", text))


# -- examples/regression_demo ---------------------------------------------------


DEMO = "pytest --actionsec --actionsec-target=leaky_packer"
REGRESSION_LINE = "message = str(fault)  # THE REGRESSION"
FIXED_LINE = "message = fault.__class__.__name__  # as in nova 34"


def test_regression_demo_catches_the_cve_regression(tmp_path: Path) -> None:
    demo = _copy("regression_demo", tmp_path)
    args = _tutorial_command(DEMO)[1:]
    result = _run(args, demo)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    # the tenant's leak leads; nova's own admin-only details follow
    assert "1. leak.field [leak] add_instance_fault_from_exc (packer layer)" in out
    first = out.split("1. leak.field", 1)[1].split("2. leak.field", 1)[0]
    assert "field:     message" in first and "audience:  leak.tenant" in first
    assert "audience:  leak.admin" in out
    assert "canary from exception." in out
    assert "FAILED (2 new; leak.tenant)" in out
    assert "1 failed, 47 deselected" in out
    tenant_only = [*args, "--actionsec-min-severity=tenant"]
    assert "FAILED (1 new; leak.tenant)" in _run(tenant_only, demo).stdout

    # The one regressed line is the whole cause of the tenant's leak: without it the
    # run passes when it fails on what tenants read, and nova's admin-only details remain.
    packer = demo / "leaky_packer.py"
    source = packer.read_text(encoding="utf-8")
    assert source.count(REGRESSION_LINE) == 1
    packer.write_text(source.replace(REGRESSION_LINE, FIXED_LINE), encoding="utf-8")
    fixed = _run(tenant_only, demo)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "passed (1 noted, not failing)" in fixed.stdout
    admin = _run(args, demo)
    assert admin.returncode == 1 and "FAILED (1 new; leak.admin)" in admin.stdout


def test_tutorial_shows_the_demo_output_it_documents() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    assert "cd examples/regression_demo" in text
    assert (
        REGRESSION_LINE.split("  #")[0]
        in (EXAMPLES / "regression_demo" / "leaky_packer.py").read_text()
    )
    for line in (
        "1. leak.field [leak] add_instance_fault_from_exc (packer layer)",
        "   field:     message",
        "   audience:  leak.tenant (a project's user who is no admin reads this field",
        "   personas:  admin, project_admin, project_manager, project_member, project_reader",
        "leak       add_instance_fault_from_exc packer         105  FAILED (2 new; leak.tenant)",
        "passed (1 noted, not failing)",
    ):
        assert line in text


# -- examples/custom_invariant ----------------------------------------------------


@needs_nova
def test_custom_invariant_catches_the_forks_leak_like_a_builtin(tmp_path: Path) -> None:
    """A conftest's own invariant runs in the suite, reports and baselines like a built-in."""
    fork = _copy("custom_invariant", tmp_path)
    args = [
        "--actionsec",
        "--actionsec-target=acme_packers",
        "--actionsec-seed=2",
        "--actionsec-examples=30",
        "-k",
        "acme",
    ]
    result = _run([*args, "--actionsec-report=r.json"], fork)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "acme.hostname [acme] pack_action_event_finish" in out
    assert "FAILED actionsec[acme-pack_action_event_finish-packer]" in out
    assert "FAILED actionsec[acme-pack_action_event_finish-boundary]" in out
    # the other helpers and nova's two sinks store or send no host name
    assert "5 passed" in out
    report = json.loads((fork / "r.json").read_text())
    found = {(v["invariant"], v["family"], v["layer"], v["field"]) for v in report["violations"]}
    assert found == {
        ("acme.hostname", "acme", "packer", "details"),
        ("acme.hostname", "acme", "boundary", "details"),
    }
    sarif = _run([*args, "--actionsec-report=r.sarif"], fork)
    assert sarif.returncode == 1
    rules = json.loads((fork / "r.sarif").read_text())["runs"][0]["tool"]["driver"]["rules"]
    assert "acme.hostname" in {r["id"] for r in rules}
    # accepted in a baseline, the finding no longer fails the run
    update = _run([*args, "--actionsec-baseline=b.json", "--actionsec-update-baseline"], fork)
    assert update.returncode == 0, update.stdout
    again = _run([*args, "--actionsec-baseline=b.json"], fork)
    assert again.returncode == 0, again.stdout
    assert "accepted (1 known)" in again.stdout


@needs_nova
def test_custom_invariant_passes_on_nova_itself(tmp_path: Path) -> None:
    fork = _copy("custom_invariant", tmp_path)
    result = _run(
        ["--actionsec", "--actionsec-seed=2", "--actionsec-examples=30", "-k", "acme"], fork
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout


def test_duplicate_invariant_id_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from pytest_actionsec import Finding, invariant\n"
        "@invariant('leak.field', statement='mine')\n"
        "def mine(obs):\n"
        "    return []\n",
        encoding="utf-8",
    )
    result = _run(["--actionsec", "--co"], tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [
        "ERROR: invariant id 'leak.field' registered twice: by "
        "pytest_actionsec.invariants.leak.leak_field and by conftest.mine"
    ]


# -- examples/custom_target -------------------------------------------------------


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_custom_target_passes_the_suite(tmp_path: Path, mode: str) -> None:
    target = _copy("custom_target", tmp_path)
    result = _run(
        [
            "--actionsec",
            f"--actionsec-mode={mode}",
            "--actionsec-examples=10",
            "--actionsec-seed=3",
        ],
        target,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "target=my_packers (ini actionsec_target)" in out
    assert "layers=packer,boundary (ini actionsec_layers)" in out
    assert "boundary=my_packers.serialize_args" in out
    assert "trusted=my_packers.SafeError" in out
    assert "fault=my_packers.add_instance_fault_from_exc" in out
    assert "notifier=my_packers.notify_about_instance_action" in out
    assert "56 passed" in out


def test_custom_target_regression_is_caught(tmp_path: Path) -> None:
    """The same module with the CVE-2019-14433 fallback fails the leak property."""
    target = _copy("custom_target", tmp_path)
    module = target / "my_packers.py"
    source = module.read_text(encoding="utf-8")
    safe = "message = type(exc_val).__name__  # never str(exc_val): CVE-2019-14433"
    assert safe in source
    module.write_text(source.replace(safe, "message = str(exc_val)"), encoding="utf-8")
    result = _run(
        [
            "--actionsec",
            "--actionsec-layers=packer",
            "--actionsec-seed=1",
            "--actionsec-examples=40",
            "-k",
            "leak and pack_action_event_finish",
        ],
        target,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "leak.field" in result.stdout


# -- examples/nova_fork -------------------------------------------------------------


@needs_nova
def test_nova_fork_tests_pass_against_real_nova(tmp_path: Path) -> None:
    fork = _copy("nova_fork", tmp_path)
    # test_actionsec_nova_base.py runs on nova's own test base, which needs nova's test
    # requirements and tree: tests/test_nova_checkout.py runs it there, under stestr
    result = _run(["-m", "actionsec", "-rxs", "--ignore=test_actionsec_nova_base.py"], fork)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"\b8 passed, 1 xfailed\b", out), out
    assert "integrity.details" in out  # the xfail reason names the known finding


def test_nova_fork_uses_every_fixture_and_the_marker() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (EXAMPLES / "nova_fork").glob("*.py"))
    for name in plugin.FIXTURES:
        assert name in text, name
    assert "@pytest.mark.actionsec(" in text
    assert "pytest-actionsec" in (EXAMPLES / "nova_fork" / "test-requirements.txt").read_text()


# -- examples/ci --------------------------------------------------------------------


def _tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(EXAMPLES / "ci" / "tox.ini", encoding="utf-8")
    return parser


def _tox_commands(
    toxinidir: Path,
    envtmpdir: Path,
    mode: str,
    posargs: list[str],
    env: str = "actionsec",
    **values: str,
) -> list[list[str]]:
    """An env's commands with tox's substitutions done (``values``: ``{env:NAME:...}``)."""
    out = []
    given = {"ACTIONSEC_MODE": mode, **values}
    for line in _tox()[f"testenv:{env}"]["commands"].strip().splitlines():
        text = re.sub(
            r"\{env:([A-Z_]+):([^}]*)\}",
            lambda m: given.get(m.group(1), m.group(2)),
            line.strip(),
        )
        text = text.replace("{toxinidir}", str(toxinidir)).replace("{envtmpdir}", str(envtmpdir))
        words = shlex.split(text.replace("{posargs}", ""))
        assert "{" not in " ".join(words), words
        out.append(words + posargs)
    return out


def _tox_command(toxinidir: Path, envtmpdir: Path, mode: str, posargs: list[str]) -> list[str]:
    """[testenv:actionsec] commands with tox's substitutions done."""
    (words,) = _tox_commands(toxinidir, envtmpdir, mode, posargs)
    return words


def test_ci_tox_env_is_well_formed() -> None:
    env = _tox()["testenv:actionsec"]
    assert "pytest-actionsec" in env["deps"] and "pytest-xdist" in env["deps"]
    assert "HYPOTHESIS_STORAGE_DIRECTORY = {toxinidir}/.hypothesis" in env["setenv"]
    # from the checkout's root (no changedir): --actionsec collects no nova unit tree
    assert "changedir" not in env
    assert "-r{toxinidir}/test-requirements.txt" in env["deps"]  # nova's kept
    words = _tox_command(Path("/r"), Path("/t"), "contract", [])
    assert words[:2] == ["pytest", "-p"] and "-n" in words and "--actionsec" in words
    assert _options_in(env["commands"]) <= KNOWN_OPTIONS


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_ci_baselines_load_and_name_known_findings(mode: str) -> None:
    path = EXAMPLES / "ci" / f"actionsec-baseline-{mode}.json"
    baseline = Baseline.load(path)
    assert baseline.accepted
    data = json.loads(path.read_text(encoding="utf-8"))
    history = {i.id for i in HISTORY_INVARIANTS}  # the history machine's, its own registry
    for entry in data["accepted"]:
        assert entry["invariant"] in INVARIANTS or entry["invariant"] in history
        assert entry["function"] in (*FUNCTIONS, HISTORY_FUNCTION)
        assert entry["layer"] in (*plugin.KNOWN_LAYERS, "*")
    # The finding every contract run of nova 34 makes (falsy exceptions) is accepted.
    assert baseline.accepts(
        {
            "invariant": "integrity.details",
            "function": "pack_action_event_finish",
            "layer": "packer",
            "field": "details",
        }
    )
    # nova's exception text in a code-500 fault's details is accepted for admins only:
    # the same field reaching a project member would fail the run
    fault_details = {
        "invariant": "leak.field",
        "function": "add_instance_fault_from_exc",
        "layer": "api",
        "field": "details",
    }
    assert baseline.accepts({**fault_details, "severity": "admin"})
    assert not baseline.accepts({**fault_details, "severity": "tenant"})


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_ci_baselines_have_the_granularity_make_baselines_gives(mode: str) -> None:
    """Leaks on their field and audience; every other finding on any field (the field
    it shows in depends on the seed), for this mode and nova only."""
    path = EXAMPLES / "ci" / f"actionsec-baseline-{mode}.json"
    entries = json.loads(path.read_text(encoding="utf-8"))["accepted"]
    for entry in entries:
        assert entry["mode"] == mode and entry["target"] == plugin.DEFAULT_TARGET, entry
        if entry["invariant"].startswith("leak."):
            assert entry["field"] not in (None, "*") and entry["severity"], entry
        else:
            assert entry["field"] == "*", entry
    other = "hostile" if mode == "contract" else "contract"
    finding = {k: entries[0][k] for k in ("invariant", "function", "layer")}
    finding["field"] = "details" if finding["invariant"].startswith("leak.") else "x"
    if finding["layer"] == "*":
        finding["layer"] = "api"
    baseline = Baseline.load(path)
    assert baseline.scoped(mode, plugin.DEFAULT_TARGET).accepts(finding)
    assert not baseline.scoped(other, plugin.DEFAULT_TARGET).accepts(finding)


@needs_nova
def test_ci_hostile_baseline_holds_for_a_seed_the_old_one_failed(tmp_path: Path) -> None:
    """Seed 2552942767 drew request_id for type.field and a context without request_id at
    the store layer: the one-seed baseline failed it (benchmarks/baseline_holds.py runs
    random seeds, all helpers)."""
    result = _run(
        [
            "--actionsec",
            "--actionsec-mode=hostile",
            "--actionsec-seed=2552942767",
            "--actionsec-layers=packer,store",
            "-k",
            "pack_action_finish",
            f"--actionsec-baseline={EXAMPLES / 'ci' / 'actionsec-baseline-hostile.json'}",
            "--actionsec-report=r.json",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["violations"] and all(
        v["accepted"] or v.get("noted") for v in report["violations"]
    )
    assert "actionsec: warning" not in result.stdout


def test_ci_workflow_runs_the_tox_env_nightly_with_a_shared_database() -> None:
    text = (EXAMPLES / "ci" / "actionsec-nightly.yml").read_text(encoding="utf-8")
    for needle in (
        "schedule:",
        "cron:",
        "actions/cache@",
        "path: .hypothesis",
        "tox -e actionsec",
        "ACTIONSEC_MODE: ${{ matrix.mode }}",
        "mode: [contract, hostile]",
        "actionsec-report-${{ matrix.mode }}.json",
    ):
        assert needle in text, needle
    yaml = pytest.importorskip("yaml")  # PyYAML comes with nova; not a dependency
    data = yaml.safe_load(text)
    on = data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["schedule"][0]["cron"]
    steps = data["jobs"]["actionsec"]["steps"]
    assert any(step.get("run") == "tox -e actionsec" for step in steps)


def test_ci_zuul_job_runs_the_tox_env() -> None:
    text = (EXAMPLES / "ci" / "zuul.yaml").read_text(encoding="utf-8")
    assert "parent: openstack-tox" in text and "tox_envlist: actionsec" in text
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(text)
    jobs = {item["job"]["name"]: item["job"] for item in data if "job" in item}
    assert jobs["nova-actionsec"]["vars"]["tox_envlist"] == "actionsec"
    project = next(item["project"] for item in data if "project" in item)
    assert set(project["periodic"]["jobs"]) == set(jobs)


@needs_nova
def test_ci_tox_command_runs_and_the_baseline_accepts_known_findings(tmp_path: Path) -> None:
    """The tox env's exact command (shortened by posargs) against real nova, with xdist."""
    toxinidir = _copy("ci", tmp_path)
    envtmpdir = tmp_path / "envtmp"
    envtmpdir.mkdir()
    words = _tox_command(
        toxinidir,
        envtmpdir,
        "contract",
        [
            "-n",
            "2",
            "--actionsec-seed=2",
            "--actionsec-examples=25",
            "-k",
            "integrity and pack_action_event_finish and packer",
        ],
    )
    assert words[0] == "pytest"
    result = _run(
        words[1:],
        toxinidir,  # tox runs it in {toxinidir}, the checkout's root
        HYPOTHESIS_STORAGE_DIRECTORY=str(toxinidir / ".hypothesis"),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # nova's falsy-exception finding (integrity.details) is found and accepted
    assert re.search(
        r"integrity +pack_action_event_finish +packer +\d+ .*\b1 (accepted|known)", out
    )
    assert "0 new violation(s)" in out
    report = json.loads((toxinidir / "actionsec-report-contract.json").read_text())
    assert report["violations"] and all(v["accepted"] for v in report["violations"])
    assert (toxinidir / ".hypothesis").is_dir()  # the shared example database


def test_ci_nightly_and_fuzz_envs_are_well_formed() -> None:
    tox = _tox()
    nightly, fuzz = tox["testenv:actionsec-nightly"], tox["testenv:actionsec-fuzz"]
    for env in (nightly, fuzz):
        assert env["setenv"].strip() == "{[testenv:actionsec]setenv}"
        assert _options_in(env["commands"]) <= KNOWN_OPTIONS
    assert "changedir" not in nightly  # the checkout's root, as the actionsec env
    assert fuzz["changedir"].strip() == "{envtmpdir}"  # HypoFuzz collects --pyargs only
    assert "ACTIONSEC_BUDGET" in nightly["passenv"]
    (words,) = _tox_commands(Path("/r"), Path("/t"), "contract", [], "actionsec-nightly")
    assert "--actionsec-budget=20m" in words and "-n" in words
    assert "pytest-actionsec[fuzz]" in fuzz["deps"]
    campaign, replay = _tox_commands(Path("/r"), Path("/t"), "contract", [], "actionsec-fuzz")
    assert campaign[:5] == ["-", "timeout", "--signal=INT", "--kill-after=30s", "60m"]
    assert campaign[5:8] == ["hypothesis", "fuzz", "--no-dashboard"]
    assert campaign[-4:-2] == ["--pyargs", "pytest_actionsec.fuzz"]
    assert replay[0] == "pytest" and "--actionsec" in replay
    assert any(w.startswith("--actionsec-budget=") for w in replay)


def test_ci_workflow_has_a_budget_job_and_a_fuzz_job() -> None:
    text = (EXAMPLES / "ci" / "actionsec-nightly.yml").read_text(encoding="utf-8")
    yaml = pytest.importorskip("yaml")
    jobs = yaml.safe_load(text)["jobs"]
    budget_runs = [s for s in jobs["nightly-budget"]["steps"] if "run" in s]
    assert budget_runs[-1]["run"] == "tox -e actionsec-nightly"
    assert budget_runs[-1]["env"]["ACTIONSEC_BUDGET"]
    fuzz_runs = [s for s in jobs["fuzz"]["steps"] if "run" in s]
    assert fuzz_runs[-1]["run"] == "tox -e actionsec-fuzz"
    assert fuzz_runs[-1]["env"]["ACTIONSEC_FUZZ_TIME"]
    for name in ("nightly-budget", "fuzz"):
        cached = [s for s in jobs[name]["steps"] if "actions/cache" in s.get("uses", "")]
        assert cached and cached[0]["with"]["path"] == ".hypothesis"
    assert "non-commercial" in text


@needs_nova
def test_ci_nightly_command_runs_with_a_tiny_budget(tmp_path: Path) -> None:
    """The nightly env's exact command with a 2 s budget against real nova."""
    toxinidir = _copy("ci", tmp_path)
    envtmpdir = tmp_path / "envtmp"
    envtmpdir.mkdir()
    (words,) = _tox_commands(
        toxinidir,
        envtmpdir,
        "contract",
        ["-n", "2", "--actionsec-seed=2", "--actionsec-layers=packer", "-k", "integrity"],
        "actionsec-nightly",
        ACTIONSEC_BUDGET="2s",
    )
    result = _run(words[1:], envtmpdir, HYPOTHESIS_STORAGE_DIRECTORY=str(toxinidir / ".hypothesis"))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "budget" in out and "0 new violation(s)" in out
    report = json.loads((toxinidir / "actionsec-report-contract.json").read_text())
    assert report["violations"] and all(v["accepted"] for v in report["violations"])


@needs_nova
def test_ci_fuzz_commands_run_with_a_tiny_campaign(tmp_path: Path) -> None:
    """The fuzz env: HypoFuzz for 20 s (only when installed), then its replay command."""
    toxinidir = _copy("ci", tmp_path)
    envtmpdir = tmp_path / "envtmp"
    envtmpdir.mkdir()
    campaign, replay = _tox_commands(
        toxinidir,
        envtmpdir,
        "contract",
        [],
        "actionsec-fuzz",
        ACTIONSEC_FUZZ_TIME="20s",
    )
    database = str(toxinidir / ".hypothesis")
    if importlib.util.find_spec("hypofuzz") is not None:
        assert campaign[0] == "-"
        env = dict(os.environ, HYPOTHESIS_STORAGE_DIRECTORY=database)
        command = campaign[1:]
        command[command.index("--no-dashboard") : 0] = ["-n", "1"]  # one core, before "--"
        subprocess.run(command, cwd=envtmpdir, env=env, capture_output=True, check=False)
        assert (toxinidir / ".hypothesis" / "examples").is_dir()
    replay += ["-n", "2", "--actionsec-seed=2", "--actionsec-layers=packer", "-k", "integrity"]
    replay = [w.replace("--actionsec-budget=5m", "--actionsec-budget=2s") for w in replay]
    result = _run(replay[1:], envtmpdir, HYPOTHESIS_STORAGE_DIRECTORY=database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 new violation(s)" in result.stdout
