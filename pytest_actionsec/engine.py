"""The engine's public face: run built-in properties on a target (see :mod:`.execution`).

A :class:`Property` is one invariant family checked on one helper at one layer
(``packer``: the helper called directly; ``boundary``: through the RPC
decorator ``serialize_args``; ``store``: the row nova's database API writes and
reads back; ``api``: that row as nova's API code renders it). :func:`run_property`
and :func:`run_group` run one property or one helper-layer group as a real
Hypothesis run; the built-in suite judges many layers in one run per function
(:func:`run_pipeline`). The execution itself lives in
:mod:`pytest_actionsec.execution`; this module adds nothing to it but these entry
points and the names earlier releases exported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_actionsec.constants import DEFAULT_TIMEOUT, LAYERS
from pytest_actionsec.execution.pipeline import Pipeline
from pytest_actionsec.execution.plan import (
    Group,
    Property,
    PropertyResult,
    Run,
    RunResult,
    builtin_groups,
    builtin_properties,
    builtin_runs,
    run_of,
)
from pytest_actionsec.execution.sandbox import (
    WATCHED_BINDINGS,
    Arm,
    ListHandler,
    capture_logs,
    example_logs,
    observe,
    time_limit,
)
from pytest_actionsec.execution.sandbox import (
    _globals_restore as _globals_restore,
)
from pytest_actionsec.execution.sandbox import (
    _globals_snapshot as _globals_snapshot,
)
from pytest_actionsec.execution.search import (
    RUN_CLOCK,
    TOP_UP_ROUNDS,
    adopt_hypofuzz_failures,
    fuzz_test_name,
    hypothesis_test,
    keyed_database,
    run_database,
    search,
)
from pytest_actionsec.execution.stages import (
    ClockLike,
    PackStage,
    RecordStore,
    StageConfig,
    StoreStage,
    execute,
    pack_stage,
    render_stage,
    store_stage,
)
from pytest_actionsec.oracle import FAMILIES, Observation, Violation
from pytest_actionsec.targets import Target

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from pytest_actionsec.execution.search import Database
    from pytest_actionsec.specs import Call
    from pytest_actionsec.store import Store

__all__ = [
    "ALL_LAYERS",
    "DEFAULT_TIMEOUT",
    "RUN_CLOCK",
    "TOP_UP_ROUNDS",
    "WATCHED_BINDINGS",
    "ClockLike",
    "Group",
    "GroupResult",
    "ListHandler",
    "Property",
    "PropertyResult",
    "Run",
    "RunResult",
    "adopt_hypofuzz_failures",
    "builtin_groups",
    "builtin_properties",
    "builtin_runs",
    "capture_logs",
    "example_logs",
    "execute",
    "fuzz_test_name",
    "group_test",
    "hypothesis_test",
    "keyed_database",
    "observe",
    "pipeline_for",
    "run_database",
    "run_group",
    "run_of",
    "run_pipeline",
    "run_property",
    "search",
    "store_executor",
    "time_limit",
]

ALL_LAYERS: tuple[str, ...] = LAYERS


@dataclass(frozen=True)
class GroupResult:
    """What one run of one helper at one layer found, for every family it judged (a
    :class:`RunResult` with one judged layer)."""

    group: Group
    families: tuple[str, ...]
    result: RunResult

    @property
    def status(self) -> str:
        """``passed``, ``failed`` or ``skipped``."""
        return self.result.status

    @property
    def examples(self) -> int:
        """Calls judged (probes, saved examples, generated and shrinking calls)."""
        return self.result.examples

    @property
    def violations(self) -> tuple[Violation, ...]:
        """The distinct findings, each with its smallest input."""
        return self.result.violations

    @property
    def reason(self) -> str:
        """Why it was skipped, or a note on the run ("flaky", a hang)."""
        return self.result.reason

    @property
    def seed(self) -> int | None:
        """The run's seed."""
        return self.result.seed

    @property
    def seconds(self) -> float:
        """The run's wall time."""
        return self.result.seconds

    def for_family(self, family: str) -> PropertyResult:
        """This run's verdict on one family, as a :class:`PropertyResult` (a
        ``crash.timeout`` is every family's: none of them was checked)."""
        return self.result.for_property(Property(family, self.group.function, self.group.layer))


