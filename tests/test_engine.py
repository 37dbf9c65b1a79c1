"""Unit tests for pytest_actionsec.engine, running properties on the real nova target."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
import threading
import time
from typing import Any

import pytest
from hypothesis import find, settings
from hypothesis import strategies as st

from pytest_actionsec.canaries import new_canary
from pytest_actionsec.engine import (
    ALL_LAYERS,
    Property,
    PropertyResult,
    builtin_properties,
    capture_logs,
    execute,
    observe,
    run_property,
    time_limit,
)
from pytest_actionsec.oracle import FAMILIES, judge
from pytest_actionsec.snippets import call_source
from pytest_actionsec.specs import TbSpec
from pytest_actionsec.strategies import Call, ContextSpec, ExcSpec, calls, probes
from pytest_actionsec.targets import FUNCTIONS, HELPERS, Target, resolve_target

UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
FINISH = "pack_action_event_finish"


@pytest.fixture(scope="module")
def nova_target() -> Target:
    return resolve_target()


def _with_helper(target: Target, name: str, helper: Any) -> Target:
    return dataclasses.replace(target, helpers={**target.helpers, name: helper})


def _ids(result: PropertyResult) -> set[str]:
    return {v.invariant for v in result.violations}


def _finish_call(exc: ExcSpec | None = None, exc_tb: Any = "tb text") -> Call:
    return Call(
        function=FINISH,
        layer="packer",
        context=ContextSpec((("request_id", "req-1"), ("timestamp", dt.datetime(2026, 1, 1)))),
        arguments=(
            ("instance_uuid", UUID),
            ("event_name", "compute_reboot"),
            ("exc_val", exc or ExcSpec(base="builtins.ValueError", args=("boom",))),
            ("exc_tb", exc_tb),
        ),
        server_time=dt.datetime(2026, 1, 1, 0, 0, 1),
    )


# ---------------------------------------------------------------------------
# The built-in suite.


def test_builtin_properties() -> None:
    props = builtin_properties()
    assert len(props) == len(FAMILIES) * (len(FUNCTIONS) + 1)
    assert len({p.id for p in props}) == len(props)
    assert Property("leak", "pack_action_start", "packer") in props
    assert Property("leak", FINISH, "boundary") in props
    assert not any(p.layer == "boundary" and p.function != FINISH for p in props)
    assert Property("leak", "pack_action_start", "packer").id == "leak-pack_action_start-packer"
    only = builtin_properties(layers=["store"], families=["time"])
    # the notification sink has no store layer (its record goes on the bus)
    stored = [h for h in FUNCTIONS if h != "notify_about_instance_action"]
    assert [p.id for p in only] == [f"time-{h}-store" for h in stored]
    assert Property("leak", "add_instance_fault_from_exc", "packer") in props
    assert ALL_LAYERS == ("packer", "boundary", "store", "api", "bus")


# ---------------------------------------------------------------------------
# run_property on nova 34.


@pytest.mark.parametrize("function", ["pack_action_start", FINISH])
def test_leak_at_the_packer_passes_on_nova(nova_target: Target, function: str) -> None:
    prop = Property("leak", function, "packer")
    result = run_property(prop, nova_target, max_examples=100, seed=1, database=None)
    assert result.status == "passed", [v.evidence for v in result.violations]
    fixed = len(probes(nova_target, function))  # checked before Hypothesis's 100
    assert result.violations == () and result.examples == 100 + fixed
    assert result.seed == 1 and result.seconds > 0
    assert result.to_dict() == {
        "id": prop.id,
        "family": "leak",
        "function": function,
        "layer": "packer",
        "examples": 100 + fixed,
        "status": "passed",
        "reason": "",
        "run": function,
    }


@pytest.mark.parametrize("layer", ["packer", "boundary"])
def test_probes_meet_novas_two_contract_defects(nova_target: Target, layer: str) -> None:
    """Each probe judged alone: nova 34 fails exactly the falsy and the list-kwargs ones."""
    found = {}
    for call in probes(nova_target, FINISH, layer=layer):
        assert not call.is_hostile and call.layer == layer
        (exc,) = [v for k, v in call.arguments if k == "exc_val"]
        obs = execute(nova_target, call)
        key = exc if isinstance(exc, str) else exc.name
        found[key] = {v.invariant for v in judge(obs)}
    falsy = found.pop("DBConnectionError")
    kwargs = found.pop("ProcessExecutionError")
    assert "é" * 200 in found  # nova truncates it to 255 bytes: no finding
    assert falsy == {"integrity.details"}
    # serialize_args turns the exception into text first: no crash at the boundary
    assert kwargs == ({"crash.contract"} if layer == "packer" else set())
    assert found and all(v == set() for v in found.values()), found


@pytest.mark.parametrize("layer", ["packer", "boundary"])
def test_probes_pass_on_the_safe_packer(layer: str) -> None:
    """No false alarm: the zoo's correct packer passes every probe, every family."""
    safe = resolve_target("tests.zoo.safe")
    calls_ = probes(safe, FINISH, layer=layer)
    assert len(calls_) == 5  # the safe packer trusts its own NovaException-like class
    for call in calls_:
        assert judge(execute(safe, call)) == [], call_source(call, safe.path)


