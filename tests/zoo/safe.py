"""The SAFE packer: the zoo's shared implementation unchanged, with its own boundary.

Clean in contract and hostile mode: see :mod:`tests.zoo._base` for the rules it follows.
"""

from __future__ import annotations

from tests.zoo._base import InstanceAction, InstanceActionEvent, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "serialize_args"]
