"""Purity: the exception is "sanitised" in place, its ``args`` replaced by the safe message."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        message = _base.exception_message(exc)
        exc.args = (message,)
        return message


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
