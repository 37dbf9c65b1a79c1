"""Exposure layer: what each persona reads of a stored record, through Nova's own API code.

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
  body of ``nova.api.openstack.compute.servers.ServersController.show``
  (``GET /servers/{id}``: the server's lookup and the ``os_compute_api:servers:show``
  check) with the servers view builder's ``_get_fault``
  (``nova.api.openstack.compute.views.servers.ViewBuilder``) as its view: it decides
  from the context's ``is_admin`` (set by nova's ``context_is_admin`` policy rule) and
  the fault code whether ``details`` is shown. Nova shows a server's fault only
  when the server is ``ERROR`` or ``DELETED``; :func:`render_fault` renders it as
  for such a server.

The server lookup stub finds the server as nova's database does
(``instance_get_by_uuid`` queries with ``model_query(..., project_only=True)``): a
caller that ``nova.context.is_user_context`` calls a user of another project does not
find it (``InstanceNotFound``, a 404), whatever the policies say.

The callers are the personas of :mod:`pytest_actionsec.personas`, each a
project-scoped token with implied roles; ``member`` and ``admin`` name
``project_member`` and ``project_admin`` (the callers of earlier releases). What a
persona is denied (a 404 or a policy refusal) it reads as ``None``.

Policies are Nova's in-code defaults (``nova.policy.init()``, default
``[oslo_policy]`` options) under the deployment's policy files when
:func:`use_policies` was given some (``--actionsec-policy``): they are loaded into an
enforcer built as ``nova.policy.init`` builds nova's, and that enforcer is nova's
``nova.policy._ENFORCER`` while a row renders. Without files it is nova's own enforcer,
or, when that one holds rules from a file nobody gave (``/etc/nova/policy.yaml``, nova's
test base's policy fixture), one of the plugin's own with nova's registered defaults
and no file: such rules never decide an audience.
The result is what goes over the wire: the controller's return value serialised by
Nova's ``JSONDictSerializer`` and parsed back (datetimes become strings).

Rendering every persona costs one render per *distinct set of decisions*: a persona
whose answers to every question the first rendering asked (its ``is_admin``, whether
the lookup finds the server, each policy check) are the same reads the same body,
because the code under the controller depends on the caller through those answers
only; it is given that body without rendering again.

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
import threading
import types
import uuid as _uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pytest_actionsec.nova import api as nova_api
from pytest_actionsec.nova import modules as nova_modules
from pytest_actionsec.nova import policies as nova_policies
from pytest_actionsec.personas import PERSONA_NAMES, PERSONAS, Persona, level_of, ordered
from pytest_actionsec.personas import persona as persona_named
from pytest_actionsec.policies import PolicySet
from pytest_actionsec.targets import FACTS

__all__ = [
    "DEFAULT_FAULT_CODE",
    "KINDS",
    "MICROVERSIONS",
    "NEWEST_MICROVERSION",
    "PERSONAS",
    "ROLES",
    "SERVER_PROJECT_ID",
    "SERVER_UUID",
    "ExposureError",
    "active_policies",
    "audience",
    "influencing_fields",
    "marked_fields",
    "readers",
    "render_action",
    "render_event",
    "render_fault",
    "render_views",
    "use_policies",
    "visible_fields",
    "warm",
]

#: The newest microversion nova 34 supports (``api_version_request._MAX_API_VERSION``);
#: on an older nova it stands for that release's newest (rendered at its maximum).
NEWEST_MICROVERSION = "2.104"

#: The first microversion, those where what an event shows changes (2.51: events for
#: non-admins; 2.62: ``host`` for admins and ``hostId`` for all; 2.84: ``details``),
#: and the newest.
MICROVERSIONS: tuple[str, ...] = ("2.1", "2.51", "2.62", "2.84", NEWEST_MICROVERSION)

#: The callers of earlier releases, still accepted as ``role=``: a member and an admin
#: of the server's project (the personas ``project_member`` and ``project_admin``).
ROLES: tuple[str, ...] = ("member", "admin")
_ALIASES: dict[str, str] = {"member": "project_member", "admin": "project_admin"}

#: Record kinds: an event (as shown inside its action), an action (the whole
#: ``instanceAction`` body, events included) and an instance fault.
KINDS: tuple[str, ...] = ("event", "action", "fault")

#: The server every record belongs to, and its project (the caller's project).
SERVER_UUID = "5e7ae75e-0000-4000-8000-000000000001"
SERVER_PROJECT_ID = "actionsec-server-project"
_CALLER_USER_ID = "actionsec-caller"

#: Fault code Nova records for every exception that is not a NovaException with a
#: code of its own (``nova.compute.utils.exception_to_dict``).
DEFAULT_FAULT_CODE = 500


class ExposureError(Exception):
    """Nova cannot render here (bad persona/microversion/kind, or unknown policy files)."""


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
        self.exception = modules.exception
        # nova's process-wide enforcer (nova.policy.init()) renders; when it holds rules
        # from a file nobody gave us (a policy file in nova's config directories, or
        # nova's own test base, whose policy fixture loads one), audiences are nova's
        # in-code defaults unless --actionsec-policy gives files: an enforcer of our
        # own, built as nova.policy.init builds nova's, that reads no file.
        #: ``nova.policy`` (its ``_ENFORCER`` is swapped while a row renders)
        self.policy: Any = api.policy
        self.enforcer = api.enforcer
        if api.enforcer.file_rules:
            self.enforcer = _defaults_enforcer(api.policy)
        self.wsgi = api.wsgi
        self.avr = api.versions
        self.min_version = self.avr.min_api_version()
        self.max_version = self.avr.max_api_version()
        actions_api = api.instance_actions
        servers_view = api.servers_view
        servers_api = api.servers
        wsgi = self.wsgi

        def controller_init(self: Any, compute_api: Any, action_api: Any) -> None:
            wsgi.Controller.__init__(self)
            self.compute_api = compute_api
            self.action_api = action_api

        def view_init(self: Any) -> None:
            pass

        def fault_view(self: Any, request: Any, instance: Any, **kwargs: Any) -> Any:
            # the server body's fault, as show() adds it for an ERROR/DELETED server
            return {"server": {"fault": self._get_fault(request, instance)}}

        def servers_init(self: Any, compute_api: Any) -> None:
            wsgi.Controller.__init__(self)
            self.compute_api = compute_api

        # Nova's controller, whose __init__ builds compute.API() (it needs an RPC
        # transport): here its data lookups are the stubs given instead.
        ActionsController = types.new_class(
            "ActionsController",
            (actions_api.InstanceActionsController,),
            exec_body=lambda ns: ns.update(__init__=controller_init),
        )
        # Nova's servers view builder without its compute.API() (unused by _get_fault);
        # as the servers controller's view, show() is the fault part of the body.
        ServersView = types.new_class(
            "ServersView",
            (servers_view.ViewBuilder,),
            exec_body=lambda ns: ns.update(__init__=view_init),
        )
        FaultView = types.new_class(
            "FaultView", (ServersView,), exec_body=lambda ns: ns.update(show=fault_view)
        )
        ServersController = types.new_class(
            "ServersController",
            (servers_api.ServersController,),
            exec_body=lambda ns: ns.update(__init__=servers_init, _view_builder_class=FaultView),
        )

        self.ActionsController = ActionsController
        self.ServersController = ServersController
        # The body of show() under its decorators: expected_errors (error mapping),
        # query_schema (we send no query) and response_body_schema (never changes the
        # body: at nova's default response_validation=warn it logs, building jsonschema
        # validators on every call: two thirds of a render, and log noise).
        self.show = _undecorated(actions_api.InstanceActionsController.show)
        self.server_show = _undecorated(servers_api.ServersController.show)
        self.servers_view = ServersView()
        self.serializer = wsgi.JSONDictSerializer()
        self.record_fields: dict[str, dict[str, Any]] = {
            "action": dict(self.objects.InstanceAction.fields),
            "event": dict(self.objects.InstanceActionEvent.fields),
            "fault": dict(self.objects.InstanceFault.fields),
        }
        # webob's 404, which nova's common.get_instance raises for a server not found
        self.not_found: type[BaseException] = actions_api.exc.HTTPNotFound
        #: an enforcer per policy set (:func:`_enforcer`)
        self.enforcers: dict[PolicySet, Any] = {}


def _defaults_enforcer(policy: Any) -> Any:
    """An enforcer with nova's registered in-code defaults and no policy file, built as
    ``nova.policy.init`` builds nova's (its warnings settings, ``register_rules``)."""
    oslo = nova_policies().oslo
    enforcer = oslo.Enforcer(nova_modules().conf, use_conf=False)
    enforcer.suppress_default_change_warnings = True
    enforcer.suppress_deprecation_warnings = True
    policy.register_rules(enforcer)
    enforcer.load_rules()  # with use_conf off it adds no default: done as it would
    deprecated: Any = getattr(enforcer, "_handle_deprecated_rule", None)
    for default in enforcer.registered_rules.values():
        if default.name not in enforcer.rules:
            old = default.deprecated_rule and deprecated is not None
            enforcer.rules[default.name] = deprecated(default) if old else default.check
    return enforcer


