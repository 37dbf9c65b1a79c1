"""Run the oracle on whatever a test packs: :class:`Checker` and :func:`check_record`.

Usable from any test framework (pytest fixtures wrap it)::

    checker = Checker(resolve_target())
    outcome = checker.run("pack_action_event_finish", ctx, uuid, "compute_x",
                          exc_val=exc, exc_tb=text)
    checker.assert_clean(outcome)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_actionsec.canaries import (
    Canary,
    CanaryHit,
    find_canaries,
    planted_canaries,
    render_text,
)
from pytest_actionsec.execution.sandbox import capture_logs, observe
from pytest_actionsec.execution.stages import ClockLike
from pytest_actionsec.oracle import (
    CONTEXT_ATTRS,
    INVARIANTS,
    Observation,
    Violation,
    judge,
    select,
)
from pytest_actionsec.targets import FUNCTIONS, Target

__all__ = ["Checker", "Outcome", "check_record", "format_hits", "format_violations"]


@dataclass
class Outcome:
    """A helper's record (or error) and the violations the oracle found in it."""

    record: Any
    error: BaseException | None
    violations: list[Violation]

    @property
    def clean(self) -> bool:
        """True when no invariant was broken."""
        return not self.violations


_AUDIENCE = {
    "tenant": "a member of the server's project reads this field through Nova's API",
    "admin": "only an admin reads this field through Nova's API",
    "bus": "the services consuming nova's notifications read it on the message bus",
    "stored": "in the database; Nova's API shows this field to no one",
}


def format_violations(violations: Sequence[Violation], *, with_input: bool = True) -> str:
    """A readable account: invariant id and statement, field, evidence, input."""
    lines = []
    for i, v in enumerate(violations, 1):
        inv = INVARIANTS.get(v.invariant)
        lines.append(f"{i}. {v.invariant} [{v.family}] {v.function} ({v.layer} layer)")
        if inv is not None:
            lines.append(f"   invariant: {inv.statement}")
        if v.field:
            lines.append(f"   field:     {v.field}")
        if v.severity:
            lines.append(f"   audience:  {v.label} ({_AUDIENCE.get(v.severity, v.severity)})")
        lines.append(f"   evidence:  {v.evidence}")
        if v.location is not None:
            lines.append(f"   at:        {v.location}")
        if with_input:
            lines.append("   input:")
            lines.extend("      " + line for line in v.input.rstrip().splitlines())
    return "\n".join(lines)


def format_hits(hits: Sequence[CanaryHit]) -> str:
    """One line per leaked canary: where it came from, where it was found, in which encoding."""
    return "\n".join(hit.describe() for hit in hits)


