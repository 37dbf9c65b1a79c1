"""Finding a target's sink function: the one lookup the fault sink and the notifier share.

A sink is a function of nova's that a helper's caller hands the same context and
exception to (``add_instance_fault_from_exc``, ``notify_about_instance_action``). The
function a user names (``--actionsec-sink``, ``--actionsec-notifier``) wins; else the
target module's own function of nova's name; else nova's. What is found must be callable
and accept nova's calling shape; it is wrapped by the kind's capture, which returns the
values it would write or send.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_actionsec.errors import TargetError

__all__ = ["SinkKind", "find_sink"]


@dataclass(frozen=True)
class SinkKind:
    """What differs between the kinds of sink (their names, shapes and captures)."""

    #: nova's function name, looked up on the target and on nova's module
    name: str
    #: nova's module holding it (dotted), and how to import it
    nova_module: str
    load_nova: Callable[[], Any]
    #: the option naming one (``sink``, ``notifier``), for errors
    option: str
    #: the properties skipped without one (``fault``, ``notification``)
    properties: str
    #: positional parameters nova passes, and its keyword defaults
    params: tuple[str, ...]
    keywords: Mapping[str, Any] = field(default_factory=dict)
    #: the shape an error names, e.g. ``(context, instance, fault, exc_info=None)``
    shape: str = ""
    #: wraps the function found; raises when nova's parts it needs are not usable
    capture: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda f: f
    #: what is not usable when ``capture`` raises, e.g. ``nova.objects ... the fault``
    capture_needs: str = ""


def find_sink(
    kind: SinkKind, module: Any, path: str, *, given: tuple[Any, str] | None = None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(sink, origin, note)`` for a target module: ``given`` (the function a user named
    and its dotted path), else the module's own function of ``kind.name``, else nova's.

    ``sink`` (wrapped by ``kind.capture``) is None, and ``note`` says why, when none is
    usable. Raises ``TargetError`` when it is not callable or has the wrong signature.
    """
    if given is not None:
        own, origin = given
        label = f"{kind.option} {origin!r}"
        name = getattr(own, "__name__", origin.rpartition(".")[2])
    else:
        own = getattr(module, kind.name, None)
        origin = f"{path}.{kind.name}"
        label, name = f"target {path!r}", kind.name
        if own is None:
            try:
                own = getattr(kind.load_nova(), kind.name, None)
            except Exception:
                own = None
            origin = f"{kind.nova_module}.{kind.name}"
            if own is None:
                return (
                    None,
                    "none",
                    f"{kind.properties} properties skipped: the target defines no {kind.name} "
                    f"and {kind.nova_module} is not importable",
                )
    option = kind.option if given is not None else None
    if not callable(own):
        what = f"is not callable ({type(own).__name__})" if given else f"{name} is not callable"
        raise TargetError(f"{label}: {what}", option=option)
    try:
        signature = inspect.signature(own)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(*kind.params, **kind.keywords)
        except TypeError:
            raise TargetError(
                f"{label}: {name}{signature} does not accept {kind.shape}", option=option
            ) from None
    try:
        wrapped = kind.capture(own)
    except Exception as exc:
        return (
            None,
            "none",
            f"{kind.properties} properties skipped: {kind.capture_needs} ({type(exc).__name__})",
        )
    return wrapped, origin, ""
