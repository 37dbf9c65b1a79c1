"""Exposure layer: what a tenant reads of a stored record, through Nova's own API code.

A stored field matters by who can read it. This module renders stored rows the way
Nova's API shows them, by calling Nova's own controller and view code with Nova's
own policy enforcer, never a copy of the visibility rules:

* an instance action event (a row of ``instance_actions_events``, with its action):
  :func:`render_event` / :func:`render_action` call
  ``nova.api.openstack.compute.instance_actions.InstanceActionsController.show``
  (``GET /servers/{id}/os-instance-actions/{request_id}``): the body of the method
  under its decorators (``expected_errors``, ``query_schema`` and
  ``response_body_schema`` never change a returned body), with only its data
  lookups (``compute_api.get``, ``action_api.action_get_by_request_id`` and
  ``action_api.action_events_get``) replaced by stubs that hand back the given
  rows as nova objects, built by nova's own ``_from_db_object`` as the database
  layer does (keys that are not columns are ignored; ovo coerces or rejects values
  as it does for rows read from the database). The policy checks
  (``os_compute_api:os-instance-actions:show``, ``...:events`` and
  ``...:events:details``) and the microversion gates (2.51, 2.62, 2.84) are the
  controller's own.
* an instance fault (a row of ``instance_faults``): :func:`render_fault` calls the
  servers view builder's ``_get_fault``
  (``nova.api.openstack.compute.views.servers.ViewBuilder``), which decides from
  the context's ``is_admin`` (set by nova's ``context_is_admin`` policy rule) and
  the fault code whether ``details`` is shown. Nova shows a server's fault only
  when the server is ``ERROR`` or ``DELETED``; :func:`render_fault` renders it as
  for such a server.

The caller is a ``member`` (roles member and reader, as a Keystone token with
implied roles carries) or an ``admin`` (admin, member, reader) of the server's
project, with a project-scoped token. Policies are Nova's in-code defaults
(``nova.policy.init()``, default ``[oslo_policy]`` options); if Nova's enforcer
holds rules from a policy file, :class:`ExposureError` is raised rather than
rendering with them. The result is what goes over the wire: the controller's
return value serialised by Nova's ``JSONDictSerializer`` and parsed back
(datetimes become strings).

:func:`visible_fields` renders a record with a distinct marker in every stored
field and reports which markers come out; :func:`influencing_fields` also
reports fields that change the output without showing up in it (``host`` through
the hashed ``hostId``). Nova is imported lazily (:func:`pytest_actionsec.nova.api`):
importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
import logging
import types
import uuid as _uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pytest_actionsec.nova import api as nova_api
from pytest_actionsec.nova import modules as nova_modules
from pytest_actionsec.targets import FACTS

__all__ = [
    "DEFAULT_FAULT_CODE",
    "KINDS",
    "MICROVERSIONS",
    "NEWEST_MICROVERSION",
    "ROLES",
    "SERVER_PROJECT_ID",
    "SERVER_UUID",
    "ExposureError",
    "influencing_fields",
    "marked_fields",
    "render_action",
    "render_event",
    "render_fault",
    "visible_fields",
    "warm",
]

#: The newest microversion nova 34 supports (``api_version_request._MAX_API_VERSION``).
NEWEST_MICROVERSION = "2.104"

#: The first microversion, those where what an event shows changes (2.51: events for
#: non-admins; 2.62: ``host`` for admins and ``hostId`` for all; 2.84: ``details``),
#: and the newest.
MICROVERSIONS: tuple[str, ...] = ("2.1", "2.51", "2.62", "2.84", NEWEST_MICROVERSION)

#: Who reads: a member or an admin of the server's project.
ROLES: tuple[str, ...] = ("member", "admin")

#: Record kinds: an event (as shown inside its action), an action (the whole
#: ``instanceAction`` body, events included) and an instance fault.
KINDS: tuple[str, ...] = ("event", "action", "fault")

#: Keystone roles of each caller (a token carries implied roles: admin implies
#: member implies reader).
_KEYSTONE_ROLES: dict[str, tuple[str, ...]] = {
    "member": ("member", "reader"),
    "admin": ("admin", "member", "reader"),
}

#: The server every record belongs to, and its project (the caller's project).
SERVER_UUID = "5e7ae75e-0000-4000-8000-000000000001"
SERVER_PROJECT_ID = "actionsec-server-project"
_CALLER_USER_ID = "actionsec-caller"

#: Fault code Nova records for every exception that is not a NovaException with a
#: code of its own (``nova.compute.utils.exception_to_dict``).
DEFAULT_FAULT_CODE = 500


class ExposureError(Exception):
    """Nova cannot render here (bad role/microversion/kind, or non-default policies)."""


# --- nova, lazily -------------------------------------------------------------------------


class _Nova:
    """Nova's modules (:mod:`pytest_actionsec.nova`) and the stub-looked-up controller
    and view classes built on nova's own."""

    def __init__(self) -> None:
        modules = nova_modules()
        api = nova_api()
        self.objects = modules.objects
        self.fields = modules.fields
        self.context = modules.context
        # rules from a policy file (policy.yaml, policy.d/ under /etc/nova, ~/.nova,
        # ...) would make nova's enforcer not the defaults: refuse rather than render
        # with them.
        if api.enforcer.file_rules:
            raise ExposureError(
                "nova's policy enforcer holds rules from a policy file "
                f"({sorted(api.enforcer.file_rules)[:3]}...): exposure renders with "
                "nova's in-code default policies only"
            )
        self.enforcer = api.enforcer
        self.wsgi = api.wsgi
        self.avr = api.versions
        self.min_version = self.avr.min_api_version()
        self.max_version = self.avr.max_api_version()
        actions_api = api.instance_actions
        servers_view = api.servers_view
        wsgi = self.wsgi

        def controller_init(self: Any, compute_api: Any, action_api: Any) -> None:
            wsgi.Controller.__init__(self)
            self.compute_api = compute_api
            self.action_api = action_api

        def view_init(self: Any) -> None:
            pass

        # Nova's controller, whose __init__ builds compute.API() (it needs an RPC
        # transport): here its data lookups are the stubs given instead.
        ActionsController = types.new_class(
            "ActionsController",
            (actions_api.InstanceActionsController,),
            exec_body=lambda ns: ns.update(__init__=controller_init),
        )
        # Nova's servers view builder without its compute.API() (unused by _get_fault).
        ServersView = types.new_class(
            "ServersView",
            (servers_view.ViewBuilder,),
            exec_body=lambda ns: ns.update(__init__=view_init),
        )

        self.ActionsController = ActionsController
        # The body of show() under its decorators: expected_errors (error mapping),
        # query_schema (we send no query) and response_body_schema (never changes the
        # body: at nova's default response_validation=warn it logs, building jsonschema
        # validators on every call: two thirds of a render, and log noise).
        self.show = inspect.unwrap(actions_api.InstanceActionsController.show)
        if self.show.__qualname__ != "InstanceActionsController.show":
            raise ExposureError(f"unexpected undecorated show: {self.show.__qualname__}")
        self.servers_view = ServersView()
        self.serializer = wsgi.JSONDictSerializer()
        self.record_fields: dict[str, dict[str, Any]] = {
            "action": dict(self.objects.InstanceAction.fields),
            "event": dict(self.objects.InstanceActionEvent.fields),
            "fault": dict(self.objects.InstanceFault.fields),
        }