def _undecorated(method: Any) -> Any:
    body = inspect.unwrap(method)
    if body.__qualname__ != method.__qualname__:
        raise ExposureError(f"unexpected undecorated {method.__qualname__}: {body.__qualname__}")
    return body


def _nova() -> _Nova:
    """The :class:`_Nova` of this process (a race may build two: the same, harmlessly),
    built again when nova's modules were imported anew since (an in-process pytest run
    took them out of ``sys.modules``)."""
    from pytest_actionsec.nova import generation

    return _nova_of(generation())


@functools.lru_cache(maxsize=1)
def _nova_of(_generation: object) -> _Nova:
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        return _Nova()


def warm() -> None:
    """Load nova's API code and policies now (once per process, about 1 s), and the
    enforcer of the policy files in use.

    Called before a run that renders, so the load is not paid inside the run's
    first example: measured there (in an xdist worker) it cost 2 to 3 s more.
    """
    _enforcer(_nova(), active_policies())


# --- policies -------------------------------------------------------------------------------

#: the policy files the api layer renders with (None: nova's in-code defaults)
_ACTIVE: list[PolicySet | None] = [None]


def use_policies(policies: PolicySet | None) -> None:
    """Render with ``policies`` (a deployment's files, :func:`~pytest_actionsec.policies.
    load_policies`) over nova's defaults from now on in this process; None: the defaults."""
    _ACTIVE[0] = policies


