"""Integrity: a new action stores user_id and project_id swapped.

Also trips leak (an id stored in another id's field) and null (a None id moves).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceActionEvent, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceAction(_base.InstanceAction):
    @classmethod
    def pack_action_start(
        cls, context: Any, instance_uuid: Any, action_name: Any
    ) -> dict[str, Any]:
        values = super().pack_action_start(context, instance_uuid, action_name)
        values["user_id"], values["project_id"] = values["project_id"], values["user_id"]
        return values


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