@functools.cache
def _nova() -> _Nova:
    """The :class:`_Nova` of this process (a race may build two: the same, harmlessly)."""
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        return _Nova()


def warm() -> None:
    """Load nova's API code and policies now (once per process, about 1 s).

    Called before a run that renders, so the load is not paid inside the run's
    first example: measured there (in an xdist worker) it cost 2 to 3 s more.
    """
    _nova()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No logging while nova renders: its policy engine logs every check (credentials
    included) at DEBUG, which is not the code under test's logging and would cost more
    than the rendering itself."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _rendering() -> Iterator[_Nova]:
    """Nova, quiet and warning-free, with its policy enforcer not re-reading policy
    files on every check (``use_conf``: oslo.policy searches the config directories
    again per check, a third of a render; :class:`_Nova` made sure there are none).
    The enforcer is nova's process-wide one: its setting is restored afterwards."""
    nova = _nova()
    enforcer = nova.enforcer
    use_conf = enforcer.use_conf
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")  # oslo.context's is_admin DeprecationWarning
        enforcer.use_conf = False
        outer = vars(enforcer).get("authorize")  # a rendering around this one
        if outer is None:
            enforcer.authorize = _remembering(enforcer)
        try:
            yield nova
        finally:
            if outer is None:
                vars(enforcer).pop("authorize", None)  # the class's own method again
            enforcer.use_conf = use_conf


