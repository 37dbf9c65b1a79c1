"""Hypothesis strategies for the inputs of Nova's instance-action packers.

Two input modes:

``contract``
    what a correct caller passes (NOVA_FACTS): text ids or None, naive UTC
    timestamps skewed from the server clock, any exception type as ``exc_val``
    (or already-serialised text), ``exc_tb`` None or text at the packer and
    also a live traceback object at the RPC boundary (as keywords);
``hostile``
    adds what breaks the calling convention: bytes, ints and arbitrary objects
    as ``exc_val``/``exc_tb``, non-text or over-long ids, aware non-UTC
    timestamps, positional arguments through the boundary, contexts missing
    attributes.

Values are drawn as small *specs* (:class:`Call`, :class:`ExcSpec`, ...) that
build fresh objects for every execution and print themselves as runnable
Python, so a failure can be replayed outside pytest. The object strategies
(:func:`contexts`, :func:`exceptions`, ...) build the objects directly and
register their canaries (see :func:`pytest_actionsec.canaries.planted_canaries`).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import importlib
import itertools
import uuid as _uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from pytest_actionsec.canaries import Canary, new_canary, register_planted

if TYPE_CHECKING:
    from pytest_actionsec.targets import Target

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

MODES = ("contract", "hostile")
LAYERS = ("packer", "boundary")

EPOCH = _dt.datetime(1970, 1, 1)
LATEST = _dt.datetime(9999, 12, 31, 23, 59, 59, 999999)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        from hypothesis.errors import InvalidArgument

        raise InvalidArgument(f"mode must be one of {MODES}, got {mode!r}")
    return mode


# ---------------------------------------------------------------------------
# Specs: values that build fresh objects and print as Python.


@dataclass(frozen=True)
class ObjSpec:
    """An arbitrary object given by a Python expression (``object()``)."""

    expr: str

    def build(self) -> Any:
        """A fresh object."""
        return eval(self.expr, {"UUID": _uuid.UUID, "datetime": _dt})


@dataclass(frozen=True)
class TbSpec:
    """A live traceback object, raised through a frame whose locals hold secrets.

    With ``from_exc`` the traceback of the call's ``exc_val`` is used.
    """

    secrets: tuple[tuple[str, str], ...] = ()
    from_exc: bool = False


@dataclass(frozen=True)
class ExcSpec:
    """An exception to build: its class (maybe created on the fly) and its state."""

    base: str
    name: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    msg_fmt: str | None = None
    methods: tuple[tuple[str, str], ...] = ()  # (method, behaviour)
    attrs: tuple[tuple[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    cause: ExcSpec | None = None
    context: ExcSpec | None = None
    raise_secrets: tuple[tuple[str, str], ...] | None = None
    trusted: bool = False

    def class_source(self) -> str | None:
        """Source of the class to create, or None when ``base`` is used as is."""
        if self.name is None:
            return None
        lines = [f"class {self.name}({_alias(self.base)}):"]
        if self.msg_fmt is not None:
            lines.append(f"    msg_fmt = {self.msg_fmt!r}")
        for method, behaviour in self.methods:
            lines.extend(_METHOD_SOURCE[behaviour].format(m=method).splitlines())
        if len(lines) == 1:
            lines.append("    pass")
        return "\n".join(lines)


_METHOD_SOURCE = {
    "raises": "    def {m}(self):\n        raise RuntimeError('{m} failed')",
    "int": "    def {m}(self):\n        return 42",
    "bytes": "    def {m}(self):\n        return b'not text'",
    "false": "    def {m}(self):\n        return False",
    "zero": "    def {m}(self):\n        return 0",
    "detail": "    def {m}(self):\n        return 'failed: ' + str(self.detail)",
}


def _lit(value: Any) -> str:
    """Python source for ``value`` (datetimes as ``datetime.datetime``, even freezegun's)."""
    if isinstance(value, _dt.datetime):
        parts = [value.year, value.month, value.day, value.hour, value.minute, value.second]
        text = ", ".join(str(p) for p in parts)
        if value.microsecond:
            text += f", {value.microsecond}"
        if value.tzinfo is not None:
            offset = int((value.utcoffset() or _dt.timedelta(0)).total_seconds())
            text += f", tzinfo=datetime.timezone(datetime.timedelta(seconds={offset}))"
        return f"datetime.datetime({text})"
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + "".join(_lit(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _alias(dotted: str) -> str:
    module, _, name = dotted.rpartition(".")
    return name if module == "builtins" else f"_{module.replace('.', '_')}.{name}"


#: Classes given as objects (trusted classes need not be importable by name).
_KNOWN_CLASSES: dict[str, type[BaseException]] = {}


def _class_path(cls: type[BaseException]) -> str:
    dotted = f"{cls.__module__}.{cls.__qualname__}"
    _KNOWN_CLASSES[dotted] = cls
    return dotted


@lru_cache(maxsize=256)
def _load(dotted: str) -> Any:
    if dotted in _KNOWN_CLASSES:
        return _KNOWN_CLASSES[dotted]
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@lru_cache(maxsize=2048)
def _make_class(base: str, source: str) -> type[BaseException]:
    module = base.rpartition(".")[0]
    namespace: dict[str, Any] = {"__name__": "pytest_actionsec.generated"}
    if base in _KNOWN_CLASSES:
        parent = _KNOWN_CLASSES[base]
        source = source.replace(f"({_alias(base)}):", "(_trusted_base):", 1)
        namespace["_trusted_base"] = parent
    elif module != "builtins":
        namespace[f"_{module.replace('.', '_')}"] = importlib.import_module(module)
    exec(compile(source, "<actionsec-generated>", "exec"), namespace)
    cls = [v for k, v in namespace.items() if isinstance(v, type) and not k.startswith("_")]
    return cls[-1]


def raise_through_frame(exc: BaseException, **secrets: str) -> BaseException:
    """Raise ``exc`` in a frame whose locals hold ``secrets``; return it with its traceback."""
    password = secrets.get("password")  # noqa: F841 - a local that must never be stored
    try:
        raise exc
    except BaseException as caught:
        return caught


def build_exception(spec: ExcSpec) -> BaseException:
    """Build a fresh exception from ``spec``."""
    source = spec.class_source()
    cls = _make_class(spec.base, source) if source is not None else _load(spec.base)
    exc: BaseException = cls(*spec.args, **dict(spec.kwargs))
    for name, value in spec.attrs:
        setattr(exc, name, value)
    if spec.notes:
        exc.__notes__ = list(spec.notes)  # type: ignore[attr-defined]
    if spec.cause is not None:
        exc.__cause__ = build_exception(spec.cause)
    if spec.context is not None:
        exc.__context__ = build_exception(spec.context)
    if spec.raise_secrets is not None:
        exc = raise_through_frame(exc, **dict(spec.raise_secrets))
    return exc


def _exception_source(spec: ExcSpec, var: str, lines: list[str], classes: dict[str, str]) -> None:
    source = spec.class_source()
    if source is not None and spec.name is not None:
        if source not in classes:  # two different classes may share a name: rename
            used = {text.split("(")[0][len("class ") :] for text in classes.values()}
            name, n = spec.name, 2
            while name in used:
                name, n = f"{spec.name}_{n}", n + 1
            classes[source] = source.replace(f"class {spec.name}(", f"class {name}(", 1)
        ctor = classes[source].split("(")[0][len("class ") :]
    else:
        ctor = _alias(spec.base)
    args = [repr(a) for a in spec.args] + [f"{k}={v!r}" for k, v in spec.kwargs]
    lines.append(f"{var} = {ctor}({', '.join(args)})")
    for name, value in spec.attrs:
        lines.append(f"{var}.{name} = {value!r}")
    if spec.notes:
        lines.append(f"{var}.__notes__ = {list(spec.notes)!r}")
    for attr, sub in (("__cause__", spec.cause), ("__context__", spec.context)):
        if sub is not None:
            _exception_source(sub, var + "_" + attr.strip("_"), lines, classes)
            lines.append(f"{var}.{attr} = {var}_{attr.strip('_')}")
    if spec.raise_secrets is not None:
        kw = ", ".join(f"{k}={v!r}" for k, v in spec.raise_secrets)
        lines.append(f"{var} = raise_through_frame({var}, {kw})")


def _bases(spec: ExcSpec) -> set[str]:
    out = {spec.base}
    for sub in (spec.cause, spec.context):
        if sub is not None:
            out |= _bases(sub)
    return out


@dataclass(frozen=True)
class ContextSpec:
    """A request context: attribute values, and attributes it lacks (hostile)."""

    attrs: tuple[tuple[str, Any], ...]
    missing: tuple[str, ...] = ()

    def build(self, target: Target) -> Any:
        """A fresh context object for ``target``."""
        values = dict(self.attrs)
        if self.missing:
            from pytest_actionsec.targets import PlainContext

            ctx = PlainContext(**values)
            for name in self.missing:
                delattr(ctx, name)
            return ctx
        return target.make_context(**values)


@dataclass(frozen=True)
class Call:
    """One call of one helper, drawn by :func:`calls`; build it with :meth:`build`."""

    function: str
    layer: str
    context: ContextSpec
    arguments: tuple[tuple[str, Any], ...]
    server_time: _dt.datetime
    hostile: tuple[str, ...] = ()
    positional: bool = False
    canaries: tuple[Canary, ...] = field(default=(), compare=False)

    @property
    def is_hostile(self) -> bool:
        """True when some part of the input breaks the calling convention."""
        return bool(self.hostile)

    def build(self, target: Target) -> tuple[Any, dict[str, Any]]:
        """Fresh (context, keyword arguments) for one execution."""
        ctx = self.context.build(target)
        kwargs: dict[str, Any] = {}
        exc_obj: BaseException | None = None
        for name, value in self.arguments:
            if isinstance(value, ExcSpec):
                exc_obj = build_exception(value)
                kwargs[name] = exc_obj
            elif isinstance(value, ObjSpec):
                kwargs[name] = value.build()
            elif isinstance(value, TbSpec):
                kwargs[name] = value
            else:
                kwargs[name] = value
        for name, value in list(kwargs.items()):
            if isinstance(value, TbSpec):
                if value.from_exc and exc_obj is not None and exc_obj.__traceback__ is not None:
                    kwargs[name] = exc_obj.__traceback__
                else:
                    kwargs[name] = raise_through_frame(
                        RuntimeError("boom"), **dict(value.secrets)
                    ).__traceback__
        return ctx, kwargs

    def size(self) -> int:
        """A rough size used to keep the smallest example of each violation."""
        return len(repr(self.arguments)) + len(repr(self.context))

    def source(self, target_path: str) -> str:
        """A runnable Python snippet that reproduces this call."""
        lines: list[str] = []
        classes: dict[str, str] = {}
        imports = {
            "import datetime",
            "import freezegun",
            "from uuid import UUID",
            "from pytest_actionsec.strategies import raise_through_frame",
            "from pytest_actionsec.targets import PlainContext, resolve_target",
        }
        values: dict[str, str] = {}
        exc_var = None
        exc_raised = False
        for name, value in self.arguments:
            if isinstance(value, ExcSpec):
                for base in _bases(value):
                    module = base.rpartition(".")[0]
                    if module != "builtins":
                        imports.add(f"import {module} as _{module.replace('.', '_')}")
                _exception_source(value, name, lines, classes)
                values[name] = name
                exc_var = name
                exc_raised = value.raise_secrets is not None
            elif isinstance(value, ObjSpec):
                values[name] = value.expr
            elif isinstance(value, TbSpec):
                if value.from_exc and exc_var is not None and exc_raised:
                    values[name] = f"{exc_var}.__traceback__"
                else:
                    kw = "".join(f", {k}={v!r}" for k, v in value.secrets)
                    values[name] = f"raise_through_frame(RuntimeError('boom'){kw}).__traceback__"
            else:
                values[name] = _lit(value)
        ctx_attrs = ", ".join(f"{k}={_lit(v)}" for k, v in self.context.attrs)
        out = sorted(imports)
        out.append("")
        out.extend(classes.values())
        out.append(f"target = resolve_target({target_path!r})")
        if self.context.missing:
            out.append(f"context = PlainContext({ctx_attrs})")
            out.extend(f"del context.{m}" for m in self.context.missing)
        else:
            out.append(f"context = target.make_context({ctx_attrs})")
        out.extend(lines)
        positional = ["context"]
        keywords = []
        for name, _ in self.arguments:
            if name in ("instance_uuid", "action_name", "event_name") or self.positional:
                positional.append(values[name])
            else:
                keywords.append(f"{name}={values[name]}")
        call_args = ", ".join(positional + keywords)
        if self.layer == "boundary":
            out.append("helper = target.boundary_call()")
        else:
            out.append(f"helper = target.helpers[{self.function!r}]")
        out.append(f"with freezegun.freeze_time({_lit(self.server_time)}):")
        out.append(f"    print(helper({call_args}))")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Drawing: few Hypothesis choices per call.
#
# Hypothesis pays for every choice it records (spans, the data tree, mutation and
# shrinking bookkeeping), and that cost, not our objects, dominated a call's
# generation (38-84 choices per call in 0.1.0). So the many small decisions of one
# component (which kind of id, which template, which flags) are packed into one
# integer (:func:`_pick`), and only free-form values (text, uuids, dates) are drawn
# on their own. Weights are expressed by repeating options.

#: Hypothesis draws an integer uniformly only within 256 of zero (beyond, its
#: distribution thins out on a log scale), so a packed integer never exceeds this
#: many outcomes and :func:`_pick` splits longer products into several draws.
_UNIFORM = 257


@cache
def _index(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


def _pick(draw: st.DrawFn, *options: Sequence[Any]) -> list[Any]:
    """One option of each sequence, drawn as one integer per 257 outcomes.

    The first sequence is the most significant digit: shrinking the integer
    moves it towards its first option first.
    """
    picked: list[Any] = []
    group: list[Sequence[Any]] = []
    total = 1

    def flush() -> None:
        n = draw(_index(total))
        digits = []
        for opts in reversed(group):
            n, d = divmod(n, len(opts))
            digits.append(opts[d])
        picked.extend(reversed(digits))

    for opts in options:
        if group and total * len(opts) > _UNIFORM:
            flush()
            group, total = [], 1
        group.append(opts)
        total *= len(opts)
    flush()
    return picked


class _Centered(Sequence[int]):
    """The integers -n..n ordered 0, 1, -1, 2, -2, ... (index 0 is the simplest)."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return 2 * self._n + 1

    def __getitem__(self, i: Any) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return (i + 1) // 2 if i % 2 else -(i // 2)


def _weighted(*pairs: tuple[int, Sequence[Any]]) -> tuple[Any, ...]:
    """Options repeated so each group has the given total weight (split evenly)."""
    out: list[Any] = []
    for weight, group in pairs:
        each, rest = divmod(weight, len(group))
        if rest:
            raise ValueError(f"weight {weight} does not split over {len(group)} options")
        for option in group:
            out.extend([option] * each)
    return tuple(out)


_TEXT = st.characters(exclude_categories=["Cs"])
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
_EDGE_CHARS = ("a", "é", "中", "𝄞")
_TEXT_40 = st.text(_TEXT, min_size=1, max_size=40)
_TEXT_60 = st.text(_TEXT, min_size=1, max_size=60)
_TEXT_200 = st.text(_TEXT, max_size=200)
_TEXT_255 = st.text(_TEXT, max_size=255)
_ID_TEXT = st.text(_TEXT, min_size=1, max_size=255)
_UUID_INTS = st.integers(0, (1 << 128) - 1)


def _draw_uuid4(draw: st.DrawFn) -> _uuid.UUID:
    """A version-4 UUID from one integer choice (``st.uuids`` adds a map and a filter)."""
    return _uuid.UUID(int=draw(_UUID_INTS), version=4)


_INTS = st.integers()
_SMALL_BYTES = st.binary(max_size=20)
_NON_EMPTY_BYTES = st.binary(min_size=1, max_size=8)


def _edge(c: str, n: int) -> tuple[str, str, int]:
    return ("edge", c, n)


_NAME_CONTRACT = _weighted(
    (8, [("name", n) for n in _NAMES]),
    (8, [("text40",)]),
    (8, [("text255",)]),
    (8, [_edge(c, 255) for c in _EDGE_CHARS]),
)
_NAME_HOSTILE = _NAME_CONTRACT + _weighted(
    (8, [_edge(c, 256) for c in _EDGE_CHARS]),
    (8, [("value", "x" * 1000)]),
    (8, [("value", i) for i in (0, 1, -1, 5, -5, 2, 3, 4)]),
    (8, [("bytes",)]),
    (8, [("value", None)]),
)


def _draw_name(draw: st.DrawFn, kind: str, mode: str) -> tuple[Any, str | None]:
    (choice,) = _pick(draw, _NAME_HOSTILE if mode == "hostile" else _NAME_CONTRACT)
    tag = choice[0]
    value: Any
    if tag == "name":
        return choice[1], None
    if tag == "text40":
        return draw(_TEXT_40), None
    if tag == "text255":
        return draw(_TEXT_255), None
    if tag == "edge":
        value = choice[1] * choice[2]
        if choice[2] <= 255:
            return value, None
    elif tag == "bytes":
        value = draw(_SMALL_BYTES)
    else:
        value = choice[1]
    return value, f"{kind}={type(value).__name__} {len(str(value))} chars"


def action_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Action names: Nova's own, unicode text, 255-character edges (hostile: longer, non-text)."""
    _check_mode(mode)
    return st.composite(lambda draw: _draw_name(draw, "action_name", mode)[0])()


def event_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Event names, as :func:`action_names`."""
    _check_mode(mode)
    return st.composite(lambda draw: _draw_name(draw, "event_name", mode)[0])()


_HOST_CONTRACT = _weighted(
    (8, [("value", None)]),
    (8, [("value", "compute-1"), ("value", "cmp-01.rack3.example.org")]),
    (8, [("text255",)]),
    (8, [_edge(c, 255) for c in _EDGE_CHARS]),
)
_HOST_HOSTILE = _HOST_CONTRACT + _weighted(
    (12, [_edge(c, 300) for c in _EDGE_CHARS]),
    (12, [("int",)]),
    (12, [("bytes",)]),
)


def _draw_host(draw: st.DrawFn, mode: str) -> tuple[Any, str | None]:
    (choice,) = _pick(draw, _HOST_HOSTILE if mode == "hostile" else _HOST_CONTRACT)
    tag = choice[0]
    if tag == "value":
        return choice[1], None
    if tag == "text255":
        return draw(_TEXT_255), None
    if tag == "edge":
        value = choice[1] * choice[2]
        return value, (None if choice[2] <= 255 else "host=str")
    value = draw(_INTS) if tag == "int" else draw(_NON_EMPTY_BYTES)
    return value, f"host={type(value).__name__}"


def hosts(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Host names or None (hostile: over 255 characters, non-text)."""
    _check_mode(mode)
    return st.composite(lambda draw: _draw_host(draw, mode)[0])()


_OVER_LONG_UUIDS = st.text(_TEXT, min_size=37, max_size=60)
_UUID_HOSTILE = _weighted((4, ["uuid"]), (4, ["object", "text", "int", "none"]))


def _draw_uuid(draw: st.DrawFn, mode: str) -> tuple[Any, str | None]:
    tag = "uuid" if mode != "hostile" else _pick(draw, _UUID_HOSTILE)[0]
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
    return value, "instance_uuid not a 36-character string"


def instance_uuids(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Instance uuids as strings (hostile: UUID objects, over-long text, ints, None)."""
    _check_mode(mode)

    def one(draw: st.DrawFn) -> Any:
        value = _draw_uuid(draw, mode)[0]
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
    month, day, clock = _pick(draw, _MONTHS, _DAYS, _TIMES_OF_DAY)
    last = calendar.monthrange(year, month)[1]
    value = _dt.datetime.combine(_dt.date(year, month, min(day, last)), clock)
    return min(max(value.replace(microsecond=_MICROS[year % len(_MICROS)]), lo), hi)


_SERVER_LO = _dt.datetime(1970, 1, 2)
_SERVER_HI = _dt.datetime(9999, 12, 30)
_SERVER_EDGES = [
    _dt.datetime(2026, 11, 22, 12, 0, 0),
    _dt.datetime(1970, 1, 2, 0, 0, 0, 1),
    _dt.datetime(9999, 12, 30, 23, 59, 59, 999999),
    _dt.datetime(2038, 1, 19, 3, 14, 8),
]
_SERVER_KINDS = _weighted((4, [None]), (4, _SERVER_EDGES))


def _draw_server_time(draw: st.DrawFn, edge: Any = ...) -> _dt.datetime:
    if edge is ...:
        (edge,) = _pick(draw, _SERVER_KINDS)
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
_SKEW_SECONDS = _Centered(3 * 86400)
_OFFSETS = (0, 60, -300, 330, 14 * 60, -12 * 60)
# (kind, fixed value, microseconds): half the skews fixed, half drawn within 3 days
_TS_CONTRACT = _weighted(
    (16, [("skew", s) for s in _SKEWS]),
    (16, [("skew", None, m) for m in _MICROS]),
    (8, [("absolute", EPOCH), ("absolute", LATEST)]),
    (8, [("absolute", None)]),
)
_TS_HOSTILE = _TS_CONTRACT + _weighted((12, [("aware", m) for m in _OFFSETS]))
_AWARE_LO = _dt.datetime(1971, 1, 1)
_AWARE_HI = _dt.datetime(9998, 1, 1)


def _timestamps(draw: st.DrawFn, server_time: _dt.datetime, mode: str) -> tuple[Any, str | None]:
    (choice,) = _pick(draw, _TS_HOSTILE if mode == "hostile" else _TS_CONTRACT)
    kind, fixed = choice[0], choice[1]
    if kind == "skew":
        skew = fixed
        if skew is None:
            seconds = _SKEW_SECONDS[draw(_index(len(_SKEW_SECONDS)))]
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
    base = server_time or _dt.datetime(2026, 11, 22, 12, 0, 0)
    _check_mode(mode)
    return st.composite(lambda draw: _timestamps(draw, base, mode)[0])()


# ---------------------------------------------------------------------------
# Contexts.


_NON_TEXT_IDS = st.one_of(st.integers(), st.binary(min_size=1, max_size=8), st.just([1]))
_ID_KINDS = ("canary", "canary", "none", "text", "uuid")
_FLAGS = (False, True)
_ID_FIELDS = ("user_id", "project_id", "request_id")
# hostile damage to the context: one time in four
_DAMAGE = _weighted((9, [None]), (3, ["non-text", "missing", "long"]))


def _context_specs(
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
    user, project, request, token, address, catalog, server, *damage = _pick(
        draw,
        _ID_KINDS,
        _ID_KINDS,
        _ID_KINDS,
        _FLAGS,
        _FLAGS,
        _FLAGS,
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
            return _draw_uuid4(draw).hex
        return draw(_ID_TEXT)

    attrs["user_id"] = ident("user_id", "", user)
    attrs["project_id"] = ident("project_id", "", project)
    attrs["request_id"] = ident("request_id", "req-", request)
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
        if kind == "non-text":
            attrs[field_name] = draw(_NON_TEXT_IDS)
            reasons.append(f"context.{field_name} is {type(attrs[field_name]).__name__}")
        elif kind == "long":
            attrs[field_name] = "u" * 300
            reasons.append(f"context.{field_name} has 300 characters")
        else:
            missing = (lacking,)
            reasons.append(f"context lacks {lacking}")
    spec = ContextSpec(tuple(attrs.items()), missing)
    return spec, tuple(reasons), tuple(canaries), server_time


def contexts(
    target: Target | None = None,
    *,
    mode: str = "contract",
    server_time: _dt.datetime | None = None,
) -> st.SearchStrategy[Any]:
    """Request contexts with null ids, secret-bearing attributes and skewed timestamps.

    Built with ``target.make_context`` (nova's ``RequestContext`` when nova
    imports) or :class:`~pytest_actionsec.targets.PlainContext`. Canaries
    planted in ``auth_token``, ``service_catalog``, ``remote_address`` and the
    ids are registered on the object.
    """
    _check_mode(mode)
    base = server_time or _dt.datetime(2026, 11, 22, 12, 0, 0)

    def build(drawn: tuple[ContextSpec, tuple[str, ...], tuple[Canary, ...], Any]) -> Any:
        spec, _, canaries, _ = drawn
        if target is None:
            from pytest_actionsec.targets import PlainContext

            ctx = spec.build(_PlainTarget(PlainContext))  # type: ignore[arg-type]
        else:
            ctx = spec.build(target)
        register_planted(ctx, canaries)
        return ctx

    return st.composite(lambda draw: _context_specs(draw, mode, base))().map(build)


@dataclass(frozen=True)
class _PlainTarget:
    factory: Any

    def make_context(self, **attrs: Any) -> Any:
        return self.factory(**attrs)


# ---------------------------------------------------------------------------
# Exceptions.

_BUILTINS = [
    "ValueError",
    "RuntimeError",
    "KeyError",
    "OSError",
    "ConnectionError",
    "ConnectionRefusedError",
    "TimeoutError",
    "PermissionError",
    "LookupError",
    "AttributeError",
    "TypeError",
    "Exception",
    "AssertionError",
    "NotImplementedError",
    "FileNotFoundError",
]
_CLASS_NAMES = [
    "DBConnectionError",
    "libvirtError",
    "ProcessExecutionError",
    "ClientException",
    "VolumeBackendAPIException",
    "HypervisorUnavailable",
    "SSLError",
    "Boom",
]
_SECRET_TEMPLATES = [
    "mysql+pymysql://nova:{}@db.internal:3306/nova refused",
    "Permission denied: '/etc/nova/{}.key'",
    "auth token {} rejected by keystone at 10.0.0.12",
    "{}",
    "error on host ceph-{}.storage.local",
]
_TEMPLATE_INDEX = range(len(_SECRET_TEMPLATES))
_BUILTIN_INDEX = range(len(_BUILTINS))
# (tag, fixed text): a quarter each of Nova-like messages, short text, 130/255 edges
_PUBLIC = _weighted(
    (24, [("value", m) for m in ("Instance failed", "No valid host was found", "Quota exceeded")]),
    (24, [("text",)]),
    (24, [("value", c * 130) for c in _EDGE_CHARS]),
    (16, [("value", c * 255) for c in _EDGE_CHARS]),
    (8, [("value", "x" * 254 + c) for c in ("é", "𝄞")]),
)


def _draw_public(draw: st.DrawFn, choice: tuple[Any, ...]) -> str:
    return choice[1] if choice[0] == "value" else draw(_TEXT_60)


class _Secrets:
    """Secret texts for one exception: templates rotate from one drawn index."""

    def __init__(self, canaries: list[Canary], template: int) -> None:
        self.canaries = canaries
        self.template = template

    def text(self, origin: str) -> str:
        c = new_canary(origin)
        self.canaries.append(c)
        template = _SECRET_TEMPLATES[self.template % len(_SECRET_TEMPLATES)]
        self.template += 1
        return template.format(c.token)


# Flags that are rarely on list their "off" first: Hypothesis leans to the first
# options (and its mutations keep what earlier examples drew), which would turn a
# one-in-six flag on far more often and hide what the flag masks.
_ONE_IN_SIX = (False, False, False, False, False, True)
_EXTRAS = ("note", "cause", "context", "raised")
#: Which extras an exception gets: none 8 times in 27, each single extra twice,
#: each larger set once (every extra one time in three).
_EXTRA_SETS: tuple[frozenset[str], ...] = (
    (frozenset(),) * 8
    + tuple(frozenset([e]) for e in _EXTRAS) * 2
    + tuple(
        frozenset(c) for k in range(2, len(_EXTRAS) + 1) for c in itertools.combinations(_EXTRAS, k)
    )
)
# (kind, behaviour), behaviours evenly. The kinds nova 34 mishandles come first
# (Hypothesis shrinks towards first options) and weigh a third more than the
# others (one in five each instead of one in six), so that every 100-example run
# meets both (benchmarks/stability.py).
_KIND_CHOICES = _weighted(
    (40, [("kwargs", odd) for odd in ("list", "str", "int", "none", "dict")]),
    (40, [("falsy", m) for m in (("__bool__", "false"), ("__len__", "zero"))]),
    (30, [("plain", None)]),
    (30, [("str", b) for b in ("detail", "raises", "int")]),
    (30, [("repr", b) for b in ("raises", "int", "detail")]),
    (30, [("subclass", None)]),
)


_KINDS_OF = {k: tuple(c for c in _KIND_CHOICES if c[0] == k) for k, _ in _KIND_CHOICES}


def _untrusted_specs(
    draw: st.DrawFn, canaries: list[Canary], depth: int = 0, kind: str | None = None
) -> ExcSpec:
    """An exception of a built-in class or one made on the fly (of ``kind`` if given)."""
    name: str | None
    extras: frozenset[str]
    if depth:
        # a chained exception: one choice, the rest follows from it
        i = draw(_index(len(_KIND_CHOICES)))
        (kind, behaviour), base_name, errno_form = (
            _KIND_CHOICES[i],
            _BUILTINS[i % len(_BUILTINS)],
            False,
        )
        name, template, also_falsy = _CLASS_NAMES[i % len(_CLASS_NAMES)], i, False
        extras = frozenset()
    else:
        # three choices: kind; class and template; flags and extras
        (kind, behaviour), base_index, errno_form, template, also_falsy, extras = _pick(
            draw,
            _KIND_CHOICES if kind is None else _KINDS_OF[kind],
            _BUILTIN_INDEX,
            _FLAGS,
            _TEMPLATE_INDEX,
            _ONE_IN_SIX,
            _EXTRA_SETS,
        )
        base_name = _BUILTINS[base_index]
        name = _CLASS_NAMES[(base_index + template) % len(_CLASS_NAMES)]
    base = "builtins." + base_name
    secrets = _Secrets(canaries, template)
    args: tuple[Any, ...] = (secrets.text("exception.args"),)
    if base == "builtins.OSError" and errno_form:
        args = (13, secrets.text("exception.strerror"), "/var/lib/nova/x")
    methods: list[tuple[str, str]] = []
    attrs: list[tuple[str, Any]] = []
    if kind == "plain":
        name = None
    if kind == "str":
        methods.append(("__str__", behaviour))
        if behaviour == "detail":
            attrs.append(("detail", secrets.text("exception.__str__")))
    elif kind == "repr":
        methods.append(("__repr__", behaviour))
        attrs.append(("detail", secrets.text("exception.__repr__")))
    elif kind == "falsy":
        methods.append(behaviour)
    elif kind == "kwargs":
        c = new_canary("exception.kwargs")
        canaries.append(c)
        value: Any = {
            "list": [c.token],
            "str": c.token,
            "int": 5,
            "none": None,
            "dict": {"password": c.token},
        }[behaviour]
        attrs.append(("kwargs", value))
    if kind not in ("falsy", "plain", "kwargs") and also_falsy:
        # any class may also be falsy: nova's `if exc_val:` then drops its details
        # (not kwargs: a falsy exception never reaches the kwargs nova misreads)
        methods.append(("__bool__", "false"))
    spec = ExcSpec(base=base, name=name, args=args, methods=tuple(methods), attrs=tuple(attrs))
    return _decorate(draw, spec, secrets, depth, extras)


_TRUSTED_KINDS = ("format", "format", "explicit", "broken-format", "raises")
_TRUSTED_HOSTILE_KINDS = (None, "bytes-message", "non-text-format")
_TRUSTED_NAMES = ("InstanceFault", "BuildAbortException", "MigrationError")
_NON_TEXT_FORMATS = ("int", "bytes")


def _trusted_specs(
    draw: st.DrawFn,
    trusted: Sequence[type[BaseException]],
    mode: str,
    canaries: list[Canary],
    depth: int = 0,
) -> ExcSpec:
    hostile_kinds = _TRUSTED_HOSTILE_KINDS if mode == "hostile" else (None,)
    # three choices (one class): class and kinds; message; extras
    cls, kind, hostile_kind, template, name, public_choice, non_text, extras = _pick(
        draw,
        list(trusted),
        _TRUSTED_KINDS,
        hostile_kinds,
        _TEMPLATE_INDEX,
        _TRUSTED_NAMES,
        _PUBLIC,
        _NON_TEXT_FORMATS,
        _EXTRA_SETS,
    )
    base = _class_path(cls)
    kind = hostile_kind or kind
    public = _draw_public(draw, public_choice)
    secrets = _Secrets(canaries, template)
    secret_kw = secrets.text("trusted exception kwargs (unused by msg_fmt)")
    kwargs: tuple[tuple[str, Any], ...] = ()
    msg_fmt = None
    methods: tuple[tuple[str, str], ...] = ()
    if kind in ("format", "raises", "non-text-format"):
        msg_fmt = "Failed on %(reason)s"
        kwargs = (("reason", public), ("connection", secret_kw))
        if kind == "raises":
            methods = (("format_message", "raises"),)
        elif kind == "non-text-format":
            methods = (("format_message", non_text),)
    elif kind == "explicit":
        kwargs = (("message", public), ("connection", secret_kw))
    elif kind == "broken-format":
        msg_fmt = "Unexpected failure: %(missing)s"
        kwargs = (("connection", secret_kw),)
    else:  # bytes-message
        kwargs = (("message", public.encode("utf-8")),)
    spec = ExcSpec(
        base=base, name=name, kwargs=kwargs, msg_fmt=msg_fmt, methods=methods, trusted=True
    )
    return _decorate(draw, spec, secrets, depth, extras)


def _decorate(
    draw: st.DrawFn, spec: ExcSpec, secrets: _Secrets, depth: int, extra: frozenset[str]
) -> ExcSpec:
    changes: dict[str, Any] = {}
    if depth == 0 and "cause" in extra:
        changes["cause"] = _untrusted_specs(draw, secrets.canaries, depth + 1)
    if depth == 0 and "context" in extra:
        changes["context"] = _untrusted_specs(draw, secrets.canaries, depth + 1)
    if "note" in extra:
        changes["notes"] = (secrets.text("exception.__notes__"),)
    if "raised" in extra:
        c = new_canary("frame locals")
        secrets.canaries.append(c)
        changes["raise_secrets"] = (("password", c.token),)
    return replace(spec, **changes) if changes else spec


def _exception_specs(
    draw: st.DrawFn,
    trusted: tuple[type[BaseException], ...],
    mode: str,
    use_trusted: bool,
    kind: str | None = None,
) -> tuple[ExcSpec, tuple[str, ...], tuple[Canary, ...]]:
    canaries: list[Canary] = []
    if use_trusted and trusted:
        spec = _trusted_specs(draw, trusted, mode, canaries)
    else:
        spec = _untrusted_specs(draw, canaries, kind=kind)
    reasons: tuple[str, ...] = ()
    if spec.trusted and (
        any(b in ("int", "bytes") for _, b in spec.methods)
        or any(isinstance(v, bytes) for _, v in spec.kwargs)
    ):
        reasons = ("trusted exception with non-text message",)
    return spec, reasons, tuple(canaries)


def _default_trusted() -> tuple[type[BaseException], ...]:
    try:
        from pytest_actionsec.targets import import_quietly

        return (import_quietly("nova.exception").NovaException,)
    except Exception:
        return ()


def exceptions(
    *,
    mode: str = "contract",
    trusted: Sequence[type[BaseException]] | None = None,
) -> st.SearchStrategy[BaseException]:
    """Arbitrary exceptions: built-ins, classes made on the fly, trusted subclasses.

    Covers custom message formats with unused kwargs, ``__str__``/``__repr__``/
    ``format_message`` that raise or return non-text, falsy exceptions, odd
    ``kwargs`` attributes, cause/context chains, notes, and exceptions raised
    through real frames whose locals hold secrets. Canaries are registered on
    the object. ``trusted`` defaults to ``nova.exception.NovaException``.
    """
    _check_mode(mode)
    classes = tuple(trusted) if trusted is not None else _default_trusted()

    def one(draw: st.DrawFn) -> tuple[ExcSpec, tuple[str, ...], tuple[Canary, ...]]:
        (use_trusted,) = _pick(draw, _FLAGS)
        return _exception_specs(draw, classes, mode, use_trusted)

    def build(drawn: tuple[ExcSpec, tuple[str, ...], tuple[Canary, ...]]) -> BaseException:
        exc = build_exception(drawn[0])
        register_planted(exc, drawn[2])
        return exc

    return st.composite(one)().map(build)


_FORMAT_TB_TEXT = (
    '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2617, in '
    "_build_and_run_instance\n    self.driver.spawn(context, instance, image_meta,\n"
)

# exc_val: an exception nine times in thirteen (a third of them trusted when there
# are trusted classes: their messages carry the long and multi-byte texts), public
# text twice, None and "" once each; hostile adds three of non-exception values.
# Hypothesis favours the first options of a packed integer's leading list:
# untrusted exceptions, which nova 34 mishandles, come first.
_EXC_VAL_CONTRACT = _weighted(
    (2, [("exception", False)]),
    # nova 34's two defects get entries of their own besides their share of the
    # drawn kinds: Hypothesis's mutations keep what earlier examples drew, and a
    # kind met only through one digit was missed by a few 100-example runs
    (2, [("exception", False, "falsy")]),
    (2, [("exception", False, "kwargs")]),
    (3, [("exception", True)]),
    (1, [("none",)]),
    (2, [("text",)]),
    (1, [("empty",)]),
)
_EXC_VAL_HOSTILE = _EXC_VAL_CONTRACT + _weighted((3, [("hostile",)]))
_HOSTILE_EXC_VALS = ("bytes", 0, 7, "object", "list", 1.5)


def _exc_value_options(mode: str) -> tuple[Sequence[Any], ...]:
    if mode == "hostile":
        return (_EXC_VAL_HOSTILE, _HOSTILE_EXC_VALS)
    return (_EXC_VAL_CONTRACT, (None,))


def _draw_exc_value(
    draw: st.DrawFn,
    trusted: tuple[type[BaseException], ...],
    mode: str,
    picked: Sequence[Any] | None = None,
) -> tuple[Any, tuple[str, ...], tuple[Canary, ...]]:
    choice, hostile_value = picked or _pick(draw, *_exc_value_options(mode))
    kind = choice[0]
    if kind == "exception":
        return _exception_specs(draw, trusted, mode, choice[1], *choice[2:])
    if kind == "none":
        return None, (), ()
    if kind == "empty":
        return "", (), ()
    if kind == "text":
        return _draw_public(draw, _pick(draw, _PUBLIC)[0]), (), ()
    c = new_canary("exc_val bytes")
    value: Any = {
        "bytes": f"secret {c.token}".encode(),
        "object": ObjSpec("object()"),
        "list": ["x"],
    }.get(hostile_value, hostile_value)
    label = type(value).__name__ if not isinstance(value, ObjSpec) else "object"
    return value, (f"exc_val is {label}",), (c,) if isinstance(value, bytes) else ()


def exc_values(
    *,
    mode: str = "contract",
    trusted: Sequence[type[BaseException]] | None = None,
) -> st.SearchStrategy[Any]:
    """``exc_val`` values: None, already-serialised text, or an exception (hostile: bytes, ...)."""
    _check_mode(mode)
    classes = tuple(trusted) if trusted is not None else _default_trusted()

    def build(drawn: tuple[Any, tuple[str, ...], tuple[Canary, ...]]) -> Any:
        value = drawn[0]
        if isinstance(value, ExcSpec):
            value = build_exception(value)
        elif isinstance(value, ObjSpec):
            value = value.build()
        register_planted(value, drawn[2]) if not isinstance(value, (str, type(None))) else None
        return value

    return st.composite(lambda draw: _draw_exc_value(draw, classes, mode))().map(build)


_TB_TEXTS = (("value", _FORMAT_TB_TEXT), ("text",), ("value", _FORMAT_TB_TEXT * 100))
_TB_HOSTILE_VALUES = (0, b"Traceback (most recent call last)", [1], ObjSpec("object()"))


@cache
def _tb_kinds(mode: str, layer: str) -> tuple[Any, ...]:
    groups: list[tuple[int, Sequence[Any]]] = [
        (12, [("text", *t) for t in _TB_TEXTS]),
        (4, [("none",)]),
    ]
    if layer == "boundary":
        groups.append((8, [("live", True), ("live", False)]))
    if mode == "hostile":
        groups.append((8, [("hostile", v) for v in _TB_HOSTILE_VALUES]))
        if layer == "packer":
            groups.append((4, [("hostile-live", True), ("hostile-live", False)]))
    return _weighted(*groups)


def _draw_traceback(
    draw: st.DrawFn, mode: str, layer: str, choice: Any = None
) -> tuple[Any, tuple[str, ...], tuple[Canary, ...]]:
    if choice is None:
        (choice,) = _pick(draw, _tb_kinds(mode, layer))
    kind = choice[0]
    if kind == "none":
        return None, (), ()
    if kind == "text":
        return (choice[2] if choice[1] == "value" else draw(_TEXT_200)), (), ()
    if kind in ("live", "hostile-live"):
        c = new_canary("traceback frame locals")
        spec = TbSpec(secrets=(("password", c.token),), from_exc=choice[1])
        why = ("exc_tb is a traceback object",) if kind == "hostile-live" else ()
        return spec, why, ()
    value = choice[1]
    label = "object" if isinstance(value, ObjSpec) else type(value).__name__
    return value, (f"exc_tb is {label}",), ()


def tracebacks(*, mode: str = "contract", layer: str = "packer") -> st.SearchStrategy[Any]:
    """``exc_tb`` values: None or formatted text; live traceback objects at the boundary."""
    _check_mode(mode)
    if layer not in LAYERS:
        from hypothesis.errors import InvalidArgument

        raise InvalidArgument(f"layer must be one of {LAYERS}, got {layer!r}")

    def build(drawn: tuple[Any, tuple[str, ...], tuple[Canary, ...]]) -> Any:
        value = drawn[0]
        if isinstance(value, TbSpec):
            return raise_through_frame(RuntimeError("boom"), **dict(value.secrets)).__traceback__
        if isinstance(value, ObjSpec):
            return value.build()
        return value

    return st.composite(lambda draw: _draw_traceback(draw, mode, layer))().map(build)


# ---------------------------------------------------------------------------
# Whole calls.

_POSITIONAL = (False, False, False, False, True)


@st.composite
def _calls(draw: st.DrawFn, target: Target, function: str, mode: str, layer: str) -> Call:
    ctx, reasons, canaries, server_time = _context_specs(draw, mode, None)
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

    add("instance_uuid", _draw_uuid(draw, mode))
    if function == "pack_action_start":
        add("action_name", _draw_name(draw, "action_name", mode))
    elif function in ("pack_action_event_start", "pack_action_event_finish"):
        add("event_name", _draw_name(draw, "event_name", mode))
    if function == "pack_action_event_start" and _pick(draw, _FLAGS)[0]:
        add("host", _draw_host(draw, mode))
    positional = False
    if function == "pack_action_event_finish":
        hostile_boundary = layer == "boundary" and mode == "hostile"
        # exc_val and exc_tb kinds (and how they are passed) in as few choices as fit
        *exc_choice, tb_choice, passed = _pick(
            draw,
            *_exc_value_options(mode),
            _tb_kinds(mode, layer),
            _POSITIONAL if hostile_boundary else (False,),
        )
        add("exc_val", _draw_exc_value(draw, target.trusted, mode, exc_choice))
        add("exc_tb", _draw_traceback(draw, mode, layer, tb_choice))
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

    from pytest_actionsec.targets import HELPERS

    _check_mode(mode)
    if function not in HELPERS:
        raise InvalidArgument(f"function must be one of {HELPERS}, got {function!r}")
    if layer not in LAYERS:
        raise InvalidArgument(f"layer must be one of {LAYERS}, got {layer!r}")
    if layer == "boundary" and function != "pack_action_event_finish":
        raise InvalidArgument("the boundary layer only wraps pack_action_event_finish")
    return _calls(target, function, mode, layer)


# ---------------------------------------------------------------------------
# Probes: fixed calls every built-in property runs before Hypothesis generates.

_PROBE_TIME = _dt.datetime(2026, 11, 22, 12, 0, 0)
_PROBE_UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"


def _probe_context() -> tuple[ContextSpec, list[Canary]]:
    canaries = [
        new_canary("context.user_id", allowed=["user_id"]),
        new_canary("context.project_id", allowed=["project_id"]),
        new_canary("context.request_id", allowed=["request_id"]),
        new_canary("context.auth_token"),
    ]
    user, project, request, token = canaries
    attrs: tuple[tuple[str, Any], ...] = (
        ("user_id", user.token),
        ("project_id", project.token),
        ("request_id", f"req-{request.token}"),
        ("auth_token", f"gAAAAAB{token.token}"),
        ("remote_address", None),
        ("service_catalog", []),
        ("timestamp", _PROBE_TIME - _dt.timedelta(seconds=30)),
    )
    return ContextSpec(attrs), canaries


def probes(target: Target, function: str, *, layer: str = "packer") -> list[Call]:
    """Fixed contract calls that a property checks before generating: the shapes of
    known defects of these helpers, so that every run meets them whatever the seed.

    For ``pack_action_event_finish``: an exception carrying a secret in its text
    (CVE-2019-14433), a trusted exception whose message format fails with a secret
    in its unused kwargs, a falsy exception, one whose ``kwargs`` is a list, and
    already-serialised text of 200 two-byte characters (details hold 255 bytes).
    Other helpers have none (their inputs have no such rare shapes). Hypothesis's
    random search covers everything else; a finding on a probe is reported with
    the probe as its input.
    """
    if function != "pack_action_event_finish":
        return []
    out: list[Call] = []
    kinds: list[tuple[str, Any]] = [
        ("plain", None),
        ("falsy", ("__bool__", "false")),
        ("kwargs", "list"),
        ("long-text", "é" * 200),
    ]
    if target.trusted:
        kinds.insert(1, ("trusted", None))
    for kind, behaviour in kinds:
        context, canaries = _probe_context()
        exc_canaries: list[Canary] = []
        secrets = _Secrets(exc_canaries, 0)
        spec: Any
        if kind == "long-text":
            spec = behaviour
        elif kind == "trusted":
            spec = ExcSpec(
                base=_class_path(target.trusted[0]),
                name="InstanceFault",
                kwargs=(("connection", secrets.text("trusted exception kwargs (unused)")),),
                msg_fmt="Unexpected failure: %(missing)s",
                trusted=True,
            )
        elif kind == "falsy":
            spec = ExcSpec(
                base="builtins.ValueError",
                name="DBConnectionError",
                args=(secrets.text("exception.args"),),
                methods=(behaviour,),
            )
        elif kind == "kwargs":
            c = new_canary("exception.kwargs")
            exc_canaries.append(c)
            spec = ExcSpec(
                base="builtins.RuntimeError",
                name="ProcessExecutionError",
                args=(secrets.text("exception.args"),),
                attrs=(("kwargs", [c.token]),),
            )
        else:
            spec = ExcSpec(base="builtins.OSError", args=(secrets.text("exception.args"),))
        arguments: tuple[tuple[str, Any], ...] = (
            ("instance_uuid", _PROBE_UUID),
            ("event_name", "compute__do_build_and_run_instance"),
            ("exc_val", spec),
            ("exc_tb", _FORMAT_TB_TEXT),
        )
        out.append(
            Call(
                function=function,
                layer=layer,
                context=context,
                arguments=arguments,
                server_time=_PROBE_TIME,
                canaries=tuple(canaries + exc_canaries),
            )
        )
    return out
