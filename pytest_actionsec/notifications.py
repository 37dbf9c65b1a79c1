"""The notification sink: nova's versioned instance-action notification, as it goes on the bus.

``nova.compute.utils.notify_about_instance_action(context, instance, host, action,
phase=None, source=..., exception=None, bdms=None, best_effort=False)`` builds an
``InstanceActionNotification`` whose payload carries, for an exception, nova's
``ExceptionPayload.from_exception(exception)``: ``exception_message=str(exception)`` and
the whole ``traceback.format_exception`` text (nova 34 says in a TODO that
``mask_password`` is not applied). ``notification.emit()`` hands it to nova's
``rpc.NOTIFIER``, an oslo.messaging ``Notifier`` whose serializer is nova's own
(``RequestContextSerializer(JsonPayloadSerializer())``); its messaging driver puts the
message on the bus as ``jsonutils.dumps`` text.

The whole function is fuzzed (not only the payload builder): what a consumer reads is
the notification, and its envelope (``event_type``, ``publisher_id``, ``priority``) and
the instance payload around the fault are nova's doing too.

Its *record* is the message as it goes on the wire, flattened to one mapping (see
:func:`wire_record`): ``event_type``, ``publisher_id``, ``priority`` and every text or
integer leaf of the payload by its dotted path (``payload.fault.exception_message``;
nova's ``nova_object.data`` levels dropped, list items as ``[i]``). At the ``packer``
layer (:func:`capturing`) the sink runs with nova's ``rpc.NOTIFIER`` replaced by a
real oslo.messaging ``Notifier`` with nova's serializer and oslo.messaging's in-process
``test`` driver: the message it receives is put through ``jsonutils`` as the messaging
driver does. At the ``bus`` layer (:class:`Bus`) the notifier's driver is
``messagingv2`` over a real transport (``--actionsec-bus``) and a notification listener
reads the message back off the bus: that is the record.

Who reads it: the services that consume notifications (telemetry, other projects'
services, an operator's tools), never a tenant through nova's API: the audience
``bus`` (see ``docs/notifications.md``).

A notifier named by ``--actionsec-notifier`` (a dotted path, whatever its name) is
fuzzed; otherwise a target module that defines ``notify_about_instance_action``
itself; otherwise nova's (a fallback the reports name). Nova and oslo.messaging are
imported lazily.
"""

from __future__ import annotations

import functools
import queue
import threading
import uuid as _uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pytest_actionsec import nova
from pytest_actionsec.credentials import mask_url, remember_secret, url_password
from pytest_actionsec.sinks import SinkKind, find_sink

__all__ = [
    "AUDIENCE",
    "BUS_REAL_TIME",
    "EXCEPTION_PARAM",
    "NOTIFICATION_COLUMNS",
    "NOTIFICATION_TABLE",
    "NOTIFY_SINK",
    "NOVA_NOTIFY_MODULE",
    "Bus",
    "BusError",
    "capturing",
    "find_notifier",
    "make_server",
    "notification_allowed",
    "wire_record",
]

#: The function's name in the suite (nova's own name for it).
NOTIFY_SINK = "notify_about_instance_action"

#: Where nova defines it.
NOVA_NOTIFY_MODULE = nova.NOTIFY_MODULE

#: The parameter that carries the exception (nova's name).
EXCEPTION_PARAM = "exception"

#: The name the record's "table" goes by (no database table: the wire message).
NOTIFICATION_TABLE = "notifications"

#: Who reads what travels on the bus (a severity of :data:`registry.SEVERITIES`).
AUDIENCE = "bus"

_PARAMS = ("context", "instance", "host", "action")

#: Modules that keep the real clock while the run's clock is frozen (the bus's
#: listener thread, its timers and heartbeats; only the envelope's timestamp, which
#: the record leaves out, is theirs to read).
BUS_REAL_TIME: tuple[str, ...] = ("oslo_messaging", "kombu", "amqp", "futurist")