#: nova's policy decisions while rendering, by (rules, rule, target, caller, exception)
_DECISIONS: dict[tuple[Any, ...], Any] = {}
_DENIED = object()


def _remember(key: tuple[Any, ...], decision: Any) -> None:
    if len(_DECISIONS) > 4096:  # a bound, never reached by the suite's few personas
        _DECISIONS.clear()
    _DECISIONS[key] = decision


def _caller(creds: Any) -> tuple[Any, ...] | None:
    """What a policy decision depends on of the caller (a RequestContext), or None."""
    try:
        values = creds.to_policy_values()
        return tuple(sorted((k, repr(v)) for k, v in dict(values).items()))
    except Exception:
        return None


def _remembering(enforcer: Any) -> Any:
    """``enforcer.authorize``, remembering each decision of the rendering personas.

    A render asks nova's enforcer the same few questions again and again (the same
    rules, for the same personas, on the same server): about half of its time. The
    answer depends on the rules, the rule, the target and the caller's policy values,
    so it is kept by those and by the rule set as it was when the rendering began
    (every rule's identity: a rule replaced, or new rules, give new answers).
    A denial is raised again as oslo.policy raises it (``exc(*args, **kwargs)``);
    anything else it raises (an unregistered rule, a scope error) is never kept.
    """
    real = type(enforcer).authorize.__get__(enforcer)
    # the rule set as it is for this rendering (rules are replaced in place too)
    rules = enforcer.rules
    version = (id(rules), hash(tuple((k, id(v)) for k, v in rules.items())))

    def authorize(
        rule: Any,
        target: Any,
        creds: Any,
        do_raise: bool = False,
        exc: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        caller = _caller(creds)
        try:
            key = (
                version,
                rule,
                tuple(sorted(dict(target).items())),
                caller,
                do_raise,
                exc,
                args,
                tuple(sorted(kwargs.items())),
            )
            hash(key)
        except Exception:
            key = None
        if key is None or caller is None:
            return real(rule, target, creds, do_raise, exc, *args, **kwargs)
        known = _DECISIONS.get(key)
        if known is _DENIED:
            raise exc(*args, **kwargs)
        if known is not None:
            return known
        try:
            decided = real(rule, target, creds, do_raise, exc, *args, **kwargs)
        except Exception as error:
            if exc is not None and type(error) is exc:
                _remember(key, _DENIED)
            raise
        _remember(key, decided)
        return decided

    return authorize


# --- stubbed data lookups ------------------------------------------------------------------


class _ComputeLookup:
    """``compute_api.get``: the server is the given instance."""

    def __init__(self, instance: Any) -> None:
        self._instance = instance

    def get(
        self,
        context: Any,
        instance_id: str,
        expected_attrs: Any = None,
        cell_down_support: bool = False,
    ) -> Any:
        return self._instance


class _ActionLookup:
    """``InstanceActionAPI``: the action is the given one, its events the given ones."""

    def __init__(self, action: Any, events: Sequence[Any]) -> None:
        self._action = action
        self._events = list(events)

    def action_get_by_request_id(self, context: Any, instance: Any, request_id: Any) -> Any:
        return self._action

    def action_events_get(self, context: Any, instance: Any, action_id: Any) -> list[Any]:
        return list(self._events)


# --- building blocks ------------------------------------------------------------------------


def _check(nova: _Nova, role: str, microversion: str) -> Any:
    if role not in _KEYSTONE_ROLES:
        raise ExposureError(f"role must be one of {ROLES}, not {role!r}")
    try:
        version = nova.avr.APIVersionRequest(microversion)
    except Exception as exc:
        raise ExposureError(f"bad microversion {microversion!r}: {exc}") from None
    if not version.matches(nova.min_version, nova.max_version):
        raise ExposureError(
            f"microversion {microversion} is outside nova's "
            f"{nova.min_version.get_string()}..{nova.max_version.get_string()}"
        )
    return version


def _request(nova: _Nova, role: str, microversion: str, path: str) -> Any:
    version = _check(nova, role, microversion)
    # is_admin is left to nova: RequestContext runs the context_is_admin rule.
    context = nova.context.RequestContext(
        user_id=_CALLER_USER_ID,
        project_id=SERVER_PROJECT_ID,
        roles=list(_KEYSTONE_ROLES[role]),
    )
    req = nova.wsgi.Request.blank(path)
    req.api_version_request = version
    req.environ["nova.context"] = context
    return req


def _row(nova: _Nova, kind: str, record: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    """The nova object for a stored row, built as the DB layer builds it
    (``_from_db_object``); keys that are not columns of the table are ignored."""
    cls = {
        "action": nova.objects.InstanceAction,
        "event": nova.objects.InstanceActionEvent,
        "fault": nova.objects.InstanceFault,
    }[kind]
    row: dict[str, Any] = dict.fromkeys(cls.fields)
    row["deleted"] = False
    row.update(defaults)
    row.update((key, value) for key, value in record.items() if key in cls.fields)
    return cls._from_db_object(None, cls(), row)


def _wire(nova: _Nova, body: Any) -> Any:
    """What goes over the wire: nova's JSON serialisation, parsed back."""
    return json.loads(nova.serializer.serialize(body))


def render_action(
    action: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]] = (),
    *,
    role: str,
    microversion: str,
) -> dict[str, Any]:
    """The ``instanceAction`` body of ``GET /servers/{id}/os-instance-actions/{request_id}``
    for ``action`` (a row of ``instance_actions``) and its ``events`` (rows of
    ``instance_actions_events``), as a ``role`` of the server's project reads it at
    ``microversion``: nova's ``InstanceActionsController.show`` with stubbed lookups.
    Without ``events`` in the result, the caller is not shown events at all."""
    with _rendering() as nova:
        return _render_action(nova, action, events, role, microversion)


