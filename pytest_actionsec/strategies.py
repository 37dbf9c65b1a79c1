"""Hypothesis strategies for the inputs of Nova's instance-action packers.

Two input modes:

``contract``
    what a correct caller passes (NOVA_FACTS): ids, names and hosts in the
    domains their sources give them (``req-<uuid4>`` request ids, nova's own
    identifiers, Keystone ids or None, host names: the table in
    ``pytest_actionsec/values.py``), naive UTC timestamps skewed from the
    server clock, any exception type as ``exc_val`` (or already-serialised
    text; messages keep any text, 4-byte characters included), ``exc_tb``
    None or text at the packer and also a live traceback object at the RPC
    boundary (as keywords);
``hostile``
    adds what breaks the calling convention: any text (astral and control
    characters) in ids, names and hosts, bytes, ints and arbitrary objects
    as ``exc_val``/``exc_tb``, non-text or over-long ids, aware non-UTC
    timestamps, positional arguments through the boundary, contexts missing
    attributes.

Values are drawn as small *specs* (:class:`Call`, :class:`ExcSpec`, ...) that
build fresh objects for every execution and print themselves as runnable
Python, so a failure can be replayed outside pytest. The object strategies
(:func:`contexts`, :func:`exceptions`, ...) build the objects directly and
register their canaries (see :func:`pytest_actionsec.canaries.planted_canaries`).
"""

# The public face of the strategies; the work is done in specs (spec objects and
# their builders), snippets (specs printed as Python), draws (draw primitives),
# values, excs (value and exception strategies) and probes. Whole calls are here.

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pytest_actionsec.canaries import new_canary
from pytest_actionsec.draws import DRAW_LAYERS, FLAGS, MODES, check_layer, check_mode, pick
from pytest_actionsec.excs import (
    draw_exc_value,
    draw_fault,
    draw_public_text,
    draw_traceback,
    exc_value_options,
    exc_values,
    exceptions,
    tb_kinds,
    tracebacks,
)
from pytest_actionsec.probes import probes
from pytest_actionsec.specs import (
    Call,
    ContextSpec,
    ExcInfoSpec,
    ExcSpec,
    InstanceSpec,
    ObjSpec,
    ServerSpec,
    TbSpec,
    raise_through_frame,
)
from pytest_actionsec.specs import build_exception as build_exception
from pytest_actionsec.targets import FAULT_SINK, FUNCTIONS, NOTIFY_SINK, Target
from pytest_actionsec.values import EPOCH as EPOCH
from pytest_actionsec.values import LATEST as LATEST
from pytest_actionsec.values import (
    action_names,
    contexts,
    draw_context,
    draw_host,
    draw_name,
    draw_uuid,
    event_names,
    hosts,
    instance_uuids,
    server_times,
    timestamps,
)

__all__ = [
    "DRAW_LAYERS",
    "MODES",
    "Call",
    "ContextSpec",
    "ExcInfoSpec",
    "ExcSpec",
    "InstanceSpec",
    "ObjSpec",
    "TbSpec",
    "action_names",
    "calls",
    "contexts",
    "event_names",
    "exc_values",
    "exceptions",
    "hosts",
    "instance_uuids",
    "probes",
    "raise_through_frame",
    "server_times",
    "timestamps",
    "tracebacks",
    "warm_hypothesis",
]

# ---------------------------------------------------------------------------
# Whole calls.

_POSITIONAL = (False, False, False, False, True)


