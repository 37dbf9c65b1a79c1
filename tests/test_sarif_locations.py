"""Findings point at code: SARIF locations, crash raise sites, and one-line setting errors.

A SARIF result's location is the function the target really calls (nova's sink in
``nova/compute/utils.py``, not the plugin's capture wrapper), at its ``def`` line,
relative to the checkout (``uriBaseId``) when the file is the checkout's own source;
a crash also carries the file and line it was raised at. ``--help`` shows every
option's default, and a bad ``ACTIONSEC_*`` setting of the fuzz module is one line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import pytest_actionsec

pytest_plugins = ["pytester"]

#: the checkout whose pytest_actionsec is imported (also when run against another tree)
ROOT = Path(pytest_actionsec.__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
NOVA_UTILS = "nova/compute/utils.py"
SINK_RUN = [
    "--actionsec",
    "-p",
    "no:cacheprovider",
    "--actionsec-layers=packer",
    "--actionsec-examples=20",
    "--actionsec-seed=1",
    "-k",
    "add_instance_fault_from_exc and crash",
]

# A target of its own in the pytester folder: pack_action_start crashes on a known line.
OWN_TARGET = """\
from nova.objects.base import serialize_args  # noqa: F401
from nova.objects.instance_action import InstanceAction as _Nova
from nova.objects.instance_action import InstanceActionEvent  # noqa: F401


class InstanceAction:
    @staticmethod
    def pack_action_start(context, instance_uuid, action_name):
        values = {}
        return values["request_id"]  # the raise site

    pack_action_finish = staticmethod(_Nova.pack_action_finish)
