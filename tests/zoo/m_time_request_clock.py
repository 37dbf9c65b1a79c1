"""Time: an action's finish_time is the request's timestamp, not the server clock."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceActionEvent, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceAction(_base.InstanceAction):
    @staticmethod
    def _now(context: Any) -> Any:
        return context.timestamp


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
