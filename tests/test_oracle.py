"""Unit tests for pytest_actionsec.oracle: hand-made observations, one per invariant."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pytest_actionsec.canaries import Canary, new_canary
from pytest_actionsec.oracle import (
    FAMILIES,
    INVARIANTS,
    Observation,
    Violation,
    judge,
)
from pytest_actionsec.specs import make_instance
from pytest_actionsec.targets import FAULT_SINK, Target, resolve_target

UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
TS = dt.datetime(2026, 11, 22, 11, 59, 30)  # the request's clock
NOW = dt.datetime(2026, 11, 22, 12, 0, 0)  # the server's clock
TB_TEXT = '  File "/opt/nova/compute/manager.py", line 2617, in _build\n    spawn()\n'


@pytest.fixture(scope="module")
def nova() -> Target:
    return resolve_target()


def _args(function: str) -> dict[str, Any]:
    return {
        "pack_action_start": {"instance_uuid": UUID, "action_name": "create"},
        "pack_action_finish": {"instance_uuid": UUID},
        "pack_action_event_start": {"instance_uuid": UUID, "event_name": "ev", "host": "cmp-1"},
        "pack_action_event_finish": {
            "instance_uuid": UUID,
            "event_name": "ev",
            "exc_val": None,
            "exc_tb": None,
        },
        FAULT_SINK: {
            "instance": make_instance(UUID),
            "fault": ValueError("x"),
            "exc_info": None,
            "fault_message": None,
        },
    }[function]


def _record(function: str, **changes: Any) -> dict[str, Any]:
    """What nova 34 packs for the default inputs of :func:`_obs`."""
    base: dict[str, Any] = {
        "pack_action_start": {
            "request_id": "req-1",
            "instance_uuid": UUID,
            "user_id": "u-1",
            "project_id": "p-1",
            "action": "create",
            "start_time": TS,
            "updated_at": TS,
        },
        "pack_action_finish": {
            "request_id": "req-1",
            "instance_uuid": UUID,
            "finish_time": NOW,
            "updated_at": NOW,
        },
        "pack_action_event_start": {
            "event": "ev",
            "instance_uuid": UUID,
            "request_id": "req-1",
            "start_time": NOW,
            "host": "cmp-1",
        },
        "pack_action_event_finish": {
            "event": "ev",
            "instance_uuid": UUID,
            "request_id": "req-1",
            "finish_time": NOW,
            "result": "Success",
        },
        FAULT_SINK: {
            "instance_uuid": UUID,
            "code": 500,
            "message": "ValueError",
            "details": "",
            "host": "cmp-1",
        },
    }[function]
    out = dict(base, **changes)
    return {k: v for k, v in out.items() if v is not _DROP}


_DROP: Any = object()


def _obs(
    target: Target,
    function: str,
    record: Any = None,
    *,
    sources: Mapping[str, Any] | None = None,
    arguments: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Observation:
    src = {"user_id": "u-1", "project_id": "p-1", "request_id": "req-1", "timestamp": TS}
    src.update(sources or {})
    args = _args(function)
    args.update(arguments or {})
    return Observation(
        function=function,
        layer=fields.pop("layer", "packer"),
        record=_record(function) if record is None and "error" not in fields else record,
        error=fields.pop("error", None),
        sources=src,
        arguments=args,
        server_window=fields.pop("server_window", (NOW, NOW)),
        schemas=target.schemas,
        trusted=target.trusted,
        **fields,
    )


def _error_obs(target: Target, exc_val: Any, details: Any, **changes: Any) -> Observation:
    """pack_action_event_finish with an error: exc_val and a text traceback."""
    record = _record("pack_action_event_finish", result="Error", details=details, traceback=TB_TEXT)
    record.update(changes)
    record = {k: v for k, v in record.items() if v is not _DROP}
    return _obs(
        target,
        "pack_action_event_finish",
        record,
        arguments={"exc_val": exc_val, "exc_tb": TB_TEXT},
    )


def _ids(violations: list[Violation]) -> set[str]:
    return {v.invariant for v in violations}


def _secret() -> Canary:
    return new_canary("exception.args")


# ---------------------------------------------------------------------------
# Baselines: what nova packs for ordinary input breaks nothing.


@pytest.mark.parametrize(
    "function",
    [
        "pack_action_start",
        "pack_action_finish",
        "pack_action_event_start",
        "pack_action_event_finish",
    ],
)
def test_correct_records_pass(nova: Target, function: str) -> None:
    assert judge(_obs(nova, function)) == []


def test_correct_fault_passes(nova: Target) -> None:
    assert judge(_obs(nova, FAULT_SINK)) == []
    trusted = _obs(nova, FAULT_SINK, _record(FAULT_SINK, code=404, message="Not found"))
    fault = nova.trusted[0]("Not found")
    fault.kwargs = {"code": 404}
    trusted = dataclasses.replace(trusted, arguments=dict(trusted.arguments, fault=fault))
    assert judge(trusted) == []


def test_fault_record_without_a_fault_is_a_crash(nova: Target) -> None:
    (v,) = judge(_obs(nova, FAULT_SINK, None, error=None))
    assert v.invariant == "crash.contract" and "recorded no fault" in v.evidence


@pytest.mark.parametrize(
    ("function", "field", "changes", "severity"),
    [
        (FAULT_SINK, "message", {}, "tenant"),
        (FAULT_SINK, "details", {}, "admin"),  # code 500: admins only
        (FAULT_SINK, "details", {"code": 400}, "tenant"),  # nova shows it to members
        (FAULT_SINK, "host", {}, "stored"),
        # nova 34's default os_compute_api:os-instance-actions:events:details is ADMIN
        ("pack_action_event_finish", "details", {}, "admin"),
        ("pack_action_event_finish", "traceback", {}, "admin"),
        ("pack_action_start", "user_id", {}, "tenant"),
    ],
)
def test_leak_severity_is_the_fields_audience(
    nova: Target, function: str, field: str, changes: dict[str, Any], severity: str
) -> None:
    c = _secret()
    record = _record(function, **changes)
    record[field] = f"text {c.token} text"
    obs = _obs(nova, function, record)
    if function == FAULT_SINK and "code" in changes:
        fault = ValueError("x")
        fault.kwargs = {"code": changes["code"]}  # type: ignore[attr-defined]
        obs = dataclasses.replace(obs, arguments=dict(obs.arguments, fault=fault))
    obs = dataclasses.replace(obs, canaries=(c,))
    found = [v for v in judge(obs) if v.invariant == "leak.field"]
    assert [(v.field, v.severity, v.label) for v in found] == [
        (field, severity, f"leak.{severity}")
    ]


def test_correct_error_record_passes(nova: Target) -> None:
    exc = ValueError("db password hunter2")
    assert judge(_error_obs(nova, exc, "ValueError")) == []


# ---------------------------------------------------------------------------
# One observation per invariant id: it triggers that invariant and nothing else.


def _leak_field(t: Target) -> Observation:
    c = _secret()
    obs = _error_obs(t, ValueError(c.token), "ValueError", traceback=TB_TEXT + c.token)
    obs = dataclasses.replace(obs, canaries=(c,))
    return obs


def _leak_log(t: Target) -> Observation:
    c = new_canary("context.auth_token")
    return _obs(t, "pack_action_start", canaries=(c,), logs=(f"token {c.token} used",))


def _type_field(t: Target) -> Observation:
    try:
        raise ValueError("x")
    except ValueError as exc:
        tb = exc.__traceback__
    obs = _error_obs(t, ValueError("x"), "ValueError", traceback=tb)
    obs = dataclasses.replace(obs, arguments=dict(obs.arguments, exc_tb=tb))
    return obs


def _type_bytes_repr(t: Target) -> Observation:
    from nova.exception import NovaException

    obs = _error_obs(t, NovaException(message=b"x"), "b'x'")
    obs = dataclasses.replace(obs, bytes_inputs=(b"x",))
    return obs


def _start_with(**changes: Any) -> Callable[[Target], Observation]:
    def make(t: Target) -> Observation:
        sources = {k: v for k, v in changes.items() if k in ("user_id", "project_id", "timestamp")}
        stored = {k: v for k, v in changes.items() if k != "timestamp"}
        return _obs(t, "pack_action_start", _record("pack_action_start", **stored), sources=sources)

    return make


class _Coded(Exception):
    """A fault carrying ``kwargs['code']`` 404, as a Nova exception does."""

    kwargs = {"code": 404}


_FRAMES = '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2671, in _build\n'


CASES: dict[str, Callable[[Target], Observation]] = {
    "leak.field": _leak_field,
    "leak.log": _leak_log,
    "type.field": _type_field,
    "type.bytes-repr": _type_bytes_repr,
    "type.store": lambda t: _obs(
        t, "pack_action_start", store_error=("type.store", "Error binding parameter 5")
    ),
    "null.preserved": lambda t: _obs(
        t,
        "pack_action_start",
        _record("pack_action_start", project_id="None"),
        sources={"project_id": None},
    ),
    "bounds.details": lambda t: _error_obs(t, "\u00e9" * 200, "\u00e9" * 128),
    "bounds.column": lambda t: _obs(
        t,
        "pack_action_start",
        _record("pack_action_start", action="a" * 256),
        arguments={"action_name": "a" * 256},
    ),
    "bounds.utf8": lambda t: _obs(
        t,
        "pack_action_event_start",
        _record("pack_action_event_start", event="ev\ud800"),
        arguments={"event_name": "ev\ud800"},
    ),
    "bounds.store": lambda t: _obs(
        t, "pack_action_finish", store_error=("bounds.store", "Data too long for column")
    ),
    "time.naive-utc": _start_with(
        start_time=TS.replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        updated_at=TS.replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        timestamp=TS.replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    ),
    "time.request-clock": _start_with(start_time=NOW, updated_at=NOW),
    "time.server-clock": lambda t: _obs(
        t, "pack_action_finish", _record("pack_action_finish", finish_time=TS, updated_at=TS)
    ),
    "time.mirror": _start_with(updated_at=NOW),
    "integrity.result": lambda t: _error_obs(t, None, _DROP, result="Failed"),
    "integrity.ids": lambda t: _obs(
        t, "pack_action_finish", _record("pack_action_finish", request_id="req-2")
    ),
    "integrity.details": lambda t: _error_obs(t, ValueError("x"), _DROP),
    "integrity.columns": lambda t: _obs(
        t, "pack_action_event_start", _record("pack_action_event_start", host=_DROP, spare=1)
    ),
    "purity.inputs": lambda t: _obs(
        t, "pack_action_event_finish", impurities=("exc_val: args changed",)
    ),
    "purity.globals": lambda t: _obs(
        t, "pack_action_finish", globals_changed=("os.environ: set NOVA_DEBUG",)
    ),
    "crash.contract": lambda t: _obs(
        t, "pack_action_event_finish", error=AttributeError("'list' has no attribute 'get'")
    ),
    "crash.hostile": lambda t: _obs(
        t,
        "pack_action_event_finish",
        error=RuntimeError("boom"),
        hostile=("exc_tb is bytes",),
    ),
    "crash.timeout": lambda t: _obs(t, "pack_action_finish", error=None, timed_out=0.5),
    "crash.api": lambda t: _obs(
        t, "pack_action_start", layer="api", render_error="ValueError: not a datetime"
    ),
    "integrity.code": lambda t: _obs(t, FAULT_SINK, _record(FAULT_SINK, code=400)),
    # a Nova exception's own code 404, and frames in details (nova stores none then)
    "leak.fault-frames": lambda t: _obs(
        t,
        FAULT_SINK,
        _record(FAULT_SINK, code=404, details=_FRAMES),
        arguments={"fault": _Coded()},
    ),
}


def test_every_invariant_has_a_case() -> None:
    assert set(CASES) == set(INVARIANTS)
    assert {i.family for i in INVARIANTS.values()} == set(FAMILIES)
    for inv_id, inv in INVARIANTS.items():
        assert inv.id == inv_id and inv_id.startswith(inv.family + ".")
        assert inv.statement and inv.source


@pytest.mark.parametrize("invariant", sorted(INVARIANTS))
def test_invariant_is_triggered(nova: Target, invariant: str) -> None:
    found = judge(CASES[invariant](nova))
    assert _ids(found) == {invariant}
    family = INVARIANTS[invariant].family
    assert all(v.family == family for v in found)
    # only that family checked: still found; every other family: silent
    assert _ids(judge(CASES[invariant](nova), [family])) == {invariant}
    others = [f for f in FAMILIES if f != family]
    assert judge(CASES[invariant](nova), others) == []


def test_violation_fields(nova: Target) -> None:
    (v,) = judge(CASES["integrity.ids"](nova))
    assert (v.invariant, v.family, v.function, v.layer, v.field) == (
        "integrity.ids",
        "integrity",
        "pack_action_finish",
        "packer",
        "request_id",
    )
    assert "req-2" in v.evidence and "req-1" in v.evidence
    assert not hasattr(v, "statement")  # data: the statement is the registry's
    assert v.to_dict() == {
        "invariant": "integrity.ids",
        "family": "integrity",
        "function": "pack_action_finish",
        "layer": "packer",
        "field": "request_id",
        "input": v.input,
        "evidence": v.evidence,
    }
    assert v.key() == ("integrity.ids", "pack_action_finish", "packer", "request_id", "")
    assert "pack_action_finish(" in v.input and UUID in v.input


def test_input_text_uses_describe_input(nova: Target) -> None:
    obs = CASES["integrity.ids"](nova)
    obs = dataclasses.replace(obs, describe_input=lambda: "print('replay me')")
    (v,) = judge(obs)
    assert v.input == "print('replay me')"


def test_unknown_family_is_refused(nova: Target) -> None:
    with pytest.raises(ValueError, match="unknown invariant families"):
        judge(_obs(nova, "pack_action_finish"), ["leaks"])


def test_type_field_kind_names_the_offending_type(nova: Target) -> None:
    (v,) = judge(CASES["type.field"](nova))
    assert (v.field, v.kind) == ("traceback", "traceback")


def test_purity_globals_kind_names_what_changed(nova: Target) -> None:
    obs = _obs(
        nova,
        "pack_action_finish",
        globals_changed=("os.environ: set X", "root logger level: WARNING -> DEBUG"),
    )
    (v,) = judge(obs)
    assert v.kind == "os.environ,root"
    assert "(restored)" in v.evidence


def test_crash_kind_is_the_exception_type(nova: Target) -> None:
    (v,) = judge(CASES["crash.contract"](nova))
    assert v.kind == "AttributeError" and "AttributeError" in v.evidence


# ---------------------------------------------------------------------------
# Near misses.


def test_details_of_exactly_255_bytes_ending_in_a_4_byte_character(nova: Target) -> None:
    details = "x" * 251 + "\U0001d11e"
    assert len(details.encode("utf-8")) == 255
    assert judge(_error_obs(nova, details + " and more", details)) == []


def test_details_of_256_bytes_is_flagged(nova: Target) -> None:
    details = "x" * 252 + "\U0001d11e"
    assert _ids(judge(_error_obs(nova, details + " and more", details))) == {"bounds.details"}


def test_details_with_the_broken_last_character_dropped(nova: Target) -> None:
    message = "x" * 252 + "\U0001d11e"  # safe_truncate drops the 4-byte char
    assert judge(_error_obs(nova, message, "x" * 252)) == []


def test_details_from_str_of_untrusted_exception_is_flagged(nova: Target) -> None:
    """CVE-2019-14433: str(exc) of a non-Nova exception must not be stored."""
    c = _secret()
    exc = ValueError(f"mysql://nova:{c.token}@db")
    obs = _error_obs(nova, exc, str(exc))
    obs = dataclasses.replace(obs, canaries=(c,))
    found = judge(obs)
    assert _ids(found) == {"bounds.details", "leak.field"}
    assert [v.field for v in found if v.invariant == "leak.field"] == ["details"]


def test_trusted_format_message_is_a_valid_details(nova: Target) -> None:
    from nova.exception import InstanceNotFound

    exc = InstanceNotFound(instance_id="abc")
    assert judge(_error_obs(nova, exc, exc.format_message())) == []
    assert judge(_error_obs(nova, exc, "InstanceNotFound")) == []  # the class name fallback
    wrong = exc.format_message() + " on host cmp-1"
    assert _ids(judge(_error_obs(nova, exc, wrong))) == {"bounds.details"}


def test_trusted_with_failing_format_message_may_store_class_name(nova: Target) -> None:
    from nova.exception import NovaException

    class Broken(NovaException):
        def format_message(self) -> str:
            raise RuntimeError("no")

    assert judge(_error_obs(nova, Broken(), "Broken")) == []


def test_aware_datetime_flagged_but_naive_fake_datetime_is_not(nova: Target) -> None:
    import freezegun

    with freezegun.freeze_time(NOW):
        naive = dt.datetime.now()
        aware = dt.datetime.now(dt.timezone.utc)
    assert type(naive) is not dt.datetime and isinstance(naive, dt.datetime)
    fine = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", start_time=naive, updated_at=naive),
        sources={"timestamp": naive},
    )
    assert judge(fine) == []
    finish = _obs(
        nova,
        "pack_action_finish",
        _record("pack_action_finish", finish_time=naive, updated_at=naive),
        server_window=(naive, naive),
    )
    assert judge(finish) == []
    bad = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", start_time=aware, updated_at=aware),
        sources={"timestamp": aware},
    )
    assert _ids(judge(bad)) == {"time.naive-utc"}
    assert {v.field for v in judge(bad)} == {"start_time", "updated_at"}


def test_aware_utc_equal_to_naive_is_same_request_clock(nova: Target) -> None:
    aware = TS.replace(tzinfo=dt.timezone.utc)
    obs = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", start_time=aware, updated_at=aware),
        sources={"timestamp": TS},
    )
    assert _ids(judge(obs)) == {"time.naive-utc"}


def test_server_clock_window_inclusive(nova: Target) -> None:
    lo, hi = NOW, NOW + dt.timedelta(seconds=1)
    for when in (lo, hi):
        obs = _obs(
            nova,
            "pack_action_event_start",
            _record("pack_action_event_start", start_time=when),
            server_window=(lo, hi),
        )
        assert judge(obs) == []
    late = _obs(
        nova,
        "pack_action_event_start",
        _record("pack_action_event_start", start_time=hi + dt.timedelta(microseconds=1)),
        server_window=(lo, hi),
    )
    assert _ids(judge(late)) == {"time.server-clock"}


def test_server_clock_hint_names_the_request_timestamp(nova: Target) -> None:
    (v,) = judge(CASES["time.server-clock"](nova))
    assert "request's timestamp" in v.evidence


def test_user_id_canary_in_user_id_is_fine_but_in_details_leaks(nova: Target) -> None:
    user = new_canary("context.user_id", allowed=["user_id"])
    start = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", user_id=user.token),
        sources={"user_id": user.token},
        canaries=(user,),
    )
    assert judge(start) == []
    message = f"quota exceeded for user {user.token}"
    leaked = _error_obs(nova, message, message)
    leaked = dataclasses.replace(leaked, canaries=(user,))
    found = judge(leaked)
    assert _ids(found) == {"leak.field"}
    assert found[0].field == "details"


def test_allowed_canary_in_logs_is_not_a_leak(nova: Target) -> None:
    user = new_canary("context.user_id", allowed=["user_id"])
    obs = _obs(nova, "pack_action_start", canaries=(user,), logs=(f"user {user.token}",))
    assert judge(obs) == []


def test_leak_in_logs_is_found_even_when_the_helper_raised(nova: Target) -> None:
    c = new_canary("context.auth_token")
    obs = _obs(
        nova,
        "pack_action_finish",
        error=TypeError("x"),
        hostile=("context lacks request_id",),
        canaries=(c,),
        logs=(c.token.upper(),),
    )
    assert _ids(judge(obs)) == {"leak.log"}


@pytest.mark.parametrize("error", [TypeError("bad"), ValueError("bad")])
def test_type_or_value_error_on_hostile_input_is_fine(nova: Target, error: Exception) -> None:
    hostile = _obs(nova, "pack_action_start", error=error, hostile=("action_name=int 1 chars",))
    assert judge(hostile) == []
    contract = _obs(nova, "pack_action_start", error=error)
    assert _ids(judge(contract)) == {"crash.contract"}


def test_non_dict_return(nova: Target) -> None:
    assert _ids(judge(_obs(nova, "pack_action_start", ["not", "a", "dict"]))) == {"crash.contract"}
    hostile = _obs(nova, "pack_action_start", "text", hostile=("x",))
    assert _ids(judge(hostile)) == {"crash.hostile"}


def test_none_sources_stored_as_none(nova: Target) -> None:
    obs = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", user_id=None, project_id=None, request_id=None),
        sources={"user_id": None, "project_id": None, "request_id": None},
    )
    assert judge(obs) == []
    empty = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", project_id=""),
        sources={"project_id": None},
    )
    assert _ids(judge(empty)) == {"null.preserved"}


def test_no_exc_tb_but_traceback_stored(nova: Target) -> None:
    record = _record("pack_action_event_finish", traceback="tb")
    found = judge(_obs(nova, "pack_action_event_finish", record))
    assert ("null.preserved", "traceback") in {(v.invariant, v.field) for v in found}


def test_empty_text_traceback_is_still_an_error(nova: Target) -> None:
    record = _record("pack_action_event_finish", result="Error", traceback="")
    obs = _obs(nova, "pack_action_event_finish", record, arguments={"exc_tb": ""})
    assert judge(obs) == []


def test_falsy_exception_without_details_is_flagged(nova: Target) -> None:
    class Falsy(Exception):
        def __bool__(self) -> bool:
            return False

    assert _ids(judge(_error_obs(nova, Falsy("x"), _DROP))) == {"integrity.details"}
    # no exception and no message: no details expected
    assert judge(_error_obs(nova, None, _DROP)) == []
    assert judge(_error_obs(nova, "", _DROP)) == []


def test_bytes_repr_only_for_bytes_from_the_input(nova: Target) -> None:
    from nova.exception import NovaException

    exc = NovaException(message=b"x")
    # nova turned the bytes into "b'x'" at construction: without bytes_inputs the
    # oracle cannot tell it from a message that is literally "b'x'"
    assert judge(_error_obs(nova, exc, "b'x'")) == []
    assert _ids(judge(_type_bytes_repr(nova))) == {"type.bytes-repr"}


def test_datetime_in_a_string_field(nova: Target) -> None:
    obs = _obs(
        nova,
        "pack_action_start",
        _record("pack_action_start", start_time=TS.isoformat(), updated_at=TS.isoformat()),
    )
    found = judge(obs, ["type"])
    assert {(v.invariant, v.field, v.kind) for v in found} == {
        ("type.field", "start_time", "str"),
        ("type.field", "updated_at", "str"),
    }


def test_purity_reported_with_other_findings(nova: Target) -> None:
    obs = _obs(
        nova,
        "pack_action_finish",
        error=TypeError("x"),
        impurities=("context: request_id changed",),
    )
    assert _ids(judge(obs)) == {"purity.inputs", "crash.contract"}


def test_decoded_bytes_from_trusted_format_message_is_not_a_bounds_violation(nova: Target) -> None:
    from nova.exception import NovaException

    from pytest_actionsec.engine import observe

    class BytesMessage(NovaException):
        def format_message(self) -> Any:
            return b"Instance failed"

    ctx = nova.make_context(request_id="req-1", timestamp=TS)
    obs = observe(
        nova,
        "pack_action_event_finish",
        "packer",
        ctx,
        {"instance_uuid": UUID, "event_name": "ev", "exc_val": BytesMessage(), "exc_tb": TB_TEXT},
    )
    obs = dataclasses.replace(obs, hostile=("trusted exception with non-text message",))
    # nova.utils.safe_truncate encodes then decodes: the stored text is the message
    assert obs.record["details"] == "Instance failed"
    assert "bounds.details" not in _ids(judge(obs))


# ---------------------------------------------------------------------------
# Values that fight back: the oracle measures what the database would store.


class _FightingStr(str):
    """A str whose own methods raise: only str's (base class) methods may measure it."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encode")

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __contains__(self, item: object) -> bool:
        raise RuntimeError("contains")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = str.__hash__

    def casefold(self) -> str:
        raise RuntimeError("casefold")

    def startswith(self, *args: Any) -> bool:
        raise RuntimeError("startswith")


