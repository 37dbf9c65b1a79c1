"""Stateful, concurrent properties of a server's action history (issue 22).

A Hypothesis state machine (:mod:`~pytest_actionsec.history.machine`) drives a history
store (:mod:`~pytest_actionsec.history.stores`: nova 34's own database API, this
project's paranoid store, or a deliberate mutant) the way nova's API, compute hosts with
skewed clocks and periodic tasks do, reads the history back through nova's API code
(:mod:`~pytest_actionsec.history.reading`) and judges it with the invariants of
:mod:`pytest_actionsec.invariants.history`::

    from pytest_actionsec.store import Store
    from pytest_actionsec.history import run_history

    with Store.open() as store:
        result = run_history(store, "nova", max_examples=30, seed=1)
    for v in result.violations:
        print(v.invariant, v.evidence)
        print(v.input)          # a script replaying the minimal sequence

Importing this package imports neither nova nor Hypothesis's stateful module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HistoryResult", "replay_machine", "run_history"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pytest_actionsec.history import run

        return getattr(run, name)
    raise AttributeError(name)