def active_policies() -> PolicySet | None:
    """The policy files renders use (:func:`use_policies`), None for nova's defaults."""
    return _ACTIVE[0]


_ENFORCER_LOCK = threading.RLock()


def _enforcer(nova: _Nova, policies: PolicySet | None) -> Any:
    """Nova's enforcer for ``policies``: nova's own for None; else one built as
    ``nova.policy.init`` builds nova's (nova's rules registered, its warnings settings),
    the files loaded as oslo.policy loads a ``policy_file`` and its ``policy.d`` files
    (the first replaces, each next one updates), then nova's defaults for every rule no
    file sets (deprecated names handled as oslo.policy does). Read once."""
    if policies is None:
        return nova.enforcer
    with _ENFORCER_LOCK:
        built = nova.enforcers.get(policies)
        if built is not None:
            return built
        oslo = nova_policies().oslo
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            try:
                enforcer = oslo.Enforcer(
                    nova_modules().conf, policy_file=policies.paths[0], use_conf=True
                )
                enforcer.suppress_default_change_warnings = True
                enforcer.suppress_deprecation_warnings = True
                nova.policy.register_rules(enforcer)
                enforcer.policy_path = policies.paths[0]
                for index, path in enumerate(policies.paths):
                    enforcer._load_policy_file(path, force_reload=True, overwrite=index == 0)
                enforcer.load_rules()
            except Exception as exc:
                raise ExposureError(
                    f"nova's enforcer cannot load {policies.describe()}: {exc}"
                ) from None
        loaded = {name: str(rule.check_str) for name, rule in enforcer.file_rules.items()}
        if loaded != policies.merged():
            extra = sorted(set(loaded) ^ set(policies.merged()))[:3]
            raise ExposureError(
                f"nova's enforcer read rules beyond {policies.describe()} ({extra}...): "
                "a policy file in nova's config directories"
            )
        enforcer.use_conf = False  # the files are read: never again per check
        nova.enforcers[policies] = enforcer
        return enforcer


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
def _rendering(policies: PolicySet | None = None) -> Iterator[_Nova]:
    """Nova, quiet and warning-free, rendering with ``policies`` (default: the active
    ones): their enforcer is ``nova.policy._ENFORCER`` meanwhile, not re-reading policy
    files on every check (``use_conf``: oslo.policy searches the config directories
    again per check, a third of a render; :class:`_Nova` made sure there are none),
    and remembering its decisions (:func:`_remembering`). Nova's process-wide enforcer
    and its settings are restored afterwards."""
    nova = _nova()
    if policies is None:
        policies = active_policies()
    enforcer = _enforcer(nova, policies)
    with _ENFORCER_LOCK, warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")  # oslo.context's is_admin DeprecationWarning
        previous = nova.policy._ENFORCER
        nova.policy._ENFORCER = enforcer
        use_conf = enforcer.use_conf
        enforcer.use_conf = False
        outer = vars(enforcer).get("authorize")  # a rendering around this one
        if outer is None:
            enforcer.authorize = _remembering(enforcer)
        try:
            yield nova
        finally:
            if outer is None:
                vars(enforcer).pop("authorize", None)  # the class's own method again
                _CALLERS.clear()
            enforcer.use_conf = use_conf
            nova.policy._ENFORCER = previous


