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

from pytest_actionsec.draws import FLAGS, LAYERS, MODES, check_layer, check_mode, pick
from pytest_actionsec.excs import (
    draw_exc_value,
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
    ExcSpec,
    ObjSpec,
    TbSpec,
    raise_through_frame,
)
from pytest_actionsec.specs import build_exception as build_exception
from pytest_actionsec.targets import FACTS, HELPERS, Target
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
    "LAYERS",
    "MODES",
    "Call",
    "ContextSpec",
    "ExcSpec",
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
]

# ---------------------------------------------------------------------------
# Whole calls.

_POSITIONAL = (False, False, False, False, True)


@st.composite
def _calls(draw: st.DrawFn, target: Target, function: str, mode: str, layer: str) -> Call:
    facts = FACTS[function]
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

    for name in facts.positional:  # the instance uuid, then an action or event name
        if name == "instance_uuid":
            add(name, draw_uuid(draw, mode))
        else:
            add(name, draw_name(draw, name, mode))
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


def calls(
    target: Target, function: str, *, mode: str = "contract", layer: str = "packer"
) -> st.SearchStrategy[Call]:
    """Whole calls of ``function`` on ``target``: context, arguments, server clock, canaries."""
    from hypothesis.errors import InvalidArgument

    check_mode(mode)
    if function not in HELPERS:
        raise InvalidArgument(f"function must be one of {HELPERS}, got {function!r}")
    check_layer(layer)
    if layer == "boundary" and function != "pack_action_event_finish":
        raise InvalidArgument("the boundary layer only wraps pack_action_event_finish")
    return _calls(target, function, mode, layer)
