"""Unit tests for pytest_actionsec.strategies, drawing real values for the real nova target."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, NoSuchExample

from pytest_actionsec import draws
from pytest_actionsec.canaries import Canary, planted_canaries, render_text
from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import execute
from pytest_actionsec.snippets import call_source
from pytest_actionsec.strategies import (
    Call,
    ContextSpec,
    ExcSpec,
    TbSpec,
    action_names,
    build_exception,
    calls,
    contexts,
    event_names,
    exc_values,
    exceptions,
    hosts,
    instance_uuids,
    probes,
    raise_through_frame,
    server_times,
    timestamps,
    tracebacks,
)
from pytest_actionsec.targets import PlainContext, Target, resolve_target

COMBOS = [
    ("pack_action_start", "packer"),
    ("pack_action_finish", "packer"),
    ("pack_action_event_start", "packer"),
    ("pack_action_event_finish", "packer"),
    ("pack_action_event_finish", "boundary"),
]
QUICK = settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
SEARCH = settings(
    max_examples=3000,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def nova_target() -> Target:
    return resolve_target()


def _find(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    """The first drawn value meeting ``condition`` (fails the test if none in 3000)."""
    return find(strategy, condition, settings=SEARCH, random=random.Random(20261122))


def _raises(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except Exception:
        return True
    return False


def _naive(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is None


# The contract domains of values.py's table, written out again here.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,255}")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,255}")
_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_REQUEST_ID = re.compile(rf"req-(?:{_UUID4}|[0-9a-f]{{12}}cnry[0-9a-f]{{4}})")


def _bmp(value: str) -> bool:
    return all(ord(c) <= 0xFFFF for c in value)


def _astral(value: Any) -> bool:
    return isinstance(value, str) and any(ord(c) > 0xFFFF for c in value)


def _keystone_id(value: Any) -> bool:
    """None, or printable BMP text of 1 to 64 characters (32 hex digits among them)."""
    return value is None or (
        isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable() and _bmp(value)
    )


def _contract_ids(ctx: Any) -> None:
    assert _REQUEST_ID.fullmatch(ctx.request_id), ctx.request_id
    assert _keystone_id(ctx.user_id), ctx.user_id
    assert _keystone_id(ctx.project_id), ctx.project_id


# ---------------------------------------------------------------------------
# Leaf strategies: contract values.


@QUICK
@given(st.one_of(action_names(), event_names()))
def test_names_contract(name: Any) -> None:
    """Nova's own identifiers: ASCII letters, digits, ``_`` and ``-``, 1 to 255."""
    assert isinstance(name, str)
    assert _IDENTIFIER.fullmatch(name), name


@QUICK
@given(hosts())
def test_hosts_contract(host: Any) -> None:
    """``CONF.host``: None, or hostname and FQDN characters, 1 to 255."""
    assert host is None or (isinstance(host, str) and _HOST.fullmatch(host)), host


@QUICK
@given(instance_uuids())
def test_instance_uuids_contract(value: Any) -> None:
    assert isinstance(value, str) and len(value) == 36
    assert str(uuid.UUID(value)) == value


@QUICK
@given(server_times())
def test_server_times_are_naive_and_in_range(value: dt.datetime) -> None:
    assert _naive(value)
    assert dt.datetime(1970, 1, 2) <= value <= dt.datetime(9999, 12, 30, 23, 59, 59, 999999)


@QUICK
@given(timestamps(server_time=dt.datetime(2030, 5, 6, 7, 8, 9)))
def test_timestamps_contract_are_naive(value: Any) -> None:
    assert _naive(value)


@QUICK
@given(st.data())
def test_contexts_contract_with_nova(nova_target: Target, data: st.DataObject) -> None:
    import nova.context

    ctx = data.draw(contexts(nova_target))
    assert isinstance(ctx, nova.context.RequestContext)
    _contract_ids(ctx)
    assert _naive(ctx.timestamp)
    planted = planted_canaries(ctx)
    for canary in planted:
        if canary.allowed_fields:
            (field,) = canary.allowed_fields
            assert canary.token in getattr(ctx, field)
        else:
            where = canary.origin.split(".")[-1]
            assert canary.token in render_text(getattr(ctx, where))


@QUICK
@given(contexts())
def test_contexts_without_target_are_plain(ctx: Any) -> None:
    assert isinstance(ctx, PlainContext)
    assert _naive(ctx.timestamp)
    _contract_ids(ctx)


@QUICK
@given(exceptions())
def test_exceptions_contract(exc: Any) -> None:
    assert isinstance(exc, BaseException)
    # every drawn exception carries at least one secret, registered on it
    assert planted_canaries(exc)


