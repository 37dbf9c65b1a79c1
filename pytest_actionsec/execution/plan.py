"""What runs: properties, the Hypothesis runs that judge them, and their results.

A :class:`Property` is one invariant family checked on one function at one layer
(the pytest item). Properties are judged by :class:`Run`\\ s: one Hypothesis run
per function and way of packing it, through every stage its selected layers
need (:func:`run_of`). Nova's five functions take six runs: each function
packed directly (``packer``, ``store``, ``api``), and event finish once more
through the RPC boundary (``boundary``, and its ``store`` and ``api``, which
nova reaches through ``event_finish_with_failure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_actionsec.constants import DRAW_LAYERS, LAYERS
from pytest_actionsec.oracle import FAMILIES, Violation
from pytest_actionsec.targets import FUNCTIONS, NOTIFY_SINK

__all__ = [
    "BOUNDARY_FUNCTION",
    "Group",
    "Property",
    "PropertyResult",
    "Run",
    "RunResult",
    "applies",
    "builtin_groups",
    "builtin_properties",
    "builtin_runs",
    "run_of",
]

#: The one function nova calls through the RPC boundary (``serialize_args``).
BOUNDARY_FUNCTION = "pack_action_event_finish"


@dataclass(frozen=True)
class Property:
    """One invariant family, checked on one helper at one layer."""

    family: str
    function: str
    layer: str

    @property
    def id(self) -> str:
        """Stable id, also the pytest item's parameter (``leak-pack_action_start-packer``)."""
        return f"{self.family}-{self.function}-{self.layer}"

    @property
    def group(self) -> Group:
        """The helper and layer of this property."""
        return Group(self.function, self.layer)


@dataclass(frozen=True)
class Group:
    """One helper at one layer (every family of it)."""

    function: str
    layer: str

    @property
    def id(self) -> str:
        """Stable id (``pack_action_start-packer``); ``-k`` with it selects every family."""
        return f"{self.function}-{self.layer}"


@dataclass(frozen=True)
class Run:
    """One Hypothesis run: a function, drawn and packed ``via`` the helper or the boundary,
    through the stages of the layers it judges."""

    function: str
    via: str = "packer"

    def __post_init__(self) -> None:
        if self.via not in DRAW_LAYERS:
            raise ValueError(f"via must be one of {DRAW_LAYERS}, got {self.via!r}")

    @property
    def id(self) -> str:
        """Stable id: the function (``pack_action_start``), ``-boundary`` when through it."""
        return self.function if self.via == "packer" else f"{self.function}-{self.via}"

    def layers(self, has_boundary: bool = True) -> tuple[str, ...]:
        """The layers this run judges (in stage order): those :func:`run_of` gives it."""
        return tuple(
            layer
            for layer in LAYERS
            if applies(self.function, layer)
            and run_of(self.function, layer, has_boundary=has_boundary) == self
        )


def applies(function: str, layer: str) -> bool:
    """True when ``function`` has a ``layer``: the boundary wraps event finish only; the
    notification sink (h-notify) has the ``packer`` and ``bus`` layers, and only it has
    ``bus`` (a notification is no database row)."""
    if function == NOTIFY_SINK:
        return layer in ("packer", "bus")
    if layer == "bus":
        return False
    return layer != "boundary" or function == BOUNDARY_FUNCTION


def run_of(function: str, layer: str, *, has_boundary: bool = True) -> Run:
    """The run that judges ``function`` at ``layer``: event finish's store and api
    layers pack through the boundary (nova's path) when the target has one."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    if layer == "boundary" or (
        layer in ("store", "api") and function == BOUNDARY_FUNCTION and has_boundary
    ):
        return Run(function, "boundary")
    return Run(function, "packer")


def builtin_groups(layers: Sequence[str] = ("packer", "boundary")) -> list[Group]:
    """Every helper and sink at every layer it applies to (the boundary wraps event
    finish only)."""
    return [
        Group(function, layer)
        for layer in layers
        for function in FUNCTIONS
        if applies(function, layer)
    ]


def builtin_properties(
    layers: Sequence[str] = ("packer", "boundary"),
    families: Sequence[str] | None = None,
) -> list[Property]:
    """The built-in suite: every family (a fork's own too) on every group of ``layers``."""
    chosen = tuple(FAMILIES) if families is None else tuple(families)
    return [
        Property(family, group.function, group.layer)
        for group in builtin_groups(layers)
        for family in chosen
    ]


def builtin_runs(layers: Sequence[str] = LAYERS, *, has_boundary: bool = True) -> list[Run]:
    """The runs the built-in suite makes for ``layers`` (at most six for five functions)."""
    runs = {
        run_of(g.function, g.layer, has_boundary=has_boundary): None for g in builtin_groups(layers)
    }
    return list(runs)


@dataclass(frozen=True)
class PropertyResult:
    """What one run found for one property."""

    property: Property
    status: str  # passed | failed | skipped
    examples: int = 0
    violations: tuple[Violation, ...] = ()
    reason: str = ""
    seed: int | None = None
    seconds: float = 0.0
    #: the id of the run that judged it (:attr:`Run.id`)
    run: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The report's ``properties`` entry."""
        return {
            "id": self.property.id,
            "family": self.property.family,
            "function": self.property.function,
            "layer": self.property.layer,
            "examples": self.examples,
            "status": self.status,
            "reason": self.reason,
            **({"run": self.run} if self.run else {}),
        }


@dataclass(frozen=True)
class RunResult:
    """What one run found, for every layer and family it judged.

    ``skipped`` gives, for each layer the run could not reach (no boundary, no store),
    the reason; its properties are skipped.
    """

    run: Run
    judged: Mapping[str, tuple[str, ...]]
    status: str  # passed | failed | skipped
    examples: int = 0
    violations: tuple[Violation, ...] = ()
    reason: str = ""
    seed: int | None = None
    seconds: float = 0.0
    skipped: Mapping[str, str] = field(default_factory=dict)

    def covers(self, prop: Property) -> bool:
        """True when this run judged (or skipped) ``prop``."""
        return prop.function == self.run.function and (
            prop.family in self.judged.get(prop.layer, ()) or prop.layer in self.skipped
        )

    def for_property(self, prop: Property) -> PropertyResult:
        """This run's verdict on one property.

        A ``crash.timeout`` ends an example before anything else was judged, so every
        family of its layer reports it (none of them was checked).
        """
        if prop.layer in self.skipped or self.status == "skipped":
            reason = self.skipped.get(prop.layer, self.reason)
            return PropertyResult(prop, "skipped", reason=reason, seed=self.seed, run=self.run.id)
        found = tuple(
            v
            for v in self.violations
            if v.layer == prop.layer and (v.family == prop.family or v.invariant == "crash.timeout")
        )
        return PropertyResult(
            prop,
            "failed" if [v for v in found if not v.blame] else "passed",
            examples=self.examples,
            violations=found,
            reason=self.reason,
            seed=self.seed,
            seconds=self.seconds,
            run=self.run.id,
        )


def judged_layers(judged: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """The layers of ``judged`` that judge some family, in stage order."""
    return tuple(layer for layer in LAYERS if judged.get(layer))
