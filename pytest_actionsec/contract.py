"""The contract a target implements, read from its own code, not assumed from nova 34.

Nova's four helpers have been copied (OpenStack Zun's ``ContainerAction``), renamed
and changed over nova's releases. This module reads, for one target module:

- where each helper is (:func:`find_helper`: a class of the module holding a method of
  that name, else a module-level function);
- the role of each parameter (:func:`role_of`: context, resource id, name, host,
  exception, traceback, other), from its name and position;
- the record's schema from the target's own object classes (``fields``, ``VERSION``) and,
  for nova's records, nova's database columns;
- which versioned facts hold (:data:`VERSIONED_FACTS`): an invariant asserts only what the
  version of the contract the target implements promises.

The result is one :class:`~pytest_actionsec.targets.HelperFacts` per helper, in the
names the oracle uses (nova's parameter names, the *canonical* names, mapped to the
target's own by :attr:`HelperFacts.names`), and the columns of each record. This module
imports no nova and no pytest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "ROLES",
    "VERSIONED_FACTS",
    "Contract",
    "VersionedFact",
    "derive_contract",
    "find_helper",
    "kind_of_field",
    "role_of",
    "roles_of",
    "version_tuple",
]

#: Parameter roles, and the canonical (nova) parameter name of each.
ROLES: Mapping[str, str] = {
    "resource": "instance_uuid",
    "name": "",  # action_name or event_name, by helper
    "host": "host",
    "exception": "exc_val",
    "traceback": "exc_tb",
}

_EXCEPTION_NAMES = frozenset({"exc_val", "exc_value", "exc", "exception", "error", "err"})
_TRACEBACK_NAMES = frozenset({"exc_tb", "tb", "traceback", "exc_traceback"})
_HOST_NAMES = frozenset({"host", "hostname", "host_name", "node", "nodename"})
_BOOKKEEPING = ("id", "created_at", "updated_at", "deleted_at", "deleted")


def role_of(index: int, name: str) -> str:
    """The role of a helper's parameter from its position (0 is the context) and name:
    ``context``, ``resource`` (``instance_uuid``, ``container_uuid``, any ``*_uuid`` or
    ``*_id``), ``name`` (``action_name``, ``event_name``, any ``*_name``), ``host``,
    ``exception``, ``traceback`` or ``other``."""
    lowered = name.lower()
    if index == 0:
        return "context"
    if lowered in _EXCEPTION_NAMES:
        return "exception"
    if lowered in _TRACEBACK_NAMES:
        return "traceback"
    if lowered in _HOST_NAMES:
        return "host"
    if lowered in ("uuid", "id") or lowered.endswith(("_uuid", "_id")):
        return "resource"
    if lowered in ("action", "event", "name") or lowered.endswith("_name"):
        return "name"
    return "other"


def roles_of(names: Sequence[str], nova_params: Sequence[str]) -> list[str]:
    """The roles of a helper's parameters (``names`` in order, the context first): by name,
    and where a name tells nothing (``other``), by position: the role of nova's parameter
    at that place (``nova_params``, after the context) when no other name took it."""
    roles = [role_of(i, n) for i, n in enumerate(names)]
    taken = set(roles)
    for i, role in enumerate(roles):
        if role == "other" and 0 < i <= len(nova_params):
            by_place = role_of(i, nova_params[i - 1])
            if by_place not in taken and by_place != "other":
                roles[i] = by_place
                taken.add(by_place)
    return roles


def version_tuple(version: object) -> tuple[int, ...] | None:
    """``'1.4'`` as ``(1, 4)``; None when ``version`` is no dotted version string."""
    if not isinstance(version, str):
        return None
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return None


@dataclass(frozen=True)
class VersionedFact:
    """A fact of nova's contract that came with a release (and an object version)."""

    key: str
    statement: str
    #: the nova release that brought it, and how the plugin tells a target has it
    since: str
    signal: str


#: The facts of the contract that depend on the version a target implements (the
#: documented table: docs/targets.md).
VERSIONED_FACTS: tuple[VersionedFact, ...] = (
    VersionedFact(
        "mirror",
        "an action's updated_at mirrors its start_time (start) and finish_time (finish)",
        "nova 17 (Queens; changes-since, API microversion 2.58)",
        "the module's InstanceActionList is at version 1.1 or later (its pagination and "
        "filters came with the same change); a module without nova's objects: nova's",
    ),
    VersionedFact(
        "host",
        "an event start records the host it ran on",
        "nova 18 (Rocky; InstanceActionEvent 1.2)",
        "pack_action_event_start takes a host parameter and the event has a host field",
    ),
    VersionedFact(
        "details",
        "an event finished with an error stores the exception's details",
        "nova 21 (Ussuri; InstanceActionEvent 1.4, API microversion 2.84)",
        "the event object has a details field",
    ),
)


