"""Leak (fragment): an error's details end with the last 12 characters of ``context.auth_token``.

Like a card number's last digits, the tail is thought safe to show; 12 is the least
:data:`pytest_actionsec.canaries.MIN_FRAGMENT` reports (11 would go unreported).
Also trips bounds (details not a prefix of the safe message).
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]

TAIL_CHARS = 12


class InstanceActionEvent(_base.InstanceActionEvent):
    @classmethod
    def pack_action_event_finish(
        cls,
        context: Any,
        instance_uuid: Any,
        event_name: Any,
        exc_val: Any = None,
        exc_tb: Any = None,
    ) -> dict[str, Any]:
        values = super().pack_action_event_finish(
            context, instance_uuid, event_name, exc_val, exc_tb
        )
        token = getattr(context, "auth_token", None)
        if values.get("details") and isinstance(token, str):
            hint = f" (token ...{token[-TAIL_CHARS:]})"
            room = _base.DETAILS_BYTES - len(hint.encode("utf-8"))
            values["details"] = _base.truncate_utf8(values["details"], room) + hint
        return values


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