def _fighting(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _FightingStr(v) if isinstance(v, str) else v for k, v in record.items()}


@pytest.mark.parametrize(
    "function",
    ["pack_action_start", "pack_action_finish", "pack_action_event_start"],
)
def test_str_subclass_whose_methods_raise_is_judged_by_its_text(
    nova: Target, function: str
) -> None:
    # still text to the database, holding the right characters: no finding, no crash
    obs = _obs(nova, function, _fighting(_record(function)), canaries=(_secret(),))
    assert judge(obs) == []


def test_str_subclass_error_record_is_judged_by_its_text(nova: Target) -> None:
    c = _secret()
    good = _error_obs(nova, ValueError("x"), "ValueError")
    good = dataclasses.replace(good, record=_fighting(good.record))
    good = dataclasses.replace(good, canaries=(c,))
    assert judge(good) == []
    # the same helper with faults in the text the subclass holds: found as for a str
    bad = _error_obs(nova, ValueError(c.token), "ValueError" + "x" * 300)
    bad = dataclasses.replace(
        bad,
        record=_fighting(dict(bad.record, traceback=TB_TEXT + c.token, result="Done")),
        canaries=(c,),
    )
    found = judge(bad)
    assert {(v.invariant, v.field) for v in found} == {
        ("leak.field", "traceback"),
        ("integrity.result", "result"),
        ("bounds.details", "details"),
    }
    start = _obs(
        nova,
        "pack_action_start",
        _fighting(_record("pack_action_start", action="a" * 256)),
        arguments={"action_name": "a" * 256},
    )
    assert {(v.invariant, v.evidence) for v in judge(start)} == {
        ("bounds.column", "256 characters, column holds 255")
    }
    surrogate = _obs(
        nova,
        "pack_action_event_start",
        _fighting(_record("pack_action_event_start", event="ev\ud800")),
        arguments={"event_name": "ev\ud800"},
    )
    assert _ids(judge(surrogate)) == {"bounds.utf8"}


