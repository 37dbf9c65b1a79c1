"""The four helpers (safe), but ``serialize_args`` is not a decorator (returns None)."""

from __future__ import annotations

from typing import Any

from tests.robust_targets._wrap import SAFE_HELPERS, add_instance_fault_from_exc

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]

pack_action_start = SAFE_HELPERS["pack_action_start"]
pack_action_finish = SAFE_HELPERS["pack_action_finish"]
pack_action_event_start = SAFE_HELPERS["pack_action_event_start"]
pack_action_event_finish = SAFE_HELPERS["pack_action_event_finish"]


def serialize_args(fn: Any) -> Any:
    return None


# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
