"""The registry of invariants: one decorated function per invariant.

Every invariant, built in or a user's own, is a function registered with
:func:`invariant`: it carries its id, family, statement and source, and yields
:class:`Finding` objects for one observation. ``oracle.INVARIANTS``,
``oracle.FAMILIES``, the reference docs, the README table check and the SARIF
rules are views of :data:`REGISTRY`::

    from pytest_actionsec import Finding, invariant

    @invariant("acme.hostname", statement="No host name of our cloud in a stored field.")
    def no_cloud_hosts(obs):
        for name, text in obs.text_fields():
            if ".cloud.acme.example" in text:
                yield Finding(name, "a host name of the cloud")

This module imports nothing heavy: the plugin loads it when pytest starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from pytest_actionsec.personas import SEVERITIES as _SEVERITIES
from pytest_actionsec.personas import level_rank

# The ground floor: nothing of the package is imported here but the audience tables of
# pytest_actionsec.personas (which import nothing). The built-ins of
# pytest_actionsec.invariants register into REGISTRY; pytest_actionsec.oracle, which
# judges, imports them.

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation

__all__ = [
    "OUTCOMES",
    "REGISTRY",
    "SEVERITIES",
    "Finding",
    "Invariant",
    "InvariantError",
    "Registry",
    "invariant",
    "severity_rank",
]

#: What a call can end in; an invariant says which of them it judges.
#: ``record``: a mapping came back; ``malformed``: something else came back;
#: ``error``: the call raised; ``timeout``: it did not return in time.
OUTCOMES: tuple[str, ...] = ("record", "malformed", "error", "timeout")

#: Audiences of a leaked secret, lowest first (:data:`pytest_actionsec.personas.LEVELS`):
#: ``stored`` (in the database, never rendered by Nova's API), ``admin`` (rendered to
#: admins and nova's service role only), ``bus`` (sent on the message bus to every service
#: consuming nova's notifications), ``tenant`` (rendered to a project's users).
SEVERITIES: tuple[str, ...] = _SEVERITIES


def severity_rank(severity: str | None) -> int:
    """0 for no severity, then 1 (stored), 2 (admin), 3 (bus), 4 (tenant): :data:`SEVERITIES`
    order."""
    return level_rank(severity)


_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)+$")
_FAMILY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class InvariantError(ValueError):
    """An invariant that cannot be registered or that failed to run; one line."""


class Finding(NamedTuple):
    """What an invariant's check yields for one broken rule.

    ``field`` names the record field at fault (None: the record as a whole),
    ``evidence`` says what was seen, ``kind`` separates findings of one field
    that have different causes (for example the offending type), ``blame``
    names a cause outside the code under test (then it never fails a run).
    """

    field: str | None = None
    evidence: str = ""
    kind: str = ""
    #: what caused it when not the code under test (``"input class X"``); such a
    #: finding is reported but never fails the run
    blame: str = ""
    #: who can read a leaked secret: ``tenant``, ``admin`` or ``stored`` (leaks only)
    severity: str = ""
    #: the personas that read it (:data:`pytest_actionsec.personas.PERSONAS` names,
    #: narrowest first; leaks only, empty for ``stored``)
    audience: tuple[str, ...] = ()


Check = Callable[["Observation"], Iterable[Finding]]
F = TypeVar("F", bound=Check)


@dataclass(frozen=True)
class Invariant:
    """A property every stored record must have, and the check that judges it."""

    id: str
    family: str
    statement: str
    source: str
    check: Check | None = field(default=None, compare=False, repr=False)
    outcomes: frozenset[str] = frozenset({"record"})
    helpers: frozenset[str] | None = None
    origin: str = ""
    builtin: bool = False

    def applies(self, outcome: str, function: str) -> bool:
        """True when this invariant judges a call of ``function`` that ended in ``outcome``."""
        return outcome in self.outcomes and (self.helpers is None or function in self.helpers)


class Registry:
    """Invariants by id: the built-ins first, each kind in registration order."""

    def __init__(self) -> None:
        self._by_id: dict[str, Invariant] = {}
        #: when True (set by the pytest plugin) a bad registration is remembered in
        #: :attr:`errors` and reported as a one-line usage error instead of raised
        self.defer_errors = False
        self.errors: list[str] = []

    def add(self, inv: Invariant) -> Invariant:
        """Register ``inv``; a duplicate id raises :class:`InvariantError` (or is deferred)."""
        old = self._by_id.get(inv.id)
        if old is not None and old.origin == inv.origin and old.builtin == inv.builtin:
            # the same function registering again: its module was imported anew
            # (pytester runs, importlib.reload); the new one replaces it
            self._by_id[inv.id] = inv
            return inv
        if old is not None and inv.builtin and not old.builtin:
            # a user's invariant registered before the built-ins loaded: the built-in
            # keeps its id, the user's is the duplicate
            self._by_id[inv.id] = inv
            self._duplicate(inv, old)
            return inv
        if old is not None:
            self._duplicate(old, inv)
            return old
        self._by_id[inv.id] = inv
        return inv

    def _duplicate(self, kept: Invariant, refused: Invariant) -> None:
        message = (
            f"invariant id {kept.id!r} registered twice: by {kept.origin or '?'} "
            f"and by {refused.origin or '?'}"
        )
        if not self.defer_errors:
            raise InvariantError(message)
        self.errors.append(message)

    def remove(self, invariant_id: str) -> None:
        """Unregister a user invariant (tests and pytester sessions clean up with this)."""
        inv = self._by_id.get(invariant_id)
        if inv is None:
            return
        if inv.builtin:
            raise InvariantError(f"built-in invariant {invariant_id!r} cannot be removed")
        del self._by_id[invariant_id]

    def user_ids(self) -> set[str]:
        """Ids of the invariants that are not built in."""
        return {i.id for i in self._by_id.values() if not i.builtin}

    def take_errors(self) -> list[str]:
        """The deferred registration errors, cleared."""
        out, self.errors = self.errors, []
        return out

    def families(self) -> tuple[str, ...]:
        """Every family, built-in ones first, in registration order."""
        return tuple(dict.fromkeys(i.family for i in self))

    def __iter__(self) -> Iterator[Invariant]:
        invariants = list(self._by_id.values())
        return iter([i for i in invariants if i.builtin] + [i for i in invariants if not i.builtin])

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, invariant_id: object) -> bool:
        return invariant_id in self._by_id

    def get(self, invariant_id: str) -> Invariant | None:
        """The invariant with this id, or None."""
        return self._by_id.get(invariant_id)

    def of_family(self, family: str) -> list[Invariant]:
        """The invariants of one family."""
        return [i for i in self._by_id.values() if i.family == family]


#: The process's registry (built-ins register when :mod:`pytest_actionsec.invariants` loads,
#: which importing :mod:`pytest_actionsec.oracle` does).
REGISTRY = Registry()


def invariant(
    invariant_id: str,
    *,
    statement: str,
    family: str | None = None,
    source: str = "",
    outcomes: Sequence[str] = ("record",),
    helpers: Iterable[str] | None = None,
    _builtin: bool = False,
) -> Callable[[F], F]:
    """Register the decorated function as the check of invariant ``invariant_id``.

    The function takes an :class:`~pytest_actionsec.oracle.Observation` and yields
    (or returns a list of) :class:`Finding`. ``family`` defaults to the id's first
    part (``acme.hostname`` -> ``acme``); a new family gets its own built-in suite
    items. ``outcomes`` says which call outcomes it judges (default: a record came
    back), ``helpers`` restricts it to some of the four helpers.
    """
    if not isinstance(invariant_id, str) or not _ID.match(invariant_id):
        raise InvariantError(
            f"invariant id must look like 'family.name' (letters, digits, _ and -), "
            f"got {invariant_id!r}"
        )
    fam = family if family is not None else invariant_id.split(".", 1)[0]
    if not isinstance(fam, str) or not _FAMILY.match(fam):
        raise InvariantError(
            f"invariant {invariant_id!r}: family must be a name of letters, digits and _, "
            f"got {fam!r}"
        )
    if not isinstance(statement, str) or not statement.strip():
        raise InvariantError(f"invariant {invariant_id!r}: statement must be a sentence")
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad or isinstance(outcomes, str):
        raise InvariantError(
            f"invariant {invariant_id!r}: outcomes must be among {', '.join(OUTCOMES)}, "
            f"got {outcomes!r}"
        )
    chosen_helpers = frozenset(helpers) if helpers is not None else None

    def register(check: F) -> F:
        if not callable(check):
            raise InvariantError(f"invariant {invariant_id!r}: {check!r} is not callable")
        origin = f"{getattr(check, '__module__', '?')}.{getattr(check, '__qualname__', '?')}"
        REGISTRY.add(
            Invariant(
                id=invariant_id,
                family=fam,
                statement=" ".join(statement.split()),
                source=source,
                check=check,
                outcomes=frozenset(outcomes),
                helpers=chosen_helpers,
                origin=origin,
                builtin=_builtin,
            )
        )
        return check

    return register
