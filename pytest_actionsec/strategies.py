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

import datetime as _dt
import importlib
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
    "raise_through_frame",
    "server_times",
    "timestamps",
    "tracebacks",
]

MODES = ("contract", "hostile")
LAYERS = ("packer", "boundary")

_UTC = _dt.timezone.utc
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
# Leaf strategies.

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


def _edge_texts(limit: int) -> st.SearchStrategy[str]:
    return st.sampled_from(["a", "é", "中", "𝄞"]).map(lambda c: c * limit)


@cache
def _names(kind: str, mode: str) -> st.SearchStrategy[tuple[Any, str | None]]:
    contract: st.SearchStrategy[Any] = st.one_of(
        st.sampled_from(_NAMES),
        st.text(_TEXT, min_size=1, max_size=40),
        st.text(_TEXT, max_size=255),
        _edge_texts(255),
    )
    drawn = contract.map(lambda v: (v, None))
    if mode == "hostile":
        hostile = st.one_of(
            _edge_texts(256),
            st.just("x" * 1000),
            st.integers(-5, 5),
            st.binary(max_size=20),
            st.none(),
        ).map(lambda v: (v, f"{kind}={type(v).__name__} {len(str(v))} chars"))
        drawn = st.one_of(drawn, hostile)
    return drawn


def action_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Action names: Nova's own, unicode text, 255-character edges (hostile: longer, non-text)."""
    return _names("action_name", _check_mode(mode)).map(lambda p: p[0])


