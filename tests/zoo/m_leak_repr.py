"""Leak: details of a trusted exception are its ``repr()``, which shows its unused kwargs.

Also trips bounds (not a prefix of the message) and purity (NovaException's
``__repr__`` adds a 'class' key to the exception's ``__dict__``).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        if isinstance(exc, _base.TRUSTED):
            return repr(exc)
        return type(exc).__name__


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