def _render_action(
    nova: _Nova,
    action: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    role: str,
    microversion: str,
) -> dict[str, Any]:
    req = _request(nova, role, microversion, f"/v2.1/servers/{SERVER_UUID}/os-instance-actions/req")
    context = req.environ["nova.context"]
    instance = nova.objects.Instance(
        context, uuid=SERVER_UUID, project_id=SERVER_PROJECT_ID, user_id=_CALLER_USER_ID
    )
    action_obj = _row(nova, "action", action, {"id": 1})
    event_objs = [
        _row(nova, "event", event, {"id": index, "action_id": 1})
        for index, event in enumerate(events, start=1)
    ]
    controller = nova.ActionsController(
        _ComputeLookup(instance), _ActionLookup(action_obj, event_objs)
    )
    body = nova.show(controller, req, SERVER_UUID, action_obj.request_id or "req")
    result: dict[str, Any] = _wire(nova, body)["instanceAction"]
    return result


def render_event(
    action: Mapping[str, Any], event: Mapping[str, Any], *, role: str, microversion: str
) -> dict[str, Any]:
    """The event as ``GET /servers/{id}/os-instance-actions/{request_id}`` shows it to a
    ``role`` (``member``/``admin``) of the server's project at ``microversion``;
    ``{}`` when nova shows that caller no events at all (non-admins before 2.51)."""
    shown = render_action(action, [event], role=role, microversion=microversion)
    events = shown.get("events")
    if not events:
        return {}
    first: dict[str, Any] = events[0]
    return first