def event_names(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Event names, as :func:`action_names`."""
    return _names("event_name", _check_mode(mode)).map(lambda p: p[0])


@cache
def _hosts(mode: str) -> st.SearchStrategy[tuple[Any, str | None]]:
    contract = st.one_of(
        st.none(),
        st.sampled_from(["compute-1", "cmp-01.rack3.example.org"]),
        st.text(_TEXT, max_size=255),
        _edge_texts(255),
    ).map(lambda v: (v, None))
    if mode == "hostile":
        hostile = st.one_of(_edge_texts(300), st.integers(), st.binary(max_size=8)).map(
            lambda v: (v, f"host={type(v).__name__}")
        )
        return st.one_of(contract, hostile)
    return contract


def hosts(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Host names or None (hostile: over 255 characters, non-text)."""
    return _hosts(_check_mode(mode)).map(lambda p: p[0])


@cache
def _uuids(mode: str) -> st.SearchStrategy[tuple[Any, str | None]]:
    contract = st.uuids().map(lambda u: (str(u), None))
    if mode == "hostile":
        hostile = st.one_of(
            st.uuids().map(lambda u: ObjSpec(f"UUID({str(u)!r})")),
            st.text(_TEXT, min_size=37, max_size=60),
            st.integers(),
            st.none(),
        ).map(lambda v: (v, "instance_uuid not a 36-character string"))
        return st.one_of(contract, hostile)
    return contract


def instance_uuids(*, mode: str = "contract") -> st.SearchStrategy[Any]:
    """Instance uuids as strings (hostile: UUID objects, over-long text, ints, None)."""
    return _uuids(_check_mode(mode)).map(
        lambda p: p[0].build() if isinstance(p[0], ObjSpec) else p[0]
    )


def server_times() -> st.SearchStrategy[_dt.datetime]:
    """Naive UTC server clock readings, edges included (epoch, year 9999, microseconds)."""
    return st.one_of(
        st.datetimes(min_value=_dt.datetime(1970, 1, 2), max_value=_dt.datetime(9999, 12, 30)),
        st.sampled_from(
            [
                _dt.datetime(2026, 11, 22, 12, 0, 0),
                _dt.datetime(1970, 1, 2, 0, 0, 0, 1),
                _dt.datetime(9999, 12, 30, 23, 59, 59, 999999),
                _dt.datetime(2038, 1, 19, 3, 14, 8),
            ]
        ),
    )


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


_SKEW_DELTAS = st.one_of(
    st.sampled_from(_SKEWS),
    st.timedeltas(min_value=_dt.timedelta(days=-3), max_value=_dt.timedelta(days=3)),
)
_ABSOLUTE_TIMES = st.one_of(
    st.sampled_from([EPOCH, LATEST]), st.datetimes(min_value=EPOCH, max_value=LATEST)
)
_AWARE_TIMES = st.tuples(
    st.datetimes(min_value=_dt.datetime(1971, 1, 1), max_value=_dt.datetime(9998, 1, 1)),
    st.sampled_from([0, 60, -300, 330, 14 * 60, -12 * 60]),
)


def _timestamps(draw: st.DrawFn, server_time: _dt.datetime, mode: str) -> tuple[Any, str | None]:
    kinds = ["skew", "skew", "absolute"] + (["aware"] if mode == "hostile" else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "skew":
        try:
            return server_time + draw(_SKEW_DELTAS), None
        except OverflowError:
            return server_time, None
    if kind == "absolute":
        return draw(_ABSOLUTE_TIMES), None
    when, minutes = draw(_AWARE_TIMES)
    aware = when.replace(tzinfo=_dt.timezone(_dt.timedelta(minutes=minutes)))
    return aware, f"aware timestamp (UTC{minutes:+d} min)"


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


_ID_TEXT = st.text(_TEXT, min_size=1, max_size=255)
_NON_TEXT_IDS = st.one_of(st.integers(), st.binary(min_size=1, max_size=8), st.just([1]))


def _context_specs(
    draw: st.DrawFn, mode: str, server_time: _dt.datetime
) -> tuple[ContextSpec, tuple[str, ...], tuple[Canary, ...]]:
    canaries: list[Canary] = []
    reasons: list[str] = []
    attrs: dict[str, Any] = {}

    def ident(field: str, prefix: str) -> Any:
        choice = draw(st.sampled_from(["canary", "canary", "none", "text", "uuid"]))
        if choice == "canary":
            c = new_canary(f"context.{field}", allowed=[field])
            canaries.append(c)
            return f"{prefix}{c.token}"
        if choice == "none":
            return None
        if choice == "uuid":
            return draw(st.uuids()).hex
        return draw(_ID_TEXT)

    attrs["user_id"] = ident("user_id", "")
    attrs["project_id"] = ident("project_id", "")
    attrs["request_id"] = ident("request_id", "req-")
    for secret, shape in (("auth_token", "gAAAAAB{}"), ("remote_address", "{}.internal")):
        if draw(st.booleans()):
            c = new_canary(f"context.{secret}")
            canaries.append(c)
            attrs[secret] = shape.format(c.token)
        else:
            attrs[secret] = None
    if draw(st.booleans()):
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
    if mode == "hostile" and draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["non-text", "missing", "long"]))
        field_name = draw(st.sampled_from(["user_id", "project_id", "request_id"]))
        if kind == "non-text":
            attrs[field_name] = draw(_NON_TEXT_IDS)
            reasons.append(f"context.{field_name} is {type(attrs[field_name]).__name__}")
        elif kind == "long":
            attrs[field_name] = "u" * 300
            reasons.append(f"context.{field_name} has 300 characters")
        else:
            missing = (draw(st.sampled_from(["request_id", "timestamp", "user_id"])),)
            reasons.append(f"context lacks {missing[0]}")
    return ContextSpec(tuple(attrs.items()), missing), tuple(reasons), tuple(canaries)


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

    def build(drawn: tuple[ContextSpec, tuple[str, ...], tuple[Canary, ...]]) -> Any:
        spec, _, canaries = drawn
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
_PUBLIC_TEXT = st.one_of(
    st.sampled_from(["Instance failed", "No valid host was found", "Quota exceeded"]),
    st.text(_TEXT, min_size=1, max_size=60),
    _edge_texts(130),
    _edge_texts(255),
    st.sampled_from(["é", "𝄞"]).map(lambda c: "x" * 254 + c),
)


def _secret_text(draw: st.DrawFn, canaries: list[Canary], origin: str) -> str:
    c = new_canary(origin)
    canaries.append(c)
    return draw(st.sampled_from(_SECRET_TEMPLATES)).format(c.token)


