"""Real findings on nova 34.0.0 (NOVA_FACTS, "Behaviour of nova 34.0.0 seen by running it").

Each test calls nova's own helpers through :func:`pytest_actionsec.engine.observe`
with explicit inputs and checks the oracle reports the behaviour as the expected
finding. No part of nova is mocked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import TracebackType
from typing import Any

import pytest

from pytest_actionsec.engine import execute, observe
from pytest_actionsec.oracle import Observation, Violation, judge
from pytest_actionsec.strategies import Call, ContextSpec, ExcSpec
from pytest_actionsec.targets import Target, resolve_target

UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
TS = dt.datetime(2026, 11, 22, 11, 59, 30)
FINISH = "pack_action_event_finish"


@pytest.fixture(scope="module")
def nova_target() -> Target:
    import nova

    assert nova.__file__ is not None
    from importlib.metadata import version

    assert version("nova") == "34.0.0"
    return resolve_target()


def _ctx(target: Target, **attrs: Any) -> Any:
    values = {"user_id": "u-1", "project_id": "p-1", "request_id": "req-1", "timestamp": TS}
    values.update(attrs)
    return target.make_context(**values)


def _live_traceback(text: str = "db password hunter2") -> tuple[BaseException, TracebackType]:
    password = "hunter2"  # noqa: F841 - a frame local a traceback object keeps alive
    try:
        raise ValueError(text)
    except ValueError as exc:
        assert exc.__traceback__ is not None
        return exc, exc.__traceback__


def _finish(
    target: Target,
    exc_val: Any,
    exc_tb: Any,
    *,
    layer: str = "packer",
    positional: bool = False,
    hostile: tuple[str, ...] = (),
) -> Observation:
    obs = observe(
        target,
        FINISH,
        layer,
        _ctx(target),
        {
            "instance_uuid": UUID,
            "event_name": "compute_reboot",
            "exc_val": exc_val,
            "exc_tb": exc_tb,
        },
        positional=positional,
    )
    obs = dataclasses.replace(obs, hostile=hostile)
    return obs


def _found(violations: list[Violation]) -> set[tuple[str, str | None, str]]:
    return {(v.invariant, v.field, v.kind) for v in violations}


# ---------------------------------------------------------------------------
# Live traceback objects.


def test_live_traceback_stored_by_the_packer(nova_target: Target) -> None:
    """Called directly, nova 34 stores a live traceback object as ``traceback``.

    ``values['traceback'] = exc_tb`` copies whatever it is given; a traceback object
    in a StringField (sqlite then fails: "type 'traceback' is not supported").
    """
    exc, tb = _live_traceback()
    obs = _finish(nova_target, exc, tb, hostile=("exc_tb is a traceback object",))
    assert obs.error is None and obs.record["traceback"] is tb
    assert obs.record["result"] == "Error" and obs.record["details"] == "ValueError"
    assert _found(judge(obs)) == {("type.field", "traceback", "traceback")}


def test_live_traceback_positional_through_serialize_args(nova_target: Target) -> None:
    """serialize_args formats only KEYWORD arguments: passed positionally, exc_val and
    exc_tb reach the packer as they are, and the traceback object is stored."""
    exc, tb = _live_traceback()
    obs = _finish(
        nova_target,
        exc,
        tb,
        layer="boundary",
        positional=True,
        hostile=("exc_val/exc_tb passed positionally through the boundary",),
    )
    assert obs.record["traceback"] is tb
    assert _found(judge(obs)) == {("type.field", "traceback", "traceback")}


def test_live_traceback_as_keyword_through_serialize_args_is_fine(nova_target: Target) -> None:
    """The contract way: as keywords, serialize_args turns the traceback into frames and
    source lines (no message, no locals) and exc_val into the class name."""
    exc, tb = _live_traceback("db password hunter2")
    obs = _finish(nova_target, exc, tb, layer="boundary")
    assert isinstance(obs.record["traceback"], str)
    assert "_live_traceback" in obs.record["traceback"]
    assert "hunter2" not in obs.record["traceback"]
    assert obs.record["details"] == "ValueError"
    assert judge(obs) == []


# ---------------------------------------------------------------------------
# Non-text exc_tb.


@pytest.mark.parametrize(
    ("exc_tb", "kind"), [(0, "int"), (b"Traceback (most recent call last)", "bytes"), ([1], "list")]
)
def test_non_text_exc_tb_stored_as_given_by_the_packer(
    nova_target: Target, exc_tb: Any, kind: str
) -> None:
    """nova 34's packer stores exc_tb=0, b'..' and [1] as given in the traceback field."""
    obs = _finish(nova_target, ValueError("x"), exc_tb, hostile=(f"exc_tb is {kind}",))
    assert obs.record["traceback"] is exc_tb
    assert obs.record["result"] == "Error"
    assert _found(judge(obs)) == {("type.field", "traceback", kind)}


def test_zero_exc_tb_through_serialize_args_is_stored(nova_target: Target) -> None:
    """serialize_args skips a falsy exc_tb (``elif k == 'exc_tb' and v ...``): 0 is
    stored as the int 0 with result 'Error'."""
    obs = _finish(nova_target, ValueError("x"), 0, layer="boundary", hostile=("exc_tb is int",))
    assert obs.record["traceback"] == 0
    assert _found(judge(obs)) == {("type.field", "traceback", "int")}


