"""A paranoid, correct packer written apart from the zoo's shared one (precision checks).

Its rules: ids, names and host must be str or None or it raises TypeError; text over
its column (255 characters, instance_uuid 36) or not valid UTF-8 is refused with
ValueError; every failure is recorded (result 'Error', a traceback as text, details);
details is the trusted exception's own ``format_message()`` text as it returns it,
or the class name, or a given str, cut to a clean UTF-8 prefix of 255 bytes; times
are naive UTC; inputs are never changed; nothing is logged. Unlike the zoo's safe
packer it stores a trusted message verbatim even when that message is the repr of
bytes (``NovaException(message=b'x')`` formats as "b'x'"): the class's doing.

Its instance-fault sink (``add_instance_fault_from_exc``) follows the same rules: the
fault must be an exception, ``instance.uuid`` a str of at most 36 characters,
``fault_message`` a str or None and ``exc_info`` None or a ``(type, value,
traceback)`` tuple, or it raises TypeError (ValueError for text it cannot store);
the code is ``fault.kwargs['code']`` when ``kwargs`` is a dict holding an int, else
500 (never a crash); the message is a non-empty ``fault_message``, else the same
message as details above, cut to a clean UTF-8 prefix of 255 bytes; details name
only the traceback's frames (file, line, function: no source line, no exception
text, no locals), and only at code 500, else ''; host is ``CONF.host``.
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
    "InstanceAction",
    "InstanceActionEvent",
    "add_instance_fault_from_exc",
    "notify_about_instance_action",
    "serialize_args",
]

_TRUSTED = (NovaException,)


def _text(value: Any, what: str, limit: int = 255) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(f"{what} must be str or None, not {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    return value


def _attr(context: Any, name: str) -> Any:
    if not hasattr(context, name):
        raise TypeError(f"the context has no {name}")
    return getattr(context, name)


def _utc(value: Any, what: str) -> _dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{what} must be a datetime or None")
    if value.utcoffset() is None:
        return value.replace(tzinfo=None)
    try:
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{what} is out of range in UTC") from None


def _clean_prefix(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _message(exc_val: Any) -> str:
    if type(exc_val) is str:
        return exc_val
    name = type(exc_val).__name__
    if isinstance(exc_val, _TRUSTED):
        try:
            text = exc_val.format_message()
        except Exception:
            return name
        if type(text) is str and text:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return name
            return text
    return name


def _traceback_text(exc_tb: Any) -> str:
    if type(exc_tb) is str:
        text = exc_tb
    elif isinstance(exc_tb, TracebackType):
        text = "".join(_traceback.format_tb(exc_tb))
    else:
        raise TypeError(f"exc_tb must be str or a traceback, not {type(exc_tb).__name__}")
    text.encode("utf-8")
    return _clean_prefix(text, 65535)


class InstanceAction:
    """``instance_actions`` rows."""

    @staticmethod
    def pack_action_start(context: Any, instance_uuid: Any, action_name: Any) -> dict[str, Any]:
        """The request's values; start_time and updated_at are its timestamp in UTC."""
        start = _utc(_attr(context, "timestamp"), "context.timestamp")
        return {
            "request_id": _text(_attr(context, "request_id"), "request_id"),
            "instance_uuid": _text(instance_uuid, "instance_uuid", 36),
            "user_id": _text(_attr(context, "user_id"), "user_id"),
            "project_id": _text(_attr(context, "project_id"), "project_id"),
            "action": _text(action_name, "action_name"),
            "start_time": start,
            "updated_at": start,
        }

    @staticmethod
    def pack_action_finish(context: Any, instance_uuid: Any) -> dict[str, Any]:
        """finish_time and updated_at from the server clock."""
        now = timeutils.utcnow()
        return {
            "request_id": _text(_attr(context, "request_id"), "request_id"),
            "instance_uuid": _text(instance_uuid, "instance_uuid", 36),
            "finish_time": now,
            "updated_at": now,
        }