#: nova's policy decisions while rendering, by (rules, rule, target, caller, exception)
_DECISIONS: dict[tuple[Any, ...], Any] = {}
_DENIED = object()


def _remember(key: tuple[Any, ...], decision: Any) -> None:
    if len(_DECISIONS) > 4096:  # a bound, never reached by the suite's few personas
        _DECISIONS.clear()
    _DECISIONS[key] = decision


#: each caller's policy values during the rendering under way, by id (with the caller,
#: so the id stays its own): read once per rendering, as nova's code under the
#: controllers never changes them (only ``read_deleted``, which is none of them)
_CALLERS: dict[int, tuple[Any, tuple[Any, ...] | None]] = {}


def _caller(creds: Any) -> tuple[Any, ...] | None:
    """What a policy decision depends on of the caller (a RequestContext), or None."""
    known = _CALLERS.get(id(creds))
    if known is not None and known[0] is creds:
        return known[1]
    try:
        values = creds.to_policy_values()
        caller: tuple[Any, ...] | None = tuple(
            sorted((k, repr(v)) for k, v in dict(values).items())
        )
    except Exception:
        caller = None
    if len(_CALLERS) < 256:
        _CALLERS[id(creds)] = (creds, caller)
    return caller


class _Trace:
    """The questions one rendering asked of its caller, with the answers: each question
    a function of a caller (a RequestContext) giving the answer another caller gets.
    ``complete`` is False when a question could not be kept (then nothing is shared)."""

    def __init__(self) -> None:
        self.entries: list[tuple[Callable[[Any], Any], Any]] = []
        self.complete = True

    def same_for(self, context: Any) -> bool:
        """True when ``context`` gets every answer this rendering got."""
        return self.complete and all(ask(context) == answer for ask, answer in self.entries)


#: the trace of the rendering under way in this thread, if one is kept
_TRACING = threading.local()


