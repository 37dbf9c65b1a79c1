"""Strategies for the plain values of a call: ids, names, hosts, uuids, datetimes, contexts.

Each value is drawn by a ``draw_*`` function that returns the value (or its
spec) with the reason it breaks the calling convention (hostile mode), so that
:func:`~pytest_actionsec.strategies.calls` can draw a whole call in one go; the
public strategies wrap them.

In ``contract`` mode each value keeps to the domain its real source gives it:

====================  =========================================  ===================================
value                 contract domain                            source
====================  =========================================  ===================================
request_id            ``req-`` + a uuid4 (for the leak check a   oslo.context's
                      canary, 20 ASCII letters and digits,       ``generate_request_id()``: nova
                      may stand in for the uuid)                 never takes a caller's id
action, event names   ``[A-Za-z0-9_-]``, 1 to 255 characters,    nova's code: ``instance_actions``
                      nova's own names among them                constants, ``<prefix>_<method>``
user_id, project_id   32 hex digits, a canary, None, or          Keystone: ids are ``String(64)``
                      printable BMP text, 1 to 64 characters     in its ``utf8`` (3-byte) tables;
                                                                 periodic tasks pass None
host                  None or ``[A-Za-z0-9._-]``, 1 to 255       ``CONF.host``: a hostname, FQDN
                      characters                                 or IPv4 address
instance_uuid         canonical uuid4 text, never None           ``Instance.uuid`` (not nullable)
timestamp             naive UTC, skewed from the server clock    ``context.timestamp``
exc_val, exc_tb text  any text but lone surrogates, 4-byte       users' words (server, image and
                      characters included, as in trusted         flavor names in trusted messages),
                      exceptions' messages (``excs.py``)         source lines
====================  =========================================  ===================================

``hostile`` mode keeps the wider domains beside these: any text (astral and
control characters), over-long and non-text values, None request ids; a
value outside its contract domain names why in the call's reasons.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import string
import uuid as _uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from pytest_actionsec.canaries import Canary, new_canary, register_planted
from pytest_actionsec.constants import FIXED_TIME
from pytest_actionsec.draws import (
    EDGE_CHARS,
    FLAGS,
    TEXT,
    Centered,
    check_mode,
    pick,
    weighted,
)
from pytest_actionsec.specs import ContextSpec, ObjSpec

if TYPE_CHECKING:
    from pytest_actionsec.targets import Target

__all__ = [
    "EPOCH",
    "LATEST",
    "action_names",
    "contexts",
    "draw_context",
    "draw_host",
    "draw_name",
    "draw_uuid",
    "event_names",
    "hosts",
    "instance_uuids",
    "server_times",
    "timestamps",
]

#: The earliest and latest naive datetimes drawn as request timestamps.
EPOCH = _dt.datetime(1970, 1, 1)
LATEST = _dt.datetime(9999, 12, 31, 23, 59, 59, 999999)

_NAMES = [
    "create",
    "reboot",
    "resize",
    "live-migration",
    "compute__do_build_and_run_instance",
    "conductor_migrate_server",
    "rebuild",
    "attach_volume",
]
_TEXT_40 = st.text(TEXT, min_size=1, max_size=40)
_TEXT_255 = st.text(TEXT, max_size=255)
_ID_TEXT = st.text(TEXT, min_size=1, max_size=255)
_UUID_INTS = st.integers(0, (1 << 128) - 1)

# Contract alphabets (the table in the module docstring).
_IDENT_CHARS = string.ascii_letters + string.digits + "_-"
_HOST_CHARS = string.ascii_letters + string.digits + "._-"
_IDENT_40 = st.text(_IDENT_CHARS, min_size=1, max_size=40)
_IDENT_255 = st.text(_IDENT_CHARS, min_size=1, max_size=255)
_HOST_255 = st.text(_HOST_CHARS, min_size=1, max_size=255)
#: Printable BMP characters (what ``str.isprintable`` accepts, up to U+FFFF).
_KEYSTONE_CHARS = st.characters(
    max_codepoint=0xFFFF, exclude_categories=["C", "Z"], include_characters=" "
)
_KEYSTONE_TEXT = st.text(_KEYSTONE_CHARS, min_size=1, max_size=64)
#: A fully qualified name of four 63-character labels: 255 characters.
_FQDN_255 = ".".join(["a" * 63] * 4)


def _within(value: Any, chars: str, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest and not value.strip(chars)


def _keystone_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 64
        and value.isprintable()
        and max(map(ord, value)) <= 0xFFFF
    )


def _draw_uuid4(draw: st.DrawFn) -> _uuid.UUID:
    """A version-4 UUID from one integer choice (``st.uuids`` adds a map and a filter)."""
    return _uuid.UUID(int=draw(_UUID_INTS), version=4)


_INTS = st.integers()
_SMALL_BYTES = st.binary(max_size=20)
_NON_EMPTY_BYTES = st.binary(min_size=1, max_size=8)


def _edge(c: str, n: int) -> tuple[str, str, int]:
    return ("edge", c, n)


# (tag, ...): nova's names, identifier texts and a 255-character edge; hostile
# adds any text, multi-byte edges at 255, longer and non-text values, None.
_NAME_CONTRACT = weighted(
    (8, [("name", n) for n in _NAMES]),
    (8, [("ident40",)]),
    (8, [("ident255",)]),
    (8, [_edge("a", 255)]),
)
_NAME_HOSTILE = _NAME_CONTRACT + weighted(
    (8, [("text40",), ("text255",)]),
    (6, [_edge(c, 255) for c in EDGE_CHARS[1:]]),
    (8, [_edge(c, 256) for c in EDGE_CHARS]),
    (8, [("value", "x" * 1000)]),
    (8, [("value", i) for i in (0, 1, -1, 5, -5, 2, 3, 4)]),
    (8, [("bytes",)]),
    (8, [("value", None)]),
)
_NAME_TEXTS = {"ident40": _IDENT_40, "ident255": _IDENT_255, "text40": _TEXT_40}


def draw_name(draw: st.DrawFn, kind: str, mode: str) -> tuple[Any, str | None]:
    """An action or event name (``kind`` is the parameter) and why it is hostile, or None."""
    (choice,) = pick(draw, _NAME_HOSTILE if mode == "hostile" else _NAME_CONTRACT)
    tag = choice[0]
    value: Any
    if tag == "name":
        return choice[1], None
    if tag in ("ident40", "ident255", "text40", "text255"):
        value = draw(_NAME_TEXTS.get(tag, _TEXT_255))
    elif tag == "edge" and choice[2] <= 255:
        value = choice[1] * choice[2]
    else:
        if tag == "edge":
            value = choice[1] * choice[2]
        elif tag == "bytes":
            value = draw(_SMALL_BYTES)
        else:
            value = choice[1]
        return value, f"{kind}={type(value).__name__} {len(str(value))} chars"
    if _within(value, _IDENT_CHARS, 255):
        return value, None
    return value, f"{kind} is no nova identifier ([A-Za-z0-9_-], 1-255 chars)"


def action_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Action names: Nova's own and identifiers ``[A-Za-z0-9_-]`` up to 255 characters.

    Hostile: any text (astral, control characters), multi-byte 255-character
    edges, longer and non-text values, None.
    """
    mode = check_mode(mode)
    return st.composite(lambda draw: draw_name(draw, "action_name", mode)[0])()


