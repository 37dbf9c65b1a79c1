"""Crash: ``exc.kwargs.get('code')`` is read first, so an odd ``kwargs`` crashes (nova 34).

Strategy gap: the "kwargs" kind is the last of six untrusted kinds, which Hypothesis
draws far less often than the first (22 vs 326 "plain" in 1,000 examples), so an odd
``kwargs`` reaches the packer in about 1-2% of examples: caught in about 57% of
100-example runs (17 of 30 seeds).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        if hasattr(exc, "kwargs"):
            exc.kwargs.get("code", 500)  # the lookup nova's exception_to_dict does first
        return _base.exception_message(exc)


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
