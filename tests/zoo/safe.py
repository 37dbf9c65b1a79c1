"""The SAFE packer: the zoo's shared implementation unchanged, with its own boundary and sink.

Clean in contract and hostile mode, the instance-fault sink
(``add_instance_fault_from_exc``) and the notification sink
(``notify_about_instance_action``) included: see :mod:`tests.zoo._base` for the rules
it follows.
"""

from __future__ import annotations

from tests.zoo._base import (
    InstanceAction,
    InstanceActionEvent,
    add_instance_fault_from_exc,
    notify_about_instance_action,
    serialize_args,
)

__all__ = [
    "InstanceAction",
    "InstanceActionEvent",
    "add_instance_fault_from_exc",
    "notify_about_instance_action",
    "serialize_args",
]
