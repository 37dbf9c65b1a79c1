""":class:`TargetError`, :class:`DatabaseError`, :class:`ReportError`, :class:`PolicyError`
and :class:`HistoryError`, in a module of their own below every module that raises them.

Resolving a target (:mod:`pytest_actionsec.targets`) and finding its instance-fault sink
(:mod:`pytest_actionsec.faults`, which ``targets`` uses) both refuse an unusable target
with :class:`TargetError` (``pytest_actionsec.targets.TargetError`` is that class);
opening an example database (:mod:`pytest_actionsec.databases`) refuses a bad one with
:class:`DatabaseError`; merging reports (:mod:`pytest_actionsec.merge`) refuses a file that
is not one with :class:`ReportError`; :class:`PolicyError` is a deployment policy file that
cannot be used (:mod:`pytest_actionsec.policies`); the history machine
(:mod:`pytest_actionsec.history`) refuses what it cannot run with :class:`HistoryError`.
"""

from __future__ import annotations

import os

__all__ = [
    "MAX_INPUT_BYTES",
    "DatabaseError",
    "HistoryError",
    "PolicyError",
    "ReportError",
    "TargetError",
    "read_bounded",
]

#: The largest file the plugin reads whole (a baseline, a policy file, a report to
#: merge): a bigger one is a one-line error, never a run out of memory.
MAX_INPUT_BYTES = 256 * 1024 * 1024


def read_bounded(path: str | os.PathLike[str], limit: int | None = None) -> str:
    """The UTF-8 text of ``path``; raises :class:`OSError` (``strerror`` says why) when
    the file is larger than ``limit`` bytes (default :data:`MAX_INPUT_BYTES`), as when
    it cannot be read."""
    if limit is None:
        limit = MAX_INPUT_BYTES
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(0, f"larger than {limit:,} bytes, the most it reads", str(path))
    return data.decode("utf-8")


class TargetError(Exception):
    """A target cannot be used; the message is one line naming the problem, or a head
    line then one indented line per problem when there are several.

    ``option`` is the setting every problem comes from (``"sink"``, ``"boundary"``,
    ``"trusted"``), None when it is the target itself: the plugin and the fuzz module
    name its flag, ini key or variable.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class HistoryError(Exception):
    """The history machine cannot run as asked (an unknown store, a backend that cannot
    run it, a store call that cannot be made); the message is one line."""


class DatabaseError(Exception):
    """An example database (``--actionsec-database``) that cannot be used; the message is
    one line naming the part at fault, with any password masked."""


class ReportError(Exception):
    """A file that is not a pytest-actionsec JSON report, or reports that cannot be merged;
    the message is one line naming the file."""


class PolicyError(Exception):
    """A policy file (``--actionsec-policy``) cannot be used; one line naming the file and,
    when one is at fault, the rule."""
