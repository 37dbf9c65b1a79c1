"""The search: one Hypothesis run of a pipeline, from probes to the verdict.

:func:`search` runs a :class:`~pytest_actionsec.execution.pipeline.Pipeline` as a
real Hypothesis test: the probes first (the minimal shapes of known defects),
then the failures the example database holds (apart), then seeded rounds until
``max_examples`` are spent or a time budget's deadline passes. Each distinct
violation (invariant, function, layer, field, kind) raises its own exception
type, so Hypothesis shrinks each finding to its own minimal input; the result
keeps, per finding, the smallest input that showed it.
:func:`hypothesis_test` is the same check as an ordinary ``@given`` test (the
fuzz module and HypoFuzz campaigns), under the same database key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sys
import time
import unittest
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Union

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found]

from pytest_actionsec.canaries import seeded_canaries
from pytest_actionsec.constants import LAYERS
from pytest_actionsec.execution.pipeline import Pipeline
from pytest_actionsec.execution.plan import RunResult
from pytest_actionsec.execution.sandbox import capture_logs, time_limit
from pytest_actionsec.execution.stages import Stage
from pytest_actionsec.oracle import Observation, Violation, family_rank, judge
from pytest_actionsec.probes import probes
from pytest_actionsec.strategies import calls

if TYPE_CHECKING:
    from hypothesis import settings as Settings
    from hypothesis.database import ExampleDatabase
    from hypothesis.strategies import SearchStrategy

    from pytest_actionsec.specs import Call

#: What makes two violations one finding (:meth:`Violation.key`).
ViolationKey = tuple[str, str, str, str, str]
#: A Hypothesis example database, ``"default"`` (the active profile's) or None (none).
Database = Union["ExampleDatabase", Literal["default"], None]

__all__ = [
    "RUN_CLOCK",
    "TOP_UP_ROUNDS",
    "adopt_hypofuzz_failures",
    "fuzz_test_name",
    "hypothesis_test",
    "keyed_database",
    "run_database",
    "search",
]

#: The run's clock (seconds): budgets and run times are read from it. A list so
#: freezegun (which patches module attributes) leaves it real; a test replaces
#: its item to control time (the plugin's budget reads the same clock).
RUN_CLOCK: list[Callable[[], float]] = [time.perf_counter]
_LAYER_RANK = {layer: i for i, layer in enumerate(LAYERS)}


class _Found(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(violations[0].invariant)
        self.violations = violations


class _DeadlinePassed(BaseException):
    """Cuts a round at its run's deadline: Hypothesis does not catch it (no failure to
    shrink), and the findings judged so far stay in the run's collector."""


