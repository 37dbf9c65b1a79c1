"""The plugin as users run it: pytester runs of options, markers, fixtures, reports, xdist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# A target with the CVE-2019-14433 regression: str(exc) stored when format_message fails.
LEAKY = """
from oslo_utils import timeutils


def pack_action_start(context, instance_uuid, action_name):
    return {"request_id": context.request_id, "instance_uuid": instance_uuid,
            "user_id": context.user_id, "project_id": context.project_id,
            "action": action_name, "start_time": context.timestamp,
            "updated_at": context.timestamp}


def pack_action_finish(context, instance_uuid):
    now = timeutils.utcnow()
    return {"request_id": context.request_id, "instance_uuid": instance_uuid,
            "finish_time": now, "updated_at": now}


def pack_action_event_start(context, instance_uuid, event_name, host=None):
    return {"event": event_name, "instance_uuid": instance_uuid,
            "request_id": context.request_id, "start_time": timeutils.utcnow(), "host": host}


def pack_action_event_finish(context, instance_uuid, event_name, exc_val=None, exc_tb=None):
    values = {"event": event_name, "instance_uuid": instance_uuid,
              "request_id": context.request_id, "finish_time": timeutils.utcnow()}
    if exc_tb is None:
        values["result"] = "Success"
        return values
    values["result"] = "Error"
    values["traceback"] = exc_tb
    if isinstance(exc_val, str):
        message = exc_val
    else:
        try:
            message = exc_val.format_message()
        except Exception:
            message = str(exc_val)  # the regression
    values["details"] = message.encode("utf-8")[:255].decode("utf-8", "ignore")
    return values
