"""A fork's packers: nova's own, except that event details name the compute host.

An operator added the host to failure details to help debugging; the ``acme``
invariant in conftest.py catches it (``pytest --actionsec -k acme``).
"""

from __future__ import annotations

from typing import Any

from nova.objects import instance_action as _nova

InstanceAction = _nova.InstanceAction
serialize_args = _nova.base.serialize_args


class InstanceActionEvent(_nova.InstanceActionEvent):
    """nova's event object with a debugging aid that leaks the host name."""

    @staticmethod
    def pack_action_event_finish(
        context: Any, instance_uuid: Any, event_name: Any, exc_val: Any = None, exc_tb: Any = None
    ) -> dict[str, Any]:
        values = _nova.InstanceActionEvent.pack_action_event_finish(
            context, instance_uuid, event_name, exc_val=exc_val, exc_tb=exc_tb
        )
        if values.get("details"):
            values["details"] = f"{values['details']} (on node7.compute.eu-west-1.acme.example)"
        return values
