"""Replay one finding outside pytest: call, store, render and judge as the run did.

The printed input of every finding (:func:`pytest_actionsec.snippets.call_source`)
is a script built on :class:`Replay`::

    replay = Replay("pack_action_event_finish", "store", canaries=[...])
    store = Store.open(os.environ.get("ACTIONSEC_STORE"))
    with SkewedClock(datetime.datetime(2026, 11, 22, 12, 0)):
        replay.call(pack_through_rpc, context, uuid, "compute_x", exc_val=exc, exc_tb=tb)
        replay.write(store)
    raise SystemExit(1 if replay.show() else 0)  # exit 1 when it shows a violation

:meth:`Replay.call` calls the function it is given (nova's own) with the
engine's observation (errors caught, logs captured, inputs and process state
watched, the frozen clock as the server window); :meth:`Replay.write` writes the
record through nova's DB API on a :class:`~pytest_actionsec.store.Store` and
reads it back; :meth:`Replay.render` renders the stored row through nova's API
code; :meth:`Replay.show` judges the observation with the run's families,
trusted classes, canaries and hostile reasons and prints one line per
violation. Never imports pytest.
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from pytest_actionsec.canaries import Canary
from pytest_actionsec.constants import DEFAULT_TIMEOUT, FIXED_TIME, LAYERS
from pytest_actionsec.oracle import FAMILIES, Observation, Violation, judge
from pytest_actionsec.targets import (
    DEFAULT_TARGET,
    FACTS,
    FAULT_SINK,
    NOTIFY_SINK,
    resolve_target,
)

__all__ = ["LAYERS", "Replay", "violation_line"]

#: The layers a replay goes through.

CanaryLike = Canary | tuple[str, str, Iterable[str]]


def _canary(item: CanaryLike) -> Canary:
    if isinstance(item, Canary):
        return item
    token, origin, allowed = item
    return Canary(token=token, origin=origin, allowed_fields=frozenset(allowed))


def violation_line(violation: Violation) -> str:
    """One line for a violation: invariant id, field (``-`` for none), evidence."""
    evidence = " ".join(violation.evidence.split())
    return f"{violation.invariant} {violation.field or '-'}: {evidence}"


class Replay:
    """One finding's call replayed at ``layer``, judged as the run judged it.

    ``function`` is one of the four helpers or ``add_instance_fault_from_exc``;
    ``target`` the dotted module the run fuzzed and ``trusted`` its trusted
    exception classes (dotted paths; default the target's); ``families`` the
    families the run judged (default all); ``canaries`` the planted secrets as
    ``(token, origin, allowed fields)``; ``hostile`` the reasons the input breaks
    the calling convention (empty: contract input); ``bytes_inputs`` the bytes
    the input carries; ``timeout`` the per-call limit in seconds; ``policies`` the
    run's policy files (``--actionsec-policy``): from then on this process renders and
    judges audiences with them (:func:`pytest_actionsec.exposure.use_policies`).
    """

    def __init__(
        self,
        function: str,
        layer: str = "packer",
        *,
        target: str = DEFAULT_TARGET,
        trusted: Sequence[str] | None = None,
        families: Iterable[str] | None = None,
        canaries: Iterable[CanaryLike] = (),
        hostile: Iterable[str] = (),
        bytes_inputs: Iterable[bytes] = (),
        timeout: float | None = None,
        policies: Sequence[str] = (),
    ) -> None:

        if function not in FACTS:
            raise ValueError(f"function must be one of {tuple(FACTS)}, got {function!r}")
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
        self.function = function
        self.layer = layer
        self.target = resolve_target(target, trusted=trusted)
        self.families = tuple(FAMILIES) if families is None else tuple(families)
        self.canaries = tuple(_canary(c) for c in canaries)
        self.hostile = tuple(hostile)
        self.bytes_inputs = tuple(bytes_inputs)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if policies:  # the run's policy files: this process renders and judges with them
            from pytest_actionsec.exposure import use_policies
            from pytest_actionsec.policies import load_policies

            use_policies(load_policies(policies))
        #: what :meth:`call` observed (then :meth:`write` and :meth:`render`)
        self.observation: Observation | None = None
        self._when = FIXED_TIME  # the server time of the call

    def call(self, fn: Callable[..., Any], context: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(context, *args, **kwargs)`` as the engine does; return its record.

        An exception is caught (it is the observation's error; None is returned).
        For the fault sink the record is the fault its ``InstanceFault.create()``
        would write, captured instead of written (:meth:`write` writes it).
        """
        from pytest_actionsec.execution.sandbox import capture_logs, observe, time_limit

        facts = self.target.facts_of(self.function)
        arguments = dict(zip(facts.parameters, args, strict=False))
        arguments.update({facts.canonical(k): v for k, v in kwargs.items()})
        invoke = fn
        if self.function == FAULT_SINK:
            from pytest_actionsec.faults import capturing

            invoke = capturing(fn)
        elif self.function == NOTIFY_SINK:  # h-notify: the notification as sent
            from pytest_actionsec.notifications import capturing as sent

            invoke = sent(fn)
        now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)  # the frozen clock
        with capture_logs() as lines, time_limit(self.timeout) as arm:
            obs = observe(
                self.target,
                self.function,
                "store" if self.layer in ("store", "api") else self.layer,
                context,
                arguments,
                positional=len(args) > len(facts.positional),
                invoke=invoke,
                window=lambda: (now, now),
                logs=lines,
                arm=arm,
                timeout=self.timeout,
                watch_inputs="purity" in self.families,
                canaries=self.canaries,
                hostile=self.hostile,
                bytes_inputs=self.bytes_inputs,
            )
        self._when = now
        self.observation = obs
        return obs.record

    def _observed(self) -> Observation:
        if self.observation is None:
            raise RuntimeError("nothing replayed yet: call Replay.call() first")
        return self.observation

    def write(self, store: Any) -> Any:
        """Write the record through nova's DB API on ``store`` (a
        :class:`~pytest_actionsec.store.Store`) and read it back; return the row
        (None when the call returned no record or the database refused it)."""
        from pytest_actionsec.execution.stages import stored

        obs = stored(store, self._observed(), when=self._when)
        self.observation = obs
        return obs.record if obs.packed is not None else None

    def render(self) -> Any:
        """Render the stored row through nova's API code (by ``"persona@microversion"``)."""
        from pytest_actionsec.execution.stages import rendered

        obs = rendered(self._observed())
        self.observation = obs
        return obs.views

    def violations(self) -> list[Violation]:
        """The violations the run would report for this observation."""
        import dataclasses

        from pytest_actionsec.execution.stages import judge_stored

        obs = dataclasses.replace(self._observed(), layer=self.layer)
        if obs.timed_out is not None:
            return judge(obs, set(self.families) | {"crash"}, only=("crash.timeout",))
        if self.layer in ("store", "api"):
            return judge_stored(obs, self.families)
        return judge(obs, self.families)

    def show(self, file: IO[str] | None = None) -> list[Violation]:
        """Print what the call gave (``record:`` or ``error:``), then one line per
        violation (:func:`violation_line`); return the violations."""
        out = sys.stdout if file is None else file
        found = self.violations()
        obs = self._observed()
        if obs.timed_out is not None:
            print(f"timeout: no answer in {obs.timed_out} s", file=out)
        elif obs.error is not None:
            print(f"error: {type(obs.error).__name__}: {obs.error}", file=out)
        else:
            print(f"record: {obs.record!r}", file=out)
        for violation in found:
            print(violation_line(violation), file=out)
        return found
