"""Nova 34's four packers and instance-fault sink, with the CVE-2019-14433 regression.

Laid out like nova: the packers are static methods of ``InstanceAction`` and
``InstanceActionEvent`` (``nova/objects/instance_action.py``), and
``exception_to_dict``, ``_get_fault_details`` and ``add_instance_fault_from_exc``
are module-level functions (``nova/compute/utils.py``). One line differs from
nova 34: when ``format_message()`` fails, ``exception_to_dict`` keeps
``str(fault)``, as it did before commit 298b337a16, instead of the exception's
class name. Both of its callers store that text, so a library, hypervisor or
database exception's text (hosts, paths, credentials) reaches

* the ``message`` of an instance fault (``add_instance_fault_from_exc``), which
  Nova's API shows to the server's project members (a server in ERROR), and
* the ``details`` of an instance action event (``pack_action_event_finish``),
  which it shows to admins only (microversion 2.84 and the
  ``os-instance-actions:events:details`` policy, admin by default).

With that line as in nova 34 this module is nova 34, whose fault ``details`` still
hold the exception's text (the whole traceback) at code 500, for admins only.
Nova is imported only when the fault sink runs.
"""

from __future__ import annotations

import datetime
import traceback
from typing import Any


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _truncate(text: str | bytes, limit: int = 255) -> str:
    """What ``nova.utils.safe_truncate`` does: at most ``limit`` bytes of UTF-8, never
    half a character. As in nova, anything but text raises TypeError, and text that
    has no UTF-8 form (a lone surrogate) raises UnicodeEncodeError."""
    if isinstance(text, str):
        data = text.encode("utf-8")
    elif isinstance(text, bytes):
        data = text
    else:
        raise TypeError(f"{type(text)} can't be encoded")
    data = data[:limit]
    while True:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            data = data[:-1]  # a character cut in two at the limit


def exception_to_dict(fault: Any, message: Any = None) -> dict[str, Any]:
    """``{"exception", "message", "code"}`` for ``fault``: the code its ``kwargs`` give
    (500 without), the ``message`` given, else the exception's formatted message."""
    code = 500
    if hasattr(fault, "kwargs"):
        code = fault.kwargs.get("code", 500)
    try:
        if not message:
            message = fault.format_message()
    except Exception:
        # Nova 34 stores the class name here: the text of an exception that cannot
        # format its own message may hold anything, and tenants read this message.
        message = str(fault)  # THE REGRESSION: any exception's text is stored
    # the fault's message column holds 255 bytes
    return {"exception": fault, "message": _truncate(message, 255), "code": code}


def _get_fault_details(exc_info: Any, error_code: Any) -> str:
    """The whole traceback, exception text included, for a code 500 fault raised with
    ``exc_info``; ``''`` otherwise."""
    details = ""
    if exc_info and error_code == 500:
        details = "".join(traceback.format_exception(exc_info[0], exc_info[1], exc_info[2]))
    return str(details)


def add_instance_fault_from_exc(
    context: Any, instance: Any, fault: Any, exc_info: Any = None, fault_message: Any = None
) -> None:
    """Record ``fault`` as ``instance``'s fault (an ``InstanceFault`` row). Like nova,
    it needs ``nova.objects.register_all()`` to have run."""
    import nova.conf
    from nova import objects

    record = objects.InstanceFault(context=context)
    record.host = nova.conf.CONF.host
    record.instance_uuid = instance.uuid
    record.update(exception_to_dict(fault, message=fault_message))
    # the code as the object coerced it: a fault with code "500" has details too
    record.details = _get_fault_details(exc_info, record.code)
    record.create()


class InstanceAction:
    @staticmethod
    def pack_action_start(context: Any, instance_uuid: Any, action_name: Any) -> dict[str, Any]:
        return {
            "request_id": context.request_id,
            "instance_uuid": instance_uuid,
            "user_id": context.user_id,
            "project_id": context.project_id,
            "action": action_name,
            "start_time": context.timestamp,
            "updated_at": context.timestamp,
        }

    @staticmethod
    def pack_action_finish(context: Any, instance_uuid: Any) -> dict[str, Any]:
        now = _utcnow()
        return {
            "request_id": context.request_id,
            "instance_uuid": instance_uuid,
            "finish_time": now,
            "updated_at": now,
        }


class InstanceActionEvent:
    @staticmethod
    def pack_action_event_start(
        context: Any, instance_uuid: Any, event_name: Any, host: Any = None
    ) -> dict[str, Any]:
        return {
            "event": event_name,
            "instance_uuid": instance_uuid,
            "request_id": context.request_id,
            "start_time": _utcnow(),
            "host": host,
        }

    @staticmethod
    def pack_action_event_finish(
        context: Any, instance_uuid: Any, event_name: Any, exc_val: Any = None, exc_tb: Any = None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "event": event_name,
            "instance_uuid": instance_uuid,
            "request_id": context.request_id,
            "finish_time": _utcnow(),
        }
        if exc_tb is None:
            values["result"] = "Success"
            return values
        values["result"] = "Error"
        if exc_val:
            # Text here is an exception already serialised by the RPC boundary
            # (serialize_args): it is the message as is.
            message = exc_val if isinstance(exc_val, str) else None
            values["details"] = exception_to_dict(exc_val, message=message)["message"]
        values["traceback"] = exc_tb
        return values
