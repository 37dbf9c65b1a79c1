"""Resolve what to test: the four packers of a module, its schemas and boundary.

A :class:`Target` bundles everything the strategies and the oracle need to know
about one implementation of Nova's ``instance_action`` packers. It is resolved
from a dotted module path. Importing this module imports no nova; resolving a
target loads nova's modules when nova is installed (:func:`pytest_actionsec.nova.modules`:
its request context, RPC boundary, exception base and fault sink are the fallbacks).
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_actionsec import nova
from pytest_actionsec.constants import DEFAULT_TARGET
from pytest_actionsec.contract import (
    Contract,
    derive_contract,
    find_helper,
    role_of,
    roles_of,
)
from pytest_actionsec.errors import TargetError
from pytest_actionsec.faults import fault_fields, find_fault_sink
from pytest_actionsec.locations import SourceLocation, definition, real_function
from pytest_actionsec.notifications import (  # h-notify: the notification sink
    NOTIFICATION_COLUMNS,
    NOTIFICATION_TABLE,
    NOTIFY_SINK,
    find_notifier,
)
from pytest_actionsec.nova import import_quietly

__all__ = [
    "BOUNDARY_HELPER",
    "COLUMNS",
    "CONTEXT_SOURCES",
    "DEFAULT_TARGET",
    "FACTS",
    "FAULT_SINK",
    "FUNCTIONS",
    "HELPERS",
    "NOTIFY_SINK",
    "NOVA_TABLES",
    "OFF",
    "POSITIONAL_PARAMS",
    "SINKS",
    "TABLE_OF",
    "HelperFacts",
    "PlainContext",
    "Target",
    "TargetError",
    "fallback_text",
    "import_quietly",
    "load_function",
    "resolve_target",
]


@dataclass(frozen=True)
class HelperFacts:
    """What every module needs to know about one of the four helpers or a sink (nova 34).

    ``positional`` are the parameters after ``context`` that Nova passes
    positionally, ``keywords`` the optional ones (default None); ``copies`` maps a
    record field to its source (``("context", attr)`` or ``("arg", name)``);
    (an ``arg`` name may be dotted: ``instance.uuid``);
    ``server_clock`` is the field set from the server clock, ``request_clock`` the
    one set from ``context.timestamp``; ``mirror`` is the field ``updated_at``
    mirrors.
    """

    name: str
    owner: str
    table: str
    positional: tuple[str, ...]
    keywords: tuple[str, ...]
    required: frozenset[str]
    copies: Mapping[str, tuple[str, str]]
    server_clock: str | None = None
    request_clock: str | None = None
    mirror: str | None = None
    #: the target's own parameter names, by canonical (nova's) name, where they differ
    #: (Zun's ``container_uuid`` for ``instance_uuid``); calls and the oracle use the
    #: canonical names
    names: Mapping[str, str] = field(default_factory=dict)
    #: the record field holding the resource id (``instance_uuid``; Zun:
    #: ``container_uuid``)
    resource: str = "instance_uuid"
    #: the versioned facts that hold for this helper (see
    #: :data:`pytest_actionsec.contract.VERSIONED_FACTS`); nova 34: all
    holds: frozenset[str] = frozenset({"mirror", "host", "details"})

    def own_name(self, canonical: str) -> str:
        """The target's name of the parameter nova calls ``canonical``."""
        return self.names.get(canonical, canonical)

    def canonical(self, own: str) -> str:
        """Nova's name of the target's parameter ``own`` (itself when nova has none)."""
        for canonical, name in self.names.items():
            if name == own:
                return canonical
        return own

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every parameter after ``context``, in order."""
        return self.positional + self.keywords


#: The one table of helper facts; every other module reads it.
FACTS: Mapping[str, HelperFacts] = {
    f.name: f
    for f in (
        HelperFacts(
            "pack_action_start",
            "InstanceAction",
            "instance_actions",
            ("instance_uuid", "action_name"),
            (),
            frozenset(
                {
                    "request_id",
                    "instance_uuid",
                    "user_id",
                    "project_id",
                    "action",
                    "start_time",
                    "updated_at",
                }
            ),
            {
                "request_id": ("context", "request_id"),
                "user_id": ("context", "user_id"),
                "project_id": ("context", "project_id"),
                "instance_uuid": ("arg", "instance_uuid"),
                "action": ("arg", "action_name"),
            },
            request_clock="start_time",
            mirror="start_time",
        ),
        HelperFacts(
            "pack_action_finish",
            "InstanceAction",
            "instance_actions",
            ("instance_uuid",),
            (),
            frozenset({"request_id", "instance_uuid", "finish_time", "updated_at"}),
            {
                "request_id": ("context", "request_id"),
                "instance_uuid": ("arg", "instance_uuid"),
            },
            server_clock="finish_time",
            mirror="finish_time",
        ),
        HelperFacts(
            "pack_action_event_start",
            "InstanceActionEvent",
            "instance_actions_events",
            ("instance_uuid", "event_name"),
            ("host",),
            frozenset({"event", "instance_uuid", "request_id", "start_time", "host"}),
            {
                "request_id": ("context", "request_id"),
                "instance_uuid": ("arg", "instance_uuid"),
                "event": ("arg", "event_name"),
                "host": ("arg", "host"),
            },
            server_clock="start_time",
        ),
        HelperFacts(
            "pack_action_event_finish",
            "InstanceActionEvent",
            "instance_actions_events",
            ("instance_uuid", "event_name"),
            ("exc_val", "exc_tb"),
            frozenset({"event", "instance_uuid", "request_id", "finish_time", "result"}),
            {
                "request_id": ("context", "request_id"),
                "instance_uuid": ("arg", "instance_uuid"),
                "event": ("arg", "event_name"),
            },
            server_clock="finish_time",
        ),
        HelperFacts(
            "add_instance_fault_from_exc",
            "",
            "instance_faults",
            ("instance", "fault"),
            ("exc_info", "fault_message"),
            frozenset({"instance_uuid", "code", "message", "details", "host"}),
            {"instance_uuid": ("arg", "instance.uuid")},
        ),
        # h-notify: the notification sink (its record is the wire message, flattened)
        HelperFacts(
            NOTIFY_SINK,
            "",
            NOTIFICATION_TABLE,
            # nova passes the server positionally, the rest mostly by keyword (and a
            # parameter is positional for every function alike: host is not, for
            # pack_action_event_start)
            ("instance",),
            ("host", "action", "phase", "exception"),
            frozenset({"event_type", "publisher_id", "priority", "payload.uuid"}),
            {
                "payload.uuid": ("arg", "instance.uuid"),
                "payload.action_initiator_user": ("context", "user_id"),
                "payload.action_initiator_project": ("context", "project_id"),
            },
        ),
    )
}

# Column types and limits from nova/db/main/models.py (used where no ovo field exists).
#: Column kinds (str, text, datetime, int) and limits of the two tables.
COLUMNS: Mapping[str, Mapping[str, tuple[str, int | None]]] = {
    "instance_actions": {
        "id": ("int", None),
        "action": ("str", 255),
        "instance_uuid": ("str", 36),
        "request_id": ("str", 255),
        "user_id": ("str", 255),
        "project_id": ("str", 255),
        "start_time": ("datetime", None),
        "finish_time": ("datetime", None),
        "message": ("str", 255),
        "created_at": ("datetime", None),
        "updated_at": ("datetime", None),
        "deleted_at": ("datetime", None),
        "deleted": ("int", None),
    },
    "instance_actions_events": {
        "id": ("int", None),
        "event": ("str", 255),
        "action_id": ("int", None),
        "start_time": ("datetime", None),
        "finish_time": ("datetime", None),
        "result": ("str", 255),
        "traceback": ("text", 65535),
        "host": ("str", 255),
        "details": ("text", 65535),
        "created_at": ("datetime", None),
        "updated_at": ("datetime", None),
        "deleted_at": ("datetime", None),
        "deleted": ("int", None),
        # lookup keys the DB API pops to find the parent action
        "instance_uuid": ("str", 36),
        "request_id": ("str", 255),
    },
    "instance_faults": {
        "id": ("int", None),
        "instance_uuid": ("str", 36),
        "code": ("int", None),
        "message": ("str", 255),
        "details": ("text", 16777215),  # MediumText
        "host": ("str", 255),
        "created_at": ("datetime", None),
        "updated_at": ("datetime", None),
        "deleted_at": ("datetime", None),
        "deleted": ("int", None),
    },
    # h-notify: no table; the notification's fields as they go on the wire
    NOTIFICATION_TABLE: NOTIFICATION_COLUMNS,
}


#: Name of the instance-fault sink (CVE-2019-14433's first sink).
FAULT_SINK = "add_instance_fault_from_exc"

#: The four helpers, in the order Nova calls them.
HELPERS: tuple[str, ...] = tuple(name for name in FACTS if name not in (FAULT_SINK, NOTIFY_SINK))

#: Functions that write a record themselves (a target may lack them: then skipped).
SINKS: tuple[str, ...] = (FAULT_SINK, NOTIFY_SINK)

#: The helper the RPC boundary wraps.
BOUNDARY_HELPER = "pack_action_event_finish"

#: The word that turns ``--actionsec-sink`` or ``--actionsec-boundary`` off.
OFF = "none"

#: Every function the built-in suite fuzzes: the four helpers, then the sinks.
FUNCTIONS: tuple[str, ...] = HELPERS + SINKS

#: Table each helper's record is written to.
TABLE_OF: Mapping[str, str] = {name: f.table for name, f in FACTS.items()}

#: nova's own tables: a row read back from nova's database has their columns, and nova's
#: API code decides who reads them (a record of another table is not nova's).
NOVA_TABLES: frozenset[str] = frozenset(TABLE_OF.values())

#: Parameters passed positionally by Nova (after the context), for any helper.
POSITIONAL_PARAMS: frozenset[str] = frozenset(p for f in FACTS.values() for p in f.positional)

#: Context attributes the helpers read (the oracle's sources).
CONTEXT_SOURCES: tuple[str, ...] = ("user_id", "project_id", "request_id", "timestamp")

_CONTEXT_ATTRS = (
    "user_id",
    "project_id",
    "request_id",
    "auth_token",
    "service_catalog",
    "remote_address",
    "timestamp",
)


class PlainContext:
    """A stand-in request context with the attributes the packers read."""

    def __init__(self, **attrs: Any) -> None:
        for name in _CONTEXT_ATTRS:
            setattr(self, name, None)
        self.service_catalog: list[Any] = []
        self.is_admin = False
        for name, value in attrs.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"PlainContext(request_id={getattr(self, 'request_id', '<missing>')!r})"


def fallback_text(kind: str, dotted: str) -> str:
    """What a finding says when it went through nova's ``kind`` (``sink``, ``boundary``)."""
    what = {"sink": "fault sink", "notifier": "notification sink"}.get(kind, "RPC boundary")
    return f"through nova's {what} (fallback): {dotted}"