# ---------------------------------------------------------------------------
# Field kinds come from the target's oslo.versionedobjects field types.


def _with_field(obs: Observation, table: str, name: str, field: Any) -> Observation:
    schemas = {t: dict(f) for t, f in obs.schemas.items()}
    schemas[table][name] = field
    return dataclasses.replace(obs, schemas=schemas)


def test_a_forks_own_string_type_is_text(nova: Target) -> None:
    """A field whose type subclasses ovo's String is text, whatever the field's name."""
    from oslo_versionedobjects import fields as ovo

    class Opaque(ovo.SensitiveString):
        pass

    class OpaqueField(ovo.AutoTypedField):
        AUTO_TYPE = Opaque()

    record = _record("pack_action_start", requester=5)
    obs = _with_field(
        _obs(nova, "pack_action_start", record), "instance_actions", "requester", OpaqueField()
    )
    (v,) = judge(obs, {"type"})
    assert (v.invariant, v.field, v.kind) == ("type.field", "requester", "int")
    ok = dict(record, requester="alice")
    assert judge(dataclasses.replace(obs, record=ok), {"type"}) == []


def test_a_list_of_strings_field_is_not_text(nova: Target) -> None:
    """ListOfStringsField's name says String, its type is a list: no text check on it."""
    from oslo_versionedobjects import fields as ovo

    record = _record("pack_action_start", tags=["a", "b"])
    obs = _obs(nova, "pack_action_start", record)
    obs = _with_field(obs, "instance_actions", "tags", ovo.ListOfStringsField())
    assert judge(obs, {"type"}) == []