def _untrusted_specs(draw: st.DrawFn, canaries: list[Canary], depth: int = 0) -> ExcSpec:
    base = "builtins." + draw(st.sampled_from(_BUILTINS))
    # Hypothesis favours early entries: the kinds nova 34 mishandles come first.
    kind = draw(st.sampled_from(["kwargs", "falsy", "plain", "str", "repr", "subclass"]))
    args: tuple[Any, ...] = (_secret_text(draw, canaries, "exception.args"),)
    if base == "builtins.OSError" and draw(st.booleans()):
        args = (13, _secret_text(draw, canaries, "exception.strerror"), "/var/lib/nova/x")
    name = None
    methods: list[tuple[str, str]] = []
    attrs: list[tuple[str, Any]] = []
    if kind != "plain":
        name = draw(st.sampled_from(_CLASS_NAMES))
    if kind == "str":
        behaviour = draw(st.sampled_from(["detail", "raises", "int"]))
        methods.append(("__str__", behaviour))
        if behaviour == "detail":
            attrs.append(("detail", _secret_text(draw, canaries, "exception.__str__")))
    elif kind == "repr":
        methods.append(("__repr__", draw(st.sampled_from(["raises", "int", "detail"]))))
        attrs.append(("detail", _secret_text(draw, canaries, "exception.__repr__")))
    elif kind == "falsy":
        methods.append(draw(st.sampled_from([("__bool__", "false"), ("__len__", "zero")])))
    elif kind == "kwargs":
        c = new_canary("exception.kwargs")
        canaries.append(c)
        odd = draw(st.sampled_from(["list", "str", "int", "none", "dict"]))
        value: Any = {
            "list": [c.token],
            "str": c.token,
            "int": 5,
            "none": None,
            "dict": {"password": c.token},
        }[odd]
        attrs.append(("kwargs", value))
    if kind not in ("falsy", "plain") and draw(st.integers(0, 5)) == 0:
        # any class may also be falsy: nova's `if exc_val:` then drops its details
        methods.append(("__bool__", "false"))
    spec = ExcSpec(base=base, name=name, args=args, methods=tuple(methods), attrs=tuple(attrs))
    return _decorate(draw, spec, canaries, depth)


def _trusted_specs(
    draw: st.DrawFn,
    trusted: Sequence[type[BaseException]],
    mode: str,
    canaries: list[Canary],
    depth: int = 0,
) -> ExcSpec:
    cls = draw(st.sampled_from(list(trusted)))
    base = _class_path(cls)
    kind = draw(st.sampled_from(["format", "format", "explicit", "broken-format", "raises"]))
    if mode == "hostile":
        kind = draw(st.sampled_from([kind, "bytes-message", "non-text-format"]))
    public = draw(_PUBLIC_TEXT)
    secret_kw = _secret_text(draw, canaries, "trusted exception kwargs (unused by msg_fmt)")
    kwargs: tuple[tuple[str, Any], ...] = ()
    msg_fmt = None
    methods: tuple[tuple[str, str], ...] = ()
    name = draw(st.sampled_from(["InstanceFault", "BuildAbortException", "MigrationError"]))
    if kind in ("format", "raises", "non-text-format"):
        msg_fmt = "Failed on %(reason)s"
        kwargs = (("reason", public), ("connection", secret_kw))
        if kind == "raises":
            methods = (("format_message", "raises"),)
        elif kind == "non-text-format":
            methods = (("format_message", draw(st.sampled_from(["int", "bytes"]))),)
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
    return _decorate(draw, spec, canaries, depth)


def _decorate(draw: st.DrawFn, spec: ExcSpec, canaries: list[Canary], depth: int) -> ExcSpec:
    extra = {
        name for name in ("note", "cause", "context", "raised") if draw(st.integers(0, 3)) == 0
    }
    changes: dict[str, Any] = {}
    if depth == 0 and "cause" in extra:
        changes["cause"] = _untrusted_specs(draw, canaries, depth + 1)
    if depth == 0 and "context" in extra:
        changes["context"] = _untrusted_specs(draw, canaries, depth + 1)
    if "note" in extra:
        changes["notes"] = (_secret_text(draw, canaries, "exception.__notes__"),)
    if "raised" in extra:
        c = new_canary("frame locals")
        canaries.append(c)
        changes["raise_secrets"] = (("password", c.token),)
    return replace(spec, **changes) if changes else spec


def _exception_specs(
    draw: st.DrawFn, trusted: tuple[type[BaseException], ...], mode: str
) -> tuple[ExcSpec, tuple[str, ...], tuple[Canary, ...]]:
    canaries: list[Canary] = []
    use_trusted: bool = bool(trusted) and draw(st.booleans())
    if use_trusted:
        spec = _trusted_specs(draw, trusted, mode, canaries)
    else:
        spec = _untrusted_specs(draw, canaries)
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

    def build(drawn: tuple[ExcSpec, tuple[str, ...], tuple[Canary, ...]]) -> BaseException:
        exc = build_exception(drawn[0])
        register_planted(exc, drawn[2])
        return exc

    return st.composite(lambda draw: _exception_specs(draw, classes, mode))().map(build)