def test_boundary_probes_pass_live_tracebacks_the_boundary_formats() -> None:
    """Through the boundary every probe carries a live traceback (nova's calling shape),
    so a boundary that formats it with the exception's own line is met by the probes
    alone, whatever the seed: the untrusted probe's text is found in ``traceback``."""
    mutant = resolve_target("tests.zoo.m_leak_boundary_format_exception")
    calls_ = probes(mutant, FINISH, layer="boundary")
    tbs = [v for call in calls_ for k, v in call.arguments if k == "exc_tb"]
    assert tbs and all(isinstance(tb, TbSpec) for tb in tbs)
    found = {(v.invariant, v.field) for call in calls_ for v in judge(execute(mutant, call))}
    assert ("leak.field", "traceback") in found, found
    packed = {
        (v.invariant, v.field) for c in probes(mutant, FINISH) for v in judge(execute(mutant, c))
    }
    assert packed == set()  # packing directly is correct


def test_drawn_live_tracebacks_plant_their_frame_locals_secret() -> None:
    """A drawn live ``exc_tb`` is raised through a frame whose local holds a secret, and
    that secret is one of the call's canaries: a boundary that formats the frames'
    locals is caught by a drawn example on its own, not by the probes alone."""
    mutant = resolve_target("tests.zoo.m_leak_boundary_locals")

    def live(call: Call) -> bool:
        return any(isinstance(v, TbSpec) for k, v in call.arguments if k == "exc_tb")

    call = find(
        calls(mutant, FINISH, layer="boundary"),
        live,
        settings=settings(database=None, derandomize=True, max_examples=500),
    )
    (tb,) = [v for k, v in call.arguments if k == "exc_tb"]
    assert dict(tb.secrets)["password"] in {c.token for c in call.canaries}
    found = {(v.invariant, v.field) for v in judge(execute(mutant, call))}
    assert ("leak.field", "traceback") in found, found
    # the correct boundary formats the same traceback's frames without their locals
    assert judge(execute(resolve_target("tests.zoo.safe"), call)) == []


def test_only_event_finish_has_probes(nova_target: Target) -> None:
    for function in HELPERS:
        assert bool(probes(nova_target, function)) == (function == FINISH)


def test_falsy_exception_found_as_integrity_details(nova_target: Target) -> None:
    """nova 34 stores result 'Error' and no details for an exception whose bool is False."""
    prop = Property("integrity", FINISH, "packer")
    result = run_property(prop, nova_target, max_examples=100, seed=7, database=None)
    assert result.status == "failed"
    assert _ids(result) == {"integrity.details"}
    (v,) = result.violations
    assert v.field == "details" and v.function == FINISH and v.layer == "packer"
    # the input is a runnable snippet whose exception class is falsy
    compile(v.input, "<snippet>", "exec")
    assert "def __bool__" in v.input or "def __len__" in v.input


