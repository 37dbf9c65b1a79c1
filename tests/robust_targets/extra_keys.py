"""Helpers that return the right record plus keys no table has."""

from __future__ import annotations

from typing import Any

from tests.robust_targets._wrap import (
    SAFE_HELPERS,
    add_instance_fault_from_exc,
    after,
    serialize_args,
)

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "debug_blob": "x", 42: "non-text key"}


pack_action_start = after("pack_action_start", _extra)
pack_action_finish = after("pack_action_finish", _extra)
pack_action_event_start = after("pack_action_event_start", _extra)
pack_action_event_finish = after("pack_action_event_finish", _extra)

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
