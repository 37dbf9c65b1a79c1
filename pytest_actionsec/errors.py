""":class:`TargetError`, in a module of its own below every module that raises it.

Resolving a target (:mod:`pytest_actionsec.targets`) and finding its instance-fault sink
(:mod:`pytest_actionsec.faults`, which ``targets`` uses) both refuse an unusable target
with it; ``pytest_actionsec.targets.TargetError`` is this class.
"""

from __future__ import annotations

__all__ = ["HistoryError", "TargetError"]


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