@QUICK
@given(exc_values())
def test_exc_values_contract(value: Any) -> None:
    assert value is None or isinstance(value, (str, BaseException))


@QUICK
@given(tracebacks())
def test_tracebacks_contract_packer(value: Any) -> None:
    assert value is None or isinstance(value, str)


@QUICK
@given(tracebacks(layer="boundary"))
def test_tracebacks_contract_boundary(value: Any) -> None:
    assert value is None or isinstance(value, (str, TracebackType))


# ---------------------------------------------------------------------------
# Whole calls in contract mode never break the calling convention.


@pytest.mark.parametrize(("function", "layer"), COMBOS)
def test_contract_calls_stay_within_the_contract(
    nova_target: Target, function: str, layer: str
) -> None:
    import nova.context

    @QUICK
    @given(calls(nova_target, function, mode="contract", layer=layer))
    def check(call: Call) -> None:
        assert isinstance(call, Call)
        assert (call.function, call.layer) == (function, layer)
        assert call.hostile == () and not call.is_hostile and not call.positional
        assert _naive(call.server_time)
        ctx, kwargs = call.build(nova_target)
        assert isinstance(ctx, nova.context.RequestContext)
        _contract_ids(ctx)
        assert _naive(ctx.timestamp)
        assert re.fullmatch(_UUID4, kwargs["instance_uuid"]), kwargs["instance_uuid"]
        for name in ("action_name", "event_name"):
            if name in kwargs:
                assert _IDENTIFIER.fullmatch(kwargs[name]), kwargs[name]
        host = kwargs.get("host")
        assert host is None or _HOST.fullmatch(host), host
        if function == "pack_action_event_finish":
            assert kwargs["exc_val"] is None or isinstance(kwargs["exc_val"], (str, Exception))
            allowed: tuple[type, ...] = (str, type(None))
            if layer == "boundary":
                allowed += (TracebackType,)
            assert isinstance(kwargs["exc_tb"], allowed)
        else:
            assert "exc_val" not in kwargs and "exc_tb" not in kwargs
        # every canary of the call is a fresh token
        assert len({c.token for c in call.canaries}) == len(call.canaries)

    check()


def test_call_build_is_fresh_each_time(nova_target: Target) -> None:
    call = _find(
        calls(nova_target, "pack_action_event_finish"),
        lambda c: isinstance(dict(c.arguments)["exc_val"], ExcSpec),
    )
    ctx1, kw1 = call.build(nova_target)
    ctx2, kw2 = call.build(nova_target)
    assert ctx1 is not ctx2
    assert kw1["exc_val"] is not kw2["exc_val"]
    assert type(kw1["exc_val"]) is type(kw2["exc_val"])
    assert call.size() > 0


# ---------------------------------------------------------------------------
# Each value keeps to the domain of its source in contract mode (values.py's
# table): ids and names a database of nova's utf8mb3 tables stores, while text
# that carries users' words keeps 4-byte characters; hostile mode goes wider.


@pytest.mark.parametrize(
    ("strategy", "condition"),
    [
        (action_names(), lambda v: v == "a" * 255),
        (event_names(), lambda v: len(v) > 20 and v.strip("a") and "_" not in v),
        (hosts(), lambda v: v is not None and len(v) == 255 and "." in v),
        (contexts(), lambda c: len(c.user_id or "") == 32 and c.user_id.isalnum()),
        (contexts(), lambda c: c.project_id and not c.project_id.isascii()),
        (contexts(), lambda c: c.request_id and re.fullmatch(f"req-{_UUID4}", c.request_id)),
    ],
    ids=["name-255", "name-long", "fqdn-255", "user-hex", "project-bmp", "request-uuid"],
)
def test_contract_domains_reach_their_edges(
    strategy: Any, condition: Callable[[Any], bool]
) -> None:
    """The contract domains are not narrower than the table says."""
    assert condition(_find(strategy, condition))


def test_contract_values_never_leave_the_bmp(nova_target: Target) -> None:
    """No 4-byte character in a contract id, name or host: nova's sources make none."""
    for function, layer in COMBOS:
        for call in _sample(nova_target, function, layer, "contract"):
            ctx, kwargs = call.build(nova_target)
            _contract_ids(ctx)
            for name in ("action_name", "event_name", "host"):
                value = kwargs.get(name)
                assert value is None or (isinstance(value, str) and _bmp(value)), value


def _hostile_context_reason(call: Call, field: str) -> bool:
    return any(r.startswith(f"context.{field} outside the contract") for r in call.hostile)