class _Hung(BaseException):
    """Ends a property at its first hung call: Hypothesis does not catch it, so a hang
    is neither shrunk nor retried (each attempt would cost a whole time limit)."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("a call did not return in time")
        self.violations = violations


@cache
def _found_type(key: ViolationKey) -> type[_Found]:
    """One exception class per violation key, so Hypothesis shrinks each finding apart."""
    return type("ActionsecViolation", (_Found,), {"key": key})


def _flatten(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for sub in error.exceptions:
            yield from _flatten(sub)
    else:
        yield error


@dataclass
class _Collector:
    examples: int = 0
    best: dict[ViolationKey, tuple[int, Violation]] = field(default_factory=dict)

    def add(self, violations: list[Violation], size: int) -> None:
        for v in violations:
            key = v.key()
            old = self.best.get(key)
            if old is None or size < old[0]:
                self.best[key] = (size, v)


def keyed_database(
    inner: ExampleDatabase, prefix: bytes, *, adopt: Sequence[bytes] = ()
) -> ExampleDatabase:
    """A Hypothesis example database seen through a key prefix (public database API only).

    Every run checks the same inner function, so Hypothesis would give every
    helper, layer, target and mode one key; the prefix keeps their examples apart.
    ``adopt``: saved examples (choice sequences) found elsewhere, saved under the
    first key fetched (the test's own key: Hypothesis replays it first).
    """
    from hypothesis.database import ExampleDatabase

    pending = list(adopt)

    class KeyedDatabase(ExampleDatabase):
        def __repr__(self) -> str:
            return f"KeyedDatabase({inner!r}, {prefix.hex()[:12]})"

        def save(self, key: bytes, value: bytes) -> None:
            inner.save(prefix + key, value)

        def fetch(self, key: bytes) -> Any:
            while pending:
                inner.save(prefix + key, pending.pop())
            return inner.fetch(prefix + key)

        def delete(self, key: bytes, value: bytes) -> None:
            inner.delete(prefix + key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            inner.move(prefix + src, prefix + dest, value)

    return KeyedDatabase()


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()[:16]


def _first(found: list[Violation]) -> Violation:
    """The violation an example is shrunk for: the earliest layer (the cheapest to
    replay), then the first family, then the smallest key."""
    return min(found, key=lambda v: (_LAYER_RANK.get(v.layer, 9), family_rank(v.family), v.key()))


#: Extra Hypothesis rounds a run may take, per judged layer, after one ended early on a
#: new finding.
TOP_UP_ROUNDS = 2


def _search_round(
    check: Callable[[Call], None],
    drawn: SearchStrategy[Call],
    config: Settings,
    seed: int | None,
    final: list[Violation],
) -> str:
    """One Hypothesis run of ``check``; shrunk violations go to ``final``; returns a note."""
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis.errors import Flaky
    from hypothesis.reporting import with_reporter

    wrap: Any = given(drawn)
    test: Any = wrap(check)
    if seed is not None:
        # @seed turns the database off unless settings are applied after it: the
        # seed fixes what is generated, and saved failures are still replayed first.
        test = hseed(seed)(test)
    test = config(test)
    note = ""
    try:
        with with_reporter(lambda _msg: None), warnings.catch_warnings():
            # A failing example holding 64 KiB of traceback text makes Hypothesis
            # warn about its repr; under -W error that would hide the verdict.
            warnings.filterwarnings("ignore", message="Generating overly large repr")
            test()
    except (_Found, BaseExceptionGroup) as raised:
        for error in _flatten(raised):
            if isinstance(error, _Found):
                # shrunk for its own key; its other violations keep their smallest
                origin = getattr(error, "key", None)
                final.extend(v for v in error.violations if v.key() == origin)
            elif isinstance(error, Flaky):
                note = f"flaky: {type(error).__name__}"
            elif not isinstance(error, _DeadlinePassed):  # cut while replaying: kept
                raise
    except Flaky as flaky:
        note = f"flaky: {type(flaky).__name__}"
    except _DeadlinePassed:
        pass  # the run's deadline: what was judged so far is in the collector
    return note


@dataclass
class _Search:
    """What one run's check shares with the rounds of its run."""

    stages: tuple[Stage, ...]
    judged: Mapping[str, tuple[str, ...]]
    collector: _Collector
    known: set[ViolationKey] = field(default_factory=set)
    fresh_keys: set[ViolationKey] = field(default_factory=set)
    round_calls: int = 0
    first_raise: int | None = None
    #: on the run's clock: a call starting after it ends the round (not counted)
    deadline: float | None = None
    #: skip the stages after a new finding once the round found its first (Hypothesis is
    #: then shrinking): set for the seeded rounds and ordinary tests; the probes and the
    #: saved examples go every way
    early_stop: bool = False
    #: builds each call's stages inside its own sandbox (None: ``stages`` are the run's)
    sandbox: Callable[[], contextlib.AbstractContextManager[tuple[Stage, ...]]] | None = None


def _make_check(search: _Search, run_id: str) -> Callable[[Call], None]:
    """The one function Hypothesis tests for a run (its database key is this source, so
    :func:`search` and :func:`hypothesis_test` share saved examples).

    With ``search.sandbox`` each call builds its stages inside its own sandbox (an
    ordinary Hypothesis test has no run around it).
    """

    def check(call: Call) -> None:
        if search.sandbox is None:
            _check_call(search, search.stages, call)
            return
        with search.sandbox() as stages:
            _check_call(search, stages, call)

    check.__name__ = f"actionsec_{run_id.replace('-', '_')}"
    return check


def _check_call(search: _Search, stages: tuple[Stage, ...], call: Call) -> None:
    """Send ``call`` through ``stages`` and judge each stage's observation on its layer's
    families; raise the first new finding (see :func:`_first`).

    After the round's first finding (Hypothesis is then mostly shrinking) the stages
    after one that showed a new finding are not run: that finding is raised, and
    shrinking it costs only the stages it needs.
    """
    if search.deadline is not None and RUN_CLOCK[0]() >= search.deadline:
        raise _DeadlinePassed
    search.collector.examples += 1
    search.round_calls += 1
    shrinking = search.early_stop and search.first_raise is not None
    upstream: Observation | None = None
    found: list[Violation] = []
    fresh: list[Violation] = []
    hung: list[Violation] = []
    for stage in stages:
        obs = stage(call, upstream)
        upstream = obs
        families = search.judged.get(stage.layer)
        if not families:
            continue
        if obs.timed_out is not None:  # reported whatever is judged, never shrunk
            hung += judge(obs, {*families, "crash"}, only=("crash.timeout",))
            continue
        seen = stage.judge(obs, families)
        found += seen
        new = [v for v in seen if v.key() not in search.known and not v.blame]
        fresh += new
        if new and shrinking:
            break
    if hung:
        raise _Hung(hung)
    if found:
        search.collector.add(found, call.size())
    if fresh:
        search.fresh_keys.update(v.key() for v in fresh)
        if search.first_raise is None:
            search.first_raise = search.round_calls
        raise _found_type(_first(fresh).key())(found)


def _round_settings(
    parent: Settings,
    max_examples: int,
    database: ExampleDatabase | None,
    *,
    reuse: bool = True,
    generate: bool = True,
) -> Settings:
    """The settings of every round of a run (and of :func:`hypothesis_test`).

    ``reuse`` False: saved examples are not replayed (failures are still saved);
    ``generate`` False: only saved examples run.
    """
    from hypothesis import HealthCheck, Phase, settings

    dropped = {Phase.explain}
    if not reuse:
        dropped.add(Phase.reuse)
    if not generate:
        dropped.update((Phase.explicit, Phase.generate, Phase.target))
    return settings(
        parent,
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=True,
        print_blob=False,
        derandomize=False,
        # The explain phase re-runs a failing example many times to annotate its
        # printout, which the search discards: it made failing runs 30-47x slower.
        phases=[p for p in settings().phases if p not in dropped],
        database=database,
    )


def run_database(
    inner: ExampleDatabase | None,
    run_id: str,
    target_path: str,
    mode: str,
    round_no: int = 0,
    *,
    adopt: Sequence[bytes] = (),
) -> ExampleDatabase | None:
    """The example database one round of a run sees: ``inner`` through its key.

    :func:`search` (every round, ``round_no`` 0) and :func:`hypothesis_test` use the
    same one, so what either saves the other replays. None when ``inner`` is None.
    """
    if inner is None:
        return None
    key = _digest(run_id, target_path, mode)
    return keyed_database(inner, key + round_no.to_bytes(4, "big"), adopt=adopt)


def fuzz_test_name(run_id: str, target_path: str, mode: str) -> str:
    """The name of the fuzz module's test for a run (``pytest_actionsec.fuzz``)."""
    return f"test_{run_id}_{mode}_{target_path}".replace("-", "_").replace(".", "_")


#: Keys HypoFuzz writes in the shared example database (its own layout, read only
#: here): the list of its tests' keys, and each test's reports (JSON, with the nodeid).
_HYPOFUZZ_KEYS = b"hypofuzz.test_keys"
_HYPOFUZZ_REPORTS = b".hypofuzz.reports"
_HYPOFUZZ_FAILURES = (b"", b".secondary")  # shrunk, then unshrunk failing choices


def adopt_hypofuzz_failures(
    database: ExampleDatabase, run_id: str, target_path: str, mode: str
) -> list[bytes]:
    """Failing examples a HypoFuzz campaign saved for this run's fuzz test.

    HypoFuzz keys a test by its pytest node id, which no run outside pytest can
    reproduce with Hypothesis's public API; it also lists its tests' keys and
    writes reports naming their node ids in the same database. Those are read
    here (one fetch when HypoFuzz never ran), so :func:`search` replays what the
    campaign found first. Never imports HypoFuzz.
    """
    import json

    wanted = fuzz_test_name(run_id, target_path, mode)
    found: list[bytes] = []
    try:
        keys = list(database.fetch(_HYPOFUZZ_KEYS))
    except Exception:  # a database that cannot list: nothing to adopt
        return found
    for key in keys:
        names = set()
        for raw in database.fetch(key + _HYPOFUZZ_REPORTS):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                names.add(str(json.loads(raw).get("nodeid", "")).rsplit("::", 1)[-1])
            if names:
                break
        if wanted in names:
            for suffix in _HYPOFUZZ_FAILURES:
                found.extend(database.fetch(key + suffix))
    return found


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep Hypothesis from drawing constants found in "local" source files.

    Hypothesis (6.131 on) draws, now and then, a literal from the source of every
    imported module outside the standard library and site-packages: this plugin when
    installed editable or on ``PYTHONPATH``, a nova checkout, conftests. Which modules
    are imported when a run starts depends on the install, on what ran before in the
    process and on the xdist worker, so one seed drew other values. Its private hook
    is replaced for the run (nothing happens on a Hypothesis without it).
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - another Hypothesis layout
        yield
        return
    real = getattr(providers, "_get_local_constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if real is None or cache is None or not hasattr(providers, "Constants"):
        yield  # pragma: no cover - a Hypothesis before local constants
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()  # pools of allowed constants computed with the local ones
    try:
        yield
    finally:
        providers._get_local_constants = real
        cache.clear()


@dataclass
class _Replayed:
    examples: int = 0
    violations: dict[ViolationKey, Violation] = field(default_factory=dict)


def _replay_saved(
    stages: tuple[Stage, ...],
    pipeline: Pipeline,
    mode: str,
    seed: int | None,
    drawn: SearchStrategy[Call],
    parent: Settings,
    inner: ExampleDatabase | None,
    adopted: Sequence[bytes],
    probed: Mapping[ViolationKey, Violation],
) -> _Replayed:
    """Replay the failures the example database holds for this run (and ``adopted``).

    Apart from the seeded rounds: its own collector, its own canary tokens, and what
    it finds is not known to them, so a run in a folder with a database finds and
    prints what a run in a fresh folder does, plus what only a saved example shows.
    """
    out = _Replayed()
    if inner is None:
        return out
    run_id, target = pipeline.run.id, pipeline.target
    # every saved example goes every way (they are few, and each may show findings of
    # several layers)
    search = _Search(stages, pipeline.judged, _Collector(), known=set(probed))
    final: list[Violation] = []
    tokens = (
        contextlib.nullcontext()
        if seed is None
        else seeded_canaries(seed, run_id, target.path, mode, "saved examples")
    )
    try:
        with tokens, contextlib.suppress(unittest.SkipTest):  # raised when none was saved
            _search_round(
                _make_check(search, run_id),
                drawn,
                _round_settings(
                    parent,
                    1,
                    run_database(inner, run_id, target.path, mode, adopt=adopted),
                    generate=False,
                ),
                seed,
                final,
            )
    finally:
        out.examples = search.collector.examples
        out.violations = {k: v for k, (_, v) in search.collector.best.items()}
        out.violations.update((v.key(), v) for v in final)
    return out


def _fold(
    best: dict[ViolationKey, Violation],
) -> list[Violation]:
    """The findings, sorted; a crash seen on contract input explains the same crash
    on hostile input (at the same layer)."""
    contract_crashes = {
        (v.function, v.layer, v.kind) for v in best.values() if v.invariant == "crash.contract"
    }
    return sorted(
        (
            v
            for v in best.values()
            if not (
                v.invariant == "crash.hostile" and (v.function, v.layer, v.kind) in contract_crashes
            )
        ),
        key=lambda v: v.key(),
    )


def search(
    pipeline: Pipeline,
    *,
    mode: str = "contract",
    max_examples: int = 100,
    seed: int | None = None,
    database: Database = "default",
    strategy: SearchStrategy[Call] | None = None,
    seconds: float | None = None,
) -> RunResult:
    """Judge every layer of ``pipeline`` in one Hypothesis run; never raises for findings.

    Each example goes through the pipeline's stages and each stage's observation is
    judged on its layer's families; an example with several new violations is shrunk
    for the earliest layer's first (then family order, then key), and every other
    violation keeps the smallest example that showed it. ``seed`` makes the run
    reproducible (canary tokens included); ``database`` is a Hypothesis example
    database (``"default"``: the active profile's), seen through a key per run,
    target and mode: its saved failures are replayed first, apart (they add examples
    and findings), and the seeded rounds never read it, so a seed finds and prints
    the same whatever it holds. With ``seconds`` (a time budget) the run keeps
    drawing rounds of ``max_examples`` examples, each with its own seed and the
    findings so far known, until the budget is spent: it is a deadline on
    :data:`RUN_CLOCK`, and the round running then is cut before its next example
    (what it found so far is kept, unshrunk when cut while shrinking). The probes
    always run. ``strategy`` replaces the drawn calls (then no probes run).
    """
    from hypothesis import settings

    started = RUN_CLOCK[0]()
    run, target = pipeline.run, pipeline.target
    skipped = pipeline.skipped()
    judged = {layer: fams for layer, fams in pipeline.judged.items() if layer not in skipped}

    def result(status: str, **kwargs: Any) -> RunResult:
        return RunResult(run, pipeline.judged, status, seed=seed, skipped=skipped, **kwargs)

    if not judged:
        return result("skipped", reason="; ".join(dict.fromkeys(skipped.values())))
    reduced = dataclasses.replace(pipeline, judged=judged)
    drawn = (
        strategy if strategy is not None else calls(target, run.function, mode=mode, layer=run.via)
    )
    collector = _Collector()
    # A seeded run plants the same canary tokens again (the probes' and the drawn ones).
    tokens = (
        contextlib.nullcontext()
        if seed is None
        else seeded_canaries(seed, run.id, target.path, mode)
    )
    with (
        tokens,
        _without_local_constants(),
        capture_logs() as lines,
        time_limit(pipeline.timeout) as arm,
    ):
        stages = reduced.stages(logs=lines, arm=arm)
        # Every violation not shown by a probe is raised (and so shrunk) in the round
        # that first finds it; a round that finds one ends early (Hypothesis stops
        # generating soon after a failure), so up to TOP_UP_ROUNDS more rounds per judged
        # layer spend what is left of ``max_examples`` with the keys found so far known: judged
        # and kept, never raised again, so a defect found once does not end the
        # search for others.
        state = _Search(stages, judged, collector)
        known, fresh_keys = state.known, state.fresh_keys
        check = _make_check(state, run.id)
        parent = settings()
        inner = parent.database if database == "default" else database
        adopted = [] if inner is None else adopt_hypofuzz_failures(inner, run.id, target.path, mode)
        final: list[Violation] = []
        note = ""
        fixed = probes(target, run.function, layer=run.via) if strategy is None else []
        probed: dict[ViolationKey, Violation] = {}
        replayed = _Replayed()
        try:
            # The probes first: the minimal shapes of known defects, met whatever the
            # seed. What they find is reported with the probe as its input (already
            # minimal: nothing to shrink) and is known to the search, so a defect the
            # probes show neither ends nor slows the search for the others.
            for probe in fixed:
                try:
                    check(probe)
                except _Found:
                    pass
            probed.update((k, v) for k, (_, v) in collector.best.items())
            known.update(probed)
            # The saved examples next, apart: what the database holds neither changes
            # the seeded rounds below (they never read it) nor their tokens.
            replayed = _replay_saved(
                stages, reduced, mode, seed, drawn, parent, inner, adopted, probed
            )
            searched = 0  # examples generated before each round's first new finding
            # each judged layer has as many top-up rounds as a run of its own would: a
            # round ends at its first new finding, and one run now finds every layer's
            top_ups = TOP_UP_ROUNDS * len(judged)
            deadline = None if seconds is None else started + seconds
            state.deadline = deadline
            state.early_stop = True
            round_no = 0
            while True:
                if deadline is None:
                    budget = max_examples - searched
                    if round_no > top_ups or budget <= 0:
                        break
                else:  # a time budget: rounds of max_examples until it is spent
                    budget = max_examples
                    if round_no > 0 and RUN_CLOCK[0]() >= deadline:
                        break
                state.round_calls, state.first_raise = 0, None
                fresh_keys.clear()
                found_keys = _search_round(
                    check,
                    drawn,
                    _round_settings(
                        parent,
                        budget,
                        run_database(inner, run.id, target.path, mode),
                        reuse=False,
                    ),
                    None if seed is None else seed + round_no,
                    final,
                )
                note = found_keys or note
                round_no += 1
                if deadline is not None:
                    known.update(fresh_keys)
                    continue
                if not fresh_keys:
                    break
                known.update(fresh_keys)
                searched += (
                    state.first_raise if state.first_raise is not None else state.round_calls
                )
        except _Hung as hung:
            final.extend(hung.violations)
            note = "stopped at the first call that did not return in time (not shrunk)"
    best = {k: v for k, (_, v) in collector.best.items()}
    for v in final:  # Hypothesis's shrunk example wins for its own violations
        best[v.key()] = v
    best.update(probed)  # a probe is the minimal shape of its defect
    for key, v in replayed.violations.items():  # what only a saved example showed
        best.setdefault(key, v)
    violations = _fold(best)
    return result(
        "failed" if [v for v in violations if not v.blame] else "passed",
        examples=collector.examples + replayed.examples,
        violations=tuple(violations),
        reason=note,
        seconds=RUN_CLOCK[0]() - started,
    )


def hypothesis_test(
    pipeline: Pipeline,
    *,
    mode: str = "contract",
    database: Database = "default",
    keyed: bool = True,
    max_examples: int = 100,
) -> Callable[[], None]:
    """One run's check as an ordinary Hypothesis test (``@given`` over its calls).

    It checks the same function as :func:`search` and, with ``keyed``, sees the
    database (``"default"``: the active profile's) through the key of the search's
    rounds, so a failure it saves is replayed first by the next search for the same
    run, target and mode (``pytest --actionsec``). Every call goes through the
    pipeline and a finding raises. ``keyed=False`` uses the database itself, as
    HypoFuzz requires; the search then adopts the campaign's failures
    (:func:`adopt_hypofuzz_failures`).
    """
    from hypothesis import HealthCheck, given, settings

    run, target = pipeline.run, pipeline.target
    skipped = pipeline.skipped()
    if skipped:
        raise ValueError(f"run {run.id} of {target.path}: {'; '.join(skipped.values())}")

    @contextlib.contextmanager
    def sandbox() -> Iterator[tuple[Stage, ...]]:
        with capture_logs() as lines, time_limit(pipeline.timeout) as arm:
            yield pipeline.stages(logs=lines, arm=arm)

    check = _make_check(
        _Search((), pipeline.judged, _Collector(), early_stop=True, sandbox=sandbox), run.id
    )
    parent = settings()
    inner = parent.database if database == "default" else database
    db = run_database(inner, run.id, target.path, mode) if keyed else inner
    config = settings(
        _round_settings(parent, max_examples, db),
        # HypoFuzz does not fuzz a test that suppresses this one.
        suppress_health_check=[h for h in HealthCheck if h.name != "nested_given"],
    )
    test: Callable[[], None] = config(
        given(calls(target, run.function, mode=mode, layer=run.via))(check)
    )
    return test
