"""Build the four module-level helpers from the safe packer, changing one thing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.zoo import safe

SAFE_HELPERS: dict[str, Callable[..., Any]] = {
    "pack_action_start": safe.InstanceAction.pack_action_start,
    "pack_action_finish": safe.InstanceAction.pack_action_finish,
    "pack_action_event_start": safe.InstanceActionEvent.pack_action_event_start,
    "pack_action_event_finish": safe.InstanceActionEvent.pack_action_event_finish,
}
serialize_args = safe.serialize_args
#: the safe fault sink: every robust target has it, so only its helpers misbehave
add_instance_fault_from_exc = safe.add_instance_fault_from_exc
#: the safe notification sink: every robust target has it too
notify_about_instance_action = safe.notify_about_instance_action


def after(name: str, change: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """The safe helper ``name``, whose record is passed through ``change``."""
    packer = SAFE_HELPERS[name]

    def helper(*args: Any, **kwargs: Any) -> Any:
        return change(packer(*args, **kwargs))

    helper.__name__ = name
    return helper


def before(name: str, act: Callable[[], Any]) -> Callable[..., Any]:
    """The safe helper ``name``, after ``act()`` ran (a side effect)."""
    packer = SAFE_HELPERS[name]

    def helper(*args: Any, **kwargs: Any) -> Any:
        act()
        return packer(*args, **kwargs)

    helper.__name__ = name
    return helper
