"""Stages: the ways one drawn call goes, each yielding its own frozen observation.

A call is *packed* (the helper called directly, or through the target's RPC
boundary), then *stored* (nova's database API writes the record and it is read
back) and *rendered* (nova's API code shows the stored row to each persona).
Each layer names the stage whose observation its invariants judge: ``packer`` and
``boundary`` the packed call, ``store`` the stored row, ``api`` the rendered one.

A stage is built once per run by its factory (:func:`pack_stage`,
:func:`store_stage`, :func:`render_stage`) from the target and the run's
:class:`StageConfig`; it turns a call and the observation of the stage before it
into a new observation (never changing that one), and supplies the judging of
its own evidence (:meth:`Stage.judge`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pytest_actionsec.constants import DEFAULT_TIMEOUT
from pytest_actionsec.execution.sandbox import Arm, example_logs, observe
from pytest_actionsec.locations import raise_site
from pytest_actionsec.measure import one_line
from pytest_actionsec.oracle import Observation, Violation, judge
from pytest_actionsec.snippets import call_source
from pytest_actionsec.specs import ExcSpec, spec_bytes
from pytest_actionsec.targets import NOVA_TABLES, Target

if TYPE_CHECKING:
    from pytest_actionsec.specs import Call

__all__ = [
    "NOVA_TABLES",
    "STORE_INVARIANTS",
    "ClockLike",
    "PackStage",
    "RecordStore",
    "RenderStage",
    "Stage",
    "StageConfig",
    "StoreStage",
    "execute",
    "judge_stored",
    "pack_stage",
    "render_stage",
    "rendered",
    "store_stage",
    "stored",
]

#: Invariants judged on what the database did (refusals, changed values).
STORE_INVARIANTS = frozenset({"type.store", "bounds.store"})


class RecordStore(Protocol):
    """What the store stage needs of a database: nova's (:class:`~pytest_actionsec.store.Store`)
    or a project's own, for records that are not nova's (plugged in with
    ``--actionsec-store-stage`` or a ``pytest_actionsec.store_stages`` entry point: a
    factory ``factory(target)`` returning one).

    ``roundtrip`` writes a packed record through the project's own database code and
    reads the row back, returning ``(row, verdict)`` (``verdict``: ``(invariant id,
    message)`` when the row was stored but not as given, else None) or raising
    :class:`~pytest_actionsec.store.StoreRefused` with the database's refusal; ``blame``
    names the fields the database refuses on their own (``(invariant, field, message)``;
    may return ``[]``). ``backend`` (``sqlite``, ``mysql``, ``postgresql``, ...) and ``url``
    (masked when printed) describe it; ``close`` releases it.
    """

    @property
    def backend(self) -> str:
        """The database kind (``sqlite``, ``mysql``, ``postgresql``, ...)."""
        ...

    @property
    def url(self) -> str | None:
        """Where it is (masked when printed)."""
        ...

    def roundtrip(
        self, function: str, record: Mapping[str, Any], *, when: _dt.datetime | None = None
    ) -> tuple[dict[str, Any], tuple[str, str] | None]: ...

    def blame(
        self, function: str, record: Mapping[str, Any], *, when: _dt.datetime | None = None
    ) -> list[tuple[str, str, str]]: ...

    def close(self) -> None: ...


class ClockLike(Protocol):
    """What a stage needs of a server clock."""

    def move_to(self, when: _dt.datetime) -> None: ...

    def now(self) -> _dt.datetime: ...


@dataclass(frozen=True)
class StageConfig:
    """What every stage of one run shares.

    ``logs`` is the list an active :func:`~pytest_actionsec.execution.sandbox.capture_logs`
    fills (None: each call captures its own); ``arm`` the run's per-call time limit;
    ``families`` the families judged at each layer (what a printed input judges).
    """

    clock: ClockLike | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    watch_inputs: bool = True
    logs: list[str] | None = None
    arm: Arm = contextlib.nullcontext
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Stage(Protocol):
    """One step of a call's way; ``layer`` names the invariants judged on what it yields."""

    @property
    def layer(self) -> str:
        """The layer whose invariants judge this stage's observations."""
        ...

    def __call__(self, call: Call, upstream: Observation | None) -> Observation:
        """The observation of ``call`` at this stage (``upstream``: the stage before's)."""
        ...

    def judge(self, obs: Observation, families: Iterable[str]) -> list[Violation]:
        """The violations of ``families`` this stage's observation shows."""
        ...


def _builds_trusted(value: Any) -> bool:
    """True when ``value`` is an exception spec with a trusted class anywhere in its chain."""
    if not isinstance(value, ExcSpec):
        return False
    return value.trusted or _builds_trusted(value.cause) or _builds_trusted(value.context)


def _families_of(config: StageConfig, layer: str) -> tuple[str, ...] | None:
    chosen = config.families.get(layer)
    return tuple(chosen) if chosen else None


