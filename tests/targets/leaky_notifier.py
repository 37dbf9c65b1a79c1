"""A broken notification builder: the paranoid one, but its fault's message is
``str(exception)`` for every exception, nova's own or not (what nova 34's
``ExceptionPayload.from_exception`` does): the precision tests' caught case."""

from __future__ import annotations

from typing import Any

from tests.zoo import paranoid

__all__ = ["notify_about_instance_action"]


def _leaky_payload(exception: BaseException) -> Any:
    payload = paranoid._exception_payload(exception)
    payload.exception_message = str(exception)
    return payload


def notify_about_instance_action(
    context: Any,
    instance: Any,
    host: Any,
    action: Any,
    phase: Any = None,
    source: Any = None,
    exception: Any = None,
    bdms: Any = None,
    best_effort: bool = False,
) -> None:
    """The paranoid notification, with ``str(exception)`` as the fault's message."""
    paranoid.notify_with(
        _leaky_payload, context, instance, host, action, phase, source, exception, bdms
    )