def event_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Event names, as :func:`action_names`."""
    mode = check_mode(mode)
    return st.composite(lambda draw: draw_name(draw, "event_name", mode)[0])()


_HOST_CONTRACT = weighted(
    (8, [("value", None)]),
    (8, [("value", "compute-1"), ("value", "cmp-01.rack3.example.org")]),
    (8, [("host255",)]),
    (8, [_edge("a", 255), ("value", _FQDN_255)]),
)
_HOST_HOSTILE = _HOST_CONTRACT + weighted(
    (8, [("text255",)]),
    (6, [_edge(c, 255) for c in EDGE_CHARS[1:]]),
    (12, [_edge(c, 300) for c in EDGE_CHARS]),
    (12, [("int",)]),
    (12, [("bytes",)]),
)


def draw_host(draw: st.DrawFn, mode: str) -> tuple[Any, str | None]:
    """A host name or None, and why it is hostile (or None)."""
    (choice,) = pick(draw, _HOST_HOSTILE if mode == "hostile" else _HOST_CONTRACT)
    tag = choice[0]
    if tag == "value" and choice[1] is None:
        return None, None
    value: Any
    if tag in ("int", "bytes"):
        value = draw(_INTS) if tag == "int" else draw(_NON_EMPTY_BYTES)
        return value, f"host={type(value).__name__}"
    if tag == "edge":
        value = choice[1] * choice[2]
        if choice[2] > 255:
            return value, "host=str"
    elif tag == "value":
        value = choice[1]
    else:
        value = draw(_HOST_255 if tag == "host255" else _TEXT_255)
    if _within(value, _HOST_CHARS, 255):
        return value, None
    return value, "host is no host name ([A-Za-z0-9._-], 1-255 chars)"


def hosts(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Host names ``[A-Za-z0-9._-]`` up to 255 characters, or None.

    Hostile: any text, multi-byte edges, over 255 characters, non-text.
    """
    mode = check_mode(mode)
    return st.composite(lambda draw: draw_host(draw, mode)[0])()


