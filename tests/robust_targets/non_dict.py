"""Helpers that return something other than a dict."""

from __future__ import annotations

from typing import Any

from tests.robust_targets._wrap import (
    SAFE_HELPERS,
    add_instance_fault_from_exc,
    after,
    serialize_args,
)

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]

pack_action_start = after("pack_action_start", lambda r: list(r.items()))
pack_action_finish = after("pack_action_finish", lambda r: None)
pack_action_event_start = after("pack_action_event_start", lambda r: str(r))


def _generator(record: dict[str, Any]) -> Any:
    return (item for item in record.items())


pack_action_event_finish = after("pack_action_event_finish", _generator)

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
