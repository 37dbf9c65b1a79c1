"""crash: a failure is always recorded; hostile input is refused cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.measure import error_text, short
from pytest_actionsec.registry import Finding, invariant
from pytest_actionsec.targets import NOTIFY_SINK, SINKS

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation


def _what_went_wrong(obs: Observation) -> tuple[str, str] | None:
    """(evidence, kind) when the call raised or returned no dict; None otherwise."""
    if obs.outcome == "malformed":
        record = obs.record
        if record is None and obs.function == NOTIFY_SINK:  # h-notify
            return "sent no notification: the sink emitted none", ""
        if record is None and obs.function in SINKS:
            return "recorded no fault: the sink created no InstanceFault", ""
        return f"returned {type(record).__name__} {short(record)}, not a dict", ""
    error = obs.error
    if error is None:
        return None
    what = f"{type(error).__name__}: {short(error_text(error), 200)}"
    return f"raised {what}", type(error).__name__


@invariant(
    "crash.contract",
    statement="For input within the calling contract a helper returns a record (a dict): "
    "a failure is always recorded.",
    source="nova 34: a non-dict kwargs attribute makes exception_to_dict raise",
    outcomes=("error", "malformed"),
    _builtin=True,
)
def crash_contract(obs: Observation) -> Iterator[Finding]:
    """A contract call that raised or returned no dict."""
    if obs.hostile:
        return
    found = _what_went_wrong(obs)
    if found is not None:
        evidence, kind = found
        if obs.error is not None:
            evidence += "; the failure is not recorded"
        yield Finding(None, evidence, kind)


@invariant(
    "crash.hostile",
    statement="Input outside the contract is either packed cleanly or refused with "
    "TypeError or ValueError; any other exception is a finding.",
    source="review seeds 001, 003: input validation",
    outcomes=("error", "malformed"),
    _builtin=True,
)
def crash_hostile(obs: Observation) -> Iterator[Finding]:
    """A hostile call that raised something other than TypeError/ValueError, or no dict."""
    if not obs.hostile:
        return
    if isinstance(obs.error, (TypeError, ValueError)):
        return
    found = _what_went_wrong(obs)
    if found is not None:
        evidence, kind = found
        if obs.error is not None:
            evidence += f" (hostile input: {'; '.join(obs.hostile)}); the failure is not recorded"
        yield Finding(None, evidence, kind)


@invariant(
    "crash.timeout",
    statement="A helper returns within the per-example time limit.",
    source="robustness of the plugin",
    outcomes=("timeout",),
    _builtin=True,
)
def crash_timeout(obs: Observation) -> Iterator[Finding]:
    """The call did not return within the engine's limit (wall-clock time: the one
    finding a seed does not fix, the evidence says so)."""
    yield Finding(
        None,
        f"no return within {obs.timed_out:g} s (wall clock: depends on the machine's speed "
        "and load, a replay of the seed may not time out)",
    )


@invariant(
    "crash.api",
    statement="Nova's API code renders every stored record (server show's fault, the "
    "instance action and its events) for a member and an admin at every microversion.",
    source="nova.api.openstack.compute (instance_actions, views.servers); api layer",
    _builtin=True,
)
def crash_api(obs: Observation) -> Iterator[Finding]:
    """At the ``api`` layer: the stored row made Nova's API code raise."""
    if obs.render_error:
        kind = obs.render_error.split(":", 1)[0]
        yield Finding(None, f"nova's API cannot render the stored row: {obs.render_error}", kind)
