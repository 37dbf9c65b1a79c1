"""Leak: details append the exception's ``__notes__`` (PEP 678), which may hold anything.

Also trips bounds (details no longer a prefix of the message).

Strategy gap: notes are drawn on about 7% of contract ``pack_action_event_finish``
examples (and are cut off when a trusted message already fills 255 bytes), so this
is caught in about 93% of 100-example runs (28 of 30 seeds), and only at the packer.
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        notes = getattr(exc, "__notes__", None) or []
        return "; ".join([_base.exception_message(exc), *map(str, notes)])


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
