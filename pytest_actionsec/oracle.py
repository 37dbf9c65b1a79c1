"""The security oracle: observations of one call, violations, and :func:`judge`.

An :class:`Observation` is one execution of one helper (its inputs, what it
returned or raised, the logs it emitted, what it changed). :func:`judge` runs
every registered invariant that applies to it (see :mod:`pytest_actionsec.registry`
and the built-ins in :mod:`pytest_actionsec.invariants`) and returns
:class:`Violation` objects; it never asserts. :data:`INVARIANTS` and
:data:`FAMILIES` are live views of the registry.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest_actionsec.invariants  # noqa: F401 - registers the built-in invariants
from pytest_actionsec.canaries import Canary
from pytest_actionsec.locations import SourceLocation
from pytest_actionsec.measure import MISSING, field_name, plain, short
from pytest_actionsec.registry import (
    REGISTRY,
    SEVERITIES,
    Invariant,
    InvariantError,
    Registry,
    severity_rank,
)
from pytest_actionsec.targets import COLUMNS, CONTEXT_SOURCES, FACTS, HelperFacts

__all__ = [
    "COLUMNS",
    "CONTEXT_ATTRS",
    "FAMILIES",
    "INVARIANTS",
    "MISSING",
    "REQUIRED_KEYS",
    "SEVERITIES",
    "Invariant",
    "Observation",
    "Violation",
    "family_rank",
    "judge",
    "select",
    "severity_rank",
]


class InvariantsView(Mapping[str, Invariant]):
    """A live, read-only mapping of invariant ids to :class:`Invariant` (the registry's)."""

    def __getitem__(self, key: str) -> Invariant:
        inv = REGISTRY.get(key)
        if inv is None:
            raise KeyError(key)
        return inv

    def __iter__(self) -> Iterator[str]:
        return iter([i.id for i in REGISTRY])

    def __len__(self) -> int:
        return len(REGISTRY)

    def __repr__(self) -> str:
        return f"InvariantsView({list(self)!r})"


class FamiliesView(Sequence[str]):
    """A live, read-only tuple-like view of the registry's family names (built-ins first)."""

    def __getitem__(self, index: Any) -> Any:
        return REGISTRY.families()[index]

    def __len__(self) -> int:
        return len(REGISTRY.families())

    def __contains__(self, value: object) -> bool:
        return value in REGISTRY.families()

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY.families())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list, FamiliesView)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(REGISTRY.families())


#: Every family, built-in ones first (a live view: a fork's own families appear here).
FAMILIES: Any = FamiliesView()

#: Every invariant by id (a live view of the registry).
INVARIANTS: Mapping[str, Invariant] = InvariantsView()

#: Keys each helper's record must have.
REQUIRED_KEYS: Mapping[str, frozenset[str]] = {n: f.required for n, f in FACTS.items()}

#: Context attributes read before each call (the sources of copied fields).
CONTEXT_ATTRS = CONTEXT_SOURCES