def test_non_negative_integer_fields_are_integers(nova: Target) -> None:
    from oslo_versionedobjects import fields as ovo

    record = _record("pack_action_start", attempts="3")
    obs = _with_field(
        _obs(nova, "pack_action_start", record),
        "instance_actions",
        "attempts",
        ovo.NonNegativeIntegerField(),
    )
    (v,) = judge(obs, {"type"})
    assert (v.field, v.kind) == ("attempts", "str")


def test_bytes_repr_in_a_faults_traceback_blames_the_exceptions_class(nova: Target) -> None:
    """nova's fault details quote str(fault); a class whose str() is a bytes repr made it."""
    from nova.exception import NovaException

    fault = NovaException(message=b"x")
    details = "Traceback (most recent call last):\n  ...\nnova.exception.NovaException: b'x'\n"
    obs = _obs(nova, FAULT_SINK, _record(FAULT_SINK, message="b'x'", details=details))
    obs = dataclasses.replace(obs, arguments=dict(obs.arguments, fault=fault))
    obs = dataclasses.replace(obs, bytes_inputs=(b"x",))
    found = {v.field: v.blame for v in judge(obs) if v.invariant == "type.bytes-repr"}
    assert found == {
        "message": "input class nova.exception.NovaException",  # its format_message()
        "details": "input class nova.exception.NovaException",  # its str() in the traceback
    }
    # the same text made by the code under test, not as a traceback's line, is its own
    obs = dataclasses.replace(
        obs, record=_record(FAULT_SINK, message="ValueError", details="error: b'x'")
    )
    (v,) = [v for v in judge(obs) if v.invariant == "type.bytes-repr"]
    assert v.field == "details" and v.blame == ""