#: The fields of nova 34's instance-action notification as they go on the wire, with
#: their JSON kind (``str``/``text``: a string; ``int``) and no length limit (neither
#: oslo.messaging nor nova bounds them). Times are ISO strings on the wire.
NOTIFICATION_COLUMNS: Mapping[str, tuple[str, int | None]] = {
    **{name: ("str", None) for name in ("event_type", "publisher_id", "priority")},
    **{
        f"payload.{name}": ("str", None)
        for name in (
            "uuid",
            "user_id",
            "tenant_id",
            "reservation_id",
            "display_name",
            "display_description",
            "host_name",
            "host",
            "node",
            "os_type",
            "architecture",
            "availability_zone",
            "image_uuid",
            "key_name",
            "kernel_id",
            "ramdisk_id",
            "created_at",
            "launched_at",
            "terminated_at",
            "deleted_at",
            "updated_at",
            "state",
            "power_state",
            "task_state",
            "auto_disk_config",
            "request_id",
            "action_initiator_user",
            "action_initiator_project",
            "locked_reason",
            "flavor.flavorid",
            "flavor.name",
            "flavor.description",
        )
    },
    **{
        f"payload.{name}": ("int", None)
        for name in (
            "progress",
            "flavor.memory_mb",
            "flavor.vcpus",
            "flavor.root_gb",
            "flavor.ephemeral_gb",
            "flavor.swap",
            "flavor.vcpu_weight",
        )
    },
    # None on the wire for nova 34's server here (objects and lists when set)
    **{
        f"payload.{name}": ("str", None)
        for name in ("fault", "block_devices", "shares", "flavor.projects")
    },
    "payload.fault.module_name": ("str", None),
    "payload.fault.function_name": ("str", None),
    "payload.fault.exception": ("str", None),
    "payload.fault.exception_message": ("text", None),
    "payload.fault.traceback": ("text", None),
}

#: Where the context's ids and the server's uuid go in the notification (a canary of
#: that id is allowed there, as in its own field of a database record).
_ALLOWED = {
    "user_id": "payload.action_initiator_user",
    "project_id": "payload.action_initiator_project",
    "request_id": "payload.request_id",
    "instance_uuid": "payload.uuid",
    "host": "publisher_id",
}


def notification_allowed(allowed: frozenset[str]) -> frozenset[str]:
    """The notification's fields where a canary allowed in ``allowed`` (database field
    names: ``user_id``, ``instance_uuid``, ...) may appear."""
    return frozenset(_ALLOWED.get(name, name) for name in allowed)


# ---------------------------------------------------------------------------
# The server a notification is about.

#: The fixed owner of every drawn server (its own ids are not what this sink is about).
SERVER_OWNER = ("server-owner-user", "server-owner-project")


def make_server(uuid: Any) -> Any:
    """A ``nova.objects.Instance`` with ``uuid`` and every field the instance payload
    reads set (a fixed flavor, an empty network info, no devices): what nova's compute
    manager holds when it notifies. Never lazy-loads (no database)."""
    objects = nova.modules().objects
    network = nova.messaging().network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # a non-uuid uuid (hostile)
        try:
            server = objects.Instance(uuid=uuid)
        except (TypeError, ValueError):
            # a value nova's object refuses (hostile: None, ...): held as is, as a caller's
            # object that bypassed the field would hold it
            server = objects.Instance()
            object.__setattr__(server, "_obj_uuid", uuid)
    server.user_id, server.project_id = SERVER_OWNER
    server.flavor = objects.Flavor(
        id=1,
        flavorid="1",
        name="m1.tiny",
        memory_mb=512,
        vcpus=1,
        root_gb=1,
        ephemeral_gb=0,
        swap=0,
        rxtx_factor=1.0,
        vcpu_weight=0,
        disabled=False,
        is_public=True,
        extra_specs={},
        description=None,
    )
    server.info_cache = objects.InstanceInfoCache(network_info=network.NetworkInfo([]))
    server.system_metadata = {}
    server.metadata = {}
    for name in (
        "reservation_id",
        "display_name",
        "display_description",
        "hostname",
        "host",
        "node",
        "os_type",
        "architecture",
        "availability_zone",
        "image_ref",
        "key_name",
        "kernel_id",
        "ramdisk_id",
        "created_at",
        "launched_at",
        "terminated_at",
        "deleted_at",
        "updated_at",
        "vm_state",
        "power_state",
        "task_state",
        "progress",
    ):
        setattr(server, name, None)
    server.locked = False
    server.auto_disk_config = False
    return server


