"""The built-in suite of one session, without pytest: runs, budget, verdicts, report entries.

:class:`Suite` holds what one process knows of the suite it runs (the run
configuration, the target, the store, the results by run) and makes each run
once; :func:`verdict` sorts a property's findings against the baseline and the
severity floor, and :class:`Verdict` is its report entry. The pytest plugin
(:mod:`pytest_actionsec.plugin`) only adapts these to items, reports and hooks.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_actionsec.config import RunConfig
from pytest_actionsec.constants import LAYERS
from pytest_actionsec.personas import audience_rank
from pytest_actionsec.registry import severity_rank

if TYPE_CHECKING:
    from pytest_actionsec.execution.plan import Property, PropertyResult, Run, RunResult
    from pytest_actionsec.execution.search import Database
    from pytest_actionsec.execution.stages import RecordStore
    from pytest_actionsec.locations import SourceLocation
    from pytest_actionsec.oracle import Violation
    from pytest_actionsec.report import Baseline, RunScope
    from pytest_actionsec.targets import Target

__all__ = ["Suite", "Verdict", "baseline_scope", "known_groups", "verdict"]


@dataclass(frozen=True)
class Verdict:
    """One property's result, its findings sorted: ``new`` fail the run, ``accepted`` are
    the baseline's, ``noted`` are reported only (an input class's doing, or a leak read
    by fewer than the severity floor)."""

    result: PropertyResult
    new: tuple[Violation, ...]
    accepted: tuple[Violation, ...]
    noted: tuple[Violation, ...]

    def payload(
        self, source: SourceLocation | None = None, *, fallback: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """The report's entry (``property`` and its ``violations``; ``source``: where the
        function under test is defined; ``fallback``: ``(kind, dotted path)`` of nova's
        function the run went through for want of the target's own, named by each
        violation's ``via`` and the payload's ``fallbacks``)."""
        result = self.result
        entry = result.to_dict()
        entry["seed"] = result.seed
        entry["seconds"] = round(result.seconds, 3)
        entry["new"] = len(self.new)
        entry["accepted"] = len(self.accepted)
        if self.noted:
            entry["noted"] = len(self.noted)
            if entry["status"] == "failed" and not self.new and not self.accepted:
                entry["status"] = "passed"  # every finding is noted: nothing fails
        # the property that found each one: a crash.timeout is found by any family's run
        pid = result.property.id

        def entry_of(v: Violation, **flags: bool) -> dict[str, Any]:
            # ``kind`` (the offending type, '' for none) tells apart findings of one field:
            # a merge of several runs' reports keeps each once (pytest_actionsec.merge)
            return dict(v.to_dict(), property=pid, kind=v.kind, **flags)

        violations = [entry_of(v, accepted=False) for v in self.new]
        violations += [entry_of(v, accepted=True) for v in self.accepted]
        violations += [entry_of(v, accepted=False, noted=True) for v in self.noted]
        if fallback is not None:
            from pytest_actionsec.targets import fallback_text

            via = fallback_text(*fallback)
            violations = [dict(v, via=via) for v in violations]
        leaks = [v.severity for v in self.new if v.severity]
        if leaks:  # the widest audience among the new leaks (the summary shows it)
            entry["severity"] = max(leaks, key=severity_rank)
        payload: dict[str, Any] = {"property": entry, "violations": violations}
        if result.status != "skipped" and source is not None:
            payload["source"] = source.to_dict()
        if result.status != "skipped" and fallback is not None:
            payload["fallbacks"] = dict([fallback])
        return payload

    def failures(self) -> list[Violation]:
        """The new findings, the widest audience first (a tenant leak leads the report)."""
        return sorted(self.new, key=lambda v: _descending(audience_rank(v.severity, v.audience)))


def _descending(rank: tuple[int, int]) -> tuple[int, int]:
    return (-rank[0], -rank[1])


def verdict(
    result: PropertyResult,
    baseline: Baseline,
    *,
    min_severity: str,
    update_baseline: bool = False,
) -> Verdict:
    """Sort ``result``'s findings: noted (blamed on an input, or below ``min_severity``),
    accepted by ``baseline``, or new (with ``update_baseline`` every own one is accepted)."""
    floor = severity_rank(min_severity)
    own: list[Violation] = []
    noted: list[Violation] = []
    for v in result.violations:
        below = bool(v.severity) and severity_rank(v.severity) < floor
        (noted if v.blame or below else own).append(v)
    new: list[Violation]
    accepted: list[Violation]
    if update_baseline:
        new, accepted = [], own
    else:
        new, accepted = baseline.partition(own)
    return Verdict(result, tuple(new), tuple(accepted), tuple(noted))


def known_groups() -> frozenset[tuple[str, str]]:
    """Every (helper, layer) the built-in suite runs, whatever layers a run chose (the
    history machine's ``server-history`` at its layers too)."""
    from pytest_actionsec.constants import HISTORY_FUNCTION, HISTORY_LAYERS
    from pytest_actionsec.execution.plan import builtin_groups

    history = {(HISTORY_FUNCTION, layer) for layer in HISTORY_LAYERS}
    return frozenset((g.function, g.layer) for g in builtin_groups(LAYERS)) | history


def baseline_scope(config: RunConfig, entries: Iterable[Mapping[str, Any]]) -> RunScope:
    """What a run covered, for merging its findings into a baseline: its mode and target,
    and the properties of ``entries`` (report ``property`` entries) that ran (a skipped
    property, or one a spent budget left without an example, did not)."""
    from pytest_actionsec.report import RunScope

    return RunScope(
        mode=config.mode,
        target=config.target,
        properties=frozenset(
            (p["family"], p["function"], p["layer"])
            for p in entries
            if p["status"] != "skipped" and p["examples"]
        ),
        groups=known_groups(),
    )


class Suite:
    """The built-in suite as one process runs it: each run made once, on first demand.

    ``started`` is the session's start (epoch seconds; the controller's under xdist),
    which the budget counts from; ``store_url`` the store to open (its password put in);
    ``database`` the Hypothesis example database every run saves to and replays first
    (``"default"``: the profile's; None: none; see :mod:`pytest_actionsec.databases`).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        started: float,
        store_url: str | None,
        database: Database = "default",
    ) -> None:
        if config.seed is None:
            raise ValueError("the run's seed must be chosen before the session starts")
        self.config = config
        self.seed: int = config.seed
        self.started = started
        self.store_url = store_url
        #: the message bus of the ``bus`` layer (h-notify), opened on first demand
        self.bus: Any = None
        self.database: Database = database
        self.store: RecordStore | None = None
        #: why the store could not be opened (one line, masked), once it was tried
        self.store_error: str | None = None
        #: results by run id (:attr:`Run.id`)
        self.results: dict[str, RunResult] = {}
        #: runs the database's loss ended (StoreUnavailable), by run id: their other
        #: items fail with the same line at once, never waiting on the server again
        self.lost: dict[str, BaseException] = {}
        self._targets: dict[str, Target] = {}
        self._budget_origin: float | None = None
        self._budget_exit = 0.0

    def target(self, path: str | None = None) -> Target:
        """The resolved target (cached); raises :class:`~pytest_actionsec.targets.TargetError`."""
        from pytest_actionsec.targets import resolve_target

        path = path or self.config.target
        if path not in self._targets:
            c = self.config
            self._targets[path] = resolve_target(
                path,
                trusted=c.trusted,
                sink=c.sink,
                boundary=c.boundary,
                store_stage=c.store_stage,
                notifier=c.notifier,
            )
        return self._targets[path]

    def run_of(self, prop: Property) -> Run:
        """The run that judges ``prop`` on this suite's target."""
        from pytest_actionsec.execution.plan import run_of

        has_boundary = self.target().boundary is not None
        return run_of(prop.function, prop.layer, has_boundary=has_boundary)

    def open_store(self) -> RecordStore | None:
        """The session's store (opened once), or None with :attr:`store_error` set."""
        if self.store is None and self.store_error is None:
            from pytest_actionsec.store import Store, mask_url

            try:
                factory = self.target().store_factory
                # a project's own records go to its own store stage, nova's to nova's
                self.store = (
                    factory(self.target())
                    if factory
                    else Store.open(self.store_url, io_timeout=self.config.io_timeout or None)
                )
            except Exception as exc:
                self.store_error = mask_url(
                    f"actionsec: the store cannot be opened: {type(exc).__name__}: {exc}"
                )
        return self.store

    def open_bus(self) -> Any:
        """The session's message bus (opened once; h-notify); raises
        :class:`~pytest_actionsec.notifications.BusError` (one line, masked)."""
        if self.bus is None and self.config.bus:
            from pytest_actionsec.notifications import Bus

            self.bus = Bus.open(self.config.bus)
        return self.bus

    def seed_of(self, run_id: str) -> int:
        """The seed of one run, derived from the session's seed and the run's id."""
        digest = hashlib.sha256(f"{self.seed}:{run_id}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def budget_share(self, run_ids: Iterable[str], *, workers: int | None = None) -> float:
        """Seconds for the next run: an equal share of the budget left among the runs of
        ``run_ids`` not made yet.

        The budget is the session's wall time, counted from :attr:`started` (start-up,
        nova's import and worker start-up count); elapsed time is read on the run clock
        (:data:`~pytest_actionsec.execution.search.RUN_CLOCK`, which tests replace)
        once the start-up is counted. The exit costs about what the start-up did, so as
        much is kept for it (at most a third of the budget). ``workers``: the runs are
        spread over that many workers, one run on one worker (this one makes about its
        part of them).
        """
        from pytest_actionsec.execution.search import RUN_CLOCK

        clock = RUN_CLOCK[0]
        budget = float(self.config.budget or 0.0)
        if self._budget_origin is None:
            startup = max(time.time() - self.started, 0.0)
            self._budget_origin = clock() - startup
            self._budget_exit = min(startup, budget / 3)
        left = budget - self._budget_exit - (clock() - self._budget_origin)
        runs = list(dict.fromkeys(run_ids))
        pending = len([r for r in runs if r not in self.results])
        if workers:
            mine = -(-len(runs) // max(workers, 1)) - len(self.results)  # ceil: my part
            pending = min(pending, mine)
        return float(max(left, 0.0) / max(pending, 1))

    def cached(self, prop: Property) -> RunResult | None:
        """The result of ``prop``'s run when one made already judged ``prop``."""
        found = self.results.get(self.run_of(prop).id)
        return found if found is not None and found.covers(prop) else None

    def result(
        self,
        prop: Property,
        judged: Mapping[str, tuple[str, ...]],
        *,
        seconds: float | None = None,
    ) -> RunResult:
        """The result of ``prop``'s run judging ``judged`` (families by layer), made now
        unless a result of this run already covers ``prop``. Raises
        :class:`~pytest_actionsec.store.StoreError` when the run needs a store that
        cannot be opened."""
        from pytest_actionsec.clock import SkewedClock
        from pytest_actionsec.engine import run_pipeline
        from pytest_actionsec.store import StoreError

        cached = self.cached(prop)
        if cached is not None:
            return cached
        run = self.run_of(prop)
        if run.id in self.lost:
            raise self.lost[run.id]
        store = None
        if {"store", "api"} & set(judged):
            store = self.open_store()
            if store is None:  # the start-up probe passed, the open did not: never a skip
                raise StoreError(self.store_error or "actionsec: the store cannot be opened")
        bus = self.open_bus() if "bus" in judged else None
        c = self.config
        ignore: tuple[str, ...] = ()
        if bus is not None:  # h-notify: the bus keeps real time (its timers, heartbeats)
            from pytest_actionsec.notifications import BUS_REAL_TIME as ignore
        with SkewedClock(ignore=ignore) as clock, self.losing(run.id):
            found = run_pipeline(
                self.target(),
                run,
                judged,
                mode=c.mode,
                max_examples=c.examples,
                seed=self.seed_of(run.id),
                clock=clock,
                timeout=c.time_limit,
                store=store,
                seconds=seconds,
                bus=bus,
                database=self.database,
            )
        self.results[run.id] = found
        return found

    @contextlib.contextmanager
    def losing(self, run_id: str) -> Iterator[None]:
        """Remember a run the database's loss ended (:attr:`lost`); the
        :class:`~pytest_actionsec.store.StoreUnavailable` goes on."""
        from pytest_actionsec.store import StoreUnavailable

        try:
            yield
        except StoreUnavailable as exc:
            self.lost[run_id] = exc
            raise

    def close(self) -> None:
        """Close the store and the bus, if they were opened."""
        if self.bus is not None:
            bus, self.bus = self.bus, None
            bus.close()
        if self.store is not None:
            store, self.store = self.store, None
            store.close()
