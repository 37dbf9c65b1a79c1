"""The fault sink's resolution and capture, and what severity does to reports and baselines."""

from __future__ import annotations

import json
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
        *args[:2], "--actionsec-layers=packer", "--actionsec-examples=2", "-k", "leak", "-rs"
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