class InstanceActionEvent:
    """``instance_actions_events`` rows."""

    @staticmethod
    def pack_action_event_start(
        context: Any, instance_uuid: Any, event_name: Any, host: Any = None
    ) -> dict[str, Any]:
        """start_time from the server clock."""
        return {
            "event": _text(event_name, "event_name"),
            "instance_uuid": _text(instance_uuid, "instance_uuid", 36),
            "request_id": _text(_attr(context, "request_id"), "request_id"),
            "start_time": timeutils.utcnow(),
            "host": _text(host, "host"),
        }

    @staticmethod
    def pack_action_event_finish(
        context: Any,
        instance_uuid: Any,
        event_name: Any,
        exc_val: Any = None,
        exc_tb: Any = None,
    ) -> dict[str, Any]:
        """Success without a traceback; else Error, the traceback text and the details."""
        values: dict[str, Any] = {
            "event": _text(event_name, "event_name"),
            "instance_uuid": _text(instance_uuid, "instance_uuid", 36),
            "request_id": _text(_attr(context, "request_id"), "request_id"),
            "finish_time": timeutils.utcnow(),
        }
        if exc_tb is None:
            values["result"] = "Success"
            return values
        values["result"] = "Error"
        values["traceback"] = _traceback_text(exc_tb)
        if exc_val is not None and not (type(exc_val) is str and not exc_val):
            if not isinstance(exc_val, (str, BaseException)):
                raise TypeError(f"exc_val must be str or an exception, not {type(exc_val)}")
            values["details"] = _clean_prefix(_message(exc_val), 255)
        return values


def serialize_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The RPC boundary: keyword exceptions become their safe message, tracebacks text."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs.get("exc_val"), BaseException):
            kwargs["exc_val"] = _message(kwargs["exc_val"])
        if kwargs.get("exc_tb") is not None:
            kwargs["exc_tb"] = _traceback_text(kwargs["exc_tb"])
        return fn(obj, *args, **kwargs)

    return wrapper


def _fault_code(fault: BaseException) -> int:
    try:
        kwargs = fault.kwargs  # type: ignore[attr-defined]
    except Exception:  # no kwargs at all, or a property that raises
        return 500
    if isinstance(kwargs, dict) and "code" in kwargs:
        code = dict.__getitem__(kwargs, "code")
        if type(code) is int:
            return code
    return 500


def _frames(exc_info: Any, code: int) -> str:
    if exc_info is None:
        return ""
    if type(exc_info) is not tuple or len(exc_info) != 3:
        raise TypeError("exc_info must be None or a (type, value, traceback) tuple")
    tb = exc_info[2]
    if tb is None or code != 500:
        if tb is not None and not isinstance(tb, TracebackType):
            raise TypeError(f"exc_info[2] must be a traceback, not {type(tb).__name__}")
        return ""
    if not isinstance(tb, TracebackType):
        raise TypeError(f"exc_info[2] must be a traceback, not {type(tb).__name__}")
    lines = [
        f'  File "{frame.f_code.co_filename}", line {lineno}, in {frame.f_code.co_name}\n'
        for frame, lineno in _traceback.walk_tb(tb)
    ]
    return _clean_prefix("".join(lines), 16777215)


def add_instance_fault_from_exc(
    context: Any, instance: Any, fault: Any, exc_info: Any = None, fault_message: Any = None
) -> None:
    """Record an instance fault: its code, a message safe for the tenant, frames only."""
    if not isinstance(fault, BaseException):
        raise TypeError(f"fault must be an exception, not {type(fault).__name__}")
    if not hasattr(instance, "uuid"):
        raise TypeError("the instance has no uuid")
    uuid = _text(instance.uuid, "instance.uuid", 36)
    if uuid is None:
        raise TypeError("instance.uuid must be str, not None")
    if fault_message is not None and type(fault_message) is not str:
        raise TypeError(f"fault_message must be str or None, not {type(fault_message).__name__}")
    if fault_message:
        fault_message.encode("utf-8")
        message = fault_message
    else:
        message = _message(fault)
    code = _fault_code(fault)
    details = _frames(exc_info, code)
    host = _text(nova.conf.CONF.host, "CONF.host")
    values = {
        "instance_uuid": uuid,
        "code": code,
        "message": _clean_prefix(message, 255),
        "details": details,
        "host": host,
    }
    fault_obj = objects.InstanceFault(context=context)
    for name, value in values.items():
        setattr(fault_obj, name, value)
    fault_obj.create()


