"""The fault sink's resolution and capture, and what severity does to reports and baselines."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.faults import FAULT_FIELDS, capturing, find_fault_sink
from pytest_actionsec.report import Baseline, BaselineError, to_sarif, write_baseline
from pytest_actionsec.specs import make_instance
from pytest_actionsec.targets import FAULT_SINK, TargetError, resolve_target

pytest.importorskip("nova")

UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"


# ---------------------------------------------------------------------------
# Where the sink comes from.


def test_the_target_modules_own_sink_is_used() -> None:
    target = resolve_target("tests.zoo.safe")
    assert target.fault_origin == "tests.zoo.safe.add_instance_fault_from_exc"
    assert FAULT_SINK in target.helpers and not target.notes


def test_without_its_own_sink_a_target_gets_novas() -> None:
    target = resolve_target("tests.targets.module_level")
    assert target.fault_origin == "nova.compute.utils.add_instance_fault_from_exc"
    assert FAULT_SINK in target.helpers


def test_without_a_sink_and_without_nova_the_fault_properties_are_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nova.compute.utils made unimportable for this call (a fork without it)
    monkeypatch.setitem(sys.modules, "nova.compute.utils", None)
    sink, origin, note = find_fault_sink(types.ModuleType("bare"), "bare")
    assert sink is None and origin == "none"
    assert note.startswith("fault properties skipped: the target defines no ")
    assert "\n" not in note


def test_a_sink_with_the_wrong_signature_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "odd_sink.py").write_text(
        "from tests.zoo.safe import InstanceAction, InstanceActionEvent  # noqa: F401\n"
        "def add_instance_fault_from_exc(context, fault):\n"
        "    pass\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TargetError) as info:
        resolve_target("odd_sink")
    message = str(info.value)
    assert "add_instance_fault_from_exc(context, fault)" in message and "\n" not in message


def test_the_plugin_header_names_the_sink_and_its_note(pytester: pytest.Pytester) -> None:
    args = ("--actionsec", "--actionsec-target=tests.targets.module_level", "--co")
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["*fault=nova.compute.utils.add_instance_fault_from_exc*"])
    # a fork without nova's sink: the header says so and the sink's items are skipped
    pytester.makeconftest("import sys\nsys.modules['nova.compute.utils'] = None\n")
    result = pytester.runpytest(
        *args[:2],
        "--actionsec-layers=packer",
        "--actionsec-examples=2",
        "-k",
        "leak and not notify",  # the notification sink is another function (its own tests)
        "-rs",
    )
    result.stdout.fnmatch_lines(
        [
            "*fault=none*",
            "actionsec: note: fault properties skipped: the target defines no "
            "add_instance_fault_from_exc and nova.compute.utils is not importable",
            "*SKIPPED*fault properties skipped*",
        ]
    )
    result.assert_outcomes(passed=4, skipped=1)


# ---------------------------------------------------------------------------
# What the capture returns.


def _nova_sink() -> Any:
    from nova.compute import utils

    return capturing(utils.add_instance_fault_from_exc)


def _context() -> Any:
    return resolve_target().make_context(
        user_id="u-1", project_id="p-1", request_id="req-1", is_admin=False
    )


def test_capture_returns_what_create_would_write() -> None:
    sink = _nova_sink()
    try:
        raise ValueError("db password hunter2")
    except ValueError as exc:
        record = sink(_context(), make_instance(UUID), exc, sys.exc_info())
    assert record is not None and set(record) == set(FAULT_FIELDS)
    assert record["instance_uuid"] == UUID and record["code"] == 500
    assert record["message"] == "ValueError"  # nova 34: the class name, not the text
    assert "hunter2" in record["details"]  # nova 34: the whole traceback at code 500


def test_capture_of_a_sink_that_records_nothing_is_none() -> None:
    assert capturing(lambda *args, **kwargs: None)(None, None, None) is None


def test_capture_raises_what_the_sink_raises() -> None:
    error = ValueError("x")
    error.kwargs = ["not", "a", "dict"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _nova_sink()(_context(), make_instance(UUID), error)


# ---------------------------------------------------------------------------
# Severity in baselines and SARIF.


def _finding(severity: str | None, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "invariant": "leak.field",
        "family": "leak",
        "function": FAULT_SINK,
        "layer": "packer",
        "field": "details",
        "evidence": "canary found in details",
        "input": "...",
        "property": f"leak-{FAULT_SINK}-packer",
    }
    if severity:
        out["severity"] = severity
    out.update(changes)
    return out


def test_a_baseline_entry_accepts_its_severity_and_lower_only(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    assert write_baseline(path, [_finding("stored"), _finding("admin")]) == 1
    (entry,) = json.loads(path.read_text())["accepted"]
    assert entry["severity"] == "admin"  # the widest audience seen
    baseline = Baseline.load(path)
    assert baseline.accepts(_finding("admin")) and baseline.accepts(_finding("stored"))
    assert not baseline.accepts(_finding("tenant"))  # the same field reaching a tenant


def test_a_baseline_entry_without_severity_accepts_every_audience(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    entry = {k: v for k, v in _finding(None).items() if k in ("invariant", "function", "layer")}
    path.write_text(json.dumps({"version": 1, "accepted": [{**entry, "field": "details"}]}))
    assert Baseline.load(path).accepts(_finding("tenant"))
    write_baseline(path, [_finding("admin"), _finding(None)])
    (written,) = json.loads(path.read_text())["accepted"]
    assert "severity" not in written


def test_a_baseline_with_an_unknown_severity_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"accepted": [_finding("everyone")]}))
    with pytest.raises(BaselineError) as info:
        Baseline.load(path)
    assert "severity 'everyone'" in str(info.value) and "\n" not in str(info.value)


def test_sarif_level_and_security_severity_follow_the_audience() -> None:
    findings = [
        _finding("tenant", field="message"),
        _finding("admin"),
        _finding("stored", field="host"),
        _finding("tenant", field="message", accepted=True, layer="store"),
        {**_finding(None), "invariant": "crash.contract", "family": "crash", "field": None},
    ]
    report = {"target": "nova.objects.instance_action", "mode": "contract", "seed": 1}
    report |= {"examples_per_property": 1, "violations": findings}
    results = to_sarif(report, tool_version="0")["runs"][0]["results"]
    seen = [(r["level"], r["properties"].get("security-severity")) for r in results]
    assert seen == [
        ("error", "8.5"),
        ("warning", "5.0"),
        ("note", "3.0"),
        ("note", "8.5"),  # accepted: a note, its score kept
        ("error", None),
    ]


# ---------------------------------------------------------------------------
# --actionsec-sink and --actionsec-boundary in a run; nova's fallbacks named.

_RENAMED = "tests.targets.renamed_sink"
_ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def root_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest subprocess imports this repository's ``tests`` package (the fixtures)."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
    )


_FAST = ("--actionsec", "-p", "no:cacheprovider", "--actionsec-examples=3", "--actionsec-seed=1")


def test_none_skips_the_sink_and_the_boundary_with_the_option_named(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(
        *_FAST,
        "--actionsec-target=tests.targets.module_level",
        "--actionsec-sink=none",
        "--actionsec-boundary=none",
        "--actionsec-layers=packer,boundary",
        "-k",
        "leak and (fault or event_finish)",
        "-rs",
    )
    result.stdout.fnmatch_lines(
        [
            "*sink=none (--actionsec-sink), boundary=none (--actionsec-boundary)*",
        ]
    )
    skipped = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    assert sorted(line.partition(": ")[2] for line in skipped) == [
        "boundary properties skipped: turned off by --actionsec-boundary=none",
        "fault properties skipped: turned off by --actionsec-sink=none",
    ]
    result.assert_outcomes(passed=1, skipped=2)  # event finish packed directly still runs
    assert "fallback" not in result.stdout.str()


def test_a_sink_named_in_the_ini_file_is_fuzzed_and_replayed_with(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        "[pytest]\n"
        f"actionsec_sink = {_RENAMED}.Faults.add_server_fault_from_exc\n"
        f"actionsec_boundary = {_RENAMED}.remotable_args\n"
    )
    result = pytester.runpytest(
        *_FAST, f"--actionsec-target={_RENAMED}", "--actionsec-layers=packer", "-k", "fault", "-q"
    )
    out = result.stdout.str()
    # judged as the sink: its own code 500 for a Nova exception's 400 (the probe's)
    result.assert_outcomes(passed=7, failed=1)
    assert "integrity.code [integrity] add_instance_fault_from_exc (packer layer)" in out
    assert "replay.call(Faults.add_server_fault_from_exc, context," in out
    assert (
        f"fault={_RENAMED}.Faults.add_server_fault_from_exc"
        in pytester.runpytest(*_FAST, f"--actionsec-target={_RENAMED}", "--co").stdout.str()
    )
    assert f"--actionsec-sink={_RENAMED}.Faults.add_server_fault_from_exc" in out  # replay
    assert f"--actionsec-boundary={_RENAMED}.remotable_args" in out
    assert "fallback" not in out


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--actionsec-sink=actionsec_no_such_pkg.f"],
            "",
            "ERROR: --actionsec-sink: sink 'actionsec_no_such_pkg.f': no module named "
            "'actionsec_no_such_pkg'",
        ),
        (
            [],
            f"actionsec_boundary = {_RENAMED}.NOT_CALLABLE",
            f"ERROR: ini actionsec_boundary: boundary '{_RENAMED}.NOT_CALLABLE': is not "
            "callable (int)",
        ),
    ],
)
def test_a_bad_sink_or_boundary_is_a_one_line_usage_error(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str, root_on_path: None
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest_subprocess(
        "--actionsec", "--actionsec-target=tests.targets.module_level", *args
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([message])


def test_a_malformed_sink_path_is_refused_by_the_parser(
    pytester: pytest.Pytester, root_on_path: None
) -> None:
    result = pytester.runpytest_subprocess("--actionsec", "--actionsec-sink=nodots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--actionsec-sink: must be a dotted path pkg.mod.func or none*"])


def test_every_problem_of_a_target_is_one_usage_error(
    pytester: pytest.Pytester, root_on_path: None
) -> None:
    result = pytester.runpytest_subprocess(
        "--actionsec", "--actionsec-target=tests.targets.many_problems"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors[0] == "ERROR: target 'tests.targets.many_problems' cannot be used (4 problems):"
    starts = ("pack_action_start(", "no pack_action_finish", "pack_action_event_finish(")
    starts += ("add_instance_fault_from_exc(context, fault) does not accept",)
    assert len(errors) == 5
    assert all(
        line.startswith(f"  - {start}") for line, start in zip(errors[1:], starts, strict=True)
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_novas_fallbacks_are_named_in_the_summary_the_report_and_each_finding(
    pytester: pytest.Pytester,
) -> None:
    from jsonschema import Draft202012Validator

    result = pytester.runpytest(
        *_FAST,
        "--actionsec-target=tests.targets.module_level",
        "--actionsec-layers=packer,boundary",
        "--actionsec-report=r.json",
        "-k",
        "leak and fault or integrity and event_finish",
        "-q",
    )
    out = result.stdout.str()
    for line in (
        "actionsec: fallback: the target has no fault sink of its own; nova's "
        "nova.compute.utils.add_instance_fault_from_exc was fuzzed in its place (choose "
        "with --actionsec-sink=DOTTED or --actionsec-sink=none)",
        "actionsec: fallback: the target has no RPC boundary of its own; nova's "
        "nova.objects.base.serialize_args was fuzzed in its place (choose with "
        "--actionsec-boundary=DOTTED or --actionsec-boundary=none)",
        # the failure of nova's sink (CVE-2019-14433: its message leaks)
        "via: through nova's fault sink (fallback): nova.compute.utils.add_instance_fault_from_exc",
    ):
        assert line in out.splitlines(), out[-3000:]
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    schema = json.loads(
        (Path(__file__).parents[1] / "pytest_actionsec" / "report.schema.json").read_text()
    )
    assert list(Draft202012Validator(schema).iter_errors(report)) == []
    assert report["fallbacks"] == {
        "boundary": "nova.objects.base.serialize_args",
        "sink": "nova.compute.utils.add_instance_fault_from_exc",
    }
    by_via = {(v["function"], v["layer"]): v.get("via") for v in report["violations"]}
    assert by_via[("add_instance_fault_from_exc", "packer")] == (
        "through nova's fault sink (fallback): nova.compute.utils.add_instance_fault_from_exc"
    )
    assert by_via.get(("pack_action_event_finish", "packer"), "none") in (None, "none")
    boundary = by_via.get(("pack_action_event_finish", "boundary"))
    assert boundary in (
        None,
        "through nova's RPC boundary (fallback): nova.objects.base.serialize_args",
    )
    assert not Draft202012Validator(schema).is_valid({**report, "fallbacks": {"other": "x"}})


def test_a_target_with_its_own_sink_and_boundary_reports_no_fallback(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(
        *_FAST,
        "--actionsec-target=tests.zoo.safe",
        "--actionsec-layers=packer",
        "--actionsec-report=r.json",
        "-k",
        "leak and fault",
        "-q",
    )
    assert "fallback" not in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    assert report["fallbacks"] == {} and not any("via" in v for v in report["violations"])
