"""Leak (fault sink): the traceback's frames go into the fault's details whatever its
code (a backport that dropped nova's ``error_code == 500`` test). Nova's servers view
shows a fault's details to the project's members when its code is not 500, so a 4xx
fault hands them the compute host's file paths and source lines.
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _details(exc_info: Any, code: int) -> str:
        """The traceback's frames at every code (the safe sink's test on 500 dropped)."""
        return _base.InstanceFaultSink._frames(exc_info)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