"""


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def _nova_utils() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nova")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "compute" / "utils.py"


def _run(pytester: pytest.Pytester, *args: str) -> Any:
    old = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), old]))
    try:
        return pytester.runpytest_subprocess(*args, timeout=300)
    finally:
        os.environ["PYTHONPATH"] = old


def _valid_sarif(sarif: dict[str, Any]) -> None:
    from jsonschema import Draft4Validator

    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert [e.message for e in Draft4Validator(schema).iter_errors(sarif)] == []


def _uri_path(uri: str) -> str:
    return uri.removeprefix("file://")


def test_the_fault_sinks_sarif_location_is_nova_compute_utils_at_its_def_line(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, *SINK_RUN, "--actionsec-report=r.sarif")
    assert result.ret == 1, result.stdout.str()[-2000:]
    sarif = json.loads((pytester.path / "r.sarif").read_text(encoding="utf-8"))
    _valid_sarif(sarif)
    utils = _nova_utils()
    results = sarif["runs"][0]["results"]
    assert results
    for found in results:
        location = found["locations"][0]
        logical = location["logicalLocations"][0]["fullyQualifiedName"]
        assert logical == "nova.compute.utils.add_instance_fault_from_exc"
        physical = location["physicalLocation"]
        # nova is installed (site-packages): outside the checkout, an absolute file:// URI
        assert physical["artifactLocation"]["uri"] == utils.resolve().as_uri()
        assert _uri_path(physical["artifactLocation"]["uri"]).endswith(NOVA_UTILS)
        assert physical["region"]["startLine"] == _line_of(
            utils, "def add_instance_fault_from_exc("
        )
    # nova 34's kwargs crash: raised by exception_to_dict's fault.kwargs.get(...)
    crash = next(r for r in results if r["ruleId"] == "crash.contract")
    raised = crash["relatedLocations"][0]["physicalLocation"]
    assert raised["artifactLocation"]["uri"] == utils.resolve().as_uri()
    assert raised["region"]["startLine"] == _line_of(utils, "code = fault.kwargs.get('code'")
    assert "exception_to_dict" in crash["relatedLocations"][0]["message"]["text"]


def test_a_crash_carries_its_raise_site_in_the_json_report_and_the_failure_text(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, *SINK_RUN, "--actionsec-report=r.json")
    assert result.ret == 1
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    utils = _nova_utils().resolve()
    line = _line_of(utils, "code = fault.kwargs.get('code'")
    crash = next(v for v in report["violations"] if v["invariant"] == "crash.contract")
    assert crash["location"] == {"path": str(utils), "line": line, "name": "exception_to_dict"}
    assert report["functions"]["add_instance_fault_from_exc"]["path"] == str(utils)
    assert f"at:        {utils}:{line}" in result.stdout.str()
    from jsonschema import Draft202012Validator

    text = (ROOT / "pytest_actionsec" / "report.schema.json").read_text(encoding="utf-8")
    assert list(Draft202012Validator(json.loads(text)).iter_errors(report)) == []


def test_a_target_in_the_checkout_gets_relative_uris_under_srcroot(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(own_target=OWN_TARGET)
    pytester.makeini("[pytest]\n")
    result = _run(
        pytester,
        "--actionsec",
        "-p",
        "no:cacheprovider",
        "--actionsec-target=own_target",
        "--actionsec-layers=packer",
        "--actionsec-examples=3",
        "--actionsec-seed=1",
        "-k",
        "crash and pack_action_start",
        "--actionsec-report=r.sarif",
    )
    assert result.ret == 1, result.stdout.str()[-2000:]
    sarif = json.loads((pytester.path / "r.sarif").read_text(encoding="utf-8"))
    _valid_sarif(sarif)
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"] == {
        "%SRCROOT%": {"uri": pytester.path.resolve().as_uri() + "/"}
    }
    (found,) = run["results"]
    file = pytester.path / "own_target.py"
    location = found["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "own_target.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": _line_of(file, "def pack_action_start(")},
    }
    qualified = location["logicalLocations"][0]["fullyQualifiedName"]
    assert qualified == "own_target.InstanceAction.pack_action_start"
    assert found["relatedLocations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "own_target.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": _line_of(file, "# the raise site")},
    }


def test_the_checkout_is_the_git_work_tree_above_the_rootdir(tmp_path: Path) -> None:
    from pytest_actionsec.locations import relative_path, source_root

    (tmp_path / "sub").mkdir()
    assert source_root(tmp_path / "sub") == (tmp_path / "sub").resolve()  # no git: the rootdir
    (tmp_path / ".git").write_text("gitdir: /elsewhere\n")  # a worktree's .git is a file
    assert source_root(tmp_path / "sub") == tmp_path.resolve()
    assert relative_path(tmp_path / "sub" / "m.py", tmp_path) == "sub/m.py"
    installed = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "nova" / "x.py"
    assert relative_path(installed, tmp_path) is None  # installed code, even inside
    assert relative_path("/elsewhere/m.py", tmp_path) is None


def test_definitions_are_the_functions_the_target_calls() -> None:
    from pytest_actionsec.targets import resolve_target

    target = resolve_target()
    sink = target.definition("add_instance_fault_from_exc")
    assert sink is not None
    assert sink.name == "nova.compute.utils.add_instance_fault_from_exc"
    assert sink.line == _line_of(_nova_utils(), "def add_instance_fault_from_exc(")
    start = target.definition("pack_action_start")
    assert start is not None
    assert start.name == "nova.objects.instance_action.InstanceAction.pack_action_start"
    source = Path(start.path)
    assert source.name == "instance_action.py"
    # the def line, not its @staticmethod line
    assert source.read_text().splitlines()[start.line - 1].lstrip().startswith("def ")


def test_a_captured_crash_keeps_its_site_not_its_traceback() -> None:
    from pytest_actionsec.checks import Checker, format_violations
    from pytest_actionsec.targets import PlainContext, resolve_target

    checker = Checker(resolve_target("tests.robust_targets.raises"))
    outcome = checker.run("pack_action_start", PlainContext(), "uuid", "create")
    assert isinstance(outcome.error, RuntimeError)
    assert outcome.error.__traceback__ is None  # no frames (and their locals) kept alive
    (crash,) = [v for v in outcome.violations if v.invariant == "crash.contract"]
    file = ROOT / "tests" / "robust_targets" / "raises.py"
    assert crash.location is not None
    assert (crash.location.path, crash.location.line) == (
        str(file),
        _line_of(file, 'raise RuntimeError("database on fire")'),
    )
    assert f"   at:        {file}:{crash.location.line}" in format_violations([crash]).splitlines()


def test_help_shows_every_options_default(pytester: pytest.Pytester) -> None:
    from pytest_actionsec import config

    texts: dict[str, str] = {}
    option = ""
    for line in _run(pytester, "-p", "no:cacheprovider", "--help").stdout.lines:
        start = re.match(r"  (-[-\w]+)(=\w+)?( |$)", line)
        if start:  # an option's first line; its text goes on in lines indented further
            option = start.group(1)
            line = line[start.end() :]
        elif not line.startswith("    "):
            option = ""
        if option:
            texts[option] = f"{texts.get(option, '')} {line.strip()}".strip()
    assert "(default: contract)" in texts["--actionsec-mode"]
    assert "(default: 10)" in texts["--actionsec-timeout"]
    assert "(default: stored)" in texts["--actionsec-min-severity"]
    assert "(default: 100)" in texts["--actionsec-examples"]
    assert "(default: packer,boundary,store,api)" in texts["--actionsec-layers"]
    for entry in config.OPTIONS:
        assert "(default: " in texts[entry.flag], entry.flag


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ACTIONSEC_MODE": "bogus"}, "ACTIONSEC_MODE must be one of contract, hostile"),
        ({"ACTIONSEC_LAYERS": "x"}, "ACTIONSEC_LAYERS must be a comma-separated list"),
        ({"ACTIONSEC_TIMEOUT": "-1"}, "ACTIONSEC_TIMEOUT must be a number of seconds"),
        ({"ACTIONSEC_TIMEOUT": "soon"}, "ACTIONSEC_TIMEOUT must be a number of seconds"),
        ({"ACTIONSEC_TARGET": "no.such.module"}, "ACTIONSEC_TARGET: target 'no.such.module'"),
        ({"ACTIONSEC_TRUSTED": "no.Such"}, "ACTIONSEC_TRUSTED: trusted exception 'no.Such'"),
        ({"ACTIONSEC_SINK": "no_such_pkg.f"}, "ACTIONSEC_SINK: sink 'no_such_pkg.f': no module"),
        (
            {"ACTIONSEC_BOUNDARY": "tests.targets.renamed_sink.NOT_CALLABLE"},
            "ACTIONSEC_BOUNDARY: boundary 'tests.targets.renamed_sink.NOT_CALLABLE': is not",
        ),
        (
            {"ACTIONSEC_LAYERS": "packer,store", "ACTIONSEC_STORE": "bogus://x"},
            "ACTIONSEC_STORE: bad database URL",
        ),
    ],
)
def test_a_bad_fuzz_setting_is_one_line(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    message: str,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = _run(pytester, "-p", "no:cacheprovider", "--pyargs", "pytest_actionsec.fuzz", "--co")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out[-2000:]  # a collection error
    shown = [line for line in out.splitlines() if message in line]
    assert shown and shown[0].startswith(f"pytest_actionsec.fuzz: {message}"), out[-2000:]
    assert "fuzz.py" not in out and "Traceback" not in out  # no frames: the one line


def _parse_broken_json() -> None:
    json.loads("{")  # the line blamed: json's own frames are not the code under test


def test_the_raise_site_is_the_innermost_line_of_the_code_under_test() -> None:
    from pytest_actionsec.locations import raise_site

    with pytest.raises(ValueError) as info:
        _parse_broken_json()
    ours = raise_site(info.value, {__name__.partition(".")[0]})
    assert ours is not None
    assert (ours.path, ours.line, ours.name) == (
        str(Path(__file__).resolve()),
        _line_of(Path(__file__), 'json.loads("{")  # the line blamed'),
        "_parse_broken_json",
    )
    innermost = raise_site(info.value)  # no package named: the innermost frame (json's)
    assert innermost is not None and Path(innermost.path).parent.name == "json"