"""

FAST = ["--actionsec-examples=20", "--actionsec-layers=packer", "--actionsec-seed=7"]


@pytest.fixture(scope="module", autouse=True)
def nova_imported_first() -> None:
    """Import nova before any in-process run (as tests/test_robustness.py does).

    pytester drops modules first imported inside an in-process run: a later nova would
    have new classes while strategies' caches keep the old NovaException.
    """
    import freezegun  # noqa: F401

    from pytest_actionsec.targets import resolve_target

    resolve_target()


@pytest.fixture
def leaky(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(leaky_target=LEAKY)
    pytester.syspathinsert()
    return "leaky_target"


def _items(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.strip().startswith("<ActionsecItem")]


def test_loading_unused_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, pytest_actionsec.plugin, pytest_actionsec;"
        "print(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('nova','freezegun','oslo_utils','oslo_versionedobjects',"
        "'hypothesis','sqlalchemy')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plain_run_with_plugin_installed_does_not_import_nova(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys
        def test_nothing_heavy():
            heavy = [m for m in sys.modules if m.split('.')[0] in ('nova', 'freezegun')]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_disable_with_p_no(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:actionsec", "--actionsec")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --actionsec*"])


def test_collects_one_item_per_property_helper_and_layer(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--actionsec", "--actionsec-layers=packer,boundary", "--co")
    names = _items(result)
    assert len(names) == 8 * 6 + 8  # four helpers and the two sinks, and the boundary
    assert any("actionsec[leak-pack_action_event_finish-boundary]" in n for n in names)
    assert any("actionsec[leak-add_instance_fault_from_exc-packer]" in n for n in names)
    assert result.ret == pytest.ExitCode.OK


def test_k_and_m_select_builtin_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_other():\n    pass\n")
    result = pytester.runpytest(
        "--actionsec", "--actionsec-layers=packer", "--co", "-k", "leak and event_finish"
    )
    assert len(_items(result)) == 1
    result = pytester.runpytest(
        "--actionsec", "--actionsec-layers=packer", "--co", "-m", "actionsec"
    )
    assert len(_items(result)) == 48
    assert "test_other" not in result.stdout.str()


def test_without_flag_no_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_other():\n    pass\n")
    result = pytester.runpytest("--co")
    assert _items(result) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--actionsec-mode=evil"], "*--actionsec-mode: must be one of contract, hostile*"),
        (["--actionsec-examples=0"], "*--actionsec-examples: must be a positive whole number*"),
        (["--actionsec-examples=many"], "*--actionsec-examples: must be a positive whole*"),
        (["--actionsec-seed=-3"], "*--actionsec-seed: must not be negative*"),
        (["--actionsec-layers=packer,db"], "*--actionsec-layers: must be a comma-separated*"),
        (["--actionsec-timeout=soon"], "*--actionsec-timeout: must be a number of seconds*"),
        (["--actionsec-target=a..b"], "*--actionsec-target: must be a dotted module path*"),
        (
            ["--actionsec-min-severity=loud"],
            "*--actionsec-min-severity: must be one of stored, admin, bus, tenant, got 'loud'*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest_subprocess("--actionsec", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (None, "ERROR: target 'no_such_module' does not import: no module named 'no_such_module'"),
        (
            "def pack_action_start(c, u, a):\n    return {}\n",
            # every missing helper at once, one per line after the head
            "ERROR: target 'tgt' cannot be used (3 problems):",
        ),
        (
            "def pack_action_start(c, u):\n    return {}\n"
            "pack_action_finish = pack_action_event_start = pack_action_event_finish = None\n",
            "ERROR: target 'tgt' cannot be used (4 problems):",
        ),
        (
            "raise RuntimeError('boom at import')\n",
            "ERROR: target 'tgt' does not import: RuntimeError: boom at import",
        ),
    ],
)
def test_bad_targets_are_one_line_usage_errors(
    pytester: pytest.Pytester, module: str | None, message: str
) -> None:
    name = "no_such_module"
    if module is not None:
        pytester.makepyfile(tgt=module)
        name = "tgt"
    result = _run_sub(pytester, "--actionsec", f"--actionsec-target={name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1
    result.stderr.fnmatch_lines([message])
    if module is not None and "problems" in message:
        result.stderr.fnmatch_lines(
            [
                "  - *pack_action_start*" if "(c, u)" in module else "  - no pack_action_finish*",
                "  - no pack_action_*",
                "  - no pack_action_event_finish (looked for*",
            ]
        )
    assert "Traceback" not in result.stderr.str()


def _run_sub(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pytester.path), old]))
    try:
        return pytester.runpytest_subprocess(*args)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def test_ini_twins_and_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        actionsec = true
        actionsec_mode = hostile
        actionsec_examples = 3
        actionsec_layers = packer
        """
    )
    result = pytester.runpytest("--co", "--actionsec-examples=4")
    result.stdout.fnmatch_lines(
        [
            "actionsec: target=nova.objects.instance_action (default), mode=hostile "
            "(ini actionsec_mode), examples=4 (--actionsec-examples), layers=packer "
            "(ini actionsec_layers)*",
            "actionsec: seed * (random); replay with --actionsec-seed=*",
        ]
    )
    assert len(_items(result)) == 48


def test_bad_ini_value_is_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nactionsec_examples = -1\n")
    result = pytester.runpytest("--actionsec")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option actionsec_examples must be a positive*"])


def test_leaky_target_fails_with_invariant_evidence_and_snippet(
    pytester: pytest.Pytester, leaky: str
) -> None:
    result = pytester.runpytest(
        "--actionsec", f"--actionsec-target={leaky}", *FAST, "-k", "leak and event_finish"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "leak.field [leak] pack_action_event_finish (packer layer)" in out
    assert "invariant: No planted secret" in out
    assert "field:     details" in out
    assert "replay: pytest --actionsec --actionsec-target=leaky_target" in out
    assert "--actionsec-seed=7" in out
    # the input is a runnable snippet that reproduces the leak
    snippet = _snippet(out)
    run = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        cwd=pytester.path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(pytester.path), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert run.returncode == 1, run.stderr  # it shows a violation
    assert "cnry" in run.stdout and "'details'" in run.stdout
    # it ends by printing the violations it shows
    assert "\nleak.field details: " in run.stdout


def _snippet(out: str) -> str:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "input:") + 1
    body = []
    for line in lines[start:]:
        if not line.startswith("      ") and line.strip():
            break
        body.append(line[6:])
    return textwrap.dedent("\n".join(body))


