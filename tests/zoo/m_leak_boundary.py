"""Leak (boundary): ``serialize_args`` turns exceptions into ``str(exc)``, as nova did before 2020.

The packer is correct; the boundary hands it the untrusted text as an already
serialised message. Also trips bounds (details not a prefix of the safe message)
and crash (an exception whose ``__str__`` raises), at the boundary.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tests.zoo._base import InstanceAction, InstanceActionEvent, add_instance_fault_from_exc

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


def serialize_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Serialize exc_val and exc_tb keyword arguments before an RPC call."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        for key, value in kwargs.items():
            if key == "exc_val" and isinstance(value, BaseException):
                kwargs[key] = str(value)
            elif key == "exc_tb" and isinstance(value, TracebackType):
                kwargs[key] = "".join(traceback.format_tb(value))
        return fn(obj, *args, **kwargs)

    return wrapper


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