def _tracing() -> _Trace | None:
    trace: _Trace | None = getattr(_TRACING, "trace", None)
    return trace


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a policy check gives: ``("ok", value)`` or ``("raised", exception type)``."""
    try:
        return ("ok", call())
    except Exception as error:
        return ("raised", type(error))


def _remembering(enforcer: Any) -> Any:
    """``enforcer.authorize``, remembering each decision of the rendering personas.

    A render asks nova's enforcer the same few questions again and again (the same
    rules, for the same personas, on the same server): about half of its time. The
    answer depends on the rules, the rule, the target and the caller's policy values,
    so it is kept by those and by the rule set as it was when the rendering began
    (every rule's identity: a rule replaced, or new rules, give new answers).
    A denial is raised again as oslo.policy raises it (``exc(*args, **kwargs)``);
    anything else it raises (an unregistered rule, a scope error) is never kept.
    Each check is also a question of the rendering's trace (:class:`_Trace`).
    """
    real = type(enforcer).authorize.__get__(enforcer)
    # the rule set as it is for this rendering (rules are replaced in place too)
    rules = enforcer.rules
    version = (id(rules), hash(tuple((k, id(v)) for k, v in rules.items())))

    def decide(
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

    def authorize(
        rule: Any,
        target: Any,
        creds: Any,
        do_raise: bool = False,
        exc: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        trace = _tracing()
        if trace is None:
            return decide(rule, target, creds, do_raise, exc, *args, **kwargs)
        try:
            frozen_target = dict(target)
        except Exception:
            trace.complete = False
            return decide(rule, target, creds, do_raise, exc, *args, **kwargs)

        def ask(context: Any) -> tuple[str, Any]:
            return _outcome(
                lambda: decide(rule, dict(frozen_target), context, do_raise, exc, *args, **kwargs)
            )

        answer = ask(creds)
        trace.entries.append((ask, answer))
        if answer[0] == "raised":
            return decide(rule, target, creds, do_raise, exc, *args, **kwargs)  # raises again
        return answer[1]

    return authorize


# --- stubbed data lookups ------------------------------------------------------------------


def _finds(nova: _Nova, context: Any, instance: Any) -> bool:
    """Whether nova's database finds ``instance`` for ``context``: ``instance_get_by_uuid``
    queries ``model_query(context, Instance, project_only=True)``, which keeps a user
    context (``nova.context.is_user_context``) to its own project's servers."""
    return not (nova.context.is_user_context(context) and context.project_id != instance.project_id)


class _ComputeLookup:
    """``compute_api.get``: the server is the given instance, found as nova's database
    finds it (:func:`_finds`: another project's user gets ``InstanceNotFound``)."""

    def __init__(self, nova: _Nova, instance: Any) -> None:
        self._nova = nova
        self._instance = instance
        #: True once a lookup did not find the server
        self.missed = False

    def get(
        self,
        context: Any,
        instance_id: str,
        expected_attrs: Any = None,
        cell_down_support: bool = False,
    ) -> Any:
        nova, instance = self._nova, self._instance
        trace = _tracing()
        found = _finds(nova, context, instance)
        if trace is not None:
            trace.entries.append((lambda other: _finds(nova, other, instance), found))
        if not found:
            self.missed = True
            raise nova.exception.InstanceNotFound(instance_id=instance_id)
        return instance


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


def _persona(role: str) -> Persona:
    try:
        return persona_named(_ALIASES.get(role, role))
    except KeyError:
        raise ExposureError(
            f"role must be a persona ({', '.join(PERSONA_NAMES)}) or one of {ROLES}, not {role!r}"
        ) from None


def _version(nova: _Nova, microversion: str) -> Any:
    try:
        version = nova.avr.APIVersionRequest(microversion)
    except Exception as exc:
        raise ExposureError(f"bad microversion {microversion!r}: {exc}") from None
    if microversion == NEWEST_MICROVERSION and nova.max_version < version:
        return nova.max_version  # an older nova: its own newest
    if not version.matches(nova.min_version, nova.max_version):
        raise ExposureError(
            f"microversion {microversion} is outside nova's "
            f"{nova.min_version.get_string()}..{nova.max_version.get_string()}"
        )
    return version


def _context(nova: _Nova, persona: Persona) -> Any:
    """The persona's RequestContext (``is_admin`` left to nova: its ``context_is_admin``
    rule decides it)."""
    project = SERVER_PROJECT_ID if persona.own_project else persona.project
    return nova.context.RequestContext(
        user_id=f"actionsec-{persona.name}", project_id=project, roles=list(persona.roles)
    )


def _request(nova: _Nova, context: Any, microversion: str, path: str) -> Any:
    req = nova.wsgi.Request.blank(path)
    req.api_version_request = _version(nova, microversion)
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


def _instance(nova: _Nova, context: Any) -> Any:
    return nova.objects.Instance(
        context, uuid=SERVER_UUID, project_id=SERVER_PROJECT_ID, user_id=_CALLER_USER_ID
    )


@contextlib.contextmanager
def _denials(nova: _Nova, lookup: _ComputeLookup) -> Iterator[list[bool]]:
    """A caller denied (a policy refusal, ``Forbidden``; or the server not found for it,
    a 404 of the lookup) reads nothing: ``denied[0]`` is set instead of raising."""
    denied = [False]
    try:
        yield denied
    except nova.exception.Forbidden:
        denied[0] = True
    except nova.not_found:
        if not lookup.missed:
            raise
        denied[0] = True


def render_action(
    action: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]] = (),
    *,
    role: str,
    microversion: str,
) -> dict[str, Any] | None:
    """The ``instanceAction`` body of ``GET /servers/{id}/os-instance-actions/{request_id}``
    for ``action`` (a row of ``instance_actions``) and its ``events`` (rows of
    ``instance_actions_events``), as the persona ``role`` (or ``member``/``admin``)
    reads it at ``microversion``: nova's ``InstanceActionsController.show`` with stubbed
    lookups. Without ``events`` in the result, the caller is not shown events at all;
    None when the caller is denied the action (another project's user, a policy)."""
    chosen = _persona(role)
    with _rendering() as nova:
        return _render_action(nova, action, events, _context(nova, chosen), microversion)