def test_nova_contract_findings_are_the_known_real_defects(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--actionsec",
        "--actionsec-layers=packer,boundary",
        "--actionsec-seed=5",
        "--actionsec-examples=100",
        "-k",
        "integrity and event_finish",
        "--actionsec-report=report.json",
    )
    result.assert_outcomes(failed=2)
    report = json.loads((pytester.path / "report.json").read_text())
    assert {v["invariant"] for v in report["violations"]} == {"integrity.details"}
    assert all("__bool__" in v["input"] or "__len__" in v["input"] for v in report["violations"])


def test_json_report_shape(pytester: pytest.Pytester, leaky: str) -> None:
    result = pytester.runpytest(
        "--actionsec", f"--actionsec-target={leaky}", *FAST, "--actionsec-report=out/r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "out" / "r.json").read_text())
    assert set(report) >= {"target", "mode", "seed", "properties", "violations"}
    assert report["target"] == leaky and report["mode"] == "contract" and report["seed"] == 7
    assert len(report["properties"]) == 48  # 8 families x (4 helpers + the two sinks)
    for prop in report["properties"]:
        assert set(prop) >= {"id", "function", "layer", "examples", "status"}
    families = {"leak", "type", "null", "bounds", "time", "integrity", "purity", "crash"}
    assert report["violations"]
    ids = {p["id"] for p in report["properties"]}
    for v in report["violations"]:
        assert set(v) >= {"invariant", "family", "function", "layer", "field", "input", "evidence"}
        assert v["family"] in families
        # the property that found it (no timeouts here: its family is the violation's)
        assert v["property"] == f"{v['family']}-{v['function']}-{v['layer']}"
        assert v["property"] in ids


def test_sarif_report(pytester: pytest.Pytester, leaky: str) -> None:
    pytester.runpytest(
        "--actionsec",
        f"--actionsec-target={leaky}",
        *FAST,
        "--actionsec-report=r.sarif",
        "-k",
        "leak",
    )
    sarif = json.loads((pytester.path / "r.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "pytest-actionsec"
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert run["results"] and all(r["ruleId"] in rule_ids for r in run["results"])
    # the leaky packer's event details reach admins (nova 34's default events:details
    # policy); nova's own fault sink (the target has none) stores exception text in
    # a code-500 fault's details, which only admins read: both are warnings
    levels = {
        (r["properties"]["property"], r["properties"].get("field")): r["level"]
        for r in run["results"]
    }
    assert levels[("leak-pack_action_event_finish-packer", "details")] == "warning"
    assert levels[("leak-add_instance_fault_from_exc-packer", "details")] == "warning"
    # nova's notification sink (the target has none) sends the exception's text to the
    # bus: read by the services consuming notifications, a warning too
    assert levels[("leak-notify_about_instance_action-packer", "payload.fault.traceback")] == (
        "warning"
    )
    for r in run["results"]:
        family, layer = r["properties"]["family"], r["properties"]["layer"]
        assert r["properties"]["property"].startswith(f"{family}-")
        assert r["properties"]["property"].endswith(f"-{layer}")
        bus = r["properties"]["property"] == "leak-notify_about_instance_action-packer"
        assert r["properties"]["severity"] == ("bus" if bus else "admin")
        assert r["properties"]["security-severity"] == ("6.5" if bus else "5.0")
    leak_rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "leak.field")
    assert leak_rule["properties"]["security-severity"] == "8.5"


def test_baseline_workflow(pytester: pytest.Pytester, leaky: str) -> None:
    args = ["--actionsec", f"--actionsec-target={leaky}", *FAST, "-k", "leak"]
    first = pytester.runpytest(
        *args, "--actionsec-baseline=base.json", "--actionsec-update-baseline"
    )
    assert first.ret == pytest.ExitCode.OK
    first.stdout.fnmatch_lines(["actionsec: baseline base.json now accepts * finding(s)"])
    data = json.loads((pytester.path / "base.json").read_text())
    assert data["accepted"] and all(e["invariant"] == "leak.field" for e in data["accepted"])

    second = pytester.runpytest(
        *args, "--actionsec-baseline=base.json", "--actionsec-report=r.json"
    )
    assert second.ret == pytest.ExitCode.OK
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["violations"] and all(v["accepted"] for v in report["violations"])
    second.stdout.fnmatch_lines(["*accepted*"])

    data["accepted"] = []
    (pytester.path / "base.json").write_text(json.dumps(data))
    third = pytester.runpytest(*args, "--actionsec-baseline=base.json")
    assert third.ret == pytest.ExitCode.TESTS_FAILED


def test_baseline_matches_without_the_property(tmp_path: Path) -> None:
    """A baseline written before reports named the property still loads and matches."""
    from pytest_actionsec.report import Baseline, write_baseline

    finding = {
        "invariant": "crash.timeout",
        "function": "pack_action_start",
        "layer": "packer",
        "field": None,
        "evidence": "no return within 0.2 s",
    }
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"version": 1, "accepted": [finding]}))
    baseline = Baseline.load(old)
    # found by the crash property and by the leak property: one accepted finding
    found = [
        {
            **finding,
            "family": "crash",
            "input": "x",
            "property": f"{family}-pack_action_start-packer",
        }
        for family in ("crash", "leak")
    ]
    assert all(baseline.accepts(v) for v in found)
    assert write_baseline(tmp_path / "new.json", found) == 1
    (entry,) = json.loads((tmp_path / "new.json").read_text())["accepted"]
    assert entry == finding


