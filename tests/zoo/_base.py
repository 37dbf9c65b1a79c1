"""The zoo's shared packer: Nova's contract, implemented correctly and defensively.

Every mutant subclasses :class:`InstanceAction` or :class:`InstanceActionEvent`
and overrides one hook (or wraps one helper), so each plants exactly one
regression. :func:`serialize_args` is a corrected RPC boundary.

Rules (see /work/shared/NOVA_FACTS.md): ids, names and host are text or None
within their column (255 characters, instance_uuid 36); start_time is the
request's timestamp as naive UTC; finish times and event start times come from
``timeutils.utcnow()``; on error, details is the trusted ``format_message()``
text (else the class name) or a given str, cut to 255 UTF-8 bytes. Anything
outside the contract is refused with TypeError or ValueError. Inputs are never
changed and nothing is logged.

:class:`InstanceFaultSink` (module-level :func:`add_instance_fault_from_exc`) is a
corrected ``nova.compute.utils.add_instance_fault_from_exc``: the code is the
fault's ``kwargs['code']`` when its ``kwargs`` is a dict holding an int code, else
500 (an odd ``kwargs`` does not crash it); the message is a given non-empty
``fault_message``, else the trusted ``format_message()`` text, else the class
name, cut to a clean prefix of 255 UTF-8 bytes; details are the frames of
``exc_info``'s traceback (``traceback.format_tb``: file, line and source line, no
exception text, no locals), and only at code 500 (nova shows details to the
tenant otherwise), else ''; host is ``CONF.host``; instance_uuid is
``instance.uuid``. A fault that is not an exception, an instance without a text
uuid, an ``exc_info`` that is not ``sys.exc_info()`` or a ``fault_message`` that
is not text is refused with TypeError or ValueError.
"""

from __future__ import annotations

import datetime as _dt
import functools
import traceback as _traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

import nova.conf
from nova import objects
from nova.exception import NovaException
from oslo_utils import timeutils

__all__ = [
    "DETAILS_BYTES",
    "FAULT_DETAILS_BYTES",
    "FAULT_MESSAGE_BYTES",
    "STRING_CHARS",
    "TEXT_BYTES",
    "UUID_CHARS",
    "InstanceAction",
    "InstanceActionEvent",
    "InstanceFaultSink",
    "add_instance_fault_from_exc",
    "exception_message",
    "fault_code",
    "notify_about_instance_action",
    "serialize_args",
    "text_or_none",
    "truncate_utf8",
]

STRING_CHARS = 255
UUID_CHARS = 36
DETAILS_BYTES = 255
TEXT_BYTES = 65535
FAULT_MESSAGE_BYTES = 255  # instance_faults.message is String(255)
FAULT_DETAILS_BYTES = 16777215  # instance_faults.details is MediumText
TRUSTED: tuple[type[BaseException], ...] = (NovaException,)


