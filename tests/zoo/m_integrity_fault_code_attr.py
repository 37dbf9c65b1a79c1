"""Integrity (fault sink): an exception's own ``code`` attribute is taken as the fault's
code ("a client error's HTTP status is the right code").

Only a Nova exception's ``kwargs['code']`` is a fault's code; a library's 404 stored as
the code makes nova's API show the fault's details (the traceback) to the project's
members. Seen when an untrusted exception carries a ``code`` attribute.
"""

from __future__ import annotations

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _code(fault: BaseException) -> int:
        own = getattr(fault, "code", None)
        if type(own) is int and not isinstance(fault, _base.TRUSTED):
            return own
        return _base.fault_code(fault)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc

# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
