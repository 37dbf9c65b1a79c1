"""Null: a None project_id (periodic tasks, bug 1817542) is stored as the text 'None'."""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceActionEvent, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceAction(_base.InstanceAction):
    @staticmethod
    def _context_text(context: Any, name: str) -> str | None:
        value = _base.InstanceAction._context_text(context, name)
        return str(value) if name == "project_id" else value


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
