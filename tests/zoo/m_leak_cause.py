"""Leak: details append the text of the exception's cause (or context), untrusted as it is.

Also trips bounds (details no longer a prefix of the message).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        message = _base.exception_message(exc)
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            message = f"{message} (caused by {type(cause).__name__}: {cause})"
        return message


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