@pytest.mark.parametrize(
    ("strategy", "condition"),
    [
        (action_names(mode="hostile"), _astral),
        (event_names(mode="hostile"), lambda v: _astral(v) and len(v) == 255),
        (hosts(mode="hostile"), _astral),
        (contexts(mode="hostile"), lambda c: _astral(getattr(c, "request_id", None))),
        (contexts(mode="hostile"), lambda c: _astral(getattr(c, "user_id", None))),
        (contexts(mode="hostile"), lambda c: len(getattr(c, "project_id", None) or "") > 64),
        (contexts(mode="hostile"), lambda c: hasattr(c, "timestamp") and c.request_id is None),
    ],
    ids=["action", "event-255", "host", "request_id", "user_id", "project_id-long", "request-none"],
)
def test_hostile_values_stay_wide(strategy: Any, condition: Callable[[Any], bool]) -> None:
    """Hostile mode keeps astral characters, over-long ids and None request ids."""
    assert condition(_find(strategy, condition))


@pytest.mark.parametrize(
    ("function", "reason", "out_of_domain"),
    [
        (
            "pack_action_start",
            "action_name is no nova identifier",
            lambda ctx, kw: not _IDENTIFIER.fullmatch(kw["action_name"]),
        ),
        (
            "pack_action_event_start",
            "host is no host name",
            lambda ctx, kw: not _HOST.fullmatch(kw["host"]),
        ),
        (
            "pack_action_start",
            "context.user_id outside the contract",
            lambda ctx, kw: not _keystone_id(ctx.user_id),
        ),
        (
            "pack_action_start",
            "context.request_id outside the contract",
            lambda ctx, kw: ctx.request_id is None or not _REQUEST_ID.fullmatch(ctx.request_id),
        ),
    ],
)
def test_hostile_values_outside_the_contract_name_their_reason(
    nova_target: Target,
    function: str,
    reason: str,
    out_of_domain: Callable[[Any, dict[str, Any]], bool],
) -> None:
    call = _first(
        _sample(nova_target, function, "packer", "hostile"),
        calls(nova_target, function, mode="hostile"),
        lambda c: any(r.startswith(reason) for r in c.hostile),
    )
    ctx, kwargs = call.build(nova_target)
    assert out_of_domain(ctx, kwargs), call


def test_hostile_astral_ids_are_hostile_calls(nova_target: Target) -> None:
    """A hostile call with a 4-byte character in an id says so (never a contract call)."""
    call = _find(
        calls(nova_target, "pack_action_start", mode="hostile"),
        lambda c: (
            _astral(dict(c.context.attrs).get("user_id")) and "user_id" not in c.context.missing
        ),
    )
    assert call.is_hostile and _hostile_context_reason(call, "user_id"), call.hostile


def test_contract_trusted_exception_message_keeps_4_byte_characters() -> None:
    """Users' words (server, image, flavor names) reach trusted messages: 4-byte text stays."""
    exc = _find(
        exceptions(),
        lambda e: isinstance(e, _novaexc()) and _astral(_format_message(e)),
    )
    assert isinstance(exc, _novaexc())
    text = _find(exc_values(), _astral)
    assert isinstance(text, str)


def _format_message(exc: Any) -> Any:
    try:
        return exc.format_message()
    except Exception:
        return None


# ---------------------------------------------------------------------------
# Hostile mode produces every hostile kind.


def _non_text_message(exc: Any) -> bool:
    """format_message() returns non-text, or the text nova made of a bytes message."""
    message = exc.format_message()
    return not isinstance(message, str) or message.startswith(("b'", 'b"'))


def _ctx_lacks(field: str) -> Callable[[Any, dict[str, Any]], bool]:
    return lambda ctx, kw: not hasattr(ctx, field)