def _render_action(
    nova: _Nova,
    action: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    context: Any,
    microversion: str,
    built: dict[Any, Any] | None = None,
) -> dict[str, Any] | None:
    req = _request(
        nova, context, microversion, f"/v2.1/servers/{SERVER_UUID}/os-instance-actions/req"
    )
    action_obj = _built(
        built, ("action", id(action)), lambda: _row(nova, "action", action, {"id": 1})
    )
    event_objs = _built(
        built,
        ("events", id(events)),
        lambda: [
            _row(nova, "event", event, {"id": index, "action_id": 1})
            for index, event in enumerate(events, start=1)
        ],
    )
    lookup = _ComputeLookup(nova, _instance(nova, context))
    controller = nova.ActionsController(lookup, _ActionLookup(action_obj, event_objs))
    with _denials(nova, lookup) as denied:
        body = nova.show(controller, req, SERVER_UUID, action_obj.request_id or "req")
    if denied[0]:
        return None
    result: dict[str, Any] = _wire(nova, body)["instanceAction"]
    return result


def render_event(
    action: Mapping[str, Any], event: Mapping[str, Any], *, role: str, microversion: str
) -> dict[str, Any] | None:
    """The event as ``GET /servers/{id}/os-instance-actions/{request_id}`` shows it to the
    persona ``role`` at ``microversion``; ``{}`` when nova shows that caller the action
    but no events (non-admins before 2.51), None when it denies the caller the action."""
    shown = render_action(action, [event], role=role, microversion=microversion)
    return _first_event(shown)


