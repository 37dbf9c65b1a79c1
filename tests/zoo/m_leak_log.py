"""Leak (log): every helper logs the request's auth token at debug level while packing."""

from __future__ import annotations

import logging
from typing import Any

from tests.zoo import _base
from tests.zoo._base import add_instance_fault_from_exc, serialize_args

__all__ = ["InstanceAction", "InstanceActionEvent", "add_instance_fault_from_exc", "serialize_args"]

LOG = logging.getLogger(__name__)


def _logged(context: Any, name: str) -> str | None:
    value = _base.InstanceAction._context_text(context, name)
    LOG.debug("packing %s=%s for token %s", name, value, getattr(context, "auth_token", None))
    return value


class InstanceAction(_base.InstanceAction):
    _context_text = staticmethod(_logged)


class InstanceActionEvent(_base.InstanceActionEvent):
    _context_text = staticmethod(_logged)


# the safe notification sink: only the mutation above differs from a correct fork
from tests.zoo._base import notify_about_instance_action  # noqa: E402, F401