def test_api_layer_caps_a_leaks_severity_at_who_was_shown_it(nova: Target) -> None:
    """At the api layer a leak is only as wide as the rendered rows that show the canary."""
    c = _secret()
    record = _record(FAULT_SINK, message=f"text {c.token}")

    def judged(views: dict[str, Any]) -> set[tuple[str | None, str, tuple[str, ...]]]:
        obs = _obs(nova, FAULT_SINK, dict(record), layer="api", views=views)
        obs = dataclasses.replace(obs, canaries=(c,))
        return {
            (v.field, v.severity, v.audience) for v in judge(obs) if v.invariant == "leak.field"
        }

    shown = {"message": record["message"], "code": 500}
    assert judged({"project_member@2.1": shown, "project_admin@2.1": shown}) == {
        ("message", "tenant", ("project_admin", "project_member"))
    }
    assert judged({"project_member@2.1": {"code": 500}, "project_admin@2.1": shown}) == {
        ("message", "admin", ("project_admin",))
    }
    # a rendering for a persona that does not read the field does not widen it
    assert judged({"other_project_reader@2.1": shown, "admin@2.1": shown}) == {
        ("message", "admin", ("admin",))
    }
    hidden = {"project_member@2.1": {"code": 500}, "project_admin@2.1": {"code": 500}}
    assert judged(hidden) == {("message", "stored", ())}
    # the packer layer has no views: the field's audience alone decides
    packed = _obs(nova, FAULT_SINK, dict(record))
    packed = dataclasses.replace(packed, canaries=(c,))
    assert {v.severity for v in judge(packed) if v.invariant == "leak.field"} == {"tenant"}
    (leak,) = [v for v in judge(packed) if v.invariant == "leak.field"]
    assert leak.audience == (
        "admin",
        "project_admin",
        "project_manager",
        "project_member",
        "project_reader",
    )


