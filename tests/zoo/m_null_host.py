"""Null: an event started without a host stores host '' instead of None."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @classmethod
    def pack_action_event_start(
        cls, context: Any, instance_uuid: Any, event_name: Any, host: Any = None
    ) -> dict[str, Any]:
        return super().pack_action_event_start(context, instance_uuid, event_name, host or "")


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