def test_missing_baseline_is_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--actionsec", "--actionsec-baseline=nope.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: baseline '*nope.json' does not exist"])


def test_update_baseline_needs_a_path(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--actionsec", "--actionsec-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --actionsec-update-baseline needs --actionsec-baseline=PATH"]
    )


def test_marker_registered_and_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.actionsec(mode="hostile", invariants=["leak"])
        def test_marked(actionsec_mode, actionsec_check):
            assert actionsec_mode == "hostile"
            assert actionsec_check.families == frozenset({"leak"})
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-W", "error")
    result.assert_outcomes(passed=1)
    help_result = pytester.runpytest("--markers")
    help_result.stdout.fnmatch_lines(
        ["@pytest.mark.actionsec(target=None, mode=None, invariants=None, clock=None)*"]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "actionsec(colour='red')",
            "*@pytest.mark.actionsec: got an unexpected keyword argument 'colour'",
        ),
        ("actionsec('x')", "*@pytest.mark.actionsec: takes 0 positional arguments but 1 was given"),
        (
            "actionsec(mode='nasty')",
            "*@pytest.mark.actionsec: mode must be one of contract, hostile*",
        ),
        ("actionsec(invariants=['leek'])", "*unknown invariant or family 'leek'*"),
        ("actionsec(clock='noon')", "*clock must be True or a datetime*"),
    ],
)
def test_wrong_marker_arguments(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_fixture_users_are_tagged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses(actionsec_canaries):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-m", "actionsec", "-q")
    result.assert_outcomes(passed=1, deselected=1)


def test_marker_clock_is_set_before_other_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime
        import pytest
        from oslo_utils import timeutils

        @pytest.fixture
        def seen_time():
            return timeutils.utcnow()

        @pytest.mark.actionsec(clock=datetime.datetime(2001, 2, 3, 4, 5, 6))
        def test_clock_first(seen_time):
            assert seen_time == datetime.datetime(2001, 2, 3, 4, 5, 6)

        def test_real_time_after():
            assert timeutils.utcnow().year >= 2024
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_clock_fixture_with_given_and_durations(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime, time
        from hypothesis import HealthCheck, given, settings, strategies as st
        from oslo_utils import timeutils
        from pytest_actionsec.strategies import server_times

        @settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(when=server_times())
        def test_moves(actionsec_clock, when):
            actionsec_clock.move_to(when)
            assert timeutils.utcnow() == when

        def test_sleepy(actionsec_clock):
            time.sleep(0.3)
        """
    )
    result = pytester.runpytest("--durations=5", "-vv")
    result.assert_outcomes(passed=2)
    durations = [line for line in result.outlines if "call" in line and "test_sleepy" in line]
    assert durations and float(durations[0].split("s")[0]) >= 0.25


def test_canaries_fixture_reports_where_and_encoding(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import base64, pytest

        def test_leak(actionsec_canaries):
            token = actionsec_canaries.plant("context.auth_token")
            record = {"details": "x" + base64.b64encode(("k=" + token).encode()).decode()}
            with pytest.raises(AssertionError) as info:
                actionsec_canaries.assert_none_leaked(record)
            assert "context.auth_token" in str(info.value)
            assert "found in details as base64" in str(info.value)
            actionsec_canaries.assert_none_leaked({"details": "clean"})
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_check_fixture_runs_the_oracle_on_nova(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from hypothesis import HealthCheck, given, settings
        from pytest_actionsec.strategies import contexts, exceptions

        class Falsy(Exception):
            def __bool__(self):
                return False

        def test_falsy_exception(actionsec_target, actionsec_check):
            ctx = actionsec_target.make_context(user_id="u", project_id="p", request_id="r")
            outcome = actionsec_check.run(
                "pack_action_event_finish", ctx, "u-1", "ev", exc_val=Falsy("x"), exc_tb="tb")
            assert [v.invariant for v in outcome.violations] == ["integrity.details"]

        # function_scoped_fixture: the checker is stateless, safe to share across examples;
        # too_slow: CI machines are shared and the first draws warm caches.
        @settings(max_examples=30, suppress_health_check=[
            HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(exc=exceptions(), ctx=contexts())
        def test_no_leak(actionsec_target, actionsec_check, exc, ctx):
            ctx2 = actionsec_target.make_context(**{k: getattr(ctx, k) for k in (
                "user_id", "project_id", "request_id", "auth_token", "timestamp")})
            outcome = actionsec_check.run(
                "pack_action_event_finish", ctx, "u-1", "ev", exc_val=exc, exc_tb="tb")
            assert not [v for v in outcome.violations if v.family == "leak"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_nova_outlives_in_process_runs(pytester: pytest.Pytester) -> None:
    """nova_imported_first: runs reuse this process's nova, so cached classes stay nova's."""
    before = sys.modules.get("nova.exception")
    assert before is not None  # imported before any in-process run
    pytester.makepyfile(
        """
        def test_nova_is_imported():
            import nova.exception
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert sys.modules["nova.exception"] is before


def test_logs_fixture_captures_records(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import logging

        def test_logs(actionsec_logs):
            logging.getLogger("nova.compute").debug("token %s", "abc")
            assert actionsec_logs == ["token abc"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_xdist_same_verdict_and_merged_report(pytester: pytest.Pytester, leaky: str) -> None:
    common = ["--actionsec", f"--actionsec-target={leaky}", *FAST, "-p", "no:cacheprovider"]
    serial = _run_sub(pytester, *common, "-n", "0", "--actionsec-report=serial.json")
    # from an empty example database too: a failure the serial run saved would be
    # replayed first, and the parallel run would need fewer examples to find it
    shutil.rmtree(pytester.path / ".hypothesis", ignore_errors=True)
    parallel = _run_sub(pytester, *common, "-n", "2", "--actionsec-report=parallel.json")
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    a = json.loads((pytester.path / "serial.json").read_text())
    b = json.loads((pytester.path / "parallel.json").read_text())

    def verdicts(report: dict) -> list[tuple]:
        return [(p["id"], p["status"], p["examples"]) for p in report["properties"]]

    def findings(report: dict) -> list[tuple]:
        return [
            (v["invariant"], v["function"], v["layer"], v["field"]) for v in report["violations"]
        ]

    assert verdicts(a) == verdicts(b) and len(verdicts(a)) == 48
    assert findings(a) == findings(b) and findings(a)
    assert a["seed"] == b["seed"] == 7
    # each helper's run happened once in the whole session, not once per worker that
    # got one of its items: every family of a run reports that run's wall time
    runs: dict[str, set[float]] = {}
    for p in b["properties"]:
        runs.setdefault(p["function"], set()).add(p["seconds"])
    assert len(runs) == 6 and all(len(s) == 1 for s in runs.values()), runs


def test_random_seed_is_shared_with_xdist_workers(pytester: pytest.Pytester, leaky: str) -> None:
    result = _run_sub(
        pytester,
        "--actionsec",
        f"--actionsec-target={leaky}",
        "--actionsec-examples=5",
        "--actionsec-layers=packer",
        "-n",
        "2",
        "--actionsec-report=r.json",
        "-k",
        "time",
    )
    report = json.loads((pytester.path / "r.json").read_text())
    seeds = {p["seed"] for p in report["properties"]}
    assert len(report["properties"]) == 6 and len(seeds) == 6  # one derived seed each
    result.stdout.fnmatch_lines([f"*replay with --actionsec-seed={report['seed']}*"])


def test_w_error_and_no_cacheprovider(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--actionsec",
        "-W",
        "error",
        "-p",
        "no:cacheprovider",
        "--actionsec-layers=packer",
        "--actionsec-examples=5",
        "-k",
        "type",
        "--actionsec-seed=1",
    )
    # the sinks' properties too: nova's objects warn while they register
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*fault=nova.compute.utils.add_instance_fault_from_exc*"])


def test_header_not_shown_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest()
    assert "actionsec:" not in result.stdout.str()


def test_package_declares_entry_point() -> None:
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "actionsec"]
    assert eps and eps[0].value == "pytest_actionsec.plugin"
    assert (Path(__file__).parents[1] / "pytest_actionsec" / "py.typed").exists()


def test_inner_pytester_session_leaves_the_outer_report_alone(
    pytester: pytest.Pytester, leaky: str
) -> None:
    """Report state is per config: a user's own in-process pytester run (of the suite,
    with its own report) neither clears nor pollutes the outer run's results.

    The inner run judges ``null``, which the leaky target passes: the example database
    in-process runs share may hold crashes of its event finish found by earlier tests
    (real ones: an exception whose ``__str__`` raises), which a crash run replays."""
    pytester.makepyfile(
        test_inner=f"""
        pytest_plugins = ["pytester"]

        def test_inner(pytester):
            result = pytester.runpytest_inprocess(
                "--actionsec", "--actionsec-target={leaky}", "--actionsec-layers=packer",
                "--actionsec-examples=3", "--actionsec-seed=1", "-k", "null and pack_action",
                "-p", "no:cacheprovider", "--actionsec-report=inner.json",
            )
            result.assert_outcomes(passed=4)
        """
    )
    result = pytester.runpytest_inprocess(
        "--actionsec",
        f"--actionsec-target={leaky}",
        *FAST,
        "-k",
        "null or test_inner",
        "-p",
        "no:cacheprovider",
        "--actionsec-report=outer.json",
    )
    result.assert_outcomes(passed=7)
    report = json.loads((pytester.path / "outer.json").read_text())
    assert sorted(p["id"] for p in report["properties"]) == sorted(
        f"null-{fn}-packer"
        for fn in (
            "pack_action_start",
            "pack_action_finish",
            "pack_action_event_start",
            "pack_action_event_finish",
            "add_instance_fault_from_exc",
            "notify_about_instance_action",
        )
    )


# the budget on a fake clock: tests/test_xdist.py::test_budget_is_a_deadline_on_the_engine_clock


@pytest.mark.parametrize("value", ["soon", "0", "-5m", "3d"])
def test_bad_budget_is_a_one_line_error(pytester: pytest.Pytester, value: str) -> None:
    result = pytester.runpytest_subprocess("--actionsec", f"--actionsec-budget={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--actionsec-budget*duration like 90s, 10m or 2h*"])


def test_actionsec_collects_only_test_files_naming_the_plugin(pytester: pytest.Pytester) -> None:
    """From a nova checkout's root: nova's unit tree is not collected (nor imported),
    the user's own actionsec tests are; a file named on the command line always is."""
    pytester.makepyfile(
        test_unit="raise RuntimeError('nova unit tree imported')\n",
        test_mine="def test_mine(actionsec_mode):\n    assert actionsec_mode == 'contract'\n",
    )
    common = ["--actionsec", "--actionsec-layers=packer", "-p", "no:cacheprovider"]
    listed = pytester.runpytest(*common, "--co", "-q")
    assert listed.ret == pytest.ExitCode.OK, listed.stdout.str()
    names = [line for line in listed.stdout.lines if "::" in line]
    assert names == ["test_mine.py::test_mine"], names
    assert "actionsec[leak-pack_action_start-packer]" in listed.stdout.str()
    # named, or --actionsec-collect=all: collected (and its import error shown)
    named = pytester.runpytest(*common, "--co", "-q", "test_unit.py")
    assert "nova unit tree imported" in named.stdout.str()
    everything = pytester.runpytest(*common, "--co", "-q", "--actionsec-collect=all")
    assert "nova unit tree imported" in everything.stdout.str()
    # without --actionsec nothing is filtered
    plain = pytester.runpytest("-p", "no:cacheprovider", "--co", "-q")
    assert "nova unit tree imported" in plain.stdout.str()


def test_header_names_the_nova_under_test(pytester: pytest.Pytester) -> None:
    import importlib.metadata

    result = pytester.runpytest("--actionsec", "--co", "-p", "no:cacheprovider")
    version = importlib.metadata.version("nova")
    result.stdout.fnmatch_lines([f"actionsec: under test: nova {version} at */nova"])


def test_given_tests_use_the_fixtures_with_no_settings(pytester: pytest.Pytester) -> None:
    """A user's @given tests on the fixtures, with no conftest and no settings: no
    health check fails, the store is not too slow, and a failure shows one-line
    reprs of the fixtures, never a Target's or Store's fields."""
    pytester.makepyfile(
        """
        import datetime
        import pytest
        from hypothesis import given, strategies as st
        from pytest_actionsec.strategies import contexts, exceptions, hosts

        UUID = "e3e70682-c209-4cac-629f-6fbed82c07cd"

        @given(exc=exceptions())
        def test_finish(actionsec_target, actionsec_check, exc):
            ctx = actionsec_target.make_context(user_id="u", project_id="p", request_id="r")
            actionsec_check.run("pack_action_event_finish", ctx, UUID, "x", exc_val=exc,
                                exc_tb="tb")

        @pytest.mark.actionsec(mode="hostile")
        @given(data=st.data())
        def test_mode(actionsec_mode, data):
            assert actionsec_mode == "hostile"
            data.draw(hosts(mode=actionsec_mode))

        @given(st.integers(0, 100))
        def test_clock(actionsec_clock, actionsec_check, actionsec_target, days):
            actionsec_clock.move_to(datetime.datetime(2031, 1, 1) + datetime.timedelta(days))
            ctx = actionsec_target.make_context(user_id="u", project_id="p", request_id="r")
            outcome = actionsec_check.run("pack_action_finish", ctx, UUID)
            assert outcome.record["finish_time"] == actionsec_clock.now()

        @given(data=st.data())
        def test_store(actionsec_target, actionsec_store, actionsec_canaries, data):
            ctx = data.draw(contexts(actionsec_target))
            record = actionsec_target.helpers["pack_action_start"](ctx, UUID, "reboot")
            actionsec_store.roundtrip("pack_action_start", record)

        def test_fails(actionsec_target, actionsec_store):
            assert actionsec_target.path == "elsewhere"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    assert "HealthCheck" not in out and "DeadlineExceeded" not in out, out
    assert "actionsec_target = <actionsec_target of the running test>" in out
    assert "actionsec_store = <Store sqlite:// (open)>" in out
    assert "schemas=" not in out and "helpers=" not in out


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_store_that_cannot_be_opened_is_one_usage_error(
    pytester: pytest.Pytester, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answers (the probe passes) but the stage cannot open, as with nova's
    test requirements before osprofiler's options were registered: exit 4, one line,
    no item run."""
    pytester.makepyfile(
        badstage="def factory(target):\n"
        "    raise RuntimeError('no such option profiler in group [DEFAULT]')\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), root]))
    result = pytester.runpytest_subprocess(
        "--actionsec",
        "--actionsec-target=tests.targets.copied_helpers",
        "--actionsec-sink=none",
        "--actionsec-boundary=none",
        "--actionsec-notifier=none",
        "--actionsec-store-stage=badstage.factory",
        "-n",
        workers,
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR: ")]
    assert errors == [
        "ERROR: actionsec: the store cannot be opened: RuntimeError: no such option profiler "
        "in group [DEFAULT]"
    ], result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
