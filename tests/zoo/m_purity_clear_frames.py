"""Purity (boundary): ``serialize_args`` formats a live traceback, then frees it with
``traceback.clear_frames`` (to save memory): every local of the caller's frames is
gone, so the caller's own error handling and logging (``LOG.exception``, a debugger, a
report with locals) read an emptied traceback. Packing directly is correct.
"""

from __future__ import annotations

import functools
import traceback as _traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, InstanceActionEvent, add_instance_fault_from_exc

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


def serialize_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The safe boundary, which then clears the frames of the traceback it was given."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        tb = kwargs.get("exc_tb")
        args = tuple(_base._to_wire(a) for a in args)
        wired = {k: _base._to_wire(v) for k, v in kwargs.items()}
        if isinstance(tb, TracebackType):
            _traceback.clear_frames(tb)
        return fn(obj, *args, **wired)

    return wrapper


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