# ---------------------------------------------------------------------------
# The wire.


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        if "nova_object.data" in value and isinstance(value["nova_object.data"], dict):
            value = value["nova_object.data"]
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    elif value is None or isinstance(value, str) or type(value) is int:
        yield path, value
    # bools and floats carry no text: left out


def wire_record(message: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one notification ``message`` (the dict a notifier driver gets, or a
    listener's fields): ``jsonutils`` text and back, as the messaging driver sends it,
    flattened (``event_type``, ``publisher_id``, ``priority``, ``payload.<path>``)."""
    jsonutils = nova.import_quietly("oslo_serialization.jsonutils")
    wire = jsonutils.loads(jsonutils.dumps(dict(message)))
    record: dict[str, Any] = {}
    for name in ("event_type", "publisher_id", "priority"):
        if name in wire:
            record[name] = wire[name]
    record.update(_leaves(wire.get("payload"), "payload"))
    return record


def _serializer() -> Any:
    rpc = nova.messaging().rpc
    return rpc.RequestContextSerializer(rpc.JsonPayloadSerializer())


class _Installed:
    """nova's ``rpc.NOTIFIER`` replaced by ``notifier`` and versioned notifications on,
    for one call (both restored after)."""

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier
        self.rpc: Any = nova.messaging().rpc
        self.conf = nova.modules().conf

    def __enter__(self) -> None:
        self.previous = self.rpc.NOTIFIER
        self.rpc.NOTIFIER = self.notifier
        self.override = self.conf.notifications.notification_format not in ("both", "versioned")
        if self.override:
            self.conf.set_override("notification_format", "versioned", group="notifications")

    def __exit__(self, *exc: object) -> None:
        self.rpc.NOTIFIER = self.previous
        if self.override:
            self.conf.clear_override("notification_format", group="notifications")


_LOCK = threading.Lock()


@functools.cache
def _test_notifier() -> Any:
    """A real oslo.messaging Notifier with nova's serializer and the in-process
    ``test`` driver (on oslo.messaging's in-process ``fake`` transport)."""
    messaging = nova.import_quietly("oslo_messaging")
    conf = nova.modules().conf
    transport = messaging.get_notification_transport(conf, url="fake:/")
    return messaging.Notifier(
        transport,
        driver="test",
        serializer=_serializer(),
        topics=list(conf.notifications.versioned_notifications_topics),
    )


def capturing(sink: Callable[..., Any]) -> Callable[..., dict[str, Any] | None]:
    """``sink`` called as is with nova's notifier replaced by the in-process one,
    returning the :func:`wire_record` of the notification it emitted (None when it
    emitted none). Raises what the sink raises."""
    notifier = _test_notifier()

    @functools.wraps(sink)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        messages = _sent_by(notifier, sink, args, kwargs)
        return wire_record(messages[0]) if messages else None

    return call


def _sent_by(notifier: Any, sink: Callable[..., Any], args: Any, kwargs: Any) -> list[Any]:
    """The messages ``sink(*args, **kwargs)`` sent with ``notifier`` installed as nova's,
    taken out of oslo's in-process list of sent notifications. Raises what the sink
    raises."""
    sent = nova.import_quietly("oslo_messaging.notify._impl_test").NOTIFICATIONS
    with _LOCK:
        start = len(sent)
        try:
            with _Installed(notifier), warnings.catch_warnings():
                # oslo's UUIDField warns on a non-uuid server uuid: not a crash
                warnings.simplefilter("ignore", FutureWarning)
                sink(*args, **kwargs)
            return [entry[1] for entry in sent[start:]]
        finally:
            del sent[start:]


# ---------------------------------------------------------------------------
# The bus.


class BusError(Exception):
    """The bus cannot be used (a bad URL, an unreachable broker); one line, no password."""


class _Endpoint:
    """A notification listener's endpoint: every message it gets, in a queue."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()

    def _got(self, priority: str) -> Callable[..., None]:
        def got(ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any) -> None:
            self.received.put(
                {
                    "publisher_id": publisher_id,
                    "event_type": event_type,
                    "priority": priority.upper(),
                    "payload": payload,
                    "message_id": (metadata or {}).get("message_id"),
                }
            )

        return got

    def __getattr__(self, name: str) -> Any:
        if name in ("audit", "debug", "info", "warn", "error", "critical", "sample"):
            return self._got(name)
        raise AttributeError(name)


class Bus:
    """A real oslo.messaging transport (``url``), a ``messagingv2`` notifier with nova's
    serializer on a topic of its own, and a listener reading that topic back.

    :meth:`open` checks the broker first: a bad URL or an unreachable broker is a
    :class:`BusError` (its password masked). One per process; :meth:`close` stops the
    listener and deletes its queues.
    """

    #: seconds to wait for a sent notification to come back off the bus
    WAIT = 10.0

    def __init__(self, url: str, transport: Any, notifier: Any, listener: Any, topic: str):
        self.url = url
        self.topic = topic
        self._transport = transport
        self._notifier = notifier
        self._listener = listener
        self._endpoint: _Endpoint = listener.dispatcher.endpoints[0]

    @classmethod
    def open(cls, url: str, *, topic: str | None = None) -> Bus:
        """Connect to the broker at ``url`` (:func:`probe_bus` first) and start the
        listener on ``topic`` (default: a fresh ``actionsec-<hex>``)."""
        shown = probe_bus(url)
        messaging = nova.import_quietly("oslo_messaging")
        conf = nova.modules().conf
        topic = topic or f"actionsec-{_uuid.uuid4().hex[:12]}"
        try:
            transport = messaging.get_notification_transport(conf, url=url)
            notifier = messaging.Notifier(
                transport,
                driver="messagingv2",
                serializer=_serializer(),
                topics=[topic],
                retry=1,
            )
            endpoint = _Endpoint()
            listener = messaging.get_notification_listener(
                transport,
                [messaging.Target(topic=topic)],
                [endpoint],
                executor="threading",
            )
            listener.start()
        except Exception as exc:
            raise BusError(f"bus {shown!r} cannot be used: {_line(exc)}") from None
        return cls(url, transport, notifier, listener, topic)

    def capturing(self, sink: Callable[..., Any]) -> Callable[..., dict[str, Any] | None]:
        """``sink`` called with nova's notifier replaced by this bus's; returns the
        :func:`wire_record` of the notification the listener read back (None when the
        sink emitted none). Raises what the sink raises, and :class:`BusError` when a
        sent notification does not come back within :attr:`WAIT` seconds."""
        notifier = _TeeNotifier(self._notifier, _test_notifier())

        @functools.wraps(sink)
        def call(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
            count = len(_sent_by(notifier, sink, args, kwargs))
            if not count:
                return None
            got = [self._receive() for _ in range(count)]
            return wire_record(got[0])

        return call

    def _receive(self) -> dict[str, Any]:
        """The next notification off the bus (the topic is this process's own)."""
        try:
            got = self._endpoint.received.get(timeout=self.WAIT)
        except queue.Empty:
            raise BusError(
                f"bus {mask_url(self.url)!r}: a sent notification did not come back "
                f"within {self.WAIT:g} s"
            ) from None
        got.pop("message_id", None)
        return got

    def close(self) -> None:
        """Stop the listener, delete its queues, release the transport."""
        try:
            self._listener.stop()
            self._listener.wait()
        except Exception:
            pass
        _delete_queues(self.url, self.topic)
        try:
            self._transport.cleanup()
        except Exception:
            pass


class _TeeNotifier:
    """Both notifiers' ``prepare()`` at once: the bus's sends, the in-process one counts
    what was sent (so that no wait is made for a notification never sent)."""

    def __init__(self, bus: Any, local: Any) -> None:
        self.bus, self.local = bus, local

    def is_enabled(self) -> bool:
        return True

    def prepare(self, **kwargs: Any) -> _Tee:
        return _Tee(self.bus.prepare(**kwargs), self.local.prepare(**kwargs))


class _Tee:
    def __init__(self, bus: Any, local: Any) -> None:
        self.bus, self.local = bus, local

    def __getattr__(self, priority: str) -> Callable[..., None]:
        send, record = getattr(self.bus, priority), getattr(self.local, priority)

        def notify(ctxt: Any, event_type: str, payload: Any) -> None:
            record(ctxt, event_type=event_type, payload=payload)
            send(ctxt, event_type=event_type, payload=payload)

        return notify


def _line(exc: BaseException) -> str:
    return mask_url(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _kombu_url(parsed: Any) -> str:
    host = parsed.hosts[0]
    auth = ""
    if host.username:
        auth = host.username + (f":{host.password}" if host.password else "") + "@"
    return f"amqp://{auth}{host.hostname}:{host.port or 5672}/{parsed.virtual_host or ''}"


def _probe(parsed: Any, shown: str) -> None:
    """Connect once (a few seconds at most): an unreachable broker is a BusError."""
    if parsed.transport != "rabbit":
        raise BusError(
            f"bus {shown!r}: only the rabbit transport is supported "
            f"(rabbit://user:password@host:5672/), not {parsed.transport!r}"
        )
    kombu = nova.import_quietly("kombu")
    try:
        with kombu.Connection(_kombu_url(parsed), connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        raise BusError(f"bus {shown!r} is unreachable: {_line(exc)}") from None


def _delete_queues(url: str, topic: str) -> None:
    messaging = nova.import_quietly("oslo_messaging")
    try:
        parsed = messaging.TransportURL.parse(nova.modules().conf, url)
        kombu = nova.import_quietly("kombu")
        with kombu.Connection(_kombu_url(parsed), connect_timeout=3) as conn:
            channel = conn.channel()
            for priority in ("audit", "debug", "info", "warn", "error", "critical", "sample"):
                try:
                    channel.queue_delete(f"{topic}.{priority}")
                except Exception:
                    channel = conn.channel()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# Finding the sink.


#: The notification sink, as :func:`~pytest_actionsec.sinks.find_sink` looks it up.
NOTIFIER = SinkKind(
    name=NOTIFY_SINK,
    nova_module=NOVA_NOTIFY_MODULE,
    load_nova=lambda: nova.messaging().notify,
    option="notifier",
    properties="notification",
    params=_PARAMS,
    keywords={"phase": None, "exception": None},
    shape="(context, instance, host, action, phase=None, exception=None)",
    capture=lambda sink: capturing(sink),
    capture_needs="oslo.messaging is not usable to capture the notification",
)


def find_notifier(
    module: Any, path: str, *, given: tuple[Any, str] | None = None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(notifier, origin, note)`` for a target module: ``given`` (the function named
    by ``--actionsec-notifier`` and its dotted path), else its own
    ``notify_about_instance_action``, else nova's.

    ``notifier`` (wrapped by :func:`capturing`) is None, and ``note`` says why, when none
    is usable. Raises ``TargetError`` when it is not callable or has the wrong signature.
    """
    return find_sink(NOTIFIER, module, path, given=given)


# ---------------------------------------------------------------------------
# The suite's parts: drawn actions, the bus stage.


@functools.cache
def notification_actions() -> tuple[str, ...]:
    """Nova's notification actions (``fields.NotificationAction.ALL``): the actions a
    caller within the contract notifies about."""
    return tuple(nova.modules().fields.NotificationAction.ALL)


def probe_bus(url: str) -> str:
    """Check ``url`` without nova (the plugin's start-up check): it parses as an
    oslo.messaging transport URL and its broker answers. Returns the URL masked; raises
    :class:`BusError` (one line, password masked)."""
    remember_secret(url_password(url) if "://" in url else None)
    shown = mask_url(url)
    messaging = nova.import_quietly("oslo_messaging")
    try:
        parsed = messaging.TransportURL.parse(nova.config_opts(), url)
    except Exception as exc:
        raise BusError(f"bus {shown!r} is not a transport URL: {_line(exc)}") from None
    if not parsed.transport or not parsed.hosts:
        raise BusError(
            f"bus {shown!r} is not a transport URL like rabbit://user:password@host:5672/"
        )
    _probe(parsed, shown)
    return shown