def render_fault(
    fault: Mapping[str, Any], *, role: str, microversion: str
) -> dict[str, Any] | None:
    """The server's ``fault`` as nova's servers view builder (``_get_fault``) shows it to
    a ``role`` of the server's project at ``microversion`` (for a server in ``ERROR``
    or ``DELETED``, the only states whose fault nova shows). A missing ``code`` is
    nova's default 500."""
    with _rendering() as nova:
        return _render_fault(nova, fault, role, microversion)


def _render_fault(
    nova: _Nova, fault: Mapping[str, Any], role: str, microversion: str
) -> dict[str, Any] | None:
    req = _request(nova, role, microversion, f"/v2.1/servers/{SERVER_UUID}")
    context = req.environ["nova.context"]
    instance = nova.objects.Instance(
        context, uuid=SERVER_UUID, project_id=SERVER_PROJECT_ID, user_id=_CALLER_USER_ID
    )
    instance.fault = _row(
        nova, "fault", fault, {"id": 1, "instance_uuid": SERVER_UUID, "code": DEFAULT_FAULT_CODE}
    )
    shown = nova.servers_view._get_fault(req, instance)
    if shown is None:
        return None
    result: dict[str, Any] = _wire(nova, shown)
    return result


# --- markers ----------------------------------------------------------------------------------

_NEUTRAL_ACTION: dict[str, Any] = {
    "action": "reboot",
    "request_id": "req-actionsec-neutral",
    "instance_uuid": SERVER_UUID,
    "user_id": _CALLER_USER_ID,
    "project_id": SERVER_PROJECT_ID,
}
_NEUTRAL_EVENT: dict[str, Any] = {
    "event": "compute_reboot_instance",
    "result": "Success",
    "host": "neutral-host",
}


def _marker(field: Any, name: str, kind: str, index: int, variant: int, fault_code: int) -> Any:
    """A value for ``name`` that no other field holds (``variant`` 1 a second one)."""
    nova = _nova()
    f = nova.fields
    if isinstance(field, f.BooleanField):
        return None  # two values only: cannot be told apart in the output
    if isinstance(field, f.IntegerField):
        if kind == "fault" and name == "code":
            return fault_code + variant
        return 7_000_000 + 1_000 * index + variant
    if isinstance(field, f.DateTimeField):
        return _dt.datetime(1971 + index, 1 + variant, 2, 3, 4, 5, tzinfo=_dt.timezone.utc)
    if isinstance(field, f.UUIDField):
        return str(_uuid.UUID(int=(0xA5EC << 112) + 256 * index + variant))
    return f"@{kind}.{name}.{variant}@"


@functools.cache
def _markers(kind: str, fault_code: int, variant: int) -> tuple[tuple[str, Any], ...]:
    record_fields = _nova().record_fields[kind]
    out = []
    for index, name in enumerate(sorted(record_fields)):
        value = _marker(record_fields[name], name, kind, index, variant, fault_code)
        if value is not None:
            out.append((name, value))
    return tuple(out)


def marked_fields(kind: str) -> frozenset[str]:
    """The stored fields of ``kind`` that :func:`visible_fields` marks (every column of
    the table but booleans, which cannot carry a distinct marker)."""
    _check_kind(kind)
    return frozenset(name for name, _ in _markers(kind, DEFAULT_FAULT_CODE, 0))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ExposureError(f"kind must be one of {KINDS}, not {kind!r}")


def _render_kind(kind: str, record: Mapping[str, Any], role: str, microversion: str) -> Any:
    if kind == "event":
        return render_event(_NEUTRAL_ACTION, record, role=role, microversion=microversion)
    if kind == "action":
        return render_action(record, [_NEUTRAL_EVENT], role=role, microversion=microversion)
    return render_fault(record, role=role, microversion=microversion)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _shows(leaves: Sequence[Any], marker: Any) -> bool:
    if isinstance(marker, _dt.datetime):
        stamp = marker.strftime("%Y-%m-%dT%H:%M:%S")
        return any(isinstance(leaf, str) and stamp in leaf for leaf in leaves)
    if isinstance(marker, str):
        return any(isinstance(leaf, str) and marker in leaf for leaf in leaves)
    return any(type(leaf) is int and leaf == marker for leaf in leaves)