HOSTILE_KINDS: list[tuple[str, str, str, Callable[[Any, dict[str, Any]], bool]]] = [
    (
        "pack_action_start",
        "packer",
        "action_name=",
        lambda ctx, kw: not isinstance(kw["action_name"], str) or len(kw["action_name"]) > 255,
    ),
    (
        "pack_action_event_start",
        "packer",
        "event_name=",
        lambda ctx, kw: not isinstance(kw["event_name"], str) or len(kw["event_name"]) > 255,
    ),
    (
        "pack_action_event_start",
        "packer",
        "host=",
        lambda ctx, kw: not isinstance(kw["host"], str) or len(kw["host"]) > 255,
    ),
    (
        "pack_action_finish",
        "packer",
        "instance_uuid not a 36-character string",
        lambda ctx, kw: (
            not (isinstance(kw["instance_uuid"], str) and len(kw["instance_uuid"]) == 36)
        ),
    ),
    (
        "pack_action_start",
        "packer",
        "aware timestamp",
        lambda ctx, kw: ctx.timestamp.utcoffset() is not None,
    ),
    (
        "pack_action_start",
        "packer",
        "context.user_id is",
        lambda ctx, kw: not isinstance(ctx.user_id, str),
    ),
    (
        "pack_action_start",
        "packer",
        "context.project_id has 300 characters",
        lambda ctx, kw: len(ctx.project_id) == 300,
    ),
    ("pack_action_event_finish", "packer", "context lacks request_id", _ctx_lacks("request_id")),
    ("pack_action_event_finish", "packer", "context lacks timestamp", _ctx_lacks("timestamp")),
    (
        "pack_action_event_finish",
        "packer",
        "exc_val is bytes",
        lambda ctx, kw: isinstance(kw["exc_val"], bytes),
    ),
    (
        "pack_action_event_finish",
        "packer",
        "exc_val is int",
        lambda ctx, kw: type(kw["exc_val"]) is int,
    ),
    (
        "pack_action_event_finish",
        "packer",
        "exc_val is float",
        lambda ctx, kw: type(kw["exc_val"]) is float,
    ),
    (
        "pack_action_event_finish",
        "packer",
        "exc_val is list",
        lambda ctx, kw: type(kw["exc_val"]) is list,
    ),
    (
        "pack_action_event_finish",
        "packer",
        "exc_val is object",
        lambda ctx, kw: type(kw["exc_val"]) is object,
    ),
    ("pack_action_event_finish", "packer", "exc_tb is int", lambda ctx, kw: kw["exc_tb"] == 0),
    (
        "pack_action_event_finish",
        "packer",
        "exc_tb is bytes",
        lambda ctx, kw: isinstance(kw["exc_tb"], bytes),
    ),
    ("pack_action_event_finish", "packer", "exc_tb is list", lambda ctx, kw: kw["exc_tb"] == [1]),
    (
        "pack_action_event_finish",
        "packer",
        "exc_tb is object",
        lambda ctx, kw: type(kw["exc_tb"]) is object,
    ),
    (
        "pack_action_event_finish",
        "packer",
        "exc_tb is a traceback object",
        lambda ctx, kw: isinstance(kw["exc_tb"], TracebackType),
    ),
    (
        "pack_action_event_finish",
        "boundary",
        "exc_val/exc_tb passed positionally through the boundary",
        lambda ctx, kw: True,
    ),
    (
        "pack_action_event_finish",
        "packer",
        "trusted exception with non-text message",
        lambda ctx, kw: _non_text_message(kw["exc_val"]),
    ),
]


_DRAWN: dict[tuple[str, str, str], list[Call]] = {}
_SAMPLE_SIZE = {("pack_action_event_finish", "packer"): 300}


def _sample(target: Target, function: str, layer: str, mode: str) -> list[Call]:
    """A fixed-seed sample of drawn calls, shared by the tests of this module."""
    key = (function, layer, mode)
    if key not in _DRAWN:
        _DRAWN[key] = _draw_calls(
            target, function, layer, mode, _SAMPLE_SIZE.get((function, layer), 40)
        )
    return _DRAWN[key]


def _first(drawn: list[Any], strategy: st.SearchStrategy[Any], cond: Callable[[Any], bool]) -> Any:
    """The first of ``drawn`` meeting ``cond``, else one searched for (3000 more draws)."""
    for item in drawn:
        if cond(item):
            return item
    return _find(strategy, cond)


@pytest.mark.parametrize(
    ("function", "layer", "reason", "built_ok"),
    HOSTILE_KINDS,
    ids=[k[2].split(" through")[0] for k in HOSTILE_KINDS],
)
def test_hostile_mode_produces_each_kind(
    nova_target: Target,
    function: str,
    layer: str,
    reason: str,
    built_ok: Callable[[Any, dict[str, Any]], bool],
) -> None:
    call = _first(
        _sample(nova_target, function, layer, "hostile"),
        calls(nova_target, function, mode="hostile", layer=layer),
        lambda c: any(r.startswith(reason) for r in c.hostile),
    )
    assert call.is_hostile
    ctx, kwargs = call.build(nova_target)
    assert built_ok(ctx, kwargs), (reason, call)
    if reason.startswith("exc_val/exc_tb passed positionally"):
        assert call.positional


def test_hostile_calls_name_their_reasons(nova_target: Target) -> None:
    seen: list[Call] = []

    @QUICK
    @given(calls(nova_target, "pack_action_event_finish", mode="hostile"))
    def collect(call: Call) -> None:
        seen.append(call)
        assert all(isinstance(r, str) and r for r in call.hostile)

    collect()
    assert any(c.is_hostile for c in seen)


