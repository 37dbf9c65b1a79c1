"""Integrity: a failed event's result is 'error' (lower case), not 'Error'."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @classmethod
    def pack_action_event_finish(
        cls,
        context: Any,
        instance_uuid: Any,
        event_name: Any,
        exc_val: Any = None,
        exc_tb: Any = None,
    ) -> dict[str, Any]:
        values = super().pack_action_event_finish(
            context, instance_uuid, event_name, exc_val=exc_val, exc_tb=exc_tb
        )
        if values["result"] == "Error":
            values["result"] = "error"
        return values


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
