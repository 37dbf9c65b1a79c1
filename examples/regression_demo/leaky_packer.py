"""Nova's four packers with the CVE-2019-14433 regression, for the demo.

Laid out like ``nova/objects/instance_action.py`` (static methods of
``InstanceAction`` and ``InstanceActionEvent``). One line differs from a safe
implementation: when ``format_message()`` fails, ``pack_action_event_finish``
stores ``str(exc_val)``, as Nova's ``exception_to_dict`` did before commit
298b337a16, so the text of a library, hypervisor or database exception (hosts,
paths, credentials) reaches the ``details`` field that tenants can read.
"""

from __future__ import annotations

import datetime
from typing import Any


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _truncate(text: str, limit: int = 255) -> str:
    return text.encode("utf-8", "ignore")[:limit].decode("utf-8", "ignore")


def _message(exc_val: BaseException) -> str:
    try:
        message = exc_val.format_message()  # type: ignore[attr-defined]
    except Exception:
        try:
            message = str(exc_val)  # THE REGRESSION: any exception's text is stored
        except Exception:
            message = None
    if not isinstance(message, str) or not message:
        message = type(exc_val).__name__
    return _truncate(message)


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
        values["traceback"] = exc_tb
        if isinstance(exc_val, str):
            values["details"] = _truncate(exc_val) or None
        elif exc_val is not None:
            values["details"] = _message(exc_val)
        return values