@pytest.mark.parametrize(
    ("strategy", "condition"),
    [
        (action_names(mode="hostile"), lambda v: not isinstance(v, str)),
        (action_names(mode="hostile"), lambda v: isinstance(v, str) and len(v) > 255),
        (event_names(mode="hostile"), lambda v: v is None),
        (hosts(mode="hostile"), lambda v: isinstance(v, (int, bytes))),
        (hosts(mode="hostile"), lambda v: isinstance(v, str) and len(v) > 255),
        (instance_uuids(mode="hostile"), lambda v: isinstance(v, uuid.UUID)),
        (instance_uuids(mode="hostile"), lambda v: isinstance(v, str) and len(v) > 36),
        (timestamps(mode="hostile"), lambda v: v.utcoffset() not in (None, dt.timedelta(0))),
        (exc_values(mode="hostile"), lambda v: isinstance(v, bytes)),
        (exc_values(mode="hostile"), lambda v: type(v) is object),
        (tracebacks(mode="hostile"), lambda v: isinstance(v, TracebackType)),
        (tracebacks(mode="hostile"), lambda v: isinstance(v, bytes)),
        (tracebacks(mode="hostile"), lambda v: v == [1]),
        (tracebacks(layer="boundary"), lambda v: isinstance(v, TracebackType)),
        (contexts(mode="hostile"), lambda c: not hasattr(c, "timestamp")),
    ],
)
def test_hostile_leaf_strategies(strategy: Any, condition: Callable[[Any], bool]) -> None:
    assert condition(_find(strategy, condition))


# ---------------------------------------------------------------------------
# exceptions(): the kinds it covers.


def _frames_locals(exc: BaseException) -> list[dict[str, Any]]:
    out = []
    tb = exc.__traceback__
    while tb is not None:
        out.append(dict(tb.tb_frame.f_locals))
        tb = tb.tb_next
    return out


def _novaexc() -> type[BaseException]:
    import nova.exception

    return nova.exception.NovaException


def _unused_kwarg_secret(e: BaseException) -> bool:
    if not isinstance(e, _novaexc()) or type(e).__module__ != "pytest_actionsec.generated":
        return False
    kwargs = getattr(e, "kwargs", {})
    try:
        message = e.format_message()  # type: ignore[attr-defined]
    except Exception:
        return False
    secrets = [c.token for c in planted_canaries(e)]
    return (
        "connection" in kwargs
        and any(t in kwargs["connection"] for t in secrets)
        and isinstance(message, str)
        and not any(t in message for t in secrets)
    )


def _raised_with_secret_local(e: BaseException) -> bool:
    tokens = {c.token for c in planted_canaries(e)}
    return any(f.get("password") in tokens for f in _frames_locals(e))


EXCEPTION_KINDS: dict[str, Callable[[BaseException], bool]] = {
    "builtin": lambda e: type(e).__module__ == "builtins",
    "dynamic subclass": lambda e: (
        type(e).__module__ == "pytest_actionsec.generated" and not isinstance(e, _novaexc())
    ),
    "trusted subclass with unused kwargs": _unused_kwarg_secret,
    "__str__ raises": lambda e: _raises(lambda: str(e)),
    "__str__ returns non-text": lambda e: (
        "__str__" in vars(type(e)) and _raises(lambda: str(e)) and not _raises(lambda: e.__str__())
    ),
    "__repr__ raises": lambda e: _raises(lambda: repr(e)),
    "format_message raises": lambda e: (
        isinstance(e, _novaexc()) and _raises(e.format_message)  # type: ignore[attr-defined]
    ),
    "falsy": lambda e: not e,
    "non-dict kwargs": lambda e: hasattr(e, "kwargs") and not isinstance(e.kwargs, dict),
    "cause": lambda e: isinstance(e.__cause__, BaseException),
    "context": lambda e: isinstance(e.__context__, BaseException),
    "notes": lambda e: any(
        c.token in n for n in getattr(e, "__notes__", []) for c in planted_canaries(e)
    ),
    "raised through a frame with a secret local": _raised_with_secret_local,
    "OSError with strerror": lambda e: isinstance(e, OSError) and e.strerror is not None,
}


_EXCEPTIONS: list[BaseException] = []


def _exception_sample() -> list[BaseException]:
    if not _EXCEPTIONS:

        @seed(99)
        @settings(SEARCH, max_examples=300)
        @given(exceptions())
        def collect(exc: BaseException) -> None:
            _EXCEPTIONS.append(exc)

        collect()
    return _EXCEPTIONS


