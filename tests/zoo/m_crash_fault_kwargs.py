"""Crash (fault sink): the code is read as ``fault.kwargs.get('code', 500)``, as nova 34's
``exception_to_dict`` does, so a fault whose ``kwargs`` is not a dict is not recorded.

Caught by the sink's list-``kwargs`` probe (its 5th call) whatever the seed. The
random draws alone give the sink a non-dict ``kwargs`` in about 7% of contract
examples (31% for ``pack_action_event_finish``, which weighs that kind more): before
the sink had probes they caught this in 16 of seeds 1-20 within 100 examples.
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _code(fault: Any) -> int:
        if hasattr(fault, "kwargs"):
            fault.kwargs.get("code", 500)  # nova 34's lookup, before kwargs is checked
        return _base.fault_code(fault)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc

# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
