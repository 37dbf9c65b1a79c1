"""Measure stored values without trusting them: helpers of the invariants (a fork's too).

They never call a stored value's own methods: a target may store a str subclass
whose ``__eq__`` or ``encode`` lies or raises, and the database stores the
characters it holds, so values are measured with ``str``'s own methods.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pytest_actionsec.targets import COLUMNS

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation

__all__ = [
    "MISSING",
    "error_text",
    "expected_kind",
    "field_name",
    "is_trusted",
    "message_candidates",
    "plain",
    "same",
    "short",
    "type_ok",
    "utc_naive",
    "utf8_len",
]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: What a lookup gives for a key or attribute that is not there (never a stored value).
MISSING: Any = _Missing()

_PY_TYPES: Mapping[str, type] = {
    "str": str,
    "text": str,
    "datetime": _dt.datetime,
    "int": int,
}


def plain(value: Any) -> Any:
    """``value``, or the exact str a str subclass holds (its own methods never called)."""
    kind = type(value)  # not isinstance: __class__ may lie
    if kind is not str and issubclass(kind, str):
        return str.__str__(value)
    return value


def one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text`` with its whitespace collapsed, cut to ``limit`` characters."""
    line = " ".join(text.strip().split("\n")[0].split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def short(value: Any, limit: int = 120) -> str:
    """A repr cut to ``limit`` characters; never raises."""
    try:
        text: str = plain(repr(plain(value)))
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_name(key: Any) -> str:
    """A record key as text (a str subclass by what it holds; never raises)."""
    key = plain(key)
    if type(key) is str:
        return key
    try:
        return str(plain(str(key)))
    except Exception:
        return short(key)


def utc_naive(value: _dt.datetime, resolution: _dt.timedelta | None = None) -> _dt.datetime:
    """``value`` as a naive UTC datetime, cut to whole seconds when ``resolution`` says so."""
    if value.tzinfo is None or value.utcoffset() is None:
        out = value.replace(tzinfo=None)
    else:
        out = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    if resolution is not None and resolution >= _dt.timedelta(seconds=1):
        out = out.replace(microsecond=0)
    return out


@lru_cache(maxsize=256)
def _kind_of_class(cls: type) -> str | None:
    for name in (c.__name__ for c in cls.__mro__):
        if "DateTime" in name:
            return "datetime"
        if "Integer" in name:
            return "int"
        if "String" in name or "UUID" in name:
            return "str"
    return None


def _field_kind(ovo_field: Any) -> str | None:
    ftype = getattr(ovo_field, "_type", None)
    source: type = type(ftype) if ftype is not None else type(ovo_field)
    return _kind_of_class(source)


def expected_kind(obs: Observation, table: str, name: str) -> str | None:
    """The kind (str, text, datetime, int) a field of ``table`` holds, or None.

    The target's oslo.versionedobjects field type decides (its class hierarchy:
    a fork's ``String`` subclass is text, a list type is none of ours); fields
    without one fall back to nova's column types.
    """
    fields = obs.schemas.get(table, {})
    ovo = fields.get(name)
    if ovo is not None:
        kind = _field_kind(ovo)
        if kind is not None:
            return kind
    column = (obs.columns if table == obs.facts.table else COLUMNS.get(table, {})).get(name)
    return column[0] if column else None


def type_ok(value: Any, kind: str) -> bool:
    """True when ``value`` already is of ``kind`` (by its real type, never ``__class__``)."""
    actual = type(value)
    if kind == "int":
        return issubclass(actual, int) and not issubclass(actual, bool)
    return issubclass(actual, _PY_TYPES[kind])


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes (lone surrogates counted as 3)."""
    return len(str.encode(text, "utf-8", "surrogatepass"))


def is_trusted(exc: Any, trusted: Iterable[type[BaseException]]) -> bool:
    """True when ``exc`` is an instance of one of the trusted classes."""
    return any(isinstance(exc, cls) for cls in trusted)


def message_candidates(exc_val: Any, obs: Observation) -> set[str]:
    """Texts ``details`` may be a prefix of, for this ``exc_val``."""
    if isinstance(exc_val, str):
        return {plain(exc_val)}
    names = {type(exc_val).__name__}
    if is_trusted(exc_val, obs.trusted):
        try:
            msg = exc_val.format_message()
        except Exception:
            msg = None
        if isinstance(msg, str):
            names.add(plain(msg))
        elif isinstance(msg, bytes):  # nova's safe_truncate decodes bytes
            names.add(bytes.decode(msg, "utf-8", "ignore"))
            names.add(type(msg).__name__)
        elif msg is not None:
            names.add(type(msg).__name__)
    return names


def error_text(error: BaseException) -> str:
    """str(error), or '' when it raises."""
    try:
        return str(plain(str(error)))
    except Exception:
        return ""


def same(a: Any, b: Any) -> bool:
    """Identity, or equal values of one exact type (datetimes compared as datetimes)."""
    if a is b:
        return True
    a, b = plain(a), plain(b)
    try:
        return bool(type(a) is type(b) and a == b) or (
            isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime) and a == b
        )
    except Exception:
        return False
