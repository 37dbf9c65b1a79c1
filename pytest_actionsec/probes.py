"""Probes: fixed calls every built-in property runs before Hypothesis generates.

They are the shapes of known defects of the helpers, so every run meets them
whatever the seed.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from pytest_actionsec.canaries import Canary, new_canary
from pytest_actionsec.constants import FIXED_TIME
from pytest_actionsec.excs import FORMAT_TB_TEXT, Secrets, live_traceback
from pytest_actionsec.specs import Call, ContextSpec, ExcInfoSpec, ExcSpec, InstanceSpec, TbSpec
from pytest_actionsec.targets import FACTS, FAULT_SINK, NOTIFY_SINK

if TYPE_CHECKING:
    from pytest_actionsec.targets import Target

__all__ = ["probes"]

_PROBE_TIME = FIXED_TIME
_PROBE_UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"


def _probe_context() -> tuple[ContextSpec, list[Canary]]:
    canaries = [
        new_canary("context.user_id", allowed=["user_id"]),
        new_canary("context.project_id", allowed=["project_id"]),
        new_canary("context.request_id", allowed=["request_id"]),
        new_canary("context.auth_token"),
    ]
    user, project, request, token = canaries
    attrs: tuple[tuple[str, Any], ...] = (
        ("user_id", user.token),
        ("project_id", project.token),
        ("request_id", f"req-{request.token}"),
        ("auth_token", f"gAAAAAB{token.token}"),
        ("remote_address", None),
        ("service_catalog", []),
        ("timestamp", _PROBE_TIME - _dt.timedelta(seconds=30)),
    )
    return ContextSpec(attrs), canaries


def probes(target: Target, function: str, *, layer: str = "packer") -> list[Call]:
    """Fixed contract calls that a property checks before generating: the shapes of
    known defects of these helpers, so that every run meets them whatever the seed.

    For ``pack_action_event_finish``: an exception carrying a secret in its text
    (CVE-2019-14433), a trusted exception whose message format fails with a secret
    in its unused kwargs, a falsy exception, one whose ``kwargs`` is a list, and
    already-serialised text of 200 two-byte characters (details hold 255 bytes);
    through the boundary each comes with its live traceback (nova's calling shape:
    the boundary formats it), else with already formatted frames.
    For the fault sink (``add_instance_fault_from_exc``): the same exceptions but the
    text, each passed with a live ``exc_info`` raised through a frame whose locals hold
    a secret, and a trusted fault with ``kwargs['code']`` 400. Other helpers have none
    (their inputs have no such rare shapes). Hypothesis's
    random search covers everything else; a finding on a probe is reported with
    the probe as its input.
    """
    facts = target.facts_of(function) if function in FACTS else None
    if function == FAULT_SINK:
        return _fault_probes(target, layer)
    if function == NOTIFY_SINK:
        return _notify_probes(target, layer)
    if facts is None or "exc_val" not in facts.keywords:
        return []
    out: list[Call] = []
    kinds: list[tuple[str, Any]] = [
        ("plain", None),
        ("falsy", ("__bool__", "false")),
        ("kwargs", "list"),
        ("long-text", "é" * 200),
    ]
    if target.trusted:
        kinds.insert(1, ("trusted", None))
    for kind, behaviour in kinds:
        context, canaries = _probe_context()
        exc_canaries: list[Canary] = []
        spec = _probe_exception(target, kind, behaviour, exc_canaries)
        given: dict[str, Any] = {
            "instance_uuid": _PROBE_UUID,
            "action_name": "reboot",
            "event_name": "compute__do_build_and_run_instance",
            "exc_val": spec,
            "exc_tb": FORMAT_TB_TEXT
            if layer != "boundary"
            else _live_traceback(spec, exc_canaries),
        }
        # the helper's own parameters, in its order (a name for any other positional one)
        arguments = tuple(
            (name, given.get(name, "actionsec"))
            for name in (*facts.positional, "exc_val", "exc_tb")
        )
        out.append(_probe_call(function, layer, context, arguments, canaries + exc_canaries))
    return out


def _live_traceback(spec: Any, exc_canaries: list[Canary]) -> TbSpec:
    """At the boundary, nova's own calling shape: the exception's live traceback (of a
    frame whose locals hold a secret), which the boundary turns into text itself."""
    tb, canary = live_traceback(isinstance(spec, ExcSpec))
    exc_canaries.append(canary)
    return tb


def _fault_probes(target: Target, layer: str) -> list[Call]:
    """The fault sink's probes: the event finish's exception shapes (but long text),
    each raised through a frame whose locals hold a secret and passed as ``exc_info``,
    and a trusted fault with ``kwargs['code']`` 400 (nova shows its details to members)."""
    kinds: list[tuple[str, Any]] = [
        ("plain", None),
        ("falsy", ("__bool__", "false")),
        ("kwargs", "list"),
    ]
    if target.trusted:
        kinds[1:1] = [("trusted", None), ("code-400", None)]
    out: list[Call] = []
    for kind, behaviour in kinds:
        context, canaries = _probe_context()
        exc_canaries: list[Canary] = []
        spec = _probe_exception(target, kind, behaviour, exc_canaries)
        local = new_canary("frame locals of the raising frame")
        exc_canaries.append(local)
        arguments: tuple[tuple[str, Any], ...] = (
            ("instance", InstanceSpec(_PROBE_UUID)),
            ("fault", spec),
            ("exc_info", ExcInfoSpec(secrets=(("password", local.token),))),
            ("fault_message", None),
        )
        out.append(_probe_call(FAULT_SINK, layer, context, arguments, canaries + exc_canaries))
    return out


def _notify_probes(target: Target, layer: str) -> list[Call]:
    """The notification sink's probes (h-notify): an exception carrying a secret in its
    text, and one whose ``__str__`` raises, each raised through a frame whose locals hold
    a secret, notified as an instance action's error."""
    import dataclasses

    from pytest_actionsec.notifications import notification_allowed
    from pytest_actionsec.specs import ServerSpec

    out: list[Call] = []
    for kind, behaviour in (("plain", None), ("falsy", ("__str__", "raises"))):
        context, canaries = _probe_context()
        exc_canaries: list[Canary] = []
        spec = _probe_exception(target, kind, behaviour, exc_canaries)
        local = new_canary("frame locals of the raising frame")
        exc_canaries.append(local)
        spec = dataclasses.replace(spec, raise_secrets=(("password", local.token),))
        arguments: tuple[tuple[str, Any], ...] = (
            ("instance", ServerSpec(_PROBE_UUID)),
            ("host", "compute-0"),
            ("action", "update"),
            ("phase", "error"),
            ("exception", spec),
        )
        moved = [
            dataclasses.replace(c, allowed_fields=notification_allowed(c.allowed_fields))
            for c in canaries + exc_canaries
        ]
        out.append(_probe_call(NOTIFY_SINK, layer, context, arguments, moved))
    return out