def test_non_dict_kwargs_found_as_crash_contract(nova_target: Target) -> None:
    """nova 34's exception_to_dict calls exc.kwargs.get(): a non-dict kwargs crashes it.

    The default strategy draws such an exception (with a traceback) in about 1% of
    its first few hundred draws, so 100 examples usually miss it: 500 are used.
    """
    prop = Property("crash", FINISH, "packer")
    result = run_property(prop, nova_target, max_examples=500, seed=8, database=None)
    assert result.status == "failed"
    assert _ids(result) == {"crash.contract"}
    (v,) = result.violations
    assert v.kind == "AttributeError"
    assert ".kwargs = " in v.input


def test_boundary_skipped_without_serialize_args(nova_target: Target) -> None:
    target = dataclasses.replace(nova_target, boundary=None, notes=("no boundary here",))
    result = run_property(Property("leak", FINISH, "boundary"), target, database=None)
    assert result.status == "skipped" and result.reason == "no boundary here"
    assert result.examples == 0


def test_custom_executor_and_strategy(nova_target: Target) -> None:
    seen: list[Call] = []

    def executor(call: Call) -> Any:
        seen.append(call)
        return execute(nova_target, call)

    result = run_property(
        Property("integrity", FINISH, "packer"),
        nova_target,
        strategy=st.just(_finish_call()),
        executor=executor,
        max_examples=5,
        seed=0,
        database=None,
    )
    assert result.status == "passed" and seen and result.examples == len(seen)


# ---------------------------------------------------------------------------
# Purity.


def test_nova_helper_is_pure(nova_target: Target) -> None:
    ctx = nova_target.make_context(request_id="req-1", timestamp=dt.datetime(2026, 1, 1))
    try:
        raise ValueError("x")
    except ValueError as exc:
        caught = exc
    obs = observe(
        nova_target,
        FINISH,
        "boundary",
        ctx,
        {
            "instance_uuid": UUID,
            "event_name": "e",
            "exc_val": caught,
            "exc_tb": caught.__traceback__,
        },
    )
    assert obs.error is None and obs.impurities == ()


def _impure_finish(target: Target) -> Any:
    packer = target.helpers[FINISH]

    def impure(
        context: Any, instance_uuid: Any, event_name: Any, exc_val: Any = None, exc_tb: Any = None
    ) -> Any:
        if isinstance(exc_val, BaseException):
            exc_val.args = ("scrubbed",)
        return packer(context, instance_uuid, event_name, exc_val=exc_val, exc_tb=exc_tb)

    return impure


def test_observe_sees_mutated_exception_args(nova_target: Target) -> None:
    target = _with_helper(nova_target, FINISH, _impure_finish(nova_target))
    ctx = target.make_context(request_id="req-1", timestamp=dt.datetime(2026, 1, 1))
    args = {"instance_uuid": UUID, "event_name": "e", "exc_val": ValueError("x"), "exc_tb": "tb"}
    obs = observe(target, FINISH, "packer", ctx, args)
    assert obs.impurities == ("exc_val: args changed",)
    assert {v.invariant for v in judge(obs, ["purity"])} == {"purity.inputs"}


def test_observe_sees_mutated_context(nova_target: Target) -> None:
    packer = nova_target.helpers["pack_action_finish"]

    def impure(context: Any, instance_uuid: Any) -> Any:
        context.request_id = "req-overwritten"
        return packer(context, instance_uuid)

    target = _with_helper(nova_target, "pack_action_finish", impure)
    ctx = target.make_context(request_id="req-1", timestamp=dt.datetime(2026, 1, 1))
    obs = observe(target, "pack_action_finish", "packer", ctx, {"instance_uuid": UUID})
    assert obs.impurities == ("context: request_id changed",)


def test_purity_property_fails_for_impure_helper(nova_target: Target) -> None:
    target = _with_helper(nova_target, FINISH, _impure_finish(nova_target))
    result = run_property(
        Property("purity", FINISH, "packer"), target, max_examples=100, seed=3, database=None
    )
    assert result.status == "failed"
    assert _ids(result) == {"purity.inputs"}
    assert "exc_val" in result.violations[0].evidence