@dataclass(frozen=True, repr=False)
class Target:
    """Everything the strategies and the oracle need about one implementation."""

    path: str
    helpers: Mapping[str, Callable[..., Any]]
    schemas: Mapping[str, Mapping[str, Any]]
    boundary: Callable[..., Any] | None
    boundary_origin: str
    trusted: tuple[type[BaseException], ...]
    context_factory: Callable[..., Any]
    context_origin: str
    notes: tuple[str, ...] = field(default=())
    #: the note of each part the target lacks, by part (``fault``, ``notification``,
    #: ``boundary``; ``records`` when its records are not nova's): the skip reasons
    skips: Mapping[str, str] = field(default_factory=dict)
    #: where the instance-fault sink comes from (``none``: the target has none)
    fault_origin: str = "none"
    #: nova's functions used because the target has none of its own (``"boundary"``,
    #: ``"sink"``: the dotted path used); the reports name them
    fallbacks: Mapping[str, str] = field(default_factory=dict)
    #: where the notification sink comes from (``none``: the target has none; h-notify)
    notify_origin: str = "none"
    #: the contract read from the target's own code (None: nova 34's, :data:`FACTS`)
    contract: Contract | None = None
    #: the store stage of records that are not nova's: ``factory(target)`` returns a
    #: record store (see :class:`pytest_actionsec.store.RecordStore`); None: none
    store_factory: Callable[[Target], Any] | None = None
    #: where :attr:`store_factory` comes from (its dotted path or entry point), or ``none``
    store_stage_origin: str = OFF

    def __repr__(self) -> str:
        """One line: the module and its helpers (a failure report shows it)."""
        return f"<Target {self.path}: {', '.join(self.helpers) or 'no helpers'}>"

    def facts_of(self, function: str) -> HelperFacts:
        """The facts of ``function`` as this target implements it (its own parameter names,
        record fields and versioned facts; nova 34's for the fault sink)."""
        if self.contract is not None and function in self.contract.facts:
            found: HelperFacts = self.contract.facts[function]
            return found
        return FACTS[function]

    def columns_of(self, function: str) -> Mapping[str, tuple[str, int | None]]:
        """The columns (kind, limit) of the record ``function`` writes, by name."""
        table = self.facts_of(function).table
        if self.contract is not None and table in self.contract.columns:
            return self.contract.columns[table]
        return COLUMNS.get(table, {})

    @property
    def nova_records(self) -> bool:
        """True when the helpers' records are nova's (nova's database and API stages are
        real for them)."""
        return self.contract is None or self.contract.nova_records

    def fallback_of(self, function: str, layer: str) -> tuple[str, str] | None:
        """``(kind, dotted path)`` of nova's fallback that ``function`` at ``layer`` goes
        through (``kind``: ``sink`` or ``boundary``), None when only the target's own code."""
        if function == FAULT_SINK and "sink" in self.fallbacks:
            return "sink", self.fallbacks["sink"]
        if function == NOTIFY_SINK:
            found = self.fallbacks.get("notifier")
            return ("notifier", found) if found else None
        through_boundary = layer == "boundary" or (
            layer in ("store", "api") and self.boundary is not None
        )
        if function == BOUNDARY_HELPER and through_boundary and "boundary" in self.fallbacks:
            return "boundary", self.fallbacks["boundary"]
        return None

    def via(self, function: str, layer: str) -> str | None:
        """How a finding on ``function`` at ``layer`` says it went through nova's
        fallback (None: only the target's own code)."""
        found = self.fallback_of(function, layer)
        if found is None:
            return None
        return fallback_text(*found)

    def definition(self, function: str) -> SourceLocation | None:
        """Where the function called as ``function`` is defined (nova's own sink, not the
        capture wrapper; decorators unwrapped): dotted name, file and ``def`` line."""
        func = self.helpers.get(function)
        return definition(func) if func is not None else None

    def packages(self, function: str) -> frozenset[str]:
        """Top-level packages of the code under test for ``function``: the target module's
        and that of the module really defining it (``nova`` for nova's sink)."""
        module = getattr(real_function(self.helpers.get(function)), "__module__", None)
        return frozenset({self.path.partition(".")[0], str(module or "").partition(".")[0]})

    def make_context(self, **attrs: Any) -> Any:
        """Build a request context with exactly the given attribute values."""
        return self.context_factory(**attrs)

    def boundary_call(self) -> Callable[..., Any] | None:
        """``pack_action_event_finish`` wrapped by the RPC boundary, or None.

        Called as ``wrapped(context, uuid, event, exc_val=..., exc_tb=...)``.
        """
        if self.boundary is None:
            return None
        packer = self.helpers[BOUNDARY_HELPER]

        def _remote(_cls: Any, *args: Any, **kwargs: Any) -> Any:
            return packer(*args, **kwargs)

        wrapped = self.boundary(_remote)

        def call(*args: Any, **kwargs: Any) -> Any:
            return wrapped(None, *args, **kwargs)

        return call