@pytest.mark.parametrize(("exc_tb", "kind"), [(b"Traceback ..", "bytes"), ([1], "list")])
def test_non_text_exc_tb_crashes_serialize_args(
    nova_target: Target, exc_tb: Any, kind: str
) -> None:
    """serialize_args calls traceback.format_tb on any truthy non-str exc_tb: bytes and
    lists raise AttributeError ('... has no attribute tb_frame'), so nothing is recorded."""
    obs = _finish(
        nova_target, ValueError("x"), exc_tb, layer="boundary", hostile=(f"exc_tb is {kind}",)
    )
    assert isinstance(obs.error, AttributeError) and "tb_frame" in str(obs.error)
    assert _found(judge(obs)) == {("crash.hostile", None, "AttributeError")}


# ---------------------------------------------------------------------------
# Exceptions nova mishandles.


class FalsyError(Exception):
    """An exception whose truth value is False (like a container exception that is empty)."""

    def __bool__(self) -> bool:
        return False


@pytest.mark.parametrize("layer", ["packer", "boundary"])
def test_falsy_exception_stores_no_details(nova_target: Target, layer: str) -> None:
    """``if exc_val:`` in nova 34 (and ``if k == 'exc_val' and v`` in serialize_args):
    an exception whose __bool__ is False gives result 'Error' with no details."""
    obs = _finish(nova_target, FalsyError("disk full"), "tb text", layer=layer)
    assert obs.record["result"] == "Error" and "details" not in obs.record
    assert _found(judge(obs)) == {("integrity.details", "details", "")}


def _kwargs_error(value: Any) -> BaseException:
    exc = RuntimeError("libvirt: connection lost")
    exc.kwargs = value  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize("kwargs", [["code"], "code=500", 5, None])
def test_non_dict_kwargs_crashes_the_packer(nova_target: Target, kwargs: Any) -> None:
    """nova.compute.utils.exception_to_dict does ``fault.kwargs.get('code', 500)`` for any
    exception with a kwargs attribute: a non-dict one raises AttributeError, within the
    calling contract, and the failure is not recorded at all."""
    obs = _finish(nova_target, _kwargs_error(kwargs), "tb text")
    assert isinstance(obs.error, AttributeError) and obs.record is None
    assert _found(judge(obs)) == {("crash.contract", None, "AttributeError")}


def test_non_dict_kwargs_through_serialize_args_is_fine(nova_target: Target) -> None:
    """Through serialize_args (keywords) the exception becomes its class name before
    exception_to_dict sees it, so the boundary records the failure."""
    obs = _finish(nova_target, _kwargs_error(["code"]), "tb text", layer="boundary")
    assert obs.error is None and obs.record["details"] == "RuntimeError"
    assert judge(obs) == []


def test_bytes_message_of_a_nova_exception_is_stored_as_its_repr(nova_target: Target) -> None:
    """NovaException(message=b'x') formats the bytes with str(): details is "b'x'"."""
    from nova.exception import NovaException

    obs = _finish(
        nova_target,
        NovaException(message=b"x"),
        "tb text",
        hostile=("trusted exception with non-text message",),
    )
    assert obs.record["details"] == "b'x'"
    # observe() cannot know the bytes the exception was built from: say so, as
    # engine.execute does from the drawn ExcSpec
    obs = dataclasses.replace(obs, bytes_inputs=(b"x",))
    assert _found(judge(obs)) == {("type.bytes-repr", "details", "")}


def test_bytes_message_found_through_execute(nova_target: Target) -> None:
    """The same, from a drawn call: engine.execute fills bytes_inputs from the ExcSpec."""
    call = Call(
        function=FINISH,
        layer="packer",
        context=ContextSpec((("request_id", "req-1"), ("timestamp", TS))),
        arguments=(
            ("instance_uuid", UUID),
            ("event_name", "compute_reboot"),
            (
                "exc_val",
                ExcSpec(
                    base="nova.exception.NovaException",
                    kwargs=(("message", b"x"),),
                    trusted=True,
                ),
            ),
            ("exc_tb", "tb text"),
        ),
        server_time=TS,
        hostile=("trusted exception with non-text message",),
    )
    obs = execute(nova_target, call)
    assert obs.bytes_inputs == (b"x",)
    assert _found(judge(obs)) == {("type.bytes-repr", "details", "")}


# ---------------------------------------------------------------------------
# Time.


def test_aware_timestamp_is_copied_as_is(nova_target: Target) -> None:
    """pack_action_start copies context.timestamp into start_time and updated_at without
    converting it; the DB layer later drops the offset without converting to UTC."""
    aware = TS.replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    obs = observe(
        nova_target,
        "pack_action_start",
        "packer",
        _ctx(nova_target, timestamp=aware),
        {"instance_uuid": UUID, "action_name": "reboot"},
    )
    obs = dataclasses.replace(obs, hostile=("aware timestamp (UTC+330 min)",))
    assert obs.record["start_time"] is aware and obs.record["updated_at"] is aware
    assert _found(judge(obs)) == {
        ("time.naive-utc", "start_time", ""),
        ("time.naive-utc", "updated_at", ""),
    }


# ---------------------------------------------------------------------------
# Dead code paths (not pack helpers, so not oracle findings).


def test_instance_action_event_finish_always_raises_type_error(nova_target: Target) -> None:
    """InstanceActionEvent.finish() passes its context positionally as exc_val and then
    exc_val again by keyword: it raises TypeError before reaching the database."""
    from nova.objects.instance_action import InstanceActionEvent

    event = InstanceActionEvent(context=_ctx(nova_target))
    event.instance_uuid = UUID
    event.event = "compute_reboot"
    with pytest.raises(TypeError, match="exc_val"):
        event.finish()
