"""The one place nova is imported: quietly, once per process, ``register_all()`` once.

Every other module reaches nova through the accessors here: :func:`modules` (nova's
objects, registered, its parsed ``CONF`` and its database API), :func:`migration`
(nova's alembic migrations, for a store) and :func:`api` (nova's API code and policy
enforcer, for the api layer: about 1 s, so loaded only when asked). Each loads on its
first call, under a lock, with import-time warnings silenced (so ``-W error`` works)
and nova's logging off; a failure is raised to the caller and retried on the next call.

Importing this module imports nothing of nova (only calling an accessor does).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

__all__ = [
    "FAULT_MODULE",
    "NOTIFY_MODULE",
    "NovaAPI",
    "NovaMessaging",
    "NovaModules",
    "NovaPolicies",
    "api",
    "conf",
    "config_opts",
    "fault_module",
    "import_quietly",
    "messaging",
    "migration",
    "modules",
    "policies",
    "thread_yield_hook",
]

#: Where nova defines the instance-fault sink (``add_instance_fault_from_exc``).
FAULT_MODULE = "nova.compute.utils"

T = TypeVar("T")


#: nova's switch for eventlet's monkey patching (``nova.monkey_patch``), which nova 31 and
#: earlier apply when ``nova.api.openstack`` is imported: in a pytest process that
#: patches threading and sockets under pytest, and the process hangs at exit.
EVENTLET_SWITCH = "OS_NOVA_DISABLE_EVENTLET_PATCHING"


def import_quietly(name: str) -> ModuleType:
    """Import a module with import-time warnings silenced (nova's eventlet noise).

    Sets ``OS_NOVA_DISABLE_EVENTLET_PATCHING=1`` first unless the environment sets it
    (:data:`EVENTLET_SWITCH`): the plugin calls nova's code in one process, never as
    nova's eventlet services."""
    os.environ.setdefault(EVENTLET_SWITCH, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No warnings and no logging (nova's policy engine logs at DEBUG while it loads)."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(previous)


def _on_fresh_stack(build: Callable[[], T]) -> T:
    """``build()`` run on a new thread, joined at once: its value, or its exception raised.

    CPython 3.11 frees a chunk of its frame stack as soon as the frame that needed
    it returns, so a hot loop whose calls cross a chunk's end maps and unmaps
    memory on every call. Nova's API import runs such a loop (``_build_regex_range``
    in ``nova.api.validation.parameter_types``, 330,000 calls): measured 0.04 s or
    1.2 s for one call depending only on the depth it was called from, and an xdist
    worker's pytest stack hit the slow depths (2 to 6 s per worker). A new thread's
    stack starts empty: the import runs at the same shallow depth from any caller.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, build()))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="actionsec-nova-load", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return cast(T, value)


def generation() -> object:
    """The ``nova`` package object now imported (None before). An in-process pytest run
    (pytester) that first imported nova takes its modules out of ``sys.modules`` when it
    ends: what was built from them then belongs to a nova no one imports any more."""
    return sys.modules.get("nova")


class _Once(Generic[T]):
    """``build()`` called once per process under a lock; its value kept (not a failure),
    built again when nova's modules were imported anew since (:func:`generation`).

    ``fresh_stack``: build on a new thread's stack (:func:`_on_fresh_stack`).
    """

    def __init__(self, build: Callable[[], T], *, fresh_stack: bool = False) -> None:
        self._build = build
        self._fresh_stack = fresh_stack
        self._lock = threading.Lock()
        self._value: T | None = None
        self._generation: object = None

    def __call__(self) -> T:
        value = self._value
        if value is None or self._generation is not generation():
            with self._lock:
                if self._value is None or self._generation is not generation():
                    with _quiet():
                        build = self._build
                        self._value = _on_fresh_stack(build) if self._fresh_stack else build()
                    self._generation = generation()
                value = self._value
        return value


def conf() -> Any:
    """``nova.conf.CONF``, parsed with no config files or directories when no one has
    parsed it yet (nova's code reads options such as ``host`` when called).

    The options nova's services register before parsing (``nova.config.parse_args``:
    oslo.log's, and osprofiler's when it is installed, as nova's test requirements
    install it; nova's DB API then reads ``CONF.profiler``) are registered here too.
    When someone else parsed CONF first (nova's own test base, a service), only the
    options that may still be registered after parsing are added."""
    cfg = import_quietly("nova.conf").CONF
    unparsed = getattr(cfg, "_namespace", None) is None  # not parsed yet by anyone
    if unparsed:  # CLI options may be registered only before parsing
        with contextlib.suppress(ImportError):
            import_quietly("oslo_log.log").register_options(cfg)
    _register_late_opts(cfg)
    if unparsed:
        cfg([], project="nova", default_config_files=[], default_config_dirs=[])
    return cfg


def _register_late_opts(cfg: Any) -> None:
    """osprofiler's ``[profiler]`` options, as ``nova.config.parse_args`` registers them,
    when osprofiler is importable and no one registered them (non-CLI: allowed after
    parsing)."""
    try:
        profiler = import_quietly("osprofiler.opts")
    except ImportError:
        return
    try:
        cfg.profiler  # noqa: B018 - registered already
    except Exception:  # oslo.config's NoSuchOptError
        profiler.set_defaults(cfg)


@dataclass(frozen=True)
class NovaModules:
    """Nova's object and database side: ``objects`` registered, ``conf`` parsed."""

    #: ``nova.conf.CONF`` (parsed: see :func:`conf`)
    conf: Any
    #: ``nova.context`` (``RequestContext``)
    context: ModuleType
    #: ``nova.exception`` (``NovaException``)
    exception: ModuleType
    #: ``nova.objects``, after ``register_all()``
    objects: ModuleType
    #: ``nova.objects.fields``
    fields: ModuleType
    #: ``nova.objects.base`` (``serialize_args``, the RPC boundary)
    base: ModuleType
    #: ``nova.db.main.api``
    db: ModuleType
    #: ``nova.db.main.models``
    models: ModuleType
    #: ``oslo_db.sqlalchemy.enginefacade``
    enginefacade: ModuleType


def _load_modules() -> NovaModules:
    objects = import_quietly("nova.objects")
    objects.register_all()
    return NovaModules(
        conf=conf(),
        context=import_quietly("nova.context"),
        exception=import_quietly("nova.exception"),
        objects=objects,
        fields=import_quietly("nova.objects.fields"),
        base=import_quietly("nova.objects.base"),
        db=import_quietly("nova.db.main.api"),
        models=import_quietly("nova.db.main.models"),
        enginefacade=import_quietly("oslo_db.sqlalchemy.enginefacade"),
    )


_MODULES = _Once(_load_modules)


def modules() -> NovaModules:
    """Nova's objects (registered once), its parsed ``CONF`` and its database API."""
    return _MODULES()


def _load_migration() -> ModuleType:
    modules()
    return import_quietly("nova.db.migration")


_MIGRATION = _Once(_load_migration)


def migration() -> ModuleType:
    """``nova.db.migration`` (``db_sync``): only a store needs it (0.2 s more)."""
    return _MIGRATION()


@dataclass(frozen=True)
class NovaAPI:
    """Nova's API code, and its policy enforcer initialised with the in-code defaults."""

    #: ``nova.policy`` after ``policy.init()``
    policy: ModuleType
    #: ``nova.policy._ENFORCER``, nova's process-wide enforcer
    enforcer: Any
    #: ``nova.api.openstack.wsgi``
    wsgi: ModuleType
    #: ``nova.api.openstack.api_version_request``
    versions: ModuleType
    #: ``nova.api.openstack.compute.instance_actions``
    instance_actions: ModuleType
    #: ``nova.api.openstack.compute.views.servers``
    servers_view: ModuleType
    #: ``nova.api.openstack.compute.servers`` (``ServersController``)
    servers: ModuleType


def _load_api() -> NovaAPI:
    modules()
    policy = import_quietly("nova.policy")
    # Nova's API process does policy.init() with its registered in-code defaults.
    policy.init(suppress_deprecation_warnings=True)
    return NovaAPI(
        policy=policy,
        enforcer=policy._ENFORCER,
        wsgi=import_quietly("nova.api.openstack.wsgi"),
        versions=import_quietly("nova.api.openstack.api_version_request"),
        instance_actions=import_quietly("nova.api.openstack.compute.instance_actions"),
        servers_view=import_quietly("nova.api.openstack.compute.views.servers"),
        servers=import_quietly("nova.api.openstack.compute.servers"),
    )


#: built on a fresh stack: its import's hot loop is 30 times slower at some depths
_API = _Once(_load_api, fresh_stack=True)


def api() -> NovaAPI:
    """Nova's API modules and its policy enforcer (about 1 s the first time).

    Built on a fresh stack (:func:`_on_fresh_stack`), after nova's objects are loaded
    on the caller's thread (eventlet, which they import, must not be imported first
    in a thread that is then joined: the join would never return)."""
    modules()
    return _API()


@dataclass(frozen=True)
class NovaPolicies:
    """oslo.policy and nova's registered policy rules (no API code: about 0.15 s)."""

    #: ``oslo_policy.policy`` (``parse_file_contents``, ``Rules``, ``Enforcer``, ``RuleCheck``)
    oslo: ModuleType
    #: the name of the logger oslo.policy's rule parser reports unparsable rules to
    parser_logger: str
    #: nova's in-code defaults (``nova.policies.list_rules()``): ``RuleDefault`` objects
    defaults: tuple[Any, ...]


def _load_policies() -> NovaPolicies:
    return NovaPolicies(
        oslo=import_quietly("oslo_policy.policy"),
        parser_logger=import_quietly("oslo_policy._parser").LOG.name,
        defaults=tuple(import_quietly("nova.policies").list_rules()),
    )


_POLICIES = _Once(_load_policies)


def policies() -> NovaPolicies:
    """oslo.policy and nova's in-code default rules, to read policy files against."""
    return _POLICIES()


def fault_module() -> ModuleType:
    """``nova.compute.utils``, imported on every call (a fork may lack it: then raises)."""
    return import_quietly(FAULT_MODULE)


#: Where nova defines the notification sink (``notify_about_instance_action``; h-notify).
NOTIFY_MODULE = "nova.compute.utils"


@dataclass(frozen=True)
class NovaMessaging:
    """Nova's side of notifications (h-notify): its RPC module and network model."""

    #: ``nova.rpc`` (``NOTIFIER``, nova's serializers)
    rpc: ModuleType
    #: ``nova.network.model`` (``NetworkInfo``)
    network: ModuleType
    #: the module defining ``notify_about_instance_action`` (:data:`NOTIFY_MODULE`)
    notify: ModuleType


def _load_messaging() -> NovaMessaging:
    modules()  # objects registered, CONF parsed
    return NovaMessaging(
        rpc=import_quietly("nova.rpc"),
        network=import_quietly("nova.network.model"),
        notify=import_quietly(NOTIFY_MODULE),
    )


_MESSAGING = _Once(_load_messaging)


def messaging() -> NovaMessaging:
    """Nova's notification side (loaded once, after :func:`modules`)."""
    return _MESSAGING()


def config_opts() -> Any:
    """A fresh ``oslo_config.cfg.ConfigOpts`` (parsing a transport URL without nova)."""
    return import_quietly("oslo_config.cfg").ConfigOpts()


def thread_yield_hook() -> Any:
    """oslo.db's connection check-in listener that sleeps so eventlet's green threads
    run (``oslo_db.sqlalchemy.engines._thread_yield``), or None in an oslo.db without it."""
    try:
        engines = import_quietly("oslo_db.sqlalchemy.engines")
    except ImportError:  # pragma: no cover - another oslo.db layout
        return None
    return getattr(engines, "_thread_yield", None)
