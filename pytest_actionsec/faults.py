"""The instance-fault sink: find it in a target, and run it capturing the fault it records.

``add_instance_fault_from_exc(context, instance, fault, exc_info=None,
fault_message=None)`` (``nova.compute.utils``) builds an ``InstanceFault`` from an
exception (``exception_to_dict`` for message and code, ``_get_fault_details`` for
the traceback text) and writes it with ``InstanceFault.create()``. Its record is
what ``create()`` would write: the fields the sink set on the object. At the
packer layer nothing is written (:func:`capturing` takes the values where
``create()`` would send them to the database); the store layer writes them with
nova's ``db.instance_fault_create`` and reads the row back.

A target module that defines ``add_instance_fault_from_exc`` itself (with its own
``exception_to_dict`` and ``_get_fault_details`` at module level, as nova does) is
fuzzed with its own; otherwise nova's is used. Nova is imported lazily
(:mod:`pytest_actionsec.nova`).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

from pytest_actionsec import nova
from pytest_actionsec.errors import TargetError

__all__ = [
    "FAULT_FIELDS",
    "NOVA_FAULT_MODULE",
    "capturing",
    "fault_fields",
    "find_fault_sink",
]

#: The columns ``InstanceFault.create()`` writes (nova 34), in its order.
FAULT_FIELDS: tuple[str, ...] = ("instance_uuid", "code", "message", "details", "host")

#: Where nova defines the sink.
NOVA_FAULT_MODULE = nova.FAULT_MODULE

_NAME = "add_instance_fault_from_exc"
_PARAMS = ("context", "instance", "fault")


def _fault_class() -> Any:
    # nova.modules() registers the objects quietly (under -W error webob's and oslo's
    # DeprecationWarnings must not turn the fault properties off) and parses CONF (the
    # sink reads CONF.host)
    return nova.modules().objects.InstanceFault


def fault_fields() -> dict[str, Any]:
    """``nova.objects.InstanceFault.fields``: the oslo.versionedobjects schema of a fault."""
    return dict(_fault_class().fields)


def capturing(sink: Callable[..., Any]) -> Callable[..., dict[str, Any] | None]:
    """``sink`` called as is, returning the values its ``InstanceFault.create()`` would
    write (the fields it set, by name) instead of writing them; None when it created
    no fault. Raises what the sink raises."""
    fault_class = _fault_class()

    @functools.wraps(sink)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        captured: list[dict[str, Any]] = []
        original = fault_class.__dict__["create"]

        def create(self: Any) -> None:
            captured.append(
                {name: getattr(self, name) for name in FAULT_FIELDS if self.obj_attr_is_set(name)}
            )

        fault_class.create = create
        try:
            with warnings.catch_warnings():
                # oslo's UUIDField warns (FutureWarning) on a non-uuid instance uuid;
                # under -W error that would turn a stored value into a crash
                warnings.simplefilter("ignore", FutureWarning)
                sink(*args, **kwargs)
        finally:
            fault_class.create = original
        return captured[0] if captured else None

    return call


def find_fault_sink(module: Any, path: str) -> tuple[Callable[..., Any] | None, str, str]:
    """``(sink, origin, note)`` for a target module: its own sink, else nova's.

    ``sink`` is None (and ``note`` says why) when neither is usable. Raises
    ``TargetError`` when the module's own sink has the wrong signature.
    """
    own = getattr(module, _NAME, None)
    origin = f"{path}.{_NAME}"
    if own is None:
        try:
            own = getattr(nova.fault_module(), _NAME, None)
        except Exception:
            own = None
        origin = f"{NOVA_FAULT_MODULE}.{_NAME}"
        if own is None:
            return (
                None,
                "none",
                f"fault properties skipped: the target defines no {_NAME} and "
                f"{NOVA_FAULT_MODULE} is not importable",
            )
    if not callable(own):
        raise TargetError(f"target {path!r}: {_NAME} is not callable")
    try:
        signature = inspect.signature(own)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(*_PARAMS, exc_info=None, fault_message=None)
        except TypeError:
            raise TargetError(
                f"target {path!r}: {_NAME}{signature} does not accept "
                "(context, instance, fault, exc_info=None, fault_message=None)"
            ) from None
    try:
        wrapped = capturing(own)
    except Exception as exc:
        return (
            None,
            "none",
            f"fault properties skipped: nova.objects is not usable to capture the fault "
            f"({type(exc).__name__})",
        )
    return wrapped, origin, ""
