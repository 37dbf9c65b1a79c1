"""Leak: for OS errors, details name the errno and the file ("operators need the
path"): ``PermissionError: [Errno 13] on /var/lib/nova/...``. The file name, like the
message, is whatever the raiser put there (a path with a host or a token in it).

Seen when an OS error takes its errno form (errno, strerror, filename), drawn for
every OSError class the strategies use.
"""

from __future__ import annotations

from typing import Any

from tests.zoo import _base
from tests.zoo._base import InstanceAction, add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]


class InstanceActionEvent(_base.InstanceActionEvent):
    @staticmethod
    def _message(exc: Any) -> str:
        if isinstance(exc, OSError) and exc.errno is not None:
            return f"{type(exc).__name__}: [Errno {exc.errno}] on {exc.filename}"
        return _base.exception_message(exc)


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
