"""history: properties of a server's action history under many writers and clocks.

These invariants judge a whole history (many calls, several hosts, one database), not
one call's record, so they are checked by the stateful machine of
:mod:`pytest_actionsec.history` and live in a registry of their own,
:data:`HISTORY_INVARIANTS` (the per-call families of :data:`~pytest_actionsec.oracle.FAMILIES`
stay as they are). Each has an id, a statement and a source like every other
invariant, and appears in the reference.
"""

from __future__ import annotations

from pytest_actionsec.registry import Invariant, Registry

__all__ = [
    "HISTORY_FAMILY",
    "HISTORY_INVARIANTS",
    "MONOTONE",
    "OWN_REQUEST",
    "PROJECT_ISOLATION",
    "RECORDED_ONCE",
    "REFUSED",
]

#: The family name of the history invariants (also the suite items' keyword).
HISTORY_FAMILY = "history"

#: The history invariants, by id.
HISTORY_INVARIANTS = Registry()

RECORDED_ONCE = "history.recorded-once"
OWN_REQUEST = "history.own-request"
PROJECT_ISOLATION = "history.project-isolation"
MONOTONE = "history.monotone"
REFUSED = "history.refused"

for _id, _statement, _source in (
    (
        RECORDED_ONCE,
        "Every finished event is recorded once, on its own row, with its own result: no "
        "row finished by another event's finish, none left unfinished that was finished, "
        "and an action with a failed event of its own says 'Error'.",
        "nova action_event_finish (event found by action and name with .first()); issue 22",
    ),
    (
        OWN_REQUEST,
        "An event lands in the action of its own request, and only its own request's "
        "events mark an action 'Error'; nova's recovery path (a context without a "
        "project attaches to the server's newest action) is reported as what it is.",
        "bug 1817542 (nova action_event_start/finish recovery path)",
    ),
    (
        PROJECT_ISOLATION,
        "What a member of a project reads of its server's history (index and show) "
        "holds nothing of another server's or another project's requests.",
        "review seeds (access control); nova InstanceActionsController",
    ),
    (
        MONOTONE,
        "An action's updated_at never moves backwards, and a changes-since poller "
        "(microversion 2.58) asking from the newest updated_at it saw misses no change.",
        "bugs 1796009, 1254764, 1719561",
    ),
    (
        REFUSED,
        "A step the database refuses or loses (an error, a deadlock or serialisation "
        "failure not retried) is a finding, never silence.",
        "nova wrap_db_retry(retry_on_deadlock=True) on action_event_start/finish; "
        "review seeds (concurrent writes)",
    ),
):
    HISTORY_INVARIANTS.add(
        Invariant(
            id=_id,
            family=HISTORY_FAMILY,
            statement=" ".join(_statement.split()),
            source=_source,
            outcomes=frozenset(),
            helpers=frozenset(),
            origin=f"{__name__}.{_id}",
            builtin=True,
        )
    )
