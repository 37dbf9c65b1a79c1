"""Time: an event's clock is built from ``time.localtime()``: the server's local wall
clock to the second, not UTC (``datetime.datetime(*time.localtime()[:6])``)."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _now(context: Any) -> Any:
        return _dt.datetime(*time.localtime()[:6])


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
