"""Leak (boundary): ``serialize_args`` formats a live traceback with its frames' local
variables (``StackSummary.extract(..., capture_locals=True)``, a debugging aid left
in), so a secret held by a local of the raising frame is stored as the event's
traceback. Packing directly is correct; only the boundary's conversion of a live
traceback shows it (drawn examples at the boundary pass one, and so do the probes).
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
    """The safe boundary, except that a live traceback keeps its frames' locals."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        tb = kwargs.get("exc_tb")
        if isinstance(tb, TracebackType):
            frames = _traceback.StackSummary.extract(_traceback.walk_tb(tb), capture_locals=True)
            kwargs["exc_tb"] = "".join(frames.format())
        args = tuple(_base._to_wire(a) for a in args)
        kwargs = {k: _base._to_wire(v) for k, v in kwargs.items()}
        return fn(obj, *args, **kwargs)

    return wrapper


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
