"""Integrity: a failure from a trusted (Nova) exception is stored without details."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @classmethod
    def _details(cls, exc_val: Any) -> str | None:
        if isinstance(exc_val, _base.TRUSTED):
            return None
        return super()._details(exc_val)


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
