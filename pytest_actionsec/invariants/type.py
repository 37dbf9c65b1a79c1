"""type: stored values already have their field's type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.measure import (
    expected_kind,
    field_name,
    is_trusted,
    plain,
    short,
    type_ok,
)
from pytest_actionsec.notifications import EXCEPTION_PARAM, NOTIFY_SINK
from pytest_actionsec.registry import Finding, invariant
from pytest_actionsec.targets import SINKS

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation


@invariant(
    "type.field",
    statement="Every stored value is already of its field's Python type, so "
    "oslo.versionedobjects coercion is the identity (no ISO strings in DateTimeFields, "
    "ints, bytes, traceback or exception objects in StringFields).",
    source="InstanceAction/InstanceActionEvent.fields; reviews: six.string_types check",
    _builtin=True,
)
def type_field(obs: Observation) -> Iterator[Finding]:
    """Compare each non-None value's real type with its field's kind."""
    table = obs.facts.table
    for key, value in obs.record.items():
        if value is None:
            continue
        name = field_name(key)
        kind = expected_kind(obs, table, name)
        if kind is not None and not type_ok(value, kind):
            yield Finding(
                name,
                f"stored {type(value).__name__} {short(value)} where the field is {kind}",
                type(value).__name__,
            )


def bytes_reprs(obs: Observation) -> list[str]:
    """The reprs (``b'...'``) of every non-empty bytes value of the input."""
    out = [repr(b) for b in obs.bytes_inputs if b]
    exc_val = obs.arguments.get("exc_val")
    if isinstance(exc_val, bytes) and exc_val:
        out.append(repr(exc_val))
    if isinstance(exc_val, BaseException):
        for arg in getattr(exc_val, "args", ()):
            if isinstance(arg, bytes) and arg:
                out.append(repr(arg))
        kwargs = getattr(exc_val, "kwargs", None)
        if isinstance(kwargs, dict):
            out.extend(repr(v) for v in kwargs.values() if isinstance(v, bytes) and v)
    return out


@invariant(
    "type.bytes-repr",
    statement="No stored text is the Python repr (b'...') of a bytes value from the input.",
    source="nova 34: NovaException(message=b'x') stores the text \"b'x'\"",
    _builtin=True,
)
def type_bytes_repr(obs: Observation) -> Iterator[Finding]:
    """Look for the repr of each input bytes value in every stored text."""
    reprs = bytes_reprs(obs)
    if not reprs:
        return
    table = obs.facts.table
    own = _trusted_message(obs)
    for name, text in obs.text_fields():
        if expected_kind(obs, table, name) is None:
            continue
        if any(r in text for r in reprs):
            evidence = f"stored the repr of bytes: {short(text)}"
            shown = _own_str(obs)
            if own is not None and text and own[1].startswith(text):
                # the trusted exception's own format_message() made the repr (nova's
                # NovaException does str(message)); storing that text is the packer's job
                cls = own[0]
                yield Finding(
                    name,
                    f"{evidence}; it is what {cls.__module__}.{cls.__qualname__}."
                    "format_message() itself returns",
                    blame=f"input class {cls.__module__}.{cls.__qualname__}",
                )
            elif shown is not None and any(r in shown[1] for r in reprs) and _quoted(shown, text):
                # a formatted traceback (a fault's details) ends with the exception's
                # own str(), which made the repr: the exception class's doing
                cls = shown[0]
                yield Finding(
                    name,
                    f"{evidence}; it is the traceback's last line, where str() of "
                    f"{cls.__module__}.{cls.__qualname__} itself makes the repr",
                    blame=f"input class {cls.__module__}.{cls.__qualname__}",
                )
            else:
                yield Finding(name, evidence)


def _quoted(shown: tuple[type, str], text: str) -> bool:
    """True when ``text`` holds the exception's line of a formatted traceback
    (``Name: str(exc)``, as ``traceback.format_exception_only`` writes it)."""
    cls, own = shown
    return f"{cls.__qualname__}: {own}" in text


def _exception_param(function: str) -> str:
    """The parameter that carries the exception: ``exc_val`` of a helper, ``fault`` of the
    fault sink, ``exception`` of the notification sink (h-notify)."""
    if function == NOTIFY_SINK:
        return EXCEPTION_PARAM
    return "fault" if function in SINKS else "exc_val"


def _own_str(obs: Observation) -> tuple[type, str] | None:
    """(class, text) of the exception's own ``str()`` (what a formatted traceback
    quotes), when it is non-empty text; None otherwise."""
    exc = obs.arguments.get(_exception_param(obs.function))
    if not isinstance(exc, BaseException):
        return None
    try:
        text = str(exc)
    except Exception:
        return None
    return (type(exc), plain(text)) if isinstance(text, str) and text else None


def _trusted_message(obs: Observation) -> tuple[type, str] | None:
    """(class, text) of a trusted exception's own ``format_message()``, if it returns text
    (``exc_val`` of a helper, ``fault`` of a sink)."""
    exc_val = obs.arguments.get(_exception_param(obs.function))
    if not isinstance(exc_val, BaseException) or not is_trusted(exc_val, obs.trusted):
        return None
    try:
        text = exc_val.format_message()  # type: ignore[attr-defined]
    except Exception:
        return None
    return (type(exc_val), plain(text)) if isinstance(text, str) else None


@invariant(
    "type.store",
    statement="The database accepts every packed record without a type error.",
    source="nova/db/main/models.py column types; sqlite/PostgreSQL/MySQL drivers",
    _builtin=True,
)
def type_store(obs: Observation) -> Iterator[Finding]:
    """The store layer's verdict: the database refused (or changed) a value by its type."""
    yield from store_verdict(obs, "type.store")


def store_verdict(obs: Observation, invariant_id: str) -> Iterator[Finding]:
    """Findings of the store layer for ``invariant_id`` (set by the engine's store run)."""
    if obs.store_error is None:
        return
    named = [(f, m) for inv, f, m in obs.store_fields if inv == invariant_id]
    if obs.store_fields:
        for name, message in named:
            if not message.startswith("the database "):
                message = f"the database refused {name}: {message}"
            yield Finding(name, message, invariant_id)
        return
    found, message = obs.store_error
    if found != invariant_id:
        return
    if not message.startswith("the database "):  # a refusal: the DB's own message
        message = f"the database refused the record: {message}"
    yield Finding(None, message, invariant_id)
