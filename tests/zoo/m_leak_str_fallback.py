"""Leak: when ``format_message()`` fails, details fall back to ``str(exc)`` (CVE-2019-14433).

Also trips bounds (details not a prefix of the safe message) and crash (an exception
whose ``__str__`` raises is not recorded).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        try:
            return str(exc.format_message())
        except Exception:
            return str(exc)


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
