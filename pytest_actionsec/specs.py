"""Specs: small values that build fresh input objects for every execution.

A :class:`Call` is one drawn call of one helper; its arguments hold plain
values and specs (:class:`ExcSpec`, :class:`ObjSpec`, :class:`TbSpec`) that
build fresh objects with :meth:`Call.build`;
:func:`pytest_actionsec.snippets.call_source` prints one as runnable Python. This
module does not import Hypothesis: replaying a spec needs none.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import sys
import uuid as _uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pytest_actionsec import nova
from pytest_actionsec.canaries import Canary

if TYPE_CHECKING:
    from pytest_actionsec.targets import Target

__all__ = [
    "Call",
    "ContextSpec",
    "ExcInfoSpec",
    "ExcSpec",
    "InstanceSpec",
    "ObjSpec",
    "TbSpec",
    "alias",
    "build_exception",
    "construct",
    "make_instance",
    "raise_through_frame",
    "spec_bytes",
]


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
class ExcInfoSpec:
    """``sys.exc_info()`` for the call's exception (its ``fault``): ``(type, value, tb)``.

    An exception not raised yet is raised first, through a frame whose locals hold
    ``secrets``, as it would have been where a caller caught it.
    """

    secrets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InstanceSpec:
    """The server a fault belongs to: nova's ``Instance`` with ``uuid`` (``plain``: a bare
    object with a ``uuid`` attribute, for values nova's object would coerce)."""

    uuid: Any
    plain: bool = False

    def build(self) -> Any:
        """A fresh instance object."""
        uuid = self.uuid.build() if isinstance(self.uuid, ObjSpec) else self.uuid
        return make_instance(uuid, plain=self.plain)


class _BareInstance:
    def __init__(self, uuid: Any) -> None:
        self.uuid = uuid

    def __repr__(self) -> str:
        return f"Instance(uuid={self.uuid!r})"


def make_instance(uuid: Any, *, plain: bool = False) -> Any:
    """A server object holding ``uuid``: ``nova.objects.Instance`` when nova imports
    (unless ``plain``), else a bare object with a ``uuid`` attribute."""
    if not plain:
        try:
            objects = nova.modules().objects
        except Exception:
            objects = None
        if objects is not None:
            return objects.Instance(uuid=uuid)
    return _BareInstance(uuid)


@dataclass(frozen=True)
class ServerSpec(InstanceSpec):
    """The server a notification is about (h-notify): nova's ``Instance`` with ``uuid``
    and every field the instance payload reads (``notifications.make_server``)."""

    def build(self) -> Any:
        """A fresh server object."""
        from pytest_actionsec.notifications import make_server

        uuid = self.uuid.build() if isinstance(self.uuid, ObjSpec) else self.uuid
        return make_server(uuid)


@dataclass(frozen=True)
class ExcSpec:
    """An exception to build: its class (maybe created on the fly) and its state.

    ``base`` is the dotted path of the class (or of the parent of the class made
    on the fly); ``base_class``, when set (see :meth:`from_class`), is that class
    itself and is what gets built: two classes may share a dotted path.
    """

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
    base_class: type[BaseException] | None = field(default=None, repr=False)

    @classmethod
    def from_class(cls, base_class: type[BaseException], **fields: Any) -> ExcSpec:
        """A spec whose base is ``base_class`` itself (not whatever its dotted path names)."""
        path = f"{base_class.__module__}.{base_class.__qualname__}"
        return cls(base=path, base_class=base_class, **fields)

    def class_source(self) -> str | None:
        """Source of the class to create, or None when ``base`` is used as is."""
        if self.name is None:
            return None
        lines = [f"class {self.name}({alias(self.base)}):"]
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


def alias(dotted: str) -> str:
    """How generated source names the class ``dotted``: built-ins bare, others through
    their module imported as ``_<module with dots as underscores>``."""
    module, _, name = dotted.rpartition(".")
    return name if module == "builtins" else f"_{module.replace('.', '_')}.{name}"


def _resolve(dotted: str) -> type[BaseException]:
    """The class ``dotted`` names now (looked up afresh: a module may be re-imported)."""
    module, _, name = dotted.rpartition(".")
    loaded = sys.modules.get(module) or importlib.import_module(module)
    cls: type[BaseException] = getattr(loaded, name)
    return cls


def _base_class(spec: ExcSpec) -> type[BaseException]:
    return spec.base_class if spec.base_class is not None else _resolve(spec.base)


@lru_cache(maxsize=2048)
def _make_class(parent: type[BaseException], dotted: str, source: str) -> type[BaseException]:
    """The class of ``source``, a subclass of ``parent`` (named ``dotted`` in ``source``).

    Cached by the parent class itself, so classes sharing a dotted path are never
    confused (the cache keeps them alive: their ids are not reused).
    """
    namespace: dict[str, Any] = {"__name__": "pytest_actionsec.generated", "_base": parent}
    source = source.replace(f"({alias(dotted)}):", "(_base):", 1)
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


def construct(
    cls: type[BaseException], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> BaseException:
    """``cls(*args, **kwargs)`` as a deployed service builds it.

    A NovaException-style class whose message format fails calls its
    ``_log_exception`` hook and keeps the unformatted ``msg_fmt``; nova's test base
    (``nova.test``) patches that hook on the class to raise instead. When the plain
    call raises and the class has the hook, the instance is built again with a quiet
    hook of its own (removed afterwards), so the exception is the one production
    code would see, whatever a test base patched."""
    try:
        return cls(*args, **kwargs)
    except Exception:
        if not callable(getattr(cls, "_log_exception", None)):
            raise
    exc = cls.__new__(cls, *args, **kwargs)
    vars(exc)["_log_exception"] = _quiet_format_error
    try:
        cls.__init__(exc, *args, **kwargs)
    finally:
        vars(exc).pop("_log_exception", None)
    return exc


def _quiet_format_error() -> None:
    """A message format failed: production nova logs it and goes on with ``msg_fmt``."""


def build_exception(spec: ExcSpec) -> BaseException:
    """Build a fresh exception from ``spec``."""
    source = spec.class_source()
    parent = _base_class(spec)
    cls = parent
    if source is not None:
        # classes hash by identity (mypy does not count type[BaseException] as Hashable)
        cls = _make_class(parent, spec.base, source)  # type: ignore[arg-type]
    exc = construct(cls, spec.args, dict(spec.kwargs))
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


def spec_bytes(value: Any) -> list[bytes]:
    """The bytes objects an argument carries: itself, or an :class:`ExcSpec`'s arguments,
    keyword arguments and attributes (its cause and context included)."""
    out: list[bytes] = []
    if isinstance(value, bytes):
        out.append(value)
    elif isinstance(value, ExcSpec):
        for item in list(value.args) + [v for _, v in value.kwargs] + [v for _, v in value.attrs]:
            if isinstance(item, bytes):
                out.append(item)
        for sub in (value.cause, value.context):
            if sub is not None:
                out.extend(spec_bytes(sub))
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
            elif isinstance(value, (ObjSpec, InstanceSpec)):
                kwargs[name] = value.build()
            else:
                kwargs[name] = value
        for name, value in list(kwargs.items()):
            if isinstance(value, ExcInfoSpec):
                exc = exc_obj if exc_obj is not None else RuntimeError("boom")
                if exc.__traceback__ is None:
                    exc = raise_through_frame(exc, **dict(value.secrets))
                kwargs[name] = (type(exc), exc, exc.__traceback__)
            elif isinstance(value, TbSpec):
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