# -- the notification sink (notify_about_instance_action) --------------------------
#
# Its rules: the context must be nova's RequestContext; the server must hold a str uuid
# of at most 36 characters; host a str; action one of nova's notification actions and
# phase one of its phases or None; the
# context's ids str or None; the exception None or an exception, or it raises TypeError
# (ValueError for text that is not valid UTF-8 or an unknown action or phase). The
# exception's payload names its class; its message is the trusted exception's own
# format_message() text (as nova's REST API shows a fault), else the class name; the
# traceback names only the frames (file, line, function: no source line, no exception
# text, no locals); module and function are the last frame's. It emits nova's own
# InstanceActionNotification through nova's notifier (rpc.NOTIFIER), nothing else.

_NOTIFY_ATTRS = ("user_id", "project_id", "request_id")


def _notify_text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    value.encode("utf-8")
    return value


def _exception_payload(exception: BaseException) -> Any:
    from nova.notifications.objects import exception as notification_exception

    name = type(exception).__name__
    message = _message(exception) if isinstance(exception, _TRUSTED) else name
    frames = list(_traceback.walk_tb(exception.__traceback__))
    lines = [
        f'  File "{frame.f_code.co_filename}", line {lineno}, in {frame.f_code.co_name}\n'
        for frame, lineno in frames
    ]
    last = frames[-1][0] if frames else None
    return notification_exception.ExceptionPayload(
        module_name=str(last.f_globals.get("__name__", "unknown")) if last else "unknown",
        function_name=last.f_code.co_name if last else "unknown",
        exception=name,
        exception_message=message,
        traceback="".join(lines),
    )


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
    """Send nova's versioned instance-action notification, its fault safe for the bus."""
    notify_with(_exception_payload, context, instance, host, action, phase, source, exception, bdms)


def notify_with(
    fault_payload: Callable[[BaseException], Any],
    context: Any,
    instance: Any,
    host: Any,
    action: Any,
    phase: Any = None,
    source: Any = None,
    exception: Any = None,
    bdms: Any = None,
) -> None:
    """:func:`notify_about_instance_action` with ``fault_payload`` building the fault's
    payload (a test's broken builder swaps it)."""
    from nova import rpc
    from nova.context import RequestContext
    from nova.notifications.objects import base as notification_base
    from nova.notifications.objects import instance as instance_notification
    from nova.objects import fields

    if not isinstance(context, RequestContext):  # nova's serializer sends its to_dict()
        raise TypeError(f"context must be nova's RequestContext, not {type(context).__name__}")
    for name in _NOTIFY_ATTRS:
        value = _attr(context, name)
        if value is not None:
            _notify_text(value, f"context.{name}")
    if not hasattr(instance, "uuid"):
        raise TypeError("the instance has no uuid")
    uuid = _text(instance.uuid, "instance.uuid", 36)
    if uuid is None:
        raise TypeError("instance.uuid must be str, not None")
    host = _notify_text(host, "host")
    action = _notify_text(action, "action")
    if action not in fields.NotificationAction.ALL:
        raise ValueError(f"action {action!r} is no notification action of nova")
    if phase is not None and (type(phase) is not str or phase not in fields.NotificationPhase.ALL):
        raise ValueError(f"phase {phase!r} is no notification phase of nova")
    if exception is not None and not isinstance(exception, BaseException):
        raise TypeError(f"exception must be an exception or None, not {type(exception).__name__}")
    fault = fault_payload(exception) if exception is not None else None
    priority = (
        fields.NotificationPriority.ERROR if fault is not None else fields.NotificationPriority.INFO
    )
    payload = instance_notification.InstanceActionPayload(
        context=context, instance=instance, fault=fault, bdms=bdms
    )
    notification = instance_notification.InstanceActionNotification(
        context=context,
        priority=priority,
        publisher=notification_base.NotificationPublisher(
            host=host, source=source or fields.NotificationSource.COMPUTE
        ),
        event_type=notification_base.EventType(object="instance", action=action, phase=phase),
        payload=payload,
    )
    if rpc.NOTIFIER is not None:
        notification.emit(context)