def test_a_key_that_is_no_column_is_never_a_leak(nova: Target) -> None:
    """nova's DB API never writes a key that is no column (an event has no ``message``):
    no one reads it, so a secret there is no leak (integrity.columns names the key)."""
    c = _secret()
    obs = _error_obs(nova, ValueError(c.token), "ValueError", message=f"boom {c.token}")
    obs = dataclasses.replace(obs, canaries=(c,))
    found = {(v.invariant, v.field) for v in judge(obs)}
    assert ("leak.field", "message") not in found
    assert ("integrity.columns", "message") in found
    leaked = dataclasses.replace(obs, record=dict(obs.record, details=f"x {c.token}"))
    assert ("leak.field", "details") in {(v.invariant, v.field) for v in judge(leaked)}


@pytest.mark.parametrize(
    ("code", "details", "found"),
    [
        (404, _FRAMES, True),
        (400, "Traceback (most recent call last):\n" + _FRAMES, True),
        (500, _FRAMES, False),  # nova's own: frames for admins at code 500
        (404, "", False),
        (404, None, False),
        (404, "Instance could not be found.", False),  # text, no frames
        ("404", _FRAMES, False),  # not an int: the API's readers are those of 500
    ],
)
def test_fault_frames_only_at_a_code_other_than_500(
    nova: Target, code: Any, details: Any, found: bool
) -> None:
    """``leak.fault-frames``: traceback frames in the details of a fault whose code is
    not 500 are a tenant leak (nova's servers view shows them to members)."""
    obs = _obs(
        nova,
        FAULT_SINK,
        _record(FAULT_SINK, code=code, details=details),
        arguments={"fault": _Coded()},
    )
    hits = [v for v in judge(obs, ["leak"]) if v.invariant == "leak.fault-frames"]
    assert bool(hits) == found, hits
    if found:
        (v,) = hits
        assert v.field == "details" and v.severity == "tenant", v