def _families(families: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(FAMILIES) if families is None else tuple(dict.fromkeys(families))
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown invariant families {unknown}; known: {tuple(FAMILIES)}")
    return chosen


def pipeline_for(
    target: Target,
    run: Run,
    judged: Mapping[str, Sequence[str]],
    *,
    store: RecordStore | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    executor: Callable[[Call], Observation] | None = None,
    bus: Any = None,
) -> Pipeline:
    """The pipeline of ``run`` on ``target`` judging ``judged`` (families by layer): the
    one way the suite, :func:`run_group` and the fuzz module build a run (``bus``: the
    :class:`~pytest_actionsec.notifications.Bus` of the ``bus`` layer)."""
    return Pipeline(
        target,
        run,
        {layer: _families(fams) for layer, fams in judged.items()},
        store=store,
        clock=clock,
        timeout=timeout,
        executor=executor,
        bus=bus,
    )


def run_pipeline(
    target: Target,
    run: Run,
    judged: Mapping[str, Sequence[str]],
    *,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    database: Database = "default",
    store: RecordStore | None = None,
    seconds: float | None = None,
    bus: Any = None,
) -> RunResult:
    """One Hypothesis run of ``run`` judging ``judged`` (families by layer) at once:
    each drawn call is packed, stored and rendered once, as far as its layers need
    (see :func:`pytest_actionsec.execution.search.search`); ``bus`` as for
    :func:`pipeline_for`."""
    pipeline = pipeline_for(target, run, judged, store=store, clock=clock, timeout=timeout, bus=bus)
    return search(
        pipeline,
        mode=mode,
        max_examples=max_examples,
        seed=seed,
        database=database,
        seconds=seconds,
    )


def _group_pipeline(
    group: Group,
    target: Target,
    families: Sequence[str] | None,
    *,
    store: RecordStore | None,
    clock: ClockLike | None,
    timeout: float | None,
    executor: Callable[[Call], Observation] | None = None,
) -> Pipeline:
    run = run_of(group.function, group.layer, has_boundary=target.boundary is not None)
    return pipeline_for(
        target,
        run,
        {group.layer: _families(families)},
        store=store,
        clock=clock,
        timeout=timeout,
        executor=executor,
    )


def run_property(
    prop: Property,
    target: Target,
    *,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    database: Database = "default",
    executor: Callable[[Call], Observation] | None = None,
    strategy: SearchStrategy[Call] | None = None,
    store: Store | None = None,
) -> PropertyResult:
    """Run one family on one helper at one layer (see :func:`run_group`)."""
    return run_group(
        prop.group,
        target,
        families=(prop.family,),
        mode=mode,
        max_examples=max_examples,
        seed=seed,
        clock=clock,
        timeout=timeout,
        database=database,
        executor=executor,
        strategy=strategy,
        store=store,
    ).for_family(prop.family)


def run_group(
    group: Group,
    target: Target,
    *,
    families: Sequence[str] | None = None,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    database: Database = "default",
    executor: Callable[[Call], Observation] | None = None,
    strategy: SearchStrategy[Call] | None = None,
    store: Store | None = None,
    seconds: float | None = None,
) -> GroupResult:
    """Judge ``families`` (default: all) on one helper at one layer in one Hypothesis run.

    The run of :func:`run_pipeline` with one judged layer. At the ``store`` and
    ``api`` layers pass ``store`` (a :class:`~pytest_actionsec.store.Store`): each call
    is packed under the time limit and global-state check, then written and read back
    (and rendered) outside them. ``executor`` replaces the execution altogether;
    ``strategy`` the drawn calls; ``seconds`` is a time budget (a deadline). Never
    raises for findings.
    """
    chosen = _families(families)
    pipeline = _group_pipeline(
        group, target, chosen, store=store, clock=clock, timeout=timeout, executor=executor
    )
    found = search(
        pipeline,
        mode=mode,
        max_examples=max_examples,
        seed=seed,
        database=database,
        strategy=strategy,
        seconds=seconds,
    )
    return GroupResult(group, chosen, found)


def group_test(
    group: Group,
    target: Target,
    *,
    mode: str = "contract",
    families: Sequence[str] | None = None,
    clock: ClockLike | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    store: Store | None = None,
    database: Database = "default",
    keyed: bool = True,
    max_examples: int = 100,
) -> Callable[[], None]:
    """One group's property as an ordinary Hypothesis test (see
    :func:`~pytest_actionsec.execution.search.hypothesis_test`)."""
    pipeline = _group_pipeline(group, target, families, store=store, clock=clock, timeout=timeout)
    return hypothesis_test(
        pipeline, mode=mode, database=database, keyed=keyed, max_examples=max_examples
    )


def store_executor(
    target: Target,
    store: Store,
    *,
    clock: ClockLike | None = None,
    logs: list[str] | None = None,
    arm: Arm | None = None,
    timeout: float | None = None,
    event_finish_via: str = "boundary",
    watch_inputs: bool = True,
    render: bool = False,
) -> Callable[[Call], Observation]:
    """A function ``call -> Observation`` through the store (and, with ``render``, the
    api) stages: each call is packed (event finish through the boundary unless
    ``event_finish_via="packer"`` or the target has none), written through nova's
    database API and read back; the observation is the last stage's."""
    import contextlib

    if event_finish_via not in ("boundary", "packer"):
        raise ValueError(
            f"event_finish_via must be 'boundary' or 'packer', not {event_finish_via!r}"
        )
    layer = "api" if render else "store"
    config = StageConfig(
        clock=clock,
        timeout=timeout,
        watch_inputs=watch_inputs,
        logs=logs,
        arm=arm or contextlib.nullcontext,
    )
    via = "boundary" if event_finish_via == "boundary" and target.boundary is not None else "packer"
    stages: dict[str, StoreStage] = {
        "store": store_stage(target, config, store, event_finish_via=via)
    }
    if render:
        stages["api"] = render_stage(target, config, store, event_finish_via=via)
    packers: dict[str, PackStage] = {}

    def run(call: Call) -> Observation:
        packer = packers.get(call.function)
        if packer is None:
            how = via if call.function == "pack_action_event_finish" else "packer"
            packer = packers[call.function] = pack_stage(
                target, call.function, config, via=how, layer="packer"
            )
        obs: Observation = stages["store"](call, packer(call))
        return stages["api"](call, obs) if layer == "api" else obs

    return run