#: the address in a default repr (``<traceback object at 0x7f...>``)
_ADDRESS = re.compile(r"(<[^<>\n]{1,200}) at 0x[0-9a-fA-F]{4,}>")


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with the evidence and the input that broke it."""

    invariant: str
    family: str
    function: str
    layer: str
    field: str | None
    input: str
    evidence: str
    kind: str = dataclasses.field(default="", compare=False)
    #: a cause outside the code under test (``"input class nova.exception.X"``): reported,
    #: never failing; empty for the code under test
    blame: str = dataclasses.field(default="", compare=False)
    #: who can read a leaked secret (``tenant``, ``admin``, ``stored``; see
    #: :data:`SEVERITIES`); empty for findings that are not leaks of a stored field
    severity: str = dataclasses.field(default="", compare=False)
    #: for a crash: the file and line where the exception was raised (see
    #: :func:`pytest_actionsec.locations.raise_site`); None otherwise
    location: SourceLocation | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        # a default repr's address (``<object object at 0x7f...>``) differs in every
        # process: two runs of one seed must report the same evidence
        object.__setattr__(self, "evidence", _ADDRESS.sub(r"\1 at 0x...>", self.evidence))

    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two violations the same finding (``kind``: the offending type)."""
        return (self.invariant, self.function, self.layer, self.field or "", self.kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's ``violations`` entries)."""
        return {
            "invariant": self.invariant,
            "family": self.family,
            "function": self.function,
            "layer": self.layer,
            "field": self.field,
            "input": self.input,
            "evidence": self.evidence,
            **({"blame": self.blame} if self.blame else {}),
            **({"severity": self.severity} if self.severity else {}),
            **({"location": self.location.to_dict()} if self.location else {}),
        }

    @property
    def label(self) -> str:
        """``leak.tenant``/``leak.admin``/``leak.stored`` for a leak with an audience, else
        the invariant id."""
        return f"leak.{self.severity}" if self.severity else self.invariant


@dataclass(frozen=True)
class Observation:
    """One execution of one helper at one stage, as the oracle sees it (frozen: a later
    stage makes a new one with :func:`dataclasses.replace`).

    ``sources`` holds the context attributes read before the call; ``arguments``
    the helper's arguments (after defaults) as the caller gave them.
    """

    function: str
    layer: str
    record: Any
    error: BaseException | None
    sources: Mapping[str, Any]
    arguments: Mapping[str, Any]
    canaries: tuple[Canary, ...] = ()
    server_window: tuple[_dt.datetime, _dt.datetime] | None = None
    logs: tuple[str, ...] = ()
    impurities: tuple[str, ...] = ()
    #: process-global changes the call made (already undone), see ``purity.globals``
    globals_changed: tuple[str, ...] = ()
    #: precision of the stored times (MySQL DATETIME keeps whole seconds); None: exact
    time_resolution: _dt.timedelta | None = None
    hostile: tuple[str, ...] = ()
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    trusted: tuple[type[BaseException], ...] = ()
    timed_out: float | None = None
    bytes_inputs: tuple[bytes, ...] = ()
    #: (invariant id, message) when the database refused the packed record (its own
    #: message) or stored it changed (a message starting "the database ")
    store_error: tuple[str, str] | None = None
    #: (invariant id, field, message) for each field the database refused on its own
    #: (the store layer retries field by field); empty when none could be named
    store_fields: tuple[tuple[str, str, str], ...] = ()
    describe_input: Callable[[], str] | None = None
    #: at the store layer: the record as the helper packed it (``record`` is the row
    #: read back); None elsewhere
    packed: Mapping[str, Any] | None = None
    #: at the api layer: what Nova's API shows of the stored row, by ``"role@microversion"``
    #: (see :func:`pytest_actionsec.exposure.render_views`); None elsewhere
    views: Mapping[str, Any] | None = None
    #: at the api layer: why Nova's API code could not render the stored row (one line)
    render_error: str | None = None
    #: where the call's exception (or, at the api layer, the render's) was raised; the
    #: exception's traceback itself is not kept
    raise_site: SourceLocation | None = None
    #: the helper's facts as the target implements it (None: nova 34's, ``FACTS``)
    helper_facts: HelperFacts | None = None
    #: the columns of the helper's record as the target defines it (None: nova 34's)
    table_columns: Mapping[str, tuple[str, int | None]] | None = None

    @property
    def outcome(self) -> str:
        """How the call ended: ``timeout``, ``error``, ``malformed`` or ``record``."""
        if self.timed_out is not None:
            return "timeout"
        if self.error is not None:
            return "error"
        if not isinstance(self.record, Mapping):
            return "malformed"
        return "record"

    @property
    def facts(self) -> HelperFacts:
        """The helper's facts (table, parameters, copied fields, clocks) as the target
        implements it."""
        return self.helper_facts if self.helper_facts is not None else FACTS[self.function]

    @property
    def columns(self) -> Mapping[str, tuple[str, int | None]]:
        """The columns (kind, limit) of the helper's record, by name (the target's own
        schema; nova 34's by default)."""
        if self.table_columns is not None:
            return self.table_columns
        return COLUMNS.get(self.facts.table, {})

    def text_fields(self) -> list[tuple[str, str]]:
        """(field, text) for every text value of the record (a str subclass by what it holds)."""
        if not isinstance(self.record, Mapping):
            return []
        return [
            (field_name(k), plain(v)) for k, v in self.record.items() if issubclass(type(v), str)
        ]

    def input_text(self) -> str:
        """The input as text (a runnable snippet when the call was drawn by the plugin)."""
        if self.describe_input is not None:
            return self.describe_input()
        parts = [f"{k}={short(v)}" for k, v in self.arguments.items()]
        ctx = ", ".join(f"{k}={short(v)}" for k, v in self.sources.items())
        return f"{self.function}(context({ctx}), {', '.join(parts)})"


def family_rank(family: str) -> int:
    """A family's position in :data:`FAMILIES` (unknown families last)."""
    families = REGISTRY.families()
    return families.index(family) if family in families else len(families)


def select(items: Iterable[str] | None) -> tuple[frozenset[str], frozenset[str] | None]:
    """Split a mix of family names and invariant ids into (families, invariant ids or None).

    ``None`` selects everything; a family named whole judges all its invariants.
    Raises ValueError naming an unknown item.
    """
    registry = REGISTRY
    known = registry.families()
    if items is None:
        return frozenset(known), None
    fams: set[str] = set()
    ids: set[str] = set()
    whole: set[str] = set()
    for item in items:
        inv = registry.get(item)
        if item in known:
            fams.add(item)
            whole.add(item)
        elif inv is not None:
            ids.add(item)
            fams.add(inv.family)
        else:
            raise ValueError(f"unknown invariant or family {item!r}; families: {', '.join(known)}")
    if not ids:
        return frozenset(fams), None
    only = set(ids) | {i.id for i in registry if i.family in whole}
    return frozenset(fams), frozenset(only)


def judge(
    obs: Observation,
    families: Iterable[str] | None = None,
    *,
    only: Iterable[str] | None = None,
) -> list[Violation]:
    """Violations of the registered invariants of ``families`` (default: all) in ``obs``.

    ``only`` narrows to some invariant ids. An invariant whose check raises is a
    bug of that invariant: :class:`~pytest_actionsec.registry.InvariantError`.
    """
    registry = REGISTRY
    known = registry.families()
    chosen = frozenset(known if families is None else families)
    unknown = chosen - set(known)
    if unknown:
        raise ValueError(f"unknown invariant families {sorted(unknown)}; known: {known}")
    ids = frozenset(only) if only is not None else None
    return _judge(registry, obs, chosen, ids)


def _judge(
    registry: Registry, obs: Observation, chosen: frozenset[str], ids: frozenset[str] | None
) -> list[Violation]:
    outcome = obs.outcome
    out: list[Violation] = []
    described: list[str] = []
    for inv in registry:
        if inv.family not in chosen or (ids is not None and inv.id not in ids):
            continue
        if inv.check is None or not inv.applies(outcome, obs.function):
            continue
        try:
            findings = list(inv.check(obs) or ())
        except Exception as exc:
            raise InvariantError(
                f"invariant {inv.id} ({inv.origin}) raised {type(exc).__name__}: {short(exc, 200)}"
            ) from exc
        for found in findings:
            if not described:
                described.append(obs.input_text())
            out.append(
                Violation(
                    invariant=inv.id,
                    family=inv.family,
                    function=obs.function,
                    layer=obs.layer,
                    field=found.field,
                    input=described[0],
                    evidence=found.evidence,
                    kind=found.kind,
                    blame=found.blame,
                    severity=found.severity,
                    location=obs.raise_site if inv.family == "crash" else None,
                )
            )
    return out
