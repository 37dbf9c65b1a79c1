"""Purity: starting an action masks the caller's ``context.auth_token`` in place."""

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
        if getattr(context, "auth_token", None):
            context.auth_token = "***"
        return values


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