def _probe_call(
    function: str,
    layer: str,
    context: ContextSpec,
    arguments: tuple[tuple[str, Any], ...],
    canaries: list[Canary],
) -> Call:
    """A probe: the call at the probes' fixed server time, carrying its canaries."""
    return Call(
        function=function,
        layer=layer,
        context=context,
        arguments=arguments,
        server_time=_PROBE_TIME,
        canaries=tuple(canaries),
    )


def _probe_exception(target: Target, kind: str, behaviour: Any, exc_canaries: list[Canary]) -> Any:
    """The exception (or text) of one probe; its canaries are appended to ``exc_canaries``."""
    secrets = Secrets(exc_canaries, 0)
    spec: Any
    if kind == "long-text":
        spec = behaviour
    elif kind == "code-400":
        spec = ExcSpec.from_class(
            target.trusted[0],
            name="InstanceInvalidState",
            kwargs=(("code", 400),),
            msg_fmt="Instance is in an invalid state for this operation.",
            trusted=True,
        )
    elif kind == "trusted":
        spec = ExcSpec.from_class(
            target.trusted[0],
            name="InstanceFault",
            kwargs=(("connection", secrets.text("trusted exception kwargs (unused)")),),
            msg_fmt="Unexpected failure: %(missing)s",
            trusted=True,
        )
    elif kind == "falsy":
        spec = ExcSpec(
            base="builtins.ValueError",
            name="DBConnectionError",
            args=(secrets.text("exception.args"),),
            methods=(behaviour,),
        )
    elif kind == "kwargs":
        c = new_canary("exception.kwargs")
        exc_canaries.append(c)
        spec = ExcSpec(
            base="builtins.RuntimeError",
            name="ProcessExecutionError",
            args=(secrets.text("exception.args"),),
            attrs=(("kwargs", [c.token]),),
        )
    else:
        spec = ExcSpec(base="builtins.OSError", args=(secrets.text("exception.args"),))
    return spec
