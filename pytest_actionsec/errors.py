""":class:`TargetError`, :class:`DatabaseError` and :class:`ReportError`, in a module of
their own below every module that raises them.

Resolving a target (:mod:`pytest_actionsec.targets`) and finding its instance-fault sink
(:mod:`pytest_actionsec.faults`, which ``targets`` uses) both refuse an unusable target
with the first (``pytest_actionsec.targets.TargetError`` is that class); opening an
example database (:mod:`pytest_actionsec.databases`) refuses a bad one with the second;
merging reports (:mod:`pytest_actionsec.merge`) refuses a file that is not one with the
third.
"""

from __future__ import annotations

__all__ = ["DatabaseError", "ReportError", "TargetError"]


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


class DatabaseError(Exception):
    """An example database (``--actionsec-database``) that cannot be used; the message is
    one line naming the part at fault, with any password masked."""


class ReportError(Exception):
    """A file that is not a pytest-actionsec JSON report, or reports that cannot be merged;
    the message is one line naming the file."""