@st.composite
def _calls(draw: st.DrawFn, target: Target, function: str, mode: str, layer: str) -> Call:
    facts = target.facts_of(function)
    ctx, reasons, canaries, server_time = draw_context(draw, mode, None)
    all_reasons = list(reasons)
    all_canaries = list(canaries)
    arguments: list[tuple[str, Any]] = []

    def add(name: str, drawn: tuple[Any, Any, Any] | tuple[Any, Any]) -> None:
        value, why = drawn[0], drawn[1]
        arguments.append((name, value))
        if isinstance(why, str):
            all_reasons.append(why)
        elif why:
            all_reasons.extend(why)
        if len(drawn) == 3:
            all_canaries.extend(drawn[2])

    # the resource id, then an action or event name (a target's other positional
    # parameters are drawn as names too; its optional ones keep their defaults)
    for name in facts.positional:
        if name == "instance_uuid":
            add(name, draw_uuid(draw, mode, facts.own_name(name)))
        else:
            add(name, draw_name(draw, facts.own_name(name), mode))
    if "host" in facts.keywords and pick(draw, FLAGS)[0]:
        add("host", draw_host(draw, mode))
    positional = False
    if "exc_val" in facts.keywords:
        hostile_boundary = layer == "boundary" and mode == "hostile"
        # exc_val and exc_tb kinds (and how they are passed) in as few choices as fit
        *exc_choice, tb_choice, passed = pick(
            draw,
            *exc_value_options(mode),
            tb_kinds(mode, layer),
            _POSITIONAL if hostile_boundary else (False,),
        )
        add("exc_val", draw_exc_value(draw, target.trusted, mode, exc_choice))
        add("exc_tb", draw_traceback(draw, mode, layer, tb_choice))
        if passed:
            positional = True
            all_reasons.append("exc_val/exc_tb passed positionally through the boundary")
    return Call(
        function=function,
        layer=layer,
        context=ctx,
        arguments=tuple(arguments),
        server_time=server_time,
        hostile=tuple(all_reasons),
        positional=positional,
        canaries=tuple(all_canaries),
    )


# exc_info: sys.exc_info() of the fault twice in three; hostile adds values that
# are not an exc_info tuple (truthy non-tuples, wrong lengths, all None).
_EXC_INFO_CONTRACT = ("none", "same", "same")
_EXC_INFO_HOSTILE = (*_EXC_INFO_CONTRACT, True, "exc_info", (None, None, None), (1, 2))
# fault_message: mostly not given; given, it is text the caller already chose.
_FAULT_MESSAGE_CONTRACT = ("none", "none", "none", "text", "empty")
_FAULT_MESSAGE_HOSTILE = (*_FAULT_MESSAGE_CONTRACT, b"bytes message", 5, "object")


@st.composite
def _fault_calls(draw: st.DrawFn, target: Target, mode: str, layer: str) -> Call:
    ctx, reasons, canaries, server_time = draw_context(draw, mode, None)
    all_reasons = list(reasons)
    all_canaries = list(canaries)
    uuid, why = draw_uuid(draw, mode)
    if why:
        all_reasons.append(why)
    instance = InstanceSpec(uuid, plain=mode == "hostile")
    fault, why_fault, fault_canaries = draw_fault(draw, target.trusted, mode)
    all_reasons.extend(why_fault)
    all_canaries.extend(fault_canaries)
    hostile = mode == "hostile"
    info_choice, message_choice = pick(
        draw,
        _EXC_INFO_HOSTILE if hostile else _EXC_INFO_CONTRACT,
        _FAULT_MESSAGE_HOSTILE if hostile else _FAULT_MESSAGE_CONTRACT,
    )
    exc_info: Any = None
    if info_choice == "same":
        c = new_canary("frame locals of the raising frame")
        all_canaries.append(c)
        exc_info = ExcInfoSpec(secrets=(("password", c.token),))
    elif info_choice != "none":
        exc_info = info_choice
        all_reasons.append(f"exc_info is {info_choice!r}, not sys.exc_info()")
    message: Any = None
    if message_choice == "text":
        message = draw_public_text(draw)
    elif message_choice == "empty":
        message = ""
    elif message_choice != "none":
        message = ObjSpec("object()") if message_choice == "object" else message_choice
        label = "object" if isinstance(message, ObjSpec) else type(message).__name__
        all_reasons.append(f"fault_message is {label}")
    arguments: tuple[tuple[str, Any], ...] = (
        ("instance", instance),
        ("fault", fault),
        ("exc_info", exc_info),
        ("fault_message", message),
    )
    return Call(
        function=FAULT_SINK,
        layer=layer,
        context=ctx,
        arguments=arguments,
        server_time=server_time,
        hostile=tuple(all_reasons),
        canaries=tuple(all_canaries),
    )


# h-notify: the notification sink. Nova's callers notify from the ``except`` block that
# caught the exception (or with one caught before): in contract the exception is raised
# (through a frame whose locals hold a secret), the action one of nova's notification
# actions, the phase one of its phases, the host a host name. Hostile adds exceptions
# never raised, non-exceptions, any action text, odd phases and hosts.
_PHASES_CONTRACT = ("error", "error", None, "start", "end")
_PHASES_HOSTILE = (*_PHASES_CONTRACT, "progress", "", "no-such-phase", 5)
_NOTIFY_EXC_CONTRACT = ("raised", "raised", "raised", "none")
_NOTIFY_EXC_HOSTILE = (*_NOTIFY_EXC_CONTRACT, "unraised", "unraised")