def _first_event(shown: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if shown is None:
        return None
    events = shown.get("events")
    if not events:
        return {}
    first: dict[str, Any] = events[0]
    return first


def render_fault(
    fault: Mapping[str, Any], *, role: str, microversion: str
) -> dict[str, Any] | None:
    """The server's ``fault`` as ``GET /servers/{id}`` (nova's ``ServersController.show``
    and the servers view builder's ``_get_fault``) shows it to the persona ``role`` at
    ``microversion`` (for a server in ``ERROR`` or ``DELETED``, the only states whose
    fault nova shows). A missing ``code`` is nova's default 500. None when the caller is
    denied the server or is shown no fault."""
    chosen = _persona(role)
    with _rendering() as nova:
        return _render_fault(nova, fault, _context(nova, chosen), microversion)


def _render_fault(
    nova: _Nova,
    fault: Mapping[str, Any],
    context: Any,
    microversion: str,
    built: dict[Any, Any] | None = None,
) -> dict[str, Any] | None:
    req = _request(nova, context, microversion, f"/v2.1/servers/{SERVER_UUID}")
    instance = _instance(nova, context)
    instance.fault = _built(
        built,
        ("fault", id(fault)),
        lambda: _row(
            nova,
            "fault",
            fault,
            {"id": 1, "instance_uuid": SERVER_UUID, "code": DEFAULT_FAULT_CODE},
        ),
    )
    lookup = _ComputeLookup(nova, instance)
    controller = nova.ServersController(lookup)
    with _denials(nova, lookup) as denied:
        body = nova.server_show(controller, req, SERVER_UUID)
    if denied[0]:
        return None
    shown = body["server"]["fault"]
    if shown is None:
        return None
    result: dict[str, Any] = _wire(nova, shown)
    return result


def _built(built: dict[Any, Any] | None, key: Any, build: Callable[[], Any]) -> Any:
    """``build()``, once per ``built`` (the nova objects of one row, rendered for every
    persona: nova's controllers only read them)."""
    if built is None:
        return build()
    if key not in built:
        built[key] = build()
    return built[key]


def _row_render(nova: _Nova, kind: str, row: Mapping[str, Any]) -> Callable[[Any, str], Any]:
    """How a stored ``row`` of ``kind`` renders for a caller at a microversion (an event
    inside an action built from its lookup keys), its nova objects built once."""
    built: dict[Any, Any] = {}
    if kind == "fault":
        return lambda context, mv: _render_fault(nova, row, context, mv, built)
    if kind == "action":
        no_events: list[Mapping[str, Any]] = []
        return lambda context, mv: _render_action(nova, row, no_events, context, mv, built)
    action = {
        **_NEUTRAL_ACTION,
        "request_id": row.get("request_id"),
        "instance_uuid": row.get("instance_uuid"),
    }
    events = [row]
    return lambda context, mv: _first_event(
        _render_action(nova, action, events, context, mv, built)
    )


_UNSHARED = object()


def _render_personas(
    nova: _Nova,
    render: Callable[[Any, str], Any],
    personas: Sequence[Persona] = PERSONAS,
    *,
    share: bool = True,
    microversions: Sequence[str] = MICROVERSIONS,
) -> dict[str, Any]:
    """``render(context, microversion)`` for each persona and microversion, by
    ``"persona@microversion"``: once per distinct set of decisions (module doc) unless
    ``share`` is False. Renderings that are shared are the same object."""
    out: dict[str, Any] = {}
    contexts = [(p, _context(nova, p)) for p in personas]
    for mv in microversions:
        rendered: list[tuple[bool, _Trace, Any]] = []
        for chosen, context in contexts:
            same = next(
                (
                    shown
                    for is_admin, trace, shown in (rendered if share else ())
                    if is_admin == bool(context.is_admin) and trace.same_for(context)
                ),
                _UNSHARED,
            )
            if same is not _UNSHARED:
                out[f"{chosen.name}@{mv}"] = same
                continue
            trace = _Trace()
            _TRACING.trace = trace
            try:
                shown = render(context, mv)
            finally:
                _TRACING.trace = None
            rendered.append((bool(context.is_admin), trace, shown))
            out[f"{chosen.name}@{mv}"] = shown
    return out


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


def _kind_render(nova: _Nova, kind: str, record: Mapping[str, Any]) -> Callable[[Any, str], Any]:
    """How a marked record of ``kind`` renders for a caller at a microversion (an event
    inside a neutral action, an action with a neutral event)."""
    if kind == "event":
        return lambda context, mv: _first_event(
            _render_action(nova, _NEUTRAL_ACTION, [record], context, mv)
        )
    if kind == "action":
        return lambda context, mv: _render_action(nova, record, [_NEUTRAL_EVENT], context, mv)
    return lambda context, mv: _render_fault(nova, record, context, mv)


@functools.cache
def _marked_views(
    kind: str, record: tuple[tuple[str, Any], ...], policies: PolicySet | None, microversion: str
) -> dict[str, Any]:
    """What every persona reads of a marked record at ``microversion``, by persona."""
    with _rendering(policies) as nova:
        views = _render_personas(
            nova, _kind_render(nova, kind, dict(record)), microversions=(microversion,)
        )
    return {key.rpartition("@")[0]: view for key, view in views.items()}


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


def _view_key(role: str, microversion: str) -> tuple[str, str]:
    """The persona ``role`` names, and ``microversion`` (both checked)."""
    _version(_nova(), microversion)
    return _persona(role).name, microversion


def visible_fields(
    kind: str,
    role: str,
    microversion: str,
    *,
    fault_code: int = DEFAULT_FAULT_CODE,
    policies: PolicySet | None = None,
) -> frozenset[str]:
    """Which stored fields of a ``kind`` record (``event``, ``action``, ``fault``) reach
    what the persona ``role`` reads at ``microversion``: a record with a distinct marker
    in every field (:func:`marked_fields`) is rendered through nova and the markers that
    come out are reported. ``fault_code`` is the fault's code (nova decides on it);
    ``policies`` the policy files (default: the active ones, :func:`use_policies`)."""
    _check_kind(kind)
    key = _view_key(role, microversion)
    return _visible(kind, *key, fault_code, policies or active_policies())


@functools.cache
def _visible(
    kind: str, name: str, microversion: str, fault_code: int, policies: PolicySet | None
) -> frozenset[str]:
    markers = _markers(kind, fault_code, 0)
    leaves = _leaves(_marked_views(kind, markers, policies, microversion)[name])
    return frozenset(name for name, marker in markers if _shows(leaves, marker))


def influencing_fields(
    kind: str,
    role: str,
    microversion: str,
    *,
    fault_code: int = DEFAULT_FAULT_CODE,
    policies: PolicySet | None = None,
) -> frozenset[str]:
    """Stored fields whose value changes what the persona ``role`` reads at
    ``microversion``: each marked field is given a second marker in turn and the output
    compared. A superset of :func:`visible_fields`; the difference is exposure through a
    derived value (an event's ``host`` through the sha224 ``hostId``, a fault's ``code``
    through whether ``details`` is shown)."""
    _check_kind(kind)
    who, _ = _view_key(role, microversion)
    chosen = policies or active_policies()
    base = _markers(kind, fault_code, 0)
    seen = _marked_views(kind, base, chosen, microversion)[who]
    changed = set()
    for name, other in _markers(kind, fault_code, 1):
        varied = tuple((n, other if n == name else v) for n, v in base)
        if _marked_views(kind, varied, chosen, microversion)[who] != seen:
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


def render_views(
    function: str,
    row: Mapping[str, Any],
    *,
    policies: PolicySet | None = None,
    share: bool = True,
) -> dict[str, Any]:
    """What Nova's API shows of a stored ``row`` of ``function``'s table, by
    ``"persona@microversion"`` for every persona of :data:`PERSONAS` and microversion
    of :data:`MICROVERSIONS` (an event inside an action built from its lookup keys;
    None where the persona is denied). ``policies``: the policy files (default: the
    active ones); ``share`` False renders every persona afresh (for tests)."""
    kind = _kind_of(function)
    with _rendering(policies) as nova:
        return _render_personas(nova, _row_render(nova, kind, row), share=share)


def readers(
    function: str,
    field: str,
    record: Mapping[str, Any] | None = None,
    *,
    policies: PolicySet | None = None,
) -> tuple[str, ...]:
    """The personas that read ``field`` of a record of ``function`` through nova's API at
    some microversion (narrowest first), by :func:`visible_fields`, with the record's
    fault code for faults (nova shows a fault's details to members when it is not 500)."""
    code = DEFAULT_FAULT_CODE
    if record is not None and type(record.get("code")) is int:
        code = int(record["code"])
    return _readers(_kind_of(function), field, code, policies or active_policies())


@functools.cache
def _readers(kind: str, field: str, code: int, policies: PolicySet | None) -> tuple[str, ...]:
    return ordered(
        p.name
        for p in PERSONAS
        for mv in MICROVERSIONS
        if field in _visible(kind, p.name, mv, code, policies)
    )


def audience(
    function: str,
    field: str,
    record: Mapping[str, Any] | None = None,
    *,
    policies: PolicySet | None = None,
) -> str:
    """Who reads ``field`` of a record of ``function``, coarsely: ``tenant`` (a persona
    that is no admin, at some microversion), ``admin`` (admins and nova's service role
    only) or ``stored`` (no one through the API): the level of the widest of
    :func:`readers` (:func:`pytest_actionsec.personas.level_of`)."""
    return level_of(readers(function, field, record, policies=policies))