@dataclass(frozen=True)
class Contract:
    """What one target's helpers promise: facts by helper, columns by record (table),
    the object versions read, the versioned facts that hold, and whether the records
    are nova's (then nova's database and API stages are real for them)."""

    facts: Mapping[str, Any]
    columns: Mapping[str, Mapping[str, tuple[str, int | None]]]
    versions: Mapping[str, str]
    holds: frozenset[str]
    nova_records: bool
    #: why the records are not nova's (one line), empty when they are
    not_nova: str = ""


def find_helper(module: Any, name: str, preferred: str = "") -> tuple[Any, str]:
    """``(function, owner class name)`` of helper ``name`` in ``module``: on the class
    ``preferred`` when it has one, else on any class defined in the module (the first by
    name), else the module-level function (owner ``""``); ``(None, "")`` when none."""
    owner = getattr(module, preferred, None) if preferred else None
    if isinstance(owner, type) and callable(getattr(owner, name, None)):
        return getattr(owner, name), preferred
    module_name = getattr(module, "__name__", "")
    for attr in sorted(vars(module)):
        cls = vars(module)[attr]
        if not isinstance(cls, type) or getattr(cls, "__module__", None) != module_name:
            continue
        if name in vars(cls) and callable(getattr(cls, name, None)):
            return getattr(cls, name), attr
    func = getattr(module, name, None)
    if callable(func) and not isinstance(func, type):
        return func, ""
    return None, ""


def kind_of_field(ovo_field: Any) -> str | None:
    """The column kind (``str``, ``datetime``, ``int``) an oslo.versionedobjects field
    stores, by its type's class name; None for any other type."""
    ftype = getattr(ovo_field, "_type", None)
    cls = type(ftype) if ftype is not None else type(ovo_field)
    for klass in cls.__mro__:
        label = klass.__name__
        if label in ("String", "UUID", "SensitiveString", "IPAddress", "MACAddress"):
            return "str"
        if label == "DateTime":
            return "datetime"
        if label in ("Integer", "NonNegativeInteger"):
            return "int"
    return None


def _signature(func: Callable[..., Any]) -> list[tuple[str, bool]] | None:
    """``(name, has default)`` of each parameter, or None when it cannot be read or takes
    ``*args``/``**kwargs`` (a wrapper: nova's call shape is assumed)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    out = []
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
        out.append((param.name, param.default is not param.empty))
    return out


def _canonical_name(function: str, role: str, own: str) -> str:
    if role == "name":
        return "event_name" if "event" in function else "action_name"
    return ROLES.get(role) or own


def _record_field(function: str, role: str, own: str, fields: frozenset[str]) -> str | None:
    """The record field a parameter of ``role`` is copied to (None: not copied)."""
    if role == "resource":
        return own
    if role == "name":
        field = "event" if "event" in function else "action"
        return field if field in fields else None
    if role == "host":
        return "host" if "host" in fields else None
    return None


def _facts_of(
    function: str,
    func: Callable[..., Any],
    owner: str,
    table: str,
    nova_facts: Any,
    fields: frozenset[str],
    holds: frozenset[str],
) -> Any:
    """One helper's facts from its signature, its record's fields and the facts that hold."""
    params = _signature(func)
    if params is None:  # nova's call shape; its versioned facts as the target has them
        mirror = nova_facts.mirror if "mirror" in holds else None
        required = nova_facts.required - ({"updated_at"} if mirror is None else set())
        return replace(
            nova_facts,
            owner=owner or nova_facts.owner,
            table=table,
            mirror=mirror,
            required=frozenset(required),
            holds=holds,
        )
    positional: list[str] = []
    keywords: list[str] = []
    names: dict[str, str] = {}
    resource = "instance_uuid"
    copies: dict[str, tuple[str, str]] = {
        k: v for k, v in nova_facts.copies.items() if v[0] == "context"
    }
    roles = roles_of([own for own, _ in params], nova_facts.parameters)
    for index, (own, has_default) in enumerate(params):
        role = roles[index]
        if role == "context":
            continue
        if role == "resource" and role_of(index, own) != "resource":
            own_field = "instance_uuid"  # a resource id known by its place only: nova's field
        else:
            own_field = own
        canonical = _canonical_name(function, role, own)
        if canonical in names:  # a second parameter of one role keeps its own name
            canonical = own
        names[canonical] = own
        (keywords if has_default else positional).append(canonical)
        field = _record_field(function, role, own_field, fields)
        if field is not None:
            copies[field] = ("arg", canonical)
        if role == "resource":
            resource = own_field
    required = {field for field in copies}
    for clock in (nova_facts.server_clock, nova_facts.request_clock):
        if clock:
            required.add(clock)
    mirror = nova_facts.mirror if "mirror" in holds else None
    if mirror:
        required.add("updated_at")
    if "result" in nova_facts.required and "result" in fields:
        required.add("result")
    # the context's own fields (user_id, project_id) only where the record has them
    required = {k for k in required if k in fields or k in (resource, "request_id")}
    keep = (resource, "request_id")
    order = [resource if k == "instance_uuid" else k for k in nova_facts.copies]
    order += [k for k in copies if k not in order]
    copies = {k: copies[k] for k in order if k in copies and (k in fields or k in keep)}
    return replace(
        nova_facts,
        owner=owner,
        table=table,
        positional=tuple(positional),
        keywords=tuple(keywords),
        required=frozenset(required),
        copies=copies,
        mirror=mirror,
        names={k: v for k, v in names.items() if k != v},
        resource=resource,
        holds=holds,
    )


def _fields_of(cls: Any) -> Mapping[str, Any]:
    fields = getattr(cls, "fields", None)
    return dict(fields) if isinstance(fields, Mapping) else {}


def _resource_of(func: Callable[..., Any]) -> str:
    """The record field of the resource id: the target's own name of that parameter when
    its name says so, else nova's ``instance_uuid``."""
    for index, (own, _default) in enumerate(_signature(func) or ()):
        if role_of(index, own) == "resource":
            return own
    return "instance_uuid"


