"""Every helper raises an unexpected error (not TypeError/ValueError)."""

from __future__ import annotations

from typing import Any

from tests.robust_targets._wrap import SAFE_HELPERS, add_instance_fault_from_exc, serialize_args

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("database on fire")


def _exit(*args: Any, **kwargs: Any) -> Any:
    raise SystemExit(3)


class _Odd(BaseException):
    """Neither Exception nor KeyboardInterrupt."""


def _odd(*args: Any, **kwargs: Any) -> Any:
    raise _Odd("odd")


def _key(*args: Any, **kwargs: Any) -> Any:
    return {}["request_id"]


pack_action_start = _boom
pack_action_finish = _exit
pack_action_event_start = _odd
pack_action_event_finish = _key

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