def execute(
    target: Target,
    call: Call,
    *,
    clock: ClockLike | None = None,
    logs: list[str] | None = None,
    arm: Arm = contextlib.nullcontext,
    timeout: float | None = None,
    invoke: Callable[..., Any] | None = None,
    watch_inputs: bool = True,
    layer: str | None = None,
    describe: Callable[[], str] | None = None,
) -> Observation:
    """Build ``call``'s inputs afresh, run it in the sandbox, and return the observation.

    ``invoke`` replaces the callable (default: the helper, or the boundary at the
    ``boundary`` layer); ``layer`` (default ``call.layer``) labels the observation;
    ``describe`` prints its input (default: the call as a script at that layer).
    ``watch_inputs`` False skips the input snapshots ``purity.inputs`` needs.
    """
    if clock is not None:
        clock.move_to(call.server_time)
    # Building a trusted exception may log (NovaException logs kwargs it cannot
    # format): that is the caller's doing, not the helper's, so keep it out of every
    # log. Only then: logging.disable() clears every logger's cache (nova has
    # hundreds), which cost about 8% of an example.
    if any(_builds_trusted(value) for _, value in call.arguments):
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            context, arguments = call.build(target)
        finally:
            logging.disable(previous)
    else:
        context, arguments = call.build(target)
    window = None
    if clock is not None:
        now = clock.now()
        window = lambda: (now, now)  # noqa: E731
    label = call.layer if layer is None else layer
    return observe(
        target,
        call.function,
        label,
        context,
        arguments,
        positional=call.positional,
        invoke=invoke,
        window=window,
        logs=logs,
        arm=arm,
        timeout=timeout,
        watch_inputs=watch_inputs,
        canaries=call.canaries,
        hostile=call.hostile,
        bytes_inputs=tuple(b for _, v in call.arguments for b in spec_bytes(v)),
        describe_input=describe
        or functools.partial(call_source, call, target, layer=label, timeout=timeout),
    )


@dataclass(frozen=True)
class PackStage:
    """The helper called on a drawn call, directly or through the target's boundary."""

    target: Target
    config: StageConfig
    layer: str
    invoke: Callable[..., Any]

    def __call__(self, call: Call, upstream: Observation | None = None) -> Observation:
        """Pack ``call`` (``upstream`` is unused: packing is the first stage)."""
        c = self.config
        describe = functools.partial(
            call_source,
            call,
            self.target,
            layer=self.layer,
            timeout=c.timeout,
            families=_families_of(c, self.layer),
        )
        kwargs: dict[str, Any] = dict(
            clock=c.clock,
            arm=c.arm,
            timeout=c.timeout,
            invoke=self.invoke,
            watch_inputs=c.watch_inputs,
            layer=self.layer,
            describe=describe,
        )
        if c.logs is not None:
            return execute(self.target, call, logs=c.logs, **kwargs)
        with example_logs() as lines:
            return execute(self.target, call, logs=lines, **kwargs)

    def judge(self, obs: Observation, families: Iterable[str]) -> list[Violation]:
        """The oracle's verdict on the packed call."""
        return judge(obs, families)


def pack_stage(
    target: Target,
    function: str,
    config: StageConfig,
    *,
    via: str = "packer",
    layer: str | None = None,
) -> PackStage:
    """The packing stage of ``function``: ``via`` ``"packer"`` calls the helper,
    ``"boundary"`` the target's ``serialize_args`` around it; ``layer`` (default
    ``via``) names the invariants judged on it."""
    if function not in target.helpers:
        raise ValueError(f"target {target.path} has no {function}")
    if via == "boundary":
        boundary = target.boundary_call()
        if boundary is None:
            raise ValueError(f"target {target.path} has no boundary (serialize_args)")
        invoke: Callable[..., Any] = boundary
    elif via == "packer":
        invoke = target.helpers[function]
    else:
        raise ValueError(f"via must be 'packer' or 'boundary', not {via!r}")
    return PackStage(target, config, layer or via, invoke)


def judge_stored(obs: Observation, families: Iterable[str]) -> list[Violation]:
    """The verdict on a stored (or rendered) observation, the database's doing set apart.

    What the database does on its own to a record the helper packed cleanly (a
    column default for a NULL start_time, a coercion the helper cannot prevent) is
    not the helper's defect: when the packed record, judged the same way, shows no
    violation of its own, only the database's refusals and changes
    (:data:`STORE_INVARIANTS`) are kept. A row the database refused yields its refusal
    and nothing else: no row exists to judge.
    """
    chosen = tuple(families)
    found = judge(obs, chosen)
    if obs.packed is None and obs.store_error is not None and obs.outcome == "record":
        # the database refused the row: its refusal is the finding, and nothing is judged
        # on a row that does not exist (the packed record is the packer layer's to judge)
        return [v for v in found if v.invariant in STORE_INVARIANTS]
    if obs.packed is None or not found:
        return found
    clean = dataclasses.replace(
        obs, record=obs.packed, packed=None, store_error=None, store_fields=()
    )
    if [v for v in judge(clean, chosen) if not v.blame]:
        return found
    return [v for v in found if v.invariant in STORE_INVARIANTS]


