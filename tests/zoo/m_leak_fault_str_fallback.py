"""Leak (fault sink): a fault's message falls back to ``str(fault)`` when its
``format_message()`` is missing or fails (nova before CVE-2019-14433).

The message is shown to every member of the server's project (server show), so the
leak is a tenant's. Also trips crash (a fault whose ``__str__`` raises is not recorded).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _message(fault: BaseException, fault_message: Any) -> str:
        if fault_message is not None and fault_message != "":
            return _base.InstanceFaultSink._message(fault, fault_message)  # the same refusals
        try:
            text = str(fault.format_message())  # type: ignore[attr-defined]
        except Exception:
            text = str(fault)
        return _base.truncate_utf8(text, _base.FAULT_MESSAGE_BYTES)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc

# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
