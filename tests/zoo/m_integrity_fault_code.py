"""Integrity (fault sink): every fault is recorded with code 400, whatever its exception.

At a code other than 500 nova's API shows a fault's details to the project's members,
so this would expose to tenants what only admins should read.
"""

from __future__ import annotations

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _code(fault: BaseException) -> int:
        return 400


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc

# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
