"""Leak (boundary): ``serialize_args`` formats a live traceback with
``traceback.format_exception`` (what ``format_exc()`` prints) instead of ``format_tb``:
the text ends with the ``Class: message`` line, so an untrusted exception's text is
stored as the event's traceback. Packing directly is correct; only the boundary's own
conversion of a live traceback shows it (a probe at the boundary passes one).
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
    """The safe boundary, except that a live traceback keeps the exception's line."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        exc, tb = kwargs.get("exc_val"), kwargs.get("exc_tb")
        if isinstance(tb, TracebackType) and isinstance(exc, BaseException):
            kwargs["exc_tb"] = "".join(_traceback.format_exception(type(exc), exc, tb))
        args = tuple(_base._to_wire(a) for a in args)
        kwargs = {k: _base._to_wire(v) for k, v in kwargs.items()}
        return fn(obj, *args, **kwargs)

    return wrapper


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
