"""A run's pipeline: the stages one drawn call goes through, and what each layer judges.

:class:`Pipeline` holds what a run needs (target, run, families judged per
layer, the store, the clock, the per-call limit); :meth:`Pipeline.stages` builds
its stages inside the run's sandbox (the captured logs and time limit are the
run's). The search (:mod:`pytest_actionsec.execution.search`) drives it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_actionsec.constants import DEFAULT_TIMEOUT, LAYERS
from pytest_actionsec.execution.plan import Run
from pytest_actionsec.execution.sandbox import Arm
from pytest_actionsec.execution.stages import (
    ClockLike,
    PackStage,
    RecordStore,
    Stage,
    StageConfig,
    pack_stage,
    render_stage,
    store_stage,
)
from pytest_actionsec.oracle import FAMILIES, Observation, Violation, judge
from pytest_actionsec.targets import NOTIFY_SINK, Target

if TYPE_CHECKING:
    from pytest_actionsec.specs import Call

__all__ = ["ExecutorStage", "Pipeline"]


@dataclass(frozen=True)
class ExecutorStage:
    """A stage made of a plain function ``call -> Observation`` (replaces every other)."""

    layer: str
    executor: Callable[[Call], Observation]

    def __call__(self, call: Call, upstream: Observation | None = None) -> Observation:
        """The executor's observation of ``call``."""
        return self.executor(call)

    def judge(self, obs: Observation, families: Iterable[str]) -> list[Violation]:
        """The oracle's verdict."""
        return judge(obs, families)


@dataclass(frozen=True)
class Pipeline:
    """One run's way through its stages, and the families each layer judges.

    ``judged`` maps layers to families (layers not in :meth:`Run.layers` are
    refused); ``store`` is needed when ``store`` or ``api`` is judged; ``executor``
    replaces the stages by one function (its observation is judged at the one
    judged layer).
    """

    target: Target
    run: Run
    judged: Mapping[str, tuple[str, ...]]
    store: RecordStore | None = None
    clock: ClockLike | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    executor: Callable[[Call], Observation] | None = None
    #: the message bus of the ``bus`` layer (a :class:`~pytest_actionsec.notifications.Bus`;
    #: h-notify)
    bus: Any = None
    #: layers whose printed inputs show only their families (default: every layer's own)
    describe_families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = self.run.layers(self.target.boundary is not None)
        chosen = {layer: tuple(dict.fromkeys(f)) for layer, f in self.judged.items() if f}
        bad = [layer for layer in chosen if layer not in known]
        if bad:
            raise ValueError(f"run {self.run.id} cannot judge layer(s) {bad}; it has {known}")
        unknown = sorted({f for fams in chosen.values() for f in fams} - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown invariant families {unknown}; known: {tuple(FAMILIES)}")
        if self.executor is not None and len(chosen) != 1:
            raise ValueError("an executor replaces the stages of exactly one judged layer")
        object.__setattr__(self, "judged", chosen)

    @property
    def function(self) -> str:
        """The function under test."""
        return self.run.function

    @property
    def layers(self) -> tuple[str, ...]:
        """The judged layers, in stage order."""
        return tuple(layer for layer in LAYERS if layer in self.judged)

    def skipped(self) -> dict[str, str]:
        """For each judged layer this pipeline cannot reach, why (one line)."""
        if self.executor is not None:
            return {}
        target = self.target
        out: dict[str, str] = {}
        if self.function not in target.helpers:
            part = "notification" if self.function == NOTIFY_SINK else "fault"
            return dict.fromkeys(self.layers, _why(target, part, part, "no such helper"))
        if self.run.via == "boundary" and target.boundary is None:
            why = _why(target, "boundary", "boundary", "no boundary")
            return dict.fromkeys(self.layers, why)
        if not target.nova_records:
            # nova's database and API code judge nova's records only: never another's
            # (a project's own store stage stores them; nova's API never renders them)
            why = _why(target, "records", "not nova's", "not nova's records")
            off = ("api",) if target.store_factory is not None else ("store", "api")
            out.update(dict.fromkeys([x for x in self.layers if x in off], why))
        for layer in ("store", "api"):
            if layer in self.judged and self.store is None and layer not in out:
                out[layer] = f"no store given for the {layer} layer"
        if "bus" in self.judged and self.bus is None:
            out["bus"] = "no bus given for the bus layer (--actionsec-bus=URL)"
        return out

    def families(self) -> frozenset[str]:
        """Every family judged at some layer."""
        return frozenset(f for fams in self.judged.values() for f in fams)

    def stages(
        self, *, logs: list[str] | None = None, arm: Arm = contextlib.nullcontext
    ) -> tuple[Stage, ...]:
        """The stages, built for the run's sandbox (``logs``, ``arm``); layers that
        :meth:`skipped` names are left out."""
        if self.executor is not None:
            (layer,) = self.judged
            return (ExecutorStage(layer, self.executor),)
        skipped = self.skipped()
        reach = [layer for layer in self.layers if layer not in skipped]
        if not reach:
            return ()
        config = StageConfig(
            clock=self.clock,
            timeout=self.timeout,
            watch_inputs="purity" in self.families(),
            logs=logs,
            arm=arm,
            families={**self.judged, **self.describe_families},
        )
        target, run = self.target, self.run
        stages: list[Stage] = [pack_stage(target, run.function, config, via=run.via)]
        if "bus" in reach:  # h-notify: the call made again, its notifier sending on the bus
            packed = target.helpers[run.function]
            sink = getattr(packed, "__wrapped__", packed)  # the capture wraps nova's function
            stages.append(PackStage(target, config, "bus", self.bus.capturing(sink)))
        if {"store", "api"} & set(reach):
            assert self.store is not None
            via = "boundary" if run.via == "boundary" else "packer"
            stages.append(store_stage(target, config, self.store, event_finish_via=via))
            if "api" in reach:
                stages.append(render_stage(target, config, self.store, event_finish_via=via))
        return tuple(stages)


def _why(target: Target, part: str, word: str, default: str) -> str:
    """Why ``target`` lacks ``part``: its own reason (``Target.skips``), else the notes of a
    target built by hand that name ``word``, else ``default``."""
    found = target.skips.get(part)
    if found:
        return found
    return "; ".join(n for n in target.notes if word in n) or default
