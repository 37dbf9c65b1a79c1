"""Leak: the traceback is rebuilt from the live exception with ``capture_locals=True``.

The rebuilt text holds the exception's message and its frames' local variables.
Also trips crash (a local whose ``__repr__`` raises) and purity (``repr`` of a
NovaException local changes its ``__dict__``).
"""

from __future__ import annotations

import traceback
from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _traceback(exc_val: Any, exc_tb: str) -> str:
        if isinstance(exc_val, BaseException):
            rebuilt = traceback.TracebackException.from_exception(exc_val, capture_locals=True)
            return "".join(rebuilt.format())
        return exc_tb


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