def text_or_none(value: Any, what: str, limit: int = STRING_CHARS) -> str | None:
    """``value`` if it is None or UTF-8-encodable text of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str or None, not {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{what} has {len(value)} characters (column holds {limit})")
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    return value


def truncate_utf8(text: str, limit: int = DETAILS_BYTES, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[-limit:] if keep_end else data[:limit]
    return cut.decode("utf-8", "ignore")


def _looks_like_bytes_repr(text: str) -> bool:
    return len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]


def exception_message(exc: BaseException) -> str:
    """The text an exception may show: trusted ``format_message()`` text, else its class name."""
    name = type(exc).__name__
    if not isinstance(exc, TRUSTED):
        return name
    try:
        message = exc.format_message()  # type: ignore[attr-defined]
    except Exception:
        return name
    if not isinstance(message, str) or not message or _looks_like_bytes_repr(message):
        return name
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return name
    return message


def _context_value(context: Any, name: str) -> Any:
    try:
        return getattr(context, name)
    except AttributeError:
        raise TypeError(f"context has no {name}") from None


def _naive_utc(value: Any, what: str) -> _dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        return value if value.tzinfo is None else value.replace(tzinfo=None)
    try:
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    except OverflowError as exc:
        raise ValueError(f"{what} {value.isoformat()} is out of range in UTC") from exc


class _Packer:
    """Hooks shared by both record kinds."""

    @staticmethod
    def _now(context: Any) -> _dt.datetime:
        """The server clock (never the request's)."""
        return timeutils.utcnow()

    @staticmethod
    def _context_text(context: Any, name: str) -> str | None:
        """A context id, checked."""
        return text_or_none(_context_value(context, name), f"context.{name}")

    @staticmethod
    def _uuid(instance_uuid: Any) -> str | None:
        return text_or_none(instance_uuid, "instance_uuid", UUID_CHARS)


class InstanceAction(_Packer):
    """Packs ``instance_actions`` rows."""

    @staticmethod
    def _request_time(context: Any) -> _dt.datetime | None:
        """The request's clock, as naive UTC."""
        return _naive_utc(_context_value(context, "timestamp"), "context.timestamp")

    @classmethod
    def pack_action_start(
        cls, context: Any, instance_uuid: Any, action_name: Any
    ) -> dict[str, Any]:
        """Values of a new action; start_time and updated_at are the request's timestamp."""
        started = cls._request_time(context)
        return {
            "request_id": cls._context_text(context, "request_id"),
            "instance_uuid": cls._uuid(instance_uuid),
            "user_id": cls._context_text(context, "user_id"),
            "project_id": cls._context_text(context, "project_id"),
            "action": text_or_none(action_name, "action_name"),
            "start_time": started,
            "updated_at": started,
        }

    @classmethod
    def pack_action_finish(cls, context: Any, instance_uuid: Any) -> dict[str, Any]:
        """Values closing an action; finish_time and updated_at are the server clock."""
        request_id = cls._context_text(context, "request_id")
        uuid = cls._uuid(instance_uuid)
        now = cls._now(context)
        return {
            "request_id": request_id,
            "instance_uuid": uuid,
            "finish_time": now,
            "updated_at": now,
        }


class InstanceActionEvent(_Packer):
    """Packs ``instance_actions_events`` rows."""

    @classmethod
    def pack_action_event_start(
        cls, context: Any, instance_uuid: Any, event_name: Any, host: Any = None
    ) -> dict[str, Any]:
        """Values of a new event; start_time is the server clock."""
        values = {
            "event": text_or_none(event_name, "event_name"),
            "instance_uuid": cls._uuid(instance_uuid),
            "request_id": cls._context_text(context, "request_id"),
            "host": text_or_none(host, "host"),
        }
        values["start_time"] = cls._now(context)
        return values

    @classmethod
    def pack_action_event_finish(
        cls,
        context: Any,
        instance_uuid: Any,
        event_name: Any,
        exc_val: Any = None,
        exc_tb: Any = None,
    ) -> dict[str, Any]:
        """Values closing an event: 'Success', or 'Error' with traceback and details."""
        if exc_val is not None and not isinstance(exc_val, (str, BaseException)):
            raise TypeError(f"exc_val must be an exception, str or None, not {type(exc_val)}")
        if exc_tb is not None and not isinstance(exc_tb, str):
            raise TypeError(f"exc_tb must be formatted text or None, not {type(exc_tb)}")
        values: dict[str, Any] = {
            "event": text_or_none(event_name, "event_name"),
            "instance_uuid": cls._uuid(instance_uuid),
            "request_id": cls._context_text(context, "request_id"),
        }
        values["finish_time"] = cls._now(context)
        if exc_tb is None:
            values["result"] = "Success"
            return values
        values["result"] = "Error"
        values["traceback"] = cls._traceback(exc_val, exc_tb)
        values["details"] = cls._details(exc_val)
        return values

    @staticmethod
    def _traceback(exc_val: Any, exc_tb: str) -> str:
        """The stored traceback: the given text, its last 64 KiB at most."""
        return truncate_utf8(exc_tb, TEXT_BYTES, keep_end=True)

    @classmethod
    def _details(cls, exc_val: Any) -> str | None:
        """What the API shows for the error, at most 255 UTF-8 bytes (None without one)."""
        if exc_val is None or (isinstance(exc_val, str) and not exc_val):
            return None
        message = exc_val if isinstance(exc_val, str) else cls._message(exc_val)
        return cls._truncate(message)

    @staticmethod
    def _message(exc: BaseException) -> str:
        return exception_message(exc)

    @staticmethod
    def _truncate(message: str) -> str:
        return truncate_utf8(message, DETAILS_BYTES)


def fault_code(fault: BaseException) -> int:
    """Nova's code rule without its crash: ``kwargs['code']`` of a dict ``kwargs``, else 500.

    A code that is not an int (a bool is not) is taken as 500 too: details stay admin-only.
    """
    try:
        kwargs = getattr(fault, "kwargs", None)
    except Exception:
        return 500
    if not isinstance(kwargs, dict):
        return 500
    code = dict.get(kwargs, "code", 500)
    return code if type(code) is int else 500


class InstanceFaultSink:
    """Writes ``instance_faults`` rows, as ``nova.compute.utils`` does, safely."""

    @classmethod
    def add_instance_fault_from_exc(
        cls,
        context: Any,
        instance: Any,
        fault: Any,
        exc_info: Any = None,
        fault_message: Any = None,
    ) -> None:
        """Record ``fault`` on ``instance``: every value is checked before the row is made."""
        if not isinstance(fault, BaseException):
            raise TypeError(f"fault must be an exception, not {type(fault).__name__}")
        uuid = cls._instance_uuid(instance)
        code = cls._code(fault)
        message = cls._message(fault, fault_message)
        details = cls._details(exc_info, code)
        host = text_or_none(nova.conf.CONF.host, "CONF.host")
        row = objects.InstanceFault(context=context)
        row.instance_uuid = uuid
        row.code = code
        row.message = message
        row.details = details
        row.host = host
        row.create()

    @staticmethod
    def _instance_uuid(instance: Any) -> str:
        try:
            uuid = instance.uuid
        except Exception:
            raise TypeError(f"{type(instance).__name__} has no uuid") from None
        if uuid is None:
            raise ValueError("instance.uuid is None: a fault belongs to an instance")
        checked = text_or_none(uuid, "instance.uuid", UUID_CHARS)
        assert checked is not None
        return checked

    @staticmethod
    def _code(fault: BaseException) -> int:
        return fault_code(fault)

    @staticmethod
    def _message(fault: BaseException, fault_message: Any) -> str:
        """The given text (an empty one counts as none, as in nova), else the safe message."""
        if fault_message is not None and not isinstance(fault_message, str):
            raise TypeError(f"fault_message must be str or None, not {type(fault_message)}")
        if fault_message:
            fault_message.encode("utf-8")  # UnicodeEncodeError is a ValueError
            text = fault_message
        else:
            text = exception_message(fault)
        return truncate_utf8(text, FAULT_MESSAGE_BYTES)

    @staticmethod
    def _details(exc_info: Any, code: int) -> str:
        """The traceback's frames (no exception text) at code 500; '' otherwise."""
        frames = InstanceFaultSink._frames(exc_info)  # refuses a bad exc_info at any code
        return frames if code == 500 else ""

    @staticmethod
    def _frames(exc_info: Any) -> str:
        """The frames of ``exc_info``'s traceback ('' without one); refuses what is not
        ``sys.exc_info()``."""
        if exc_info is None:
            return ""
        if not isinstance(exc_info, tuple) or len(exc_info) != 3:
            raise TypeError("exc_info must be sys.exc_info(), a (type, value, traceback) tuple")
        tb = exc_info[2]
        if tb is not None and not isinstance(tb, TracebackType):
            raise TypeError(f"exc_info[2] must be a traceback or None, not {type(tb).__name__}")
        if tb is None:
            return ""
        frames = "".join(_traceback.format_tb(tb))
        return truncate_utf8(frames, FAULT_DETAILS_BYTES, keep_end=True)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc


def _to_wire(value: Any) -> Any:
    if isinstance(value, BaseException):
        return exception_message(value)
    if isinstance(value, TracebackType):
        return "".join(_traceback.format_tb(value))
    return value


def serialize_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    """RPC boundary: exceptions become their safe message, tracebacks formatted frames.

    Unlike nova's, it converts positional arguments too, treats falsy exceptions
    like any other, and leaves every other value to the packer, which refuses
    what is not text.
    """

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_to_wire(a) for a in args)
        kwargs = {k: _to_wire(v) for k, v in kwargs.items()}
        return fn(obj, *args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------
# The notification sink (notify_about_instance_action): nova's notification, with a
# fault that names the exception's class and its safe message (exception_message
# above) and no traceback text; non-str ids, host and action, a context that is not
# nova's, a server without a str uuid and a non-exception are refused (TypeError).


def notify_about_instance_action(
    context: Any,
    instance: Any,
    host: Any,
    action: Any,
    phase: Any = None,
    source: Any = None,
    exception: Any = None,
    bdms: Any = None,
    best_effort: bool = False,
) -> None:
    """Emit nova's instance-action notification through nova's notifier, safely."""
    from nova import rpc
    from nova.context import RequestContext
    from nova.notifications.objects import base as nbase
    from nova.notifications.objects import exception as nexception
    from nova.notifications.objects import instance as ninstance
    from nova.objects import fields

    if not isinstance(context, RequestContext):
        raise TypeError("context must be a RequestContext")
    for value in (context.user_id, context.project_id, context.request_id):
        text_or_none(value, "a context id", 10**6)
    for value in (host, action, getattr(instance, "uuid", None)):
        if text_or_none(value, "host, action or uuid", 10**6) is None:
            raise TypeError("host, action and instance.uuid must be str")
    if exception is not None and not isinstance(exception, BaseException):
        raise TypeError("exception must be an exception or None")
    fault = None
    if exception is not None:
        fault = nexception.ExceptionPayload(
            module_name="unknown",
            function_name="unknown",
            exception=type(exception).__name__,
            exception_message=exception_message(exception),
            traceback="",
        )
    priority = fields.NotificationPriority.ERROR if fault else fields.NotificationPriority.INFO
    notification = ninstance.InstanceActionNotification(
        context=context,
        priority=priority,
        publisher=nbase.NotificationPublisher(
            host=host, source=source or fields.NotificationSource.COMPUTE
        ),
        event_type=nbase.EventType(object="instance", action=action, phase=phase),
        payload=ninstance.InstanceActionPayload(
            context=context, instance=instance, fault=fault, bdms=bdms
        ),
    )
    if rpc.NOTIFIER is not None:
        notification.emit(context)
