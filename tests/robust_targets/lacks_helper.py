"""Three helpers only: pack_action_event_finish is missing."""

from __future__ import annotations

from tests.robust_targets._wrap import SAFE_HELPERS

pack_action_start = SAFE_HELPERS["pack_action_start"]
pack_action_finish = SAFE_HELPERS["pack_action_finish"]
pack_action_event_start = SAFE_HELPERS["pack_action_event_start"]

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