_OVER_LONG_UUIDS = st.text(TEXT, min_size=37, max_size=60)
_UUID_HOSTILE = weighted((4, ["uuid"]), (4, ["object", "text", "int", "none"]))


def draw_uuid(draw: st.DrawFn, mode: str, name: str = "instance_uuid") -> tuple[Any, str | None]:
    """An instance uuid (an :class:`ObjSpec` for a ``UUID`` object) and why it is hostile
    (``name``: the parameter, as the target calls it)."""
    tag = "uuid" if mode != "hostile" else pick(draw, _UUID_HOSTILE)[0]
    if tag == "uuid":
        return str(_draw_uuid4(draw)), None
    value: Any
    if tag == "object":
        value = ObjSpec(f"UUID({str(_draw_uuid4(draw))!r})")
    elif tag == "text":
        value = draw(_OVER_LONG_UUIDS)
    elif tag == "int":
        value = draw(_INTS)
    else:
        value = None
    return value, f"{name} not a 36-character string"


def instance_uuids(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Instance uuids as strings (hostile: UUID objects, over-long text, ints, None)."""
    mode = check_mode(mode)

    def one(draw: st.DrawFn) -> Any:
        value = draw_uuid(draw, mode)[0]
        return value.build() if isinstance(value, ObjSpec) else value

    return st.composite(one)()


# Datetimes: a year drawn as Hypothesis draws years, then month, edge-biased day
# and time of day packed into one integer; the microseconds follow the year (two
# choices; ``st.datetimes`` records one per field).
_MICROS = (0, 1, 999999, 500000, 123456, 654321, 999000, 1000)
_DAYS = (1, 2, 15, 28, 29, 30, 31)
_TIMES_OF_DAY = (_dt.time(0, 0, 0), _dt.time(12, 0, 0), _dt.time(23, 59, 59))
_MONTHS = range(1, 13)


@cache
def _years(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def _draw_datetime(draw: st.DrawFn, lo: _dt.datetime, hi: _dt.datetime) -> _dt.datetime:
    year = draw(_years(lo.year, hi.year))
    month, day, clock = pick(draw, _MONTHS, _DAYS, _TIMES_OF_DAY)
    last = calendar.monthrange(year, month)[1]
    value = _dt.datetime.combine(_dt.date(year, month, min(day, last)), clock)
    return min(max(value.replace(microsecond=_MICROS[year % len(_MICROS)]), lo), hi)


_SERVER_LO = _dt.datetime(1970, 1, 2)
_SERVER_HI = _dt.datetime(9999, 12, 30)
_SERVER_EDGES = [
    FIXED_TIME,
    _dt.datetime(1970, 1, 2, 0, 0, 0, 1),
    _dt.datetime(9999, 12, 30, 23, 59, 59, 999999),
    _dt.datetime(2038, 1, 19, 3, 14, 8),
]
_SERVER_KINDS = weighted((4, [None]), (4, _SERVER_EDGES))


def _draw_server_time(draw: st.DrawFn, edge: Any = ...) -> _dt.datetime:
    if edge is ...:
        (edge,) = pick(draw, _SERVER_KINDS)
    return edge if edge is not None else _draw_datetime(draw, _SERVER_LO, _SERVER_HI)


def server_times() -> st.SearchStrategy[_dt.datetime]:
    """Naive UTC server clock readings, edges included (epoch, year 9999, microseconds)."""
    return st.composite(_draw_server_time)()


_SKEWS = [
    _dt.timedelta(0),
    _dt.timedelta(microseconds=1),
    _dt.timedelta(microseconds=-1),
    _dt.timedelta(seconds=-30),
    _dt.timedelta(minutes=5),
    _dt.timedelta(hours=-13),
    _dt.timedelta(days=400),
    _dt.timedelta(days=-4000),
]
#: Drawn skews: seconds within 3 days, index 0 = no skew; Hypothesis favours small
#: indices here (seconds and minutes more often than days), which suits clock skew.
_SKEW_SECONDS = Centered(3 * 86400)
_OFFSETS = (0, 60, -300, 330, 14 * 60, -12 * 60)
# (kind, fixed value, microseconds): half the skews fixed, half drawn within 3 days
_TS_CONTRACT = weighted(
    (16, [("skew", s) for s in _SKEWS]),
    (16, [("skew", None, m) for m in _MICROS]),
    (8, [("absolute", EPOCH), ("absolute", LATEST)]),
    (8, [("absolute", None)]),
)
_TS_HOSTILE = _TS_CONTRACT + weighted((12, [("aware", m) for m in _OFFSETS]))
_AWARE_LO = _dt.datetime(1971, 1, 1)
_AWARE_HI = _dt.datetime(9998, 1, 1)


def _timestamps(draw: st.DrawFn, server_time: _dt.datetime, mode: str) -> tuple[Any, str | None]:
    (choice,) = pick(draw, _TS_HOSTILE if mode == "hostile" else _TS_CONTRACT)
    kind, fixed = choice[0], choice[1]
    if kind == "skew":
        skew = fixed
        if skew is None:
            (seconds,) = pick(draw, _SKEW_SECONDS)
            skew = _dt.timedelta(seconds=seconds, microseconds=choice[2])
        try:
            return server_time + skew, None
        except OverflowError:
            return server_time, None
    if kind == "absolute":
        return (fixed if fixed is not None else _draw_datetime(draw, EPOCH, LATEST)), None
    when = _draw_datetime(draw, _AWARE_LO, _AWARE_HI)
    aware = when.replace(tzinfo=_dt.timezone(_dt.timedelta(minutes=fixed)))
    return aware, f"aware timestamp (UTC{fixed:+d} min)"


def timestamps(
    *, server_time: _dt.datetime | None = None, mode: str = "contract"
) -> st.SearchStrategy[_dt.datetime]:
    """Request timestamps skewed from ``server_time``: far past and future, epoch, year 9999.

    Contract timestamps are naive UTC; hostile adds aware ones with non-UTC offsets.
    """
    base = server_time or FIXED_TIME
    mode = check_mode(mode)
    return st.composite(lambda draw: _timestamps(draw, base, mode)[0])()


# ---------------------------------------------------------------------------
# Contexts.


_NON_TEXT_IDS = st.one_of(st.integers(), st.binary(min_size=1, max_size=8), st.just([1]))
# Kinds of user and project ids (both modes; "text" is Keystone text in contract
# mode, any text in hostile mode), and of request ids: oslo.context always makes
# one, so None and free text are hostile only.
_ID_KINDS = ("canary", "canary", "none", "text", "uuid")
_REQUEST_KINDS = ("canary", "canary", "uuid", "uuid", "uuid")
_ID_FIELDS = ("user_id", "project_id", "request_id")
# hostile damage to the context: one time in four
_DAMAGE = weighted((9, [None]), (3, ["non-text", "missing", "long"]))


def draw_context(
    draw: st.DrawFn, mode: str, server_time: _dt.datetime | None
) -> tuple[ContextSpec, tuple[str, ...], tuple[Canary, ...], _dt.datetime]:
    """A context spec; with ``server_time`` None the server time is drawn too (returned)."""
    canaries: list[Canary] = []
    reasons: list[str] = []
    attrs: dict[str, Any] = {}
    hostile = mode == "hostile"
    damage_options: tuple[Sequence[Any], ...] = (
        (_DAMAGE, _ID_FIELDS, ("request_id", "timestamp", "user_id")) if hostile else ()
    )
    server_kinds = _SERVER_KINDS if server_time is None else (server_time,)
    user, project, request, token, address, catalog, server, *damage = pick(
        draw,
        _ID_KINDS,
        _ID_KINDS,
        _ID_KINDS if hostile else _REQUEST_KINDS,
        FLAGS,
        FLAGS,
        FLAGS,
        server_kinds,
        *damage_options,
    )
    server_time = _draw_server_time(draw, server)

    def ident(field: str, prefix: str, choice: str) -> Any:
        if choice == "canary":
            c = new_canary(f"context.{field}", allowed=[field])
            canaries.append(c)
            return f"{prefix}{c.token}"
        if choice == "none":
            return None
        if choice == "uuid":
            return f"req-{_draw_uuid4(draw)}" if prefix else _draw_uuid4(draw).hex
        return draw(_ID_TEXT if hostile else _KEYSTONE_TEXT)

    attrs["user_id"] = ident("user_id", "", user)
    attrs["project_id"] = ident("project_id", "", project)
    attrs["request_id"] = ident("request_id", "req-", request)
    outside = [f for f in ("user_id", "project_id") if attrs[f] is not None]
    outside = [f for f in outside if not _keystone_id(attrs[f])]
    if request in ("none", "text"):
        outside.append("request_id")
    for secret, shape, flag in (
        ("auth_token", "gAAAAAB{}", token),
        ("remote_address", "{}.internal", address),
    ):
        if flag:
            c = new_canary(f"context.{secret}")
            canaries.append(c)
            attrs[secret] = shape.format(c.token)
        else:
            attrs[secret] = None
    if catalog:
        c = new_canary("context.service_catalog")
        canaries.append(c)
        attrs["service_catalog"] = [
            {
                "type": "image",
                "name": "glance",
                "endpoints": [{"publicURL": f"https://glance.{c.token}.example/v2"}],
            }
        ]
    else:
        attrs["service_catalog"] = []
    ts, why = _timestamps(draw, server_time, mode)
    attrs["timestamp"] = ts
    if why:
        reasons.append(why)
    missing: tuple[str, ...] = ()
    if hostile and damage[0] is not None:
        kind, field_name, lacking = damage
        replaced = lacking if kind == "missing" else field_name
        if replaced in outside:
            outside.remove(replaced)  # replaced or removed below, with its own reason
        if kind == "non-text":
            attrs[field_name] = draw(_NON_TEXT_IDS)
            reasons.append(f"context.{field_name} is {type(attrs[field_name]).__name__}")
        elif kind == "long":
            attrs[field_name] = "u" * 300
            reasons.append(f"context.{field_name} has 300 characters")
        else:
            missing = (lacking,)
            reasons.append(f"context lacks {lacking}")
    for field_name in outside:
        wanted = "req-<uuid4>" if field_name == "request_id" else "Keystone id"
        reasons.append(f"context.{field_name} outside the contract (not a {wanted})")
    spec = ContextSpec(tuple(attrs.items()), missing)
    return spec, tuple(reasons), tuple(canaries), server_time


@dataclass(frozen=True)
class _PlainTarget:
    factory: Any

    def make_context(self, **attrs: Any) -> Any:
        return self.factory(**attrs)


def contexts(
    target: Target | None = None,
    *,
    mode: str = "contract",
    server_time: _dt.datetime | None = None,
) -> st.SearchStrategy[Any]:
    """Request contexts with null ids, secret-bearing attributes and skewed timestamps.

    Contract ids: ``req-<uuid4>`` request ids, Keystone-shaped user and project
    ids (32 hex digits, printable BMP text up to 64 characters) or None; hostile
    adds any text, None request ids, non-text and over-long ids, missing attributes.

    Built with ``target.make_context`` (nova's ``RequestContext`` when nova
    imports) or :class:`~pytest_actionsec.targets.PlainContext`. Canaries
    planted in ``auth_token``, ``service_catalog``, ``remote_address`` and the
    ids are registered on the object.
    """
    mode = check_mode(mode)
    base = server_time or FIXED_TIME

    def build(drawn: tuple[ContextSpec, tuple[str, ...], tuple[Canary, ...], Any]) -> Any:
        spec, _, canaries, _ = drawn
        if target is None:
            from pytest_actionsec.targets import PlainContext

            ctx = spec.build(_PlainTarget(PlainContext))  # type: ignore[arg-type]
        else:
            ctx = spec.build(target)
        register_planted(ctx, canaries)
        return ctx

    return st.composite(lambda draw: draw_context(draw, mode, base))().map(build)