_FORMAT_TB_TEXT = (
    '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2617, in '
    "_build_and_run_instance\n    self.driver.spawn(context, instance, image_meta,\n"
)


@cache
def _exc_values(
    trusted: tuple[type[BaseException], ...], mode: str
) -> st.SearchStrategy[tuple[Any, tuple[str, ...], tuple[Canary, ...]]]:
    kinds = ["exception"] * 6 + ["none", "text", "empty"]
    if mode == "hostile":
        kinds += ["hostile"] * 3

    @st.composite
    def draw_value(draw: st.DrawFn) -> tuple[Any, tuple[str, ...], tuple[Canary, ...]]:
        kind = draw(st.sampled_from(kinds))
        if kind == "exception":
            return _exception_specs(draw, trusted, mode)
        if kind == "none":
            return None, (), ()
        if kind == "empty":
            return "", (), ()
        if kind == "text":
            return draw(_PUBLIC_TEXT), (), ()
        c = new_canary("exc_val bytes")
        value = draw(
            st.sampled_from([f"secret {c.token}".encode(), 0, 7, ObjSpec("object()"), ["x"], 1.5])
        )
        label = type(value).__name__ if not isinstance(value, ObjSpec) else "object"
        return value, (f"exc_val is {label}",), (c,) if isinstance(value, bytes) else ()

    return draw_value()


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

    return _exc_values(classes, mode).map(build)


@cache
def _tracebacks(
    mode: str, layer: str
) -> st.SearchStrategy[tuple[Any, tuple[str, ...], tuple[Canary, ...]]]:
    kinds = ["text", "text", "text", "none"]
    if layer == "boundary":
        kinds += ["live", "live"]
    if mode == "hostile":
        kinds += ["hostile", "hostile"]
        if layer == "packer":
            kinds += ["hostile-live"]

    @st.composite
    def draw_tb(draw: st.DrawFn) -> tuple[Any, tuple[str, ...], tuple[Canary, ...]]:
        kind = draw(st.sampled_from(kinds))
        if kind == "none":
            return None, (), ()
        if kind == "text":
            text = draw(
                st.one_of(
                    st.just(_FORMAT_TB_TEXT),
                    st.text(_TEXT, max_size=200),
                    st.just(_FORMAT_TB_TEXT * 100),
                )
            )
            return text, (), ()
        if kind in ("live", "hostile-live"):
            c = new_canary("traceback frame locals")
            spec = TbSpec(secrets=(("password", c.token),), from_exc=draw(st.booleans()))
            why = ("exc_tb is a traceback object",) if kind == "hostile-live" else ()
            return spec, why, ()
        value = draw(
            st.sampled_from([0, b"Traceback (most recent call last)", [1], ObjSpec("object()")])
        )
        label = "object" if isinstance(value, ObjSpec) else type(value).__name__
        return value, (f"exc_tb is {label}",), ()

    return draw_tb()


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

    return _tracebacks(mode, layer).map(build)


_SERVER_TIMES = server_times()

# ---------------------------------------------------------------------------
# Whole calls.


@st.composite
def _calls(draw: st.DrawFn, target: Target, function: str, mode: str, layer: str) -> Call:
    server_time = draw(_SERVER_TIMES)
    ctx, reasons, canaries = _context_specs(draw, mode, server_time)
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

    add("instance_uuid", draw(_uuids(mode)))
    if function == "pack_action_start":
        add("action_name", draw(_names("action_name", mode)))
    elif function in ("pack_action_event_start", "pack_action_event_finish"):
        add("event_name", draw(_names("event_name", mode)))
    if function == "pack_action_event_start" and draw(st.booleans()):
        add("host", draw(_hosts(mode)))
    positional = False
    if function == "pack_action_event_finish":
        add("exc_val", draw(_exc_values(target.trusted, mode)))
        add("exc_tb", draw(_tracebacks(mode, layer)))
        if layer == "boundary" and mode == "hostile" and draw(st.integers(0, 4)) == 0:
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
