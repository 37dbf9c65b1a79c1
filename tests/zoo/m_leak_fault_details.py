"""Leak (fault sink): a fault's details are the whole formatted exception at code 500, as
nova's ``_get_fault_details`` writes them (bug 1798690).

``traceback.format_exception`` holds the exception's own text (and its cause's), which
nova shows to admins only at code 500: the leak is an admin's, not a tenant's.
"""

from __future__ import annotations

import traceback
from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _details(exc_info: Any, code: int) -> str:
        checked = _base.InstanceFaultSink._details(exc_info, code)  # the same refusals
        if not checked:
            return checked
        text = "".join(traceback.format_exception(*exc_info))
        return _base.truncate_utf8(text, _base.FAULT_DETAILS_BYTES, keep_end=True)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc

# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