@functools.cache
def visible_fields(
    kind: str, role: str, microversion: str, *, fault_code: int = DEFAULT_FAULT_CODE
) -> frozenset[str]:
    """Which stored fields of a ``kind`` record (``event``, ``action``, ``fault``) reach
    what a ``role`` reads at ``microversion``: a record with a distinct marker in every
    field (:func:`marked_fields`) is rendered through nova and the markers that come out
    are reported. ``fault_code`` is the fault's code (nova decides on it)."""
    _check_kind(kind)
    markers = _markers(kind, fault_code, 0)
    leaves = _leaves(_render_kind(kind, dict(markers), role, microversion))
    return frozenset(name for name, marker in markers if _shows(leaves, marker))


@functools.cache
def influencing_fields(
    kind: str, role: str, microversion: str, *, fault_code: int = DEFAULT_FAULT_CODE
) -> frozenset[str]:
    """Stored fields whose value changes what a ``role`` reads at ``microversion``: each
    marked field is given a second marker in turn and the output compared. A superset of
    :func:`visible_fields`; the difference is exposure through a derived value (an
    event's ``host`` through the sha224 ``hostId``, a fault's ``code`` through whether
    ``details`` is shown)."""
    _check_kind(kind)
    base = dict(_markers(kind, fault_code, 0))
    seen = _render_kind(kind, base, role, microversion)
    changed = set()
    for name, other in _markers(kind, fault_code, 1):
        if _render_kind(kind, {**base, name: other}, role, microversion) != seen:
            changed.add(name)
    return frozenset(changed)


# --- what the api layer needs ------------------------------------------------------------------

_KIND_OF_TABLE = {
    "instance_actions": "action",
    "instance_actions_events": "event",
    "instance_faults": "fault",
}


def _kind_of(function: str) -> str:
    return _KIND_OF_TABLE[FACTS[function].table]


def render_views(function: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """What Nova's API shows of a stored ``row`` of ``function``'s table, by
    ``"role@microversion"`` for every role of :data:`ROLES` and microversion of
    :data:`MICROVERSIONS` (an event inside an action built from its lookup keys)."""
    kind = _kind_of(function)
    out: dict[str, Any] = {}
    with _rendering() as nova:
        for role in ROLES:
            for mv in MICROVERSIONS:
                if kind == "fault":
                    shown: Any = _render_fault(nova, row, role, mv)
                elif kind == "action":
                    shown = _render_action(nova, row, [], role, mv)
                else:
                    action = {
                        **_NEUTRAL_ACTION,
                        "request_id": row.get("request_id"),
                        "instance_uuid": row.get("instance_uuid"),
                    }
                    events = _render_action(nova, action, [row], role, mv).get("events")
                    shown = events[0] if events else {}
                out[f"{role}@{mv}"] = shown
    return out


def audience(function: str, field: str, record: Mapping[str, Any] | None = None) -> str:
    """Who reads ``field`` of a record of ``function``: ``tenant`` (a member of the
    server's project, at some microversion), ``admin`` (admins only) or ``stored`` (no
    one through the API). Decided by :func:`visible_fields`, with the record's fault
    code for faults (nova shows a fault's details to members when it is not 500)."""
    code = DEFAULT_FAULT_CODE
    if record is not None and type(record.get("code")) is int:
        code = int(record["code"])
    return _audience(_kind_of(function), field, code)


@functools.cache
def _audience(kind: str, field: str, code: int) -> str:
    for role, label in (("member", "tenant"), ("admin", "admin")):
        if any(field in visible_fields(kind, role, mv, fault_code=code) for mv in MICROVERSIONS):
            return label
    return "stored"
