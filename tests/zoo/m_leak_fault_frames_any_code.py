"""Leak (fault sink): the traceback's frames go into the fault's details whatever its
code (a backport that dropped nova's ``error_code == 500`` test). Nova's servers view
shows a fault's details to the project's members when its code is not 500, so a 4xx
fault hands them the compute host's file paths and source lines.
"""

from __future__ import annotations

import traceback as _traceback
from types import TracebackType
from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceFaultSink(_base.InstanceFaultSink):
    @staticmethod
    def _details(exc_info: Any, code: int) -> str:
        """The traceback's frames at every code (the safe sink's test on 500 dropped)."""
        if exc_info is None:
            return ""
        if not isinstance(exc_info, tuple) or len(exc_info) != 3:
            raise TypeError("exc_info must be sys.exc_info(), a (type, value, traceback) tuple")
        tb = exc_info[2]
        if tb is not None and not isinstance(tb, TracebackType):
            raise TypeError(f"exc_info[2] must be a traceback or None, not {type(tb).__name__}")
        if tb is None:
            return ""
        frames = "".join(_traceback.format_tb(tb))
        return _base.truncate_utf8(frames, _base.FAULT_DETAILS_BYTES, keep_end=True)


add_instance_fault_from_exc = InstanceFaultSink.add_instance_fault_from_exc


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
