"""Bounds: details are cut to 255 characters, not 255 UTF-8 bytes."""

from __future__ import annotations

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _truncate(message: str) -> str:
        return message[:255]


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
