"""Running the history machine: one Hypothesis run, its findings and their replays.

:func:`run_history` runs :class:`~pytest_actionsec.history.machine.HistoryMachine` on a
:class:`~pytest_actionsec.store.Store` against one history store (nova's by default)
and returns a :class:`HistoryResult`: every finding as a
:class:`~pytest_actionsec.oracle.Violation` whose ``input`` is the minimal sequence of
steps Hypothesis shrank it to, as a script that replays it (:func:`replay_machine`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_actionsec.constants import HISTORY_FUNCTION, HISTORY_LAYERS
from pytest_actionsec.errors import HistoryError
from pytest_actionsec.history import reading
from pytest_actionsec.history.machine import (
    HistoryFailure,
    HistoryMachine,
    HistoryWorld,
    Noted,
    _Cut,
)
from pytest_actionsec.history.stores import STORES, history_store
from pytest_actionsec.invariants.history import HISTORY_FAMILY, HISTORY_INVARIANTS

__all__ = [
    "FUNCTION",
    "HISTORY_LAYERS",
    "STEP_COUNT",
    "HistoryResult",
    "machine_class",
    "replay_machine",
    "replay_script",
    "run_history",
]

#: The ``function`` a history finding names (:data:`~pytest_actionsec.constants.HISTORY_FUNCTION`).
FUNCTION = HISTORY_FUNCTION
#: Steps of one sequence at most (every minimal sequence nova 34 shows is shorter).
STEP_COUNT = 12


@dataclass
class HistoryResult:
    """One run of the machine: the history store, the database, what it found.

    ``violations`` are the findings (``blame`` set for nova's documented recovery
    path, which is reported and never fails); each ``input`` replays it.
    """

    history: str
    backend: str
    concurrent: bool
    sequences: int
    steps: int
    seconds: float
    violations: list[Any] = field(default_factory=list)
    retried: int = 0

    def ids(self) -> set[str]:
        """The invariant ids found."""
        return {v.invariant for v in self.violations}

    def failing(self) -> list[Any]:
        """The findings that fail a run (not blamed on nova's documented behaviour)."""
        return [v for v in self.violations if not v.blame]

    def per_step_ms(self) -> float:
        """Wall milliseconds per step (shrinking included)."""
        return 1000.0 * self.seconds / max(self.steps, 1)


def machine_class(world: HistoryWorld) -> type[HistoryMachine]:
    """A :class:`HistoryMachine` bound to ``world`` (Hypothesis prints it by this name)."""
    return type("HistoryMachine", (HistoryMachine,), {"world": world, "__module__": __name__})


def replay_script(history: str, steps: list[str], *, noted: str | None = None) -> str:
    """A Python script that replays ``steps`` (Hypothesis's printed steps) on the store
    named by ``$ACTIONSEC_STORE`` (sqlite when unset); ``noted``: the ``"invariant
    (kind)"`` of a finding only noted in a run (nova's documented behaviour), which the
    replay raises."""
    extra = f", noted={noted!r}" if noted else ""
    lines = [
        f"# replay: the history machine against the {history!r} history store",
        "from pytest_actionsec.history import replay_machine",
        f"HistoryMachine = replay_machine({history!r}{extra})",
        *steps,
    ]
    return "\n".join(lines)


def _steps(exc: BaseException) -> list[str]:
    notes = [str(n) for n in getattr(exc, "__notes__", ())]
    return [n for n in notes if n.startswith("state") or " = state." in n]


def _failures(exc: BaseException) -> Iterator[HistoryFailure]:
    if isinstance(exc, HistoryFailure):
        yield exc
    for inner in getattr(exc, "exceptions", ()) or ():
        yield from _failures(inner)


def _was_cut(exc: BaseException) -> bool:
    """True when ``exc`` is Hypothesis's reaction to a cut run (it may wrap the cut)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _Cut):
            return True
        current = current.__cause__ or current.__context__
    return False


def _violation(noted: Noted, script: str) -> Any:
    from pytest_actionsec.oracle import Violation

    f = noted.finding
    return Violation(
        invariant=noted.invariant,
        family=HISTORY_FAMILY,
        function=FUNCTION,
        layer=noted.layer,
        field=f.field,
        input=script,
        evidence=f.evidence,
        kind=f.kind,
        blame=f.blame,
    )


def run_history(
    store: Any,
    history: str = "nova",
    *,
    max_examples: int = 30,
    seed: int = 0,
    step_count: int = STEP_COUNT,
    concurrent: bool | None = None,
    seconds: float | None = None,
    max_sequences: int | None = None,
) -> HistoryResult:
    """Run the machine ``max_examples`` sequences against ``history`` on ``store``.

    ``concurrent`` (default: the store is a server database) makes
    ``finish_together`` use two threads. Raises
    :class:`~pytest_actionsec.errors.HistoryError` for an unknown history store, or
    concurrency asked of sqlite. ``seconds`` is a deadline: no step starts after it,
    and ``max_sequences`` a cap on the sequences run, searching and shrinking: no
    step (sequence) starts after it; a finding cut while shrinking keeps the shortest
    sequence that showed it. Anything but a history finding the machine raises (a bug
    of the machine) propagates.
    """
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import seed as hseed
    from hypothesis.stateful import run_state_machine_as_test

    from pytest_actionsec.clock import SkewedClock

    if history not in STORES:
        raise HistoryError(
            f"unknown history store {history!r}, not one of {', '.join(sorted(STORES))}"
        )
    if concurrent is None:
        concurrent = store.backend != "sqlite"
    if concurrent and store.backend == "sqlite":
        raise HistoryError("the history machine runs sqlite sequentially: concurrent=False")
    started = time.perf_counter()
    with SkewedClock() as clock:
        world = HistoryWorld(store, history_store(history, store), clock, concurrent=concurrent)
        if seconds is not None:
            world.deadline = time.monotonic() + seconds
        world.max_sequences = max_sequences
        cls = hseed(seed)(machine_class(world))
        config = settings(
            max_examples=max_examples,
            stateful_step_count=step_count,
            deadline=None,
            database=None,
            report_multiple_bugs=True,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            # no explain phase: it traces coverage of nova's code (seconds per finding)
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        )
        shrunk: dict[tuple[str, str, str, str], str] = {}
        try:
            with reading.reading():
                run_state_machine_as_test(cls, settings=config)
        except _Cut:
            pass  # the deadline: the findings seen so far are in the world
        except BaseException as exc:
            failures = list(_failures(exc))
            if not failures and not _was_cut(exc):
                raise
            for failure in failures:
                n = failure.noted
                key = (n.invariant, n.layer, n.finding.kind, n.finding.field or "")
                shrunk[key] = replay_script(history, _steps(failure))
                world.noted[key] = n  # the shrunk example's evidence
    order = [i.id for i in HISTORY_INVARIANTS]
    violations = []
    for key, n in sorted(world.noted.items(), key=lambda kv: (order.index(kv[0][0]), kv[0])):
        noted = f"{n.invariant} ({n.finding.kind})" if n.finding.blame else None
        script = shrunk.get(key) or replay_script(history, world.scripts.get(key, []), noted=noted)
        violations.append(_violation(n, script))
    return HistoryResult(
        history=history,
        backend=store.backend,
        concurrent=concurrent,
        sequences=world.sequences,
        steps=world.steps,
        seconds=time.perf_counter() - started,
        violations=violations,
        retried=world.history.retried,
    )


_REPLAY: dict[str, Any] = {}


def replay_machine(
    history: str = "nova", url: str | None = None, *, noted: str | None = None
) -> type[HistoryMachine]:
    """The machine for a printed sequence: the store of ``url`` (default
    ``$ACTIONSEC_STORE``, else sqlite) opened once per process, a clock started, the
    history store ``history``; a broken invariant raises its :class:`HistoryFailure`,
    and so does the finding ``noted`` (``"invariant (kind)"``), which a run only notes
    (nova's documented recovery path)."""
    from pytest_actionsec.clock import SkewedClock
    from pytest_actionsec.store import Store

    if "store" not in _REPLAY:
        _REPLAY["store"] = Store.open(url or os.environ.get("ACTIONSEC_STORE") or None)
        _REPLAY["clock"] = SkewedClock().start()
    store = _REPLAY["store"]
    world = HistoryWorld(
        store,
        history_store(history, store),
        _REPLAY["clock"],
        concurrent=store.backend != "sqlite",
        raise_blamed=noted,
    )
    return machine_class(world)