def derive_contract(
    module: Any,
    helpers: Mapping[str, tuple[Callable[..., Any], str]],
    *,
    nova_facts: Mapping[str, Any],
    nova_columns: Mapping[str, Mapping[str, tuple[str, int | None]]],
    nova_objects: Any,
) -> Contract:
    """The contract of ``module`` whose helpers are ``helpers`` (name to ``(function,
    owner class name)``); ``nova_facts``/``nova_columns`` are nova 34's (the canonical
    facts and nova's database columns), ``nova_objects`` nova's ``instance_action``
    module (None: nova is not importable), whose classes stand in where the target has
    none (module-level functions) or plain classes without versions (a fork's packers
    on top of nova's objects).

    A record is *nova's* when every field of its object is a column of nova's table and
    its resource id is one too: then nova's database and API stages are real for it.
    """
    versions: dict[str, str] = {}
    classes: dict[str, Any] = {}
    versioned = False
    for function, (_func, owner) in helpers.items():
        canonical = nova_facts[function]
        cls = getattr(module, owner, None) if owner else None
        own = cls
        if not _fields_of(cls) and nova_objects is not None:
            cls = getattr(nova_objects, canonical.owner, None)  # nova's objects stand in
        classes[function] = cls
        if isinstance(getattr(own, "VERSION", None), str):
            versioned = True
        version = getattr(cls, "VERSION", None)
        if isinstance(version, str):
            versions[getattr(cls, "__name__", canonical.owner)] = version
    listing = getattr(module, "InstanceActionList", None)
    if listing is None and not versioned and nova_objects is not None:
        listing = getattr(nova_objects, "InstanceActionList", None)
    list_version = version_tuple(getattr(listing, "VERSION", None))
    holds: set[str] = set()
    if list_version is not None:
        versions["InstanceActionList"] = ".".join(map(str, list_version))
        if list_version >= (1, 1):
            holds.add("mirror")

    records: dict[str, tuple[str, frozenset[str], Mapping[str, Any], bool]] = {}
    not_nova: list[str] = []
    for function, (func, _owner) in helpers.items():
        canonical = nova_facts[function]
        nova_cols = nova_columns.get(canonical.table, {})
        fields = _fields_of(classes[function])
        names = frozenset(fields) or frozenset(nova_cols)
        resource = _resource_of(func)
        extra = sorted(names - set(nova_cols))
        shaped = not extra and resource in nova_cols
        label = getattr(classes[function], "__name__", "") or canonical.owner
        if not shaped:
            fields_named = ", ".join(extra) if extra else resource
            not_nova.append(f"{label}: {fields_named} not in nova's {canonical.table}")
        table = canonical.table if shaped else label
        records[function] = (table, names, fields, shaped)
        if "event" in function and "details" in names:
            holds.add("details")
        params = [own for own, _ in _signature(func) or ()]
        if function == "pack_action_event_start" and "host" in names:
            if "host" in roles_of(params, canonical.parameters) or not params:
                holds.add("host")

    facts_out: dict[str, Any] = {}
    columns: dict[str, dict[str, tuple[str, int | None]]] = {}
    for function, (func, owner) in helpers.items():
        canonical = nova_facts[function]
        table, names, fields, shaped = records[function]
        facts = _facts_of(function, func, owner, table, canonical, names, frozenset(holds))
        facts_out[function] = facts
        cols = columns.setdefault(table, {})
        lookups = {facts.resource, "request_id"} if "event" in function else set()
        nova_cols = nova_columns.get(canonical.table, {})
        for name in sorted(names | lookups):
            if name in cols:
                continue
            if shaped and name in nova_cols:
                cols[name] = nova_cols[name]
            else:
                # a record that is not nova's: its kinds from its own fields, no limits
                # (its database's lengths are not known here)
                cols[name] = (kind_of_field(fields.get(name)) or "str", None)
    return Contract(
        facts=facts_out,
        columns=columns,
        versions=versions,
        holds=frozenset(holds),
        nova_records=not not_nova,
        not_nova="; ".join(dict.fromkeys(not_nova)),
    )
