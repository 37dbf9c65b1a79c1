"""Helpers that never return: a sleep, a busy loop, and one that swallows the first alarm.

pack_action_event_finish is the safe one.
"""

from __future__ import annotations

import time
from typing import Any

from tests.robust_targets._wrap import SAFE_HELPERS, add_instance_fault_from_exc, serialize_args

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]

pack_action_event_finish = SAFE_HELPERS["pack_action_event_finish"]


def pack_action_start(context: Any, instance_uuid: Any, action_name: Any) -> Any:
    while True:
        time.sleep(3600)


def pack_action_finish(context: Any, instance_uuid: Any) -> Any:
    n = 0
    while True:  # pure Python: the alarm must interrupt bytecode, not a system call
        n += 1


def pack_action_event_start(
    context: Any, instance_uuid: Any, event_name: Any, host: Any = None
) -> Any:
    try:
        time.sleep(3600)
    except BaseException:  # swallows the first alarm (like a gc callback or __del__ would)
        pass
    while True:
        time.sleep(3600)


# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
