"""A stand-alone implementation of Nova's four instance-action packers and its two sinks.

Written for this example: module-level helpers with Nova's signatures, a trusted
exception class whose ``format_message()`` text may be stored, an RPC boundary
``serialize_args``, and ``add_instance_fault_from_exc``, the instance-fault sink
(without it, the plugin would fuzz ``nova.compute.utils``'s), and
``notify_about_instance_action``, the notification sink. The plugin finds all
of them by name when pointed at this module (``actionsec_target = my_packers``).
Only the sinks import nova, when called, for the ``InstanceFault`` and the
notification they make. It
validates its input, so it passes the built-in suite in hostile mode too:
out-of-contract input is refused with TypeError or ValueError.
"""

from __future__ import annotations

import datetime
import functools
import traceback
from typing import Any

_ID_LIMIT = 255
_UUID_LIMIT = 36
_DETAILS_LIMIT = 255


class SafeError(Exception):
    """Exceptions whose message was written for tenants (like Nova's NovaException)."""

    msg_fmt = "An unknown error occurred."

    def __init__(self, message: Any = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if not isinstance(message, str) or not message:
            try:
                message = self.msg_fmt % kwargs
            except Exception:
                message = self.msg_fmt  # never the kwargs: they may hold secrets
        super().__init__(message)

    def format_message(self) -> str:
        return str(self.args[0])


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _naive_utc(value: Any) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"context.timestamp must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is not None:
        value = value.astimezone(datetime.timezone.utc)
    return value.replace(tzinfo=None)


def _text(name: str, value: Any, limit: int = _ID_LIMIT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text or None, not {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{name} has {len(value)} characters, the column holds {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid UTF-8") from None
    return value


def _context(context: Any, name: str) -> Any:
    try:
        return getattr(context, name)
    except AttributeError:
        raise TypeError(f"context has no {name}") from None


def _truncate(text: str, limit: int = _DETAILS_LIMIT) -> str:
    """Cut to ``limit`` UTF-8 bytes without splitting a character."""
    return text.encode("utf-8", "ignore")[:limit].decode("utf-8", "ignore")


def _details(exc_val: Any) -> str | None:
    if exc_val is None:
        return None
    if isinstance(exc_val, str):
        return _truncate(exc_val) or None  # already sanitised by the caller
    if not isinstance(exc_val, BaseException):
        raise TypeError(f"exc_val must be an exception or text, not {type(exc_val).__name__}")
    message: Any = None
    if isinstance(exc_val, SafeError):
        try:
            message = exc_val.format_message()
        except Exception:
            message = None
    if not isinstance(message, str) or not message:
        message = type(exc_val).__name__  # never str(exc_val): CVE-2019-14433
    return _truncate(message)


def pack_action_start(context: Any, instance_uuid: Any, action_name: Any) -> dict[str, Any]:
    start = _naive_utc(_context(context, "timestamp"))
    return {
        "request_id": _text("request_id", _context(context, "request_id")),
        "instance_uuid": _text("instance_uuid", instance_uuid, _UUID_LIMIT),
        "user_id": _text("user_id", _context(context, "user_id")),
        "project_id": _text("project_id", _context(context, "project_id")),
        "action": _text("action", action_name),
        "start_time": start,
        "updated_at": start,
    }


def pack_action_finish(context: Any, instance_uuid: Any) -> dict[str, Any]:
    now = _utcnow()
    return {
        "request_id": _text("request_id", _context(context, "request_id")),
        "instance_uuid": _text("instance_uuid", instance_uuid, _UUID_LIMIT),
        "finish_time": now,
        "updated_at": now,
    }


def pack_action_event_start(
    context: Any, instance_uuid: Any, event_name: Any, host: Any = None
) -> dict[str, Any]:
    return {
        "event": _text("event", event_name),
        "instance_uuid": _text("instance_uuid", instance_uuid, _UUID_LIMIT),
        "request_id": _text("request_id", _context(context, "request_id")),
        "start_time": _utcnow(),
        "host": _text("host", host),
    }


def pack_action_event_finish(
    context: Any, instance_uuid: Any, event_name: Any, exc_val: Any = None, exc_tb: Any = None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event": _text("event", event_name),
        "instance_uuid": _text("instance_uuid", instance_uuid, _UUID_LIMIT),
        "request_id": _text("request_id", _context(context, "request_id")),
        "finish_time": _utcnow(),
    }
    if exc_tb is None:
        values["result"] = "Success"
        return values
    if not isinstance(exc_tb, str):
        raise TypeError(f"exc_tb must be formatted text, not {type(exc_tb).__name__}")
    values["result"] = "Error"
    values["traceback"] = _truncate(exc_tb, 65535)
    values["details"] = _details(exc_val)
    return values


def serialize_args(fn: Any) -> Any:
    """The RPC boundary: exceptions become safe text, tracebacks formatted frames."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) > 3:
            raise TypeError("exc_val and exc_tb must be passed as keywords")
        if isinstance(kwargs.get("exc_val"), BaseException):
            kwargs["exc_val"] = _details(kwargs["exc_val"])
        tb = kwargs.get("exc_tb")
        if tb is not None and not isinstance(tb, str):
            if not hasattr(tb, "tb_frame"):
                raise TypeError(f"exc_tb must be a traceback or text, not {type(tb).__name__}")
            kwargs["exc_tb"] = "".join(traceback.format_tb(tb))
        return fn(obj, *args, **kwargs)

    return wrapper


def add_instance_fault_from_exc(
    context: Any, instance: Any, fault: Any, exc_info: Any = None, fault_message: Any = None
) -> None:
    """Record ``fault`` on ``instance`` as nova's sink does, with nothing a tenant must not
    read: the message is the trusted text or the class name, and the details (shown to
    tenants unless the code is 500) are the traceback's frames only, at code 500."""
    if not isinstance(fault, BaseException):
        raise TypeError(f"fault must be an exception, not {type(fault).__name__}")
    try:
        uuid = instance.uuid
    except Exception:
        raise TypeError(f"{type(instance).__name__} has no uuid") from None
    kwargs = getattr(fault, "kwargs", None)
    code = kwargs.get("code", 500) if isinstance(kwargs, dict) else 500
    if type(code) is not int:
        code = 500  # an odd code must not show the details to tenants
    if fault_message is not None and not isinstance(fault_message, str):
        raise TypeError(f"fault_message must be text, not {type(fault_message).__name__}")
    message = _truncate(fault_message) if fault_message else _details(fault)
    details = ""
    if exc_info is not None:
        if not isinstance(exc_info, tuple) or len(exc_info) != 3:
            raise TypeError("exc_info must be a (type, value, traceback) tuple")
        if code == 500 and exc_info[2] is not None:
            details = "".join(traceback.format_tb(exc_info[2]))  # frames, never the text

    from nova import conf, objects  # the record is nova's InstanceFault

    row = objects.InstanceFault(context=context)
    row.instance_uuid = _text("instance.uuid", uuid, _UUID_LIMIT)
    row.code = code
    row.message = message
    row.details = details
    row.host = conf.CONF.host
    row.create()


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
    """Send nova's versioned instance-action notification (without it, the plugin would
    fuzz ``nova.compute.utils``'s): the fault names the exception's class and its trusted
    text or the class name, never ``str(exception)``; the traceback only its frames."""
    from nova import rpc
    from nova.context import RequestContext
    from nova.notifications.objects import base
    from nova.notifications.objects import instance as payloads
    from nova.notifications.objects.exception import ExceptionPayload
    from nova.objects import fields

    if not isinstance(context, RequestContext):
        raise TypeError(f"context must be a RequestContext, not {type(context).__name__}")
    for name in ("user_id", "project_id", "request_id"):
        _text(f"context.{name}", getattr(context, name), 10**6)
    for name, value in (("host", host), ("action", action)):
        if _text(name, value, 10**6) is None:
            raise TypeError(f"{name} must be text")
    if _text("instance.uuid", getattr(instance, "uuid", None), _UUID_LIMIT) is None:
        raise TypeError("instance.uuid must be text")
    if exception is not None and not isinstance(exception, BaseException):
        raise TypeError(f"exception must be an exception, not {type(exception).__name__}")
    fault = None
    if exception is not None:
        frames = (
            "".join(traceback.format_tb(exception.__traceback__)) if exception.__traceback__ else ""
        )
        fault = ExceptionPayload(
            module_name="unknown",
            function_name="unknown",
            exception=type(exception).__name__,
            exception_message=_details(exception),
            traceback=frames,
        )
    priority = fields.NotificationPriority.ERROR if fault else fields.NotificationPriority.INFO
    notification = payloads.InstanceActionNotification(
        context=context,
        priority=priority,
        publisher=base.NotificationPublisher(
            host=host, source=source or fields.NotificationSource.COMPUTE
        ),
        event_type=base.EventType(object="instance", action=action, phase=phase),
        payload=payloads.InstanceActionPayload(
            context=context, instance=instance, fault=fault, bdms=bdms
        ),
    )
    if rpc.NOTIFIER is not None:
        notification.emit(context)