@pytest.mark.parametrize("kind", sorted(EXCEPTION_KINDS))
def test_exceptions_cover(kind: str) -> None:
    condition = EXCEPTION_KINDS[kind]
    exc = _first(_exception_sample(), exceptions(), condition)
    assert isinstance(exc, BaseException)
    assert condition(exc)


class MineError(Exception):
    """A trusted exception class of the tests' own."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message or "mine")
        self.kwargs = kwargs

    def format_message(self) -> str:
        return str(self.args[0])


def test_exceptions_trusted_argument() -> None:
    exc = _find(exceptions(trusted=[MineError]), lambda e: isinstance(e, MineError))
    assert type(exc).__module__ == "pytest_actionsec.generated"
    never = exceptions(trusted=[])
    with pytest.raises(NoSuchExample):
        find(
            never,
            lambda e: hasattr(e, "format_message"),
            settings=settings(SEARCH, max_examples=60),
        )


def test_exceptions_trusted_local_class() -> None:
    class LocalError(MineError):
        pass

    exc = _find(exceptions(trusted=[LocalError]), lambda e: isinstance(e, LocalError))
    assert isinstance(exc, LocalError)


def _twin_classes() -> tuple[type[MineError], type[MineError]]:
    """Two distinct trusted classes with the same ``__module__.__qualname__``.

    As after a re-import (pytester's in-process runs drop and re-import modules):
    the same dotted path names a different class object.
    """
    namespace = {"__module__": "tests.reimported", "__qualname__": "TwinError"}
    first = type("TwinError", (MineError,), dict(namespace))
    second = type("TwinError", (MineError,), dict(namespace))
    assert first is not second
    assert (first.__module__, first.__qualname__) == (second.__module__, second.__qualname__)
    return first, second


def _trusted_probe(target: Target) -> Call:
    (call,) = [
        c
        for c in probes(target, "pack_action_event_finish")
        if isinstance(dict(c.arguments)["exc_val"], ExcSpec)
        and dict(c.arguments)["exc_val"].trusted
    ]
    return call


def test_trusted_classes_sharing_a_dotted_path_are_not_confused(nova_target: Target) -> None:
    """A spec built for one trusted class is never built from another of the same name."""
    first, second = _twin_classes()
    for cls, other in ((first, second), (second, first)):
        target = dataclasses.replace(nova_target, trusted=(cls,))
        call = _trusted_probe(target)
        _, kwargs = call.build(target)
        assert isinstance(kwargs["exc_val"], cls)
        assert not isinstance(kwargs["exc_val"], other)
        # the snippet still names the class by its dotted path
        assert "(_tests_reimported.TwinError):" in call_source(call, target.path)


def test_exceptions_strategy_keeps_twin_trusted_classes_apart() -> None:
    first, second = _twin_classes()
    # the same seed draws the same spec (the same generated class source) for both
    got_first = _find(exceptions(trusted=[first]), lambda e: isinstance(e, (first, second)))
    got_second = _find(exceptions(trusted=[second]), lambda e: isinstance(e, (first, second)))
    assert type(got_first).__qualname__ == type(got_second).__qualname__
    assert isinstance(got_first, first) and not isinstance(got_first, second)
    assert isinstance(got_second, second) and not isinstance(got_second, first)


def test_exc_spec_from_class_builds_that_class() -> None:
    first, second = _twin_classes()
    for cls, other in ((first, second), (second, first)):
        plain = ExcSpec.from_class(cls, args=("boom",))
        named = ExcSpec.from_class(cls, name="Fault", msg_fmt="x %(missing)s", trusted=True)
        assert plain.base == named.base == "tests.reimported.TwinError"
        assert type(build_exception(plain)) is cls
        built = build_exception(named)
        assert isinstance(built, cls) and not isinstance(built, other)
    # the class is not part of the repr (sizes of calls are unchanged), but of equality
    assert repr(ExcSpec.from_class(first)) == repr(ExcSpec.from_class(second))
    assert ExcSpec.from_class(first) != ExcSpec.from_class(second)


def test_raise_through_frame_keeps_secret_in_locals() -> None:
    exc = raise_through_frame(ValueError("x"), password="hunter2-secret")
    assert isinstance(exc, ValueError)
    assert exc.__traceback__ is not None
    assert any(f.get("password") == "hunter2-secret" for f in _frames_locals(exc))


# ---------------------------------------------------------------------------
# call_source() is runnable Python that reproduces the call.

_HARNESS = r"""
import contextlib, io, json, sys, warnings
warnings.simplefilter("ignore")
out = []
for src in json.load(open(sys.argv[1])):
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(src, "<snippet>", "exec"), {"__name__": "__snippet__"})
    except SystemExit as done:  # the snippet's own end: 1 when it showed a violation
        assert done.code in (0, 1), done.code
    except Exception as exc:
        out.append(["raised", type(exc).__name__])
        continue
    # the first line the snippet prints is what the call gave
    first = buf.getvalue().splitlines()[0]
    if first.startswith("record: "):
        out.append(["dict", first[len("record: "):]])
    else:
        out.append(["error", first.split(":")[1].strip()])