class Checker:
    """Pack with a target's helpers and judge the result.

    ``invariants`` restricts the check to families and/or invariant ids;
    ``canaries`` are extra planted secrets (a list is shared, not copied: canaries
    planted in it later count; those registered on the inputs by the strategies are
    found automatically); with ``clock`` the server clock is known exactly.
    """

    def __init__(
        self,
        target: Target,
        *,
        invariants: Iterable[str] | None = None,
        canaries: Iterable[Canary] = (),
        clock: ClockLike | None = None,
        hostile: bool = False,
    ) -> None:
        self.target = target
        self.families, self.only = select(invariants)
        # a list is kept, not copied: canaries planted in it later still count
        self.canaries: list[Canary] = canaries if isinstance(canaries, list) else list(canaries)
        self.clock = clock
        self.hostile = hostile

    def _judge(self, obs: Observation) -> list[Violation]:
        return judge(obs, self.families, only=self.only)

    def _canaries_for(self, context: Any, arguments: Mapping[str, Any]) -> tuple[Canary, ...]:
        planted = planted_canaries(context, *arguments.values())
        return tuple(dict.fromkeys([*self.canaries, *planted]))

    def _known(self, function: str) -> None:
        if function not in FUNCTIONS:
            raise ValueError(f"unknown helper {function!r}; expected one of {', '.join(FUNCTIONS)}")
        if function not in self.target.helpers:
            raise ValueError(
                f"target {self.target.path} has no {function} ({'; '.join(self.target.notes)})"
            )

    def run(
        self, function: str, context: Any, *args: Any, layer: str = "packer", **kwargs: Any
    ) -> Outcome:
        """Call ``function`` (one of the four helpers, or the fault sink
        ``add_instance_fault_from_exc``, whose record is the fault it creates) and judge
        what it returns or raises.

        ``layer="boundary"`` calls ``pack_action_event_finish`` through the target's
        ``serialize_args``. Arguments are passed as Nova passes them.
        """
        self._known(function)
        facts = self.target.facts_of(function)
        names = facts.parameters
        if len(args) > len(names):
            raise TypeError(f"{function} takes at most {len(names) + 1} positional arguments")
        arguments = dict(zip(names, args, strict=False))
        given = {facts.canonical(k): v for k, v in kwargs.items()}
        unknown = set(given) - set(names)
        if unknown:
            raise TypeError(f"{function} got unexpected arguments {sorted(unknown)}")
        arguments.update(given)
        positional = layer == "boundary" and len(args) > 2
        window = None
        if self.clock is not None:
            now = self.clock.now()
            window = lambda: (now, now)  # noqa: E731
        with capture_logs() as lines:
            obs = observe(
                self.target,
                function,
                layer,
                context,
                arguments,
                positional=positional,
                window=window,
                logs=lines,
                canaries=self._canaries_for(context, arguments),
                hostile=("declared hostile by the test",) if self.hostile else (),
            )
        return Outcome(obs.record, obs.error, self._judge(obs))

    def check(
        self,
        function: str,
        record: Any,
        *,
        context: Any,
        layer: str = "packer",
        server_time: _dt.datetime | None = None,
        logs: Sequence[str] = (),
        **arguments: Any,
    ) -> list[Violation]:
        """Judge a record a test packed itself (no purity or crash checks)."""
        self._known(function)
        window = None
        if server_time is not None:
            window = (server_time, server_time)
        elif self.clock is not None:
            window = (self.clock.now(), self.clock.now())
        facts = self.target.facts_of(function)
        full = {facts.canonical(k): v for k, v in arguments.items()}
        for name in facts.keywords:
            full.setdefault(name, None)
        obs = Observation(
            function=function,
            layer=layer,
            record=record,
            error=None,
            sources={name: getattr(context, name, None) for name in CONTEXT_ATTRS},
            arguments=full,
            canaries=self._canaries_for(context, full),
            server_window=window,
            logs=tuple(logs),
            schemas=self.target.schemas,
            trusted=self.target.trusted,
            helper_facts=facts,
            table_columns=self.target.columns_of(function),
        )
        return self._judge(obs)

    def assert_clean(self, outcome: Outcome | Sequence[Violation]) -> None:
        """Raise AssertionError with a readable account when there are violations."""
        violations = outcome.violations if isinstance(outcome, Outcome) else list(outcome)
        if violations:
            raise AssertionError(
                f"{len(violations)} actionsec violation(s):\n" + format_violations(violations)
            )

    def leaks(self, value: Any, *, where: str = "value") -> list[CanaryHit]:
        """Canaries of this checker found in ``value`` (rendered as stored text)."""
        return find_canaries(render_text(value), self.canaries, where=where)


def check_record(
    target: Target,
    function: str,
    record: Any,
    *,
    context: Any,
    invariants: Iterable[str] | None = None,
    canaries: Iterable[Canary] = (),
    server_time: _dt.datetime | None = None,
    **arguments: Any,
) -> list[Violation]:
    """Judge one packed ``record`` of ``function`` made from ``context`` and ``arguments``."""
    checker = Checker(target, invariants=invariants, canaries=canaries)
    return checker.check(function, record, context=context, server_time=server_time, **arguments)