@st.composite
def _notification_calls(draw: st.DrawFn, target: Target, mode: str, layer: str) -> Call:
    import dataclasses

    from pytest_actionsec.notifications import notification_actions
    from pytest_actionsec.notifications import notification_allowed as allowed

    hostile = mode == "hostile"
    ctx, reasons, canaries, server_time = draw_context(draw, mode, None)
    all_reasons = list(reasons)
    all_canaries = list(canaries)
    uuid, why = draw_uuid(draw, mode)
    if why:
        all_reasons.append(why)
    host, why = draw_host(draw, mode)
    if why:
        all_reasons.append(why)
    if host is None:  # nova always names the notifying host (CONF.host)
        host = "compute-0"
    action_choice, phase, exc_choice = pick(
        draw,
        notification_actions() + (("text",) if hostile else ()),
        _PHASES_HOSTILE if hostile else _PHASES_CONTRACT,
        _NOTIFY_EXC_HOSTILE if hostile else _NOTIFY_EXC_CONTRACT,
    )
    action: Any = action_choice
    if action_choice == ("text",):
        action, why = draw_name(draw, "action_name", mode)
        all_reasons.append(why or "action is no notification action of nova")
    if phase not in _PHASES_CONTRACT:
        all_reasons.append(f"phase is {phase!r}, no notification phase of nova")
    exception: Any = None
    if exc_choice != "none":
        exception, why_fault, fault_canaries = draw_fault(draw, target.trusted, mode)
        all_canaries.extend(fault_canaries)
        if isinstance(exception, ExcSpec):
            if exc_choice == "raised" and exception.raise_secrets is None:
                c = new_canary("frame locals of the raising frame")
                all_canaries.append(c)
                exception = dataclasses.replace(exception, raise_secrets=(("password", c.token),))
            elif exc_choice == "unraised" and exception.raise_secrets is None:
                all_reasons.append("exception was never raised (no traceback)")
        else:
            all_reasons.extend(w.replace("fault is", "exception is") for w in why_fault)
    arguments: tuple[tuple[str, Any], ...] = (
        ("instance", ServerSpec(uuid)),
        ("host", host),
        ("action", action),
        ("phase", phase),
        ("exception", exception),
    )
    # an id planted in the context may appear in its own field of the notification
    moved = tuple(
        dataclasses.replace(c, allowed_fields=allowed(c.allowed_fields)) for c in all_canaries
    )
    return Call(
        function=NOTIFY_SINK,
        layer=layer,
        context=ctx,
        arguments=arguments,
        server_time=server_time,
        hostile=tuple(all_reasons),
        canaries=moved,
    )


def calls(
    target: Target, function: str, *, mode: str = "contract", layer: str = "packer"
) -> st.SearchStrategy[Call]:
    """Whole calls of ``function`` on ``target``: context, arguments, server clock, canaries.

    ``function`` is one of the four helpers or the fault sink
    (``add_instance_fault_from_exc``: an instance, a fault exception, its
    ``exc_info`` and a ``fault_message``).
    """
    from hypothesis.errors import InvalidArgument

    mode = check_mode(mode)
    if function not in FUNCTIONS:
        raise InvalidArgument(f"function must be one of {FUNCTIONS}, got {function!r}")
    check_layer(layer)
    if layer == "boundary" and function != "pack_action_event_finish":
        raise InvalidArgument("the boundary layer only wraps pack_action_event_finish")
    if function == FAULT_SINK:
        return _fault_calls(target, mode, layer)
    if function == NOTIFY_SINK:
        return _notification_calls(target, mode, layer)
    return _calls(target, function, mode, layer)


def warm_hypothesis() -> None:
    """Pay Hypothesis's one-off costs now, outside any test's examples (where its deadline
    and input-speed health check would count them): its character tables (built once per
    machine) and its scan of the constants of every module loaded from outside
    site-packages (in a nova checkout, nova's whole tree: 1 s or more). Call it once nova
    and the test modules are imported; the fixtures and :mod:`~pytest_actionsec.testbase`
    do. Reads Hypothesis internals: does nothing where they are not found."""
    import contextlib

    with contextlib.suppress(Exception):
        from hypothesis.internal.charmap import charmap

        charmap()
    with contextlib.suppress(Exception):
        from hypothesis.internal.conjecture.providers import _get_local_constants

        _get_local_constants()