def stored(
    store: RecordStore, obs: Observation, *, when: _dt.datetime, layer: str = "store"
) -> Observation:
    """``obs`` (a packed call) after nova's database API wrote its record and it was read
    back: ``record`` is the row, ``packed`` the record as packed; a refusal sets
    ``store_error`` and ``store_fields`` and keeps the packed record. A call that returned
    no record is only relabelled. ``when`` is the parent rows' start time."""
    from pytest_actionsec.store import StoreRefused, coerced_fields

    if obs.outcome != "record":
        return dataclasses.replace(obs, layer=layer)
    try:
        row, verdict = store.roundtrip(obs.function, obs.record, when=when)
    except StoreRefused as refused:
        fields = tuple(store.blame(obs.function, obs.record, when=when))
        return dataclasses.replace(
            obs, layer=layer, store_error=refused.verdict, store_fields=fields
        )
    # a row of nova's database has the table's columns, whatever the target's objects
    # define; a project's own store stage keeps its record's
    columns = None if obs.facts.table in NOVA_TABLES else obs.table_columns
    return dataclasses.replace(
        obs,
        layer=layer,
        record=row,
        table_columns=columns,
        packed=obs.record,
        store_error=verdict,
        store_fields=(
            tuple(coerced_fields(obs.function, obs.record, row, columns=columns))
            if verdict is not None
            else ()
        ),
        # nova's DATETIME columns keep whole seconds on MySQL: compare at that precision
        time_resolution=_dt.timedelta(seconds=1) if store.backend == "mysql" else None,
    )


def rendered(obs: Observation, *, packages: Iterable[str] = ("nova",)) -> Observation:
    """``obs`` (a stored row) as nova's API code renders it (``views``, by
    ``"role@microversion"``); ``render_error`` (and ``raise_site``, in a module of
    ``packages``) when nova cannot render it. A row that was not stored is only
    relabelled."""
    if obs.packed is None:
        return dataclasses.replace(obs, layer="api")
    from pytest_actionsec.exposure import render_views

    try:
        views = render_views(obs.function, obs.record)
    except Exception as exc:
        return dataclasses.replace(
            obs,
            layer="api",
            views={},
            render_error=one_line(f"{type(exc).__name__}: {exc}"),
            raise_site=raise_site(exc, set(packages)),
        )
    return dataclasses.replace(obs, layer="api", views=views)


@dataclass(frozen=True)
class StoreStage:
    """The packed record written through nova's database API and read back."""

    target: Target
    config: StageConfig
    store: RecordStore
    #: how the packing stage before it packs event finish (for the printed input)
    event_finish_via: str = "boundary"
    layer: str = "store"

    def __call__(self, call: Call, upstream: Observation | None) -> Observation:
        """Store what ``upstream`` (the packed call) returned."""
        if upstream is None:
            raise ValueError("the store stage follows a packing stage")
        obs = stored(self.store, upstream, when=call.server_time)
        return dataclasses.replace(obs, describe_input=self._describe(call))

    def _describe(self, call: Call) -> Callable[[], str]:
        return functools.partial(
            call_source,
            call,
            self.target,
            layer=self.layer,
            store_url=self.store.url,
            timeout=self.config.timeout,
            event_finish_via=self.event_finish_via,
            families=_families_of(self.config, self.layer),
        )

    def judge(self, obs: Observation, families: Iterable[str]) -> list[Violation]:
        """The oracle's verdict, the database's own doing set apart (:func:`judge_stored`)."""
        return judge_stored(obs, families)


def store_stage(
    target: Target, config: StageConfig, store: RecordStore, *, event_finish_via: str = "boundary"
) -> StoreStage:
    """The storing stage on ``store`` (open; one per process)."""
    check = getattr(store, "_check_open", None)
    if check is not None:
        check()
    return StoreStage(target, config, store, event_finish_via)


@dataclass(frozen=True)
class RenderStage(StoreStage):
    """The stored row rendered through nova's API code for every persona and microversion."""

    layer: str = "api"

    def __call__(self, call: Call, upstream: Observation | None) -> Observation:
        """Render what ``upstream`` (the stored row) holds."""
        if upstream is None:
            raise ValueError("the render stage follows the store stage")
        packages = {"nova", *self.target.packages(call.function)}
        obs = rendered(upstream, packages=packages)
        return dataclasses.replace(obs, describe_input=self._describe(call))


def render_stage(
    target: Target, config: StageConfig, store: RecordStore, *, event_finish_via: str = "boundary"
) -> RenderStage:
    """The rendering stage (after :func:`store_stage` on the same ``store``); nova's API
    code is loaded here, before the run's first example."""
    from pytest_actionsec.exposure import warm

    warm()
    return RenderStage(target, config, store, event_finish_via)