def test_observe_reports_and_restores_global_changes(nova_target: Target) -> None:
    import os

    packer = nova_target.helpers["pack_action_finish"]
    root = logging.getLogger()
    level = root.level

    def meddling(context: Any, instance_uuid: Any) -> Any:
        os.environ["ACTIONSEC_TEST_MEDDLING"] = "1"
        root.setLevel(logging.CRITICAL if level != logging.CRITICAL else logging.DEBUG)
        return packer(context, instance_uuid)

    target = _with_helper(nova_target, "pack_action_finish", meddling)
    ctx = target.make_context(request_id="req-1", timestamp=dt.datetime(2026, 1, 1))
    obs = observe(target, "pack_action_finish", "packer", ctx, {"instance_uuid": UUID})
    assert "ACTIONSEC_TEST_MEDDLING" not in os.environ
    assert root.level == level
    changed = "; ".join(obs.globals_changed)
    assert "os.environ: set ACTIONSEC_TEST_MEDDLING" in changed
    assert "root logger level" in changed
    assert {v.invariant for v in judge(obs)} == {"purity.globals"}
    # nova's own helper touches nothing
    clean = observe(nova_target, "pack_action_finish", "packer", ctx, {"instance_uuid": UUID})
    assert clean.globals_changed == ()


# ---------------------------------------------------------------------------
# Time limits.


_SLEEPS: list[int] = []


def _sleeper(*args: Any, **kwargs: Any) -> Any:
    _SLEEPS.append(1)  # counted: a hang stops the run at its first call, whatever the speed
    time.sleep(3600)


def test_helper_that_never_returns_is_crash_timeout(nova_target: Target) -> None:
    target = _with_helper(nova_target, FINISH, _sleeper)
    before = signal.getsignal(signal.SIGALRM)
    _SLEEPS.clear()
    result = run_property(
        Property("crash", FINISH, "packer"),
        target,
        strategy=st.just(_finish_call()),
        timeout=0.5,
        max_examples=3,
        seed=0,
        database=None,
    )
    assert result.status == "failed"
    assert _ids(result) == {"crash.timeout"}
    assert "0.5 s" in result.violations[0].evidence
    assert len(_SLEEPS) == 1 and result.examples == 1  # neither shrunk nor retried
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_timeout_is_reported_by_every_family(nova_target: Target) -> None:
    """A hung helper is a finding of any property, not a silent pass (nothing was checked)."""
    target = _with_helper(nova_target, FINISH, _sleeper)
    result = run_property(
        Property("leak", FINISH, "packer"),
        target,
        strategy=st.just(_finish_call()),
        timeout=0.3,
        max_examples=2,
        seed=0,
        database=None,
    )
    assert result.status == "failed"
    assert _ids(result) == {"crash.timeout"}


def test_timeout_with_the_default_strategy_does_not_hang(nova_target: Target) -> None:
    target = _with_helper(nova_target, "pack_action_finish", _sleeper)
    _SLEEPS.clear()
    result = run_property(
        Property("crash", "pack_action_finish", "packer"),
        target,
        timeout=0.2,
        max_examples=50,
        seed=0,
        database=None,
    )
    assert len(_SLEEPS) == 1  # the run stops at the first hung call
    assert _ids(result) == {"crash.timeout"}
    assert result.examples <= 3


def test_time_limit_without_limit_or_off_main_thread() -> None:
    with time_limit(None) as arm, arm():
        pass
    with time_limit(0) as arm, arm():
        pass
    box: list[Any] = []

    def worker() -> None:
        with time_limit(0.1) as arm, arm():
            time.sleep(0.2)  # not interrupted: no SIGALRM off the main thread
            box.append("done")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert box == ["done"]


# ---------------------------------------------------------------------------
# Logs.


def test_capture_logs_restores_root_logger() -> None:
    root = logging.getLogger()
    old_level, old_handlers = root.level, list(root.handlers)
    old_disable = logging.root.manager.disable
    mine = logging.NullHandler()
    root.addHandler(mine)
    root.setLevel(logging.ERROR)
    logging.disable(logging.INFO)
    try:
        with capture_logs() as lines:
            logging.getLogger("nova.compute").debug("password=%s", "hunter2")
            try:
                raise KeyError("in traceback")
            except KeyError:
                logging.getLogger("x").exception("failed")
        assert lines[0] == "password=hunter2"
        assert "failed" in lines[1] and "in traceback" in lines[1]
        assert root.level == logging.ERROR
        assert root.handlers == [*old_handlers, mine]
        assert logging.root.manager.disable == logging.INFO
    finally:
        logging.disable(old_disable)
        root.removeHandler(mine)
        root.setLevel(old_level)