print(json.dumps(out))
"""


def _mask(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", " at 0x?", text)


def _draw_calls(target: Target, function: str, layer: str, mode: str, n: int) -> list[Call]:
    drawn: list[Call] = []

    @seed(4242)
    @settings(SEARCH, max_examples=n)
    @given(calls(target, function, mode=mode, layer=layer))
    def collect(call: Call) -> None:
        drawn.append(call)

    collect()
    return drawn


def _tb_from_unraised_exc(call: Call) -> bool:
    """The case of the core bug tested below (the snippet passes ``exc_val.__traceback__``)."""
    args = dict(call.arguments)
    tb, exc = args.get("exc_tb"), args.get("exc_val")
    return (
        isinstance(tb, TbSpec)
        and tb.from_exc
        and isinstance(exc, ExcSpec)
        and exc.raise_secrets is None
    )


def _run_snippets(sources: list[str], tmp_path: Any) -> list[tuple[str, str]]:
    path = tmp_path / "snippets.json"
    path.write_text(json.dumps(sources))
    done = subprocess.run(
        [sys.executable, "-c", _HARNESS, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [(kind, _mask(text)) for kind, text in json.loads(done.stdout.splitlines()[-1])]


def _expected(target: Target, drawn: list[Call]) -> list[tuple[str, str]]:
    out = []
    with SkewedClock() as clock:
        for call in drawn:
            obs = execute(target, call, clock=clock)
            if obs.error is not None:
                out.append(("error", type(obs.error).__name__))
            else:
                out.append(("dict", _mask(repr(obs.record))))
    return out


def test_call_source_reproduces_the_call(nova_target: Target, tmp_path: Any) -> None:
    drawn = [
        call
        for function, layer in COMBOS
        for mode in ("contract", "hostile")
        for call in _draw_calls(nova_target, function, layer, mode, 3)
        if not _tb_from_unraised_exc(call)
    ]
    assert len(drawn) >= 24
    # A call that crashes nova (a context without request_id), so crashes are replayed too.
    drawn.append(
        Call(
            function="pack_action_start",
            layer="packer",
            context=ContextSpec(
                (("user_id", "u"), ("timestamp", dt.datetime(2026, 1, 1))), ("request_id",)
            ),
            arguments=(
                ("instance_uuid", "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"),
                ("action_name", "reboot"),
            ),
            server_time=dt.datetime(2026, 1, 1, 0, 0, 1),
            hostile=("context lacks request_id",),
        )
    )
    sources = [call_source(c, nova_target.path) for c in drawn]
    for src in sources:
        compile(src, "<snippet>", "exec")
        assert "replay.call(" in src and src.rstrip().endswith(
            "raise SystemExit(1 if replay.show() else 0)"
        )
    got = _run_snippets(sources, tmp_path)
    expected = _expected(nova_target, drawn)
    assert any(kind == "error" for kind, _ in expected)  # crashes are reproduced too
    for src, want, have in zip(sources, expected, got, strict=True):
        assert have == want, f"snippet does not reproduce the call:\n{src}"


def test_call_source_traceback_of_unraised_exception(nova_target: Target, tmp_path: Any) -> None:
    call = Call(
        function="pack_action_event_finish",
        layer="packer",
        context=ContextSpec((("request_id", "req-1"), ("timestamp", dt.datetime(2026, 1, 1)))),
        arguments=(
            ("instance_uuid", "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"),
            ("event_name", "compute_reboot"),
            ("exc_val", ExcSpec(base="builtins.ValueError", args=("boom",))),
            ("exc_tb", TbSpec(from_exc=True)),
        ),
        server_time=dt.datetime(2026, 1, 1, 0, 0, 1),
        hostile=("exc_tb is a traceback object",),
    )
    assert _tb_from_unraised_exc(call)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        exec(compile(call_source(call, nova_target.path), "<snippet>", "exec"), {})
    first = buf.getvalue().splitlines()[0]
    assert first.startswith("record: ")
    assert [("dict", _mask(first[len("record: ") :]))] == _expected(nova_target, [call])


# ---------------------------------------------------------------------------
# Invalid arguments.


def _draw_once(make: Callable[[], st.SearchStrategy[Any]]) -> None:
    """Build and draw (InvalidArgument may come at either point)."""
    find(make(), lambda _: True, settings=settings(SEARCH, max_examples=5))


@pytest.mark.parametrize(
    "make",
    [
        lambda t: action_names(mode="evil"),
        lambda t: event_names(mode="Contract"),
        lambda t: hosts(mode=""),
        lambda t: instance_uuids(mode="x"),
        lambda t: timestamps(mode="x"),
        lambda t: contexts(t, mode="x"),
        lambda t: exceptions(mode="x"),
        lambda t: exc_values(mode="x"),
        lambda t: tracebacks(mode="x"),
        lambda t: calls(t, "pack_action_nothing"),
        lambda t: calls(t, "pack_action_start", mode="x"),
        lambda t: calls(t, "pack_action_start", layer="boundary"),
        lambda t: calls(t, "pack_action_event_finish", layer="store"),
    ],
)
def test_invalid_arguments(nova_target: Target, make: Callable[[Target], Any]) -> None:
    with pytest.raises(InvalidArgument):
        _draw_once(lambda: make(nova_target))


def test_invalid_traceback_layer() -> None:
    with pytest.raises(InvalidArgument):
        _draw_once(lambda: tracebacks(layer="nowhere"))


def test_canaries_are_canary_objects(nova_target: Target) -> None:
    call = _find(calls(nova_target, "pack_action_start"), lambda c: len(c.canaries) >= 3)
    assert all(isinstance(c, Canary) for c in call.canaries)


# ---------------------------------------------------------------------------
# draws.UNIFORM: Hypothesis draws small bounded integers uniformly.
#
# pick() packs up to UNIFORM outcomes into one integer and relies on Hypothesis
# drawing st.integers(0, n - 1) uniformly for n <= UNIFORM. That is a private
# detail of Hypothesis (6.x: its INTEGERS_DISTRIBUTION is uniform within 256 of
# zero, log-scaled beyond); an upgrade that changes it must fail here.


def _used_index_sizes(target: Target) -> set[int]:
    """Every ``n`` the strategies draw ``draws.index(n)`` for (pick() looks it up)."""
    sizes: set[int] = set()
    original = draws.index

    def recording(n: int) -> st.SearchStrategy[int]:
        sizes.add(n)
        return original(n)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(draws, "index", recording)
        for function, layer in COMBOS:
            for mode in ("contract", "hostile"):
                _draw_calls(target, function, layer, mode, 30)
    return sizes


def _index_draws(
    sizes: set[int], examples: int = 100, per_example: int = 20
) -> dict[int, list[int]]:
    """Values of ``draws.index(n)`` drawn in one real Hypothesis run with a fixed seed.

    Several draws per example: Hypothesis never repeats an example's choices, so one
    draw per example would make any distribution look uniform.
    """
    drawn: dict[int, list[int]] = {n: [] for n in sizes}
    strategies = [(n, draws.index(n)) for n in sorted(sizes)]

    @seed(20261122)
    @settings(SEARCH, max_examples=examples)
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        for n, strategy in strategies:
            for _ in range(per_example):
                drawn[n].append(data.draw(strategy))

    collect()
    return drawn


def test_index_draws_are_uniform_up_to_uniform(nova_target: Target) -> None:
    sizes = _used_index_sizes(nova_target)
    # pick() splits products over UNIFORM into several integers; the one larger
    # draw is the clock skew, drawn on purpose as one integer so small skews come first
    assert {n for n in sizes if n > draws.UNIFORM} <= {len(draws.Centered(3 * 86400))}
    checked = {n for n in sizes if n <= draws.UNIFORM} | {6, draws.UNIFORM}
    assert len(checked) > 10, sorted(sizes)
    drawn = _index_draws(checked)
    for n, values in sorted(drawn.items()):
        assert all(0 <= v < n for v in values), n
        if n <= 8:
            assert set(values) == set(range(n)), (n, sorted(set(values)))
        # Uniform draws put half of them in the upper half (today 0.40-0.53 across
        # seeds); were Hypothesis uniform only within 64 of zero, about 0.24 for n=257.
        upper = sum(v >= n // 2 for v in values) / len(values)
        assert upper >= 0.35, (n, upper)
    top = drawn[draws.UNIFORM]
    # the top quarter of 0..256 gets a quarter of uniform draws (today 0.20-0.30)
    assert sum(v > 192 for v in top) / len(top) >= 0.15
    assert max(top) >= 250