def _nova() -> nova.NovaModules | None:
    """Nova's modules, or None when nova is not importable (a target without nova)."""
    try:
        return nova.modules()
    except Exception:
        return None


def _load_object(dotted: str) -> Any:
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise TargetError(
            f"trusted exception {dotted!r} is not a dotted path 'module.Class'", option="trusted"
        )
    try:
        module = import_quietly(module_name)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise TargetError(
            f"trusted exception {dotted!r}: module {module_name!r} does not import ({detail})",
            option="trusted",
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise TargetError(
            f"trusted exception {dotted!r}: {module_name!r} has no {attr!r}", option="trusted"
        ) from None


def _needed_roles(name: str) -> frozenset[str]:
    """The parameter roles a helper must take: those of nova's positional parameters,
    and the exception and traceback of an event finish."""
    facts = FACTS[name]
    roles = {role_of(i + 1, p) for i, p in enumerate(facts.positional)}
    roles |= {role_of(len(facts.positional) + 1, k) for k in facts.keywords if "exc" in k}
    return frozenset(roles)


def _check_signature(path: str, name: str, func: Any) -> None:
    """A helper takes a context first and a parameter of every role its contract needs
    (by name and position: ``container_uuid`` is a resource id as ``instance_uuid``)."""
    if not callable(func):
        raise TargetError(f"target {path!r}: {name} is not callable")
    positional, keywords = ("context", *FACTS[name].positional), FACTS[name].keywords
    expected = ", ".join(positional + tuple(f"{k}=None" for k in keywords))
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins and C functions: trust them
    params = list(sig.parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return  # a wrapper taking anything: nova's call shape is assumed
    roles = set(roles_of([p.name for p in params], FACTS[name].parameters))
    if params and _needed_roles(name) <= roles:
        return
    raise TargetError(f"target {path!r}: {name}{sig} does not accept ({expected})")


def _find_helper(module: Any, path: str, name: str) -> tuple[Callable[..., Any], str]:
    """``(helper, owner class name)``: the method ``name`` of nova's class for it, else of
    any class of the module, else the module-level function."""
    func, owner = find_helper(module, name, FACTS[name].owner)
    if func is None:
        raise TargetError(
            f"target {path!r} has no {name} (looked for {FACTS[name].owner}.{name}, "
            f"{name} on the module's other classes and a module-level {name})"
        )
    _check_signature(path, name, func)
    return func, owner


def load_function(dotted: str, option: str) -> Any:
    """The object ``dotted`` names: a module attribute (``pkg.mod.func``) or a class
    attribute (``pkg.mod.Class.func``); ``option`` (``sink``, ``boundary``) heads the
    one-line :class:`TargetError` raised when it does not import or is no such name."""
    label = f"{option} {dotted!r}"
    parts = dotted.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise TargetError(
            f"{label}: must be a dotted path 'module.function' or 'module.Class.function' "
            f"(or {OFF})",
            option=option,
        )
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = import_quietly(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            if module_name == missing or module_name.startswith(missing + "."):
                continue  # not a module: a shorter prefix may be
            raise TargetError(
                f"{label}: module {module_name!r} does not import: no module named {missing!r}",
                option=option,
            ) from None
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise TargetError(
                f"{label}: module {module_name!r} does not import ({detail})", option=option
            ) from None
        for depth, attr in enumerate(parts[cut:]):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                owner = ".".join(parts[: cut + depth])
                raise TargetError(f"{label}: {owner!r} has no {attr!r}", option=option) from None
        return obj
    raise TargetError(f"{label}: no module named {parts[0]!r}", option=option)


def _check_boundary(func: Any, dotted: str) -> None:
    """A boundary is a decorator: it takes the remotable function and returns its wrapper."""
    label = f"boundary {dotted!r}"
    if not callable(func):
        raise TargetError(f"{label}: is not callable ({type(func).__name__})", option="boundary")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(func)
    except TypeError:
        name = getattr(func, "__name__", dotted.rpartition(".")[2])
        raise TargetError(
            f"{label}: {name}{sig} does not accept (fn): a boundary decorates the "
            "remotable function, as nova.objects.base.serialize_args does",
            option="boundary",
        ) from None


def _own_package(path: str, origin: str) -> bool:
    """True when ``origin`` (a dotted path) is in the target's own top-level package."""
    return origin.partition(".")[0] == path.partition(".")[0]


def _find_boundary(
    module: Any, path: str, boundary: str | None, modules: nova.NovaModules | None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(boundary, origin, note)``: the one named, else the target's own, else nova's."""
    if boundary is not None and boundary.strip().lower() == OFF:
        return None, OFF, "boundary properties skipped: turned off by --actionsec-boundary=none"
    if boundary is not None:
        dotted = boundary.strip()
        func = load_function(dotted, "boundary")
        _check_boundary(func, dotted)
        return func, dotted, ""
    own = getattr(module, "serialize_args", None)
    if callable(own):
        return own, f"{path}.serialize_args", ""
    base = modules.base if modules is not None else None
    func = getattr(base, "serialize_args", None) if base is not None else None
    if callable(func):
        return func, "nova.objects.base.serialize_args", ""
    return (
        None,
        OFF,
        "boundary properties skipped: the target defines no serialize_args "
        "and nova.objects.base is not importable",
    )


def _find_sink(
    module: Any, path: str, sink: str | None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(sink, origin, note)``: the one named, else the target's own, else nova's."""
    if sink is not None and sink.strip().lower() == OFF:
        return None, OFF, "fault properties skipped: turned off by --actionsec-sink=none"
    if sink is None:
        return find_fault_sink(module, path)
    dotted = sink.strip()
    return find_fault_sink(module, path, given=(load_function(dotted, "sink"), dotted))


def _find_notifier(
    module: Any, path: str, notifier: str | None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(notifier, origin, note)``: the one named, else the target's own, else nova's."""
    if notifier is not None and notifier.strip().lower() == OFF:
        return (
            None,
            OFF,
            "notification properties skipped: turned off by --actionsec-notifier=none",
        )
    if notifier is None:
        return find_notifier(module, path)
    dotted = notifier.strip()
    return find_notifier(module, path, given=(load_function(dotted, "notifier"), dotted))


#: The entry-point group where a project names the store stage of its own records
#: (the entry point's name is the target's top-level package or its dotted path).
STORE_STAGE_GROUP = "pytest_actionsec.store_stages"


def _find_store_stage(path: str, given: str | None) -> tuple[Callable[..., Any] | None, str]:
    """``(factory, origin)`` of the store stage for records that are not nova's: the one
    ``given`` (a dotted path, or ``none``), else the target package's entry point."""
    if given is not None and given.strip().lower() == OFF:
        return None, OFF
    if given is not None:
        dotted = given.strip()
        factory = load_function(dotted, "store_stage")
        if not callable(factory):
            raise TargetError(
                f"store stage {dotted!r}: is not callable ({type(factory).__name__})",
                option="store_stage",
            )
        return factory, dotted
    from importlib.metadata import entry_points

    names = {path, path.partition(".")[0]}
    for point in entry_points(group=STORE_STAGE_GROUP):
        if point.name in names:
            try:
                factory = point.load()
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
                raise TargetError(
                    f"store stage entry point {point.name} = {point.value}: does not load "
                    f"({detail})",
                    option="store_stage",
                ) from None
            return factory, f"entry point {point.name} = {point.value}"
    return None, OFF


def _all_problems(path: str, problems: Sequence[TargetError]) -> TargetError:
    """One error for every problem: itself when there is one, else a head line and one
    indented line per problem."""
    if len(problems) == 1:
        return problems[0]
    prefix = f"target {path!r}"
    lines = []
    for problem in problems:
        text = str(problem)
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip(":").strip()
            text = text.removeprefix("has ")  # "no pack_action_finish (looked for ...)"
        lines.append(f"\n  - {text}")
    options = {p.option for p in problems}
    option = options.pop() if len(options) == 1 else None
    return TargetError(
        f"target {path!r} cannot be used ({len(problems)} problems):" + "".join(lines),
        option=option,
    )


def _nova_context_factory(modules: nova.NovaModules | None) -> Callable[..., Any] | None:
    if modules is None:
        return None
    request_context = modules.context.RequestContext

    def make(**attrs: Any) -> Any:
        values = {k: attrs.get(k) for k in _CONTEXT_ATTRS if k in attrs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = request_context(
                user_id=values.get("user_id"),
                project_id=values.get("project_id"),
                is_admin=False,
                request_id=values.get("request_id"),
                auth_token=values.get("auth_token"),
                service_catalog=values.get("service_catalog"),
                remote_address=values.get("remote_address"),
                timestamp=values.get("timestamp"),
            )
        # The constructor normalises some values (falsy ids, generated request
        # ids, filtered catalogs); set exactly what was asked for.
        for name, value in values.items():
            if getattr(ctx, name, None) is not value:
                setattr(ctx, name, value)
        return ctx

    return make


def resolve_target(
    path: str = DEFAULT_TARGET,
    *,
    trusted: Sequence[str | type[BaseException]] | None = None,
    sink: str | None = None,
    boundary: str | None = None,
    store_stage: str | None = None,
    notifier: str | None = None,
) -> Target:
    """Resolve a dotted module path into a :class:`Target`.

    ``trusted`` lists the exception classes whose ``format_message()`` text may
    be stored (default: ``nova.exception.NovaException`` when nova imports).
    ``sink`` and ``boundary`` name the instance-fault sink and the RPC boundary by
    dotted path (``pkg.mod.func`` or ``pkg.mod.Class.func``, whatever the name), or
    ``none`` to turn them off (their properties skip); None (default): the target's
    own, else nova's, recorded in :attr:`Target.fallbacks`. ``store_stage`` names the
    factory of the store stage for records that are not nova's (default: the target
    package's ``pytest_actionsec.store_stages`` entry point; ``none``: none);
    ``notifier`` names the notification sink (``notify_about_instance_action``) as
    ``sink`` does the fault sink. Raises
    :class:`TargetError`: one line for one problem; every wrong or missing helper,
    boundary and sink at once, one per line after a head line, for several.
    """
    if not isinstance(path, str) or not path.strip():
        raise TargetError(f"target must be a dotted module path, got {path!r}")
    path = path.strip()
    try:
        module = import_quietly(path)
    except ModuleNotFoundError as exc:
        hint = " (install the 'nova' extra: pip install 'pytest-actionsec[nova]')"
        missing = exc.name or path
        nova_missing = missing.split(".")[0] == "nova" and importlib.util.find_spec("nova") is None
        raise TargetError(
            f"target {path!r} does not import: no module named {missing!r}"
            + (hint if nova_missing else "")
        ) from None
    except Exception as exc:
        raise TargetError(
            f"target {path!r} does not import: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None

    problems: list[TargetError] = []
    helpers: dict[str, Callable[..., Any]] = {}
    owners: dict[str, tuple[Callable[..., Any], str]] = {}
    for name in HELPERS:
        try:
            owners[name] = _find_helper(module, path, name)
        except TargetError as exc:
            problems.append(exc)
        else:
            helpers[name] = owners[name][0]

    notes: list[str] = []
    skips: dict[str, str] = {}
    fallbacks: dict[str, str] = {}
    modules = _nova()
    contract: Contract | None = None
    schemas: dict[str, Mapping[str, Any]] = {}
    if not problems:
        nova_objects = None
        if modules is not None:
            nova_objects = getattr(modules.objects, "instance_action", None)
        contract = derive_contract(
            module, owners, nova_facts=FACTS, nova_columns=COLUMNS, nova_objects=nova_objects
        )
        for name, (_func, owner) in owners.items():
            fields = getattr(getattr(module, owner, None), "fields", None) if owner else None
            if isinstance(fields, Mapping):
                schemas.setdefault(contract.facts[name].table, dict(fields))
    store_factory: Callable[..., Any] | None = None
    store_stage_origin = OFF
    try:
        store_factory, store_stage_origin = _find_store_stage(path, store_stage)
    except TargetError as exc:
        problems.append(exc)
    if contract is not None and not contract.nova_records:
        if store_factory is None:
            skips["records"] = (
                f"store and api properties skipped: not nova's records ({contract.not_nova})"
            )
        else:
            skips["records"] = (
                f"api properties skipped: not nova's records ({contract.not_nova}); "
                f"stored by {store_stage_origin}"
            )
        notes.append(skips["records"])
    found_boundary: Callable[..., Any] | None = None
    boundary_origin = fault_origin = OFF
    try:
        found_boundary, boundary_origin, note = _find_boundary(module, path, boundary, modules)
    except TargetError as exc:
        problems.append(exc)
    else:
        if note:
            notes.append(note)
            skips["boundary"] = note
        if boundary is None and found_boundary is not None:
            if not _own_package(path, boundary_origin):
                fallbacks["boundary"] = boundary_origin

    try:
        found_sink, fault_origin, note = _find_sink(module, path, sink)
    except TargetError as exc:
        problems.append(exc)
    else:
        if found_sink is not None:
            helpers[FAULT_SINK] = found_sink
            # the record is nova's InstanceFault whoever builds it (capturing() needs it)
            schemas.setdefault("instance_faults", fault_fields())
            if sink is None and not _own_package(path, fault_origin):
                fallbacks["sink"] = fault_origin
        if note:
            notes.append(note)
            skips["fault"] = note
    notify_origin = OFF
    try:
        found_notifier, notify_origin, note = _find_notifier(module, path, notifier)
    except TargetError as exc:
        problems.append(exc)
    else:
        if found_notifier is not None:
            helpers[NOTIFY_SINK] = found_notifier
            if notifier is None and not _own_package(path, notify_origin):
                fallbacks["notifier"] = notify_origin
        if note:
            notes.append(note)
            skips["notification"] = note
    if problems:
        raise _all_problems(path, problems)

    trusted_classes: list[type[BaseException]] = []
    if trusted is None:
        if modules is not None:
            trusted_classes.append(modules.exception.NovaException)
    else:
        for item in trusted:
            cls = _load_object(item) if isinstance(item, str) else item
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise TargetError(
                    f"trusted exception {item!r} is not an exception class", option="trusted"
                )
            trusted_classes.append(cls)

    factory = _nova_context_factory(modules)
    if factory is not None:
        context_origin = "nova.context.RequestContext"
    else:
        factory = PlainContext
        context_origin = "pytest_actionsec.targets.PlainContext"

    return Target(
        path=path,
        helpers=helpers,
        schemas=schemas,
        boundary=found_boundary,
        boundary_origin=boundary_origin,
        trusted=tuple(trusted_classes),
        context_factory=factory,
        context_origin=context_origin,
        notes=tuple(notes),
        skips=skips,
        fault_origin=fault_origin,
        fallbacks=fallbacks,
        notify_origin=notify_origin,
        contract=contract,
        store_factory=store_factory if contract is not None and not contract.nova_records else None,
        store_stage_origin=store_stage_origin,
    )
