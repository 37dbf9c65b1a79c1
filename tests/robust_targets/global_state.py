"""Correct records, but each helper changes process-global state and leaves it so.

pack_action_start sets an environment variable, changes the working directory and
sys.path; pack_action_finish changes the root logger (level, handler) and
logging.disable; pack_action_event_start rebinds ``oslo_utils.timeutils.utcnow``;
pack_action_event_finish starts a freezegun freeze it never stops.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
import tempfile

import freezegun
from oslo_utils import timeutils

from tests.robust_targets._wrap import (
    SAFE_HELPERS,
    add_instance_fault_from_exc,
    before,
    serialize_args,
)

__all__ = [*SAFE_HELPERS, "add_instance_fault_from_exc", "serialize_args"]

PLANTED_ENV = "ACTIONSEC_ROBUST_PLANTED"
PLANTED_PATH = "/nonexistent/actionsec-robust-planted"


def _env_cwd_path() -> None:
    os.environ[PLANTED_ENV] = "1"
    os.chdir(tempfile.gettempdir())
    sys.path.insert(0, PLANTED_PATH)


def _logging() -> None:
    root = logging.getLogger()
    root.setLevel(logging.CRITICAL)
    root.addHandler(logging.NullHandler())
    logging.disable(logging.ERROR)


def _fixed_utcnow(with_timezone: bool = False) -> _dt.datetime:
    return _dt.datetime(2001, 1, 1)


def _rebind() -> None:
    timeutils.utcnow = _fixed_utcnow


def _freeze() -> None:
    freezegun.freeze_time("2001-01-01").start()


pack_action_start = before("pack_action_start", _env_cwd_path)
pack_action_finish = before("pack_action_finish", _logging)
pack_action_event_start = before("pack_action_event_start", _rebind)
pack_action_event_finish = before("pack_action_event_finish", _freeze)

# the safe notification sink: only the change above differs from a correct fork
from tests.robust_targets._wrap import notify_about_instance_action  # noqa: E402, F401