def test_capture_logs_restores_on_error() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with pytest.raises(RuntimeError), capture_logs():
        raise RuntimeError("x")
    assert root.handlers == handlers and root.level == level


def test_capture_logs_sees_non_propagating_logger() -> None:
    quiet = logging.getLogger("actionsec.test.quiet")
    quiet.propagate = False
    try:
        with capture_logs() as lines:
            quiet.warning("secret %s", "cnry-nonpropagating")
        assert any("cnry-nonpropagating" in line for line in lines)
    finally:
        quiet.propagate = True


def test_leak_log_found_through_run_property(nova_target: Target) -> None:
    packer = nova_target.helpers["pack_action_start"]

    def chatty(context: Any, instance_uuid: Any, action_name: Any) -> Any:
        logging.getLogger("nova.objects").debug("auth %s", context.auth_token)
        return packer(context, instance_uuid, action_name)

    target = _with_helper(nova_target, "pack_action_start", chatty)
    result = run_property(
        Property("leak", "pack_action_start", "packer"),
        target,
        max_examples=100,
        seed=2,
        database=None,
    )
    assert result.status == "failed"
    assert _ids(result) == {"leak.log"}


# ---------------------------------------------------------------------------
# execute() and observe().


def test_execute_fills_the_observation(nova_target: Target) -> None:
    from pytest_actionsec.clock import SkewedClock

    c = new_canary("exception.args")
    call = dataclasses.replace(
        _finish_call(
            ExcSpec(
                base="nova.exception.NovaException",
                kwargs=(("message", b"x"),),
                trusted=True,
            )
        ),
        hostile=("trusted exception with non-text message",),
        canaries=(c,),
    )
    with SkewedClock() as clock:
        obs = execute(nova_target, call, clock=clock)
        assert obs.server_window == (call.server_time, call.server_time)
        assert obs.record["finish_time"] == call.server_time
    assert obs.bytes_inputs == (b"x",)
    assert obs.canaries == (c,)
    assert obs.hostile == call.hostile
    assert obs.input_text() == call_source(call, nova_target.path)
    assert obs.sources["request_id"] == "req-1"
    assert {v.invariant for v in judge(obs)} == {"type.bytes-repr"}


def test_observe_positional_boundary(nova_target: Target) -> None:
    ctx = nova_target.make_context(request_id="req-1", timestamp=dt.datetime(2026, 1, 1))
    try:
        raise ValueError("x")
    except ValueError as exc:
        caught = exc
    args = {
        "instance_uuid": UUID,
        "event_name": "e",
        "exc_val": caught,
        "exc_tb": caught.__traceback__,
    }
    keyword = observe(nova_target, FINISH, "boundary", ctx, args)
    positional = observe(nova_target, FINISH, "boundary", ctx, args, positional=True)
    assert isinstance(keyword.record["traceback"], str)
    assert positional.record["traceback"] is caught.__traceback__
    lo, hi = positional.server_window  # type: ignore[misc]
    assert lo <= positional.record["finish_time"] <= hi


def test_observe_fills_default_arguments(nova_target: Target) -> None:
    ctx = nova_target.make_context(request_id="r", timestamp=dt.datetime(2026, 1, 1))
    obs = observe(nova_target, FINISH, "packer", ctx, {"instance_uuid": UUID, "event_name": "e"})
    assert obs.arguments["exc_val"] is None and obs.arguments["exc_tb"] is None
    assert obs.record["result"] == "Success"
    start = observe(
        nova_target,
        "pack_action_event_start",
        "packer",
        ctx,
        {"instance_uuid": UUID, "event_name": "e"},
    )
    assert start.arguments["host"] is None


def test_observe_without_boundary_refuses(nova_target: Target) -> None:
    target = dataclasses.replace(nova_target, boundary=None)
    ctx = target.make_context(timestamp=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="no boundary"):
        observe(target, FINISH, "boundary", ctx, {"instance_uuid": UUID, "event_name": "e"})
