"""The instance-fault sink: find it in a target, and run it capturing the fault it records.

``add_instance_fault_from_exc(context, instance, fault, exc_info=None,
fault_message=None)`` (``nova.compute.utils``) builds an ``InstanceFault`` from an
exception (``exception_to_dict`` for message and code, ``_get_fault_details`` for
the traceback text) and writes it with ``InstanceFault.create()``. Its record is
what ``create()`` would write: the fields the sink set on the object. At the
packer layer nothing is written (:func:`capturing` takes the values where
``create()`` would send them to the database); the store layer writes them with
nova's ``db.instance_fault_create`` and reads the row back.

A sink named by ``--actionsec-sink`` (a dotted path, whatever its name) is fuzzed;
otherwise a target module that defines ``add_instance_fault_from_exc`` itself (with
its own ``exception_to_dict`` and ``_get_fault_details`` at module level, as nova
does) is fuzzed with its own; otherwise nova's is used (a fallback the reports name).
Nova is imported lazily (:mod:`pytest_actionsec.nova`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from pytest_actionsec import nova
from pytest_actionsec.sinks import SinkKind, find_sink

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


#: The fault sink, as :func:`~pytest_actionsec.sinks.find_sink` looks it up.
FAULT_SINK = SinkKind(
    name=_NAME,
    nova_module=NOVA_FAULT_MODULE,
    load_nova=lambda: nova.fault_module(),
    option="sink",
    properties="fault",
    params=_PARAMS,
    keywords={"exc_info": None, "fault_message": None},
    shape="(context, instance, fault, exc_info=None, fault_message=None)",
    capture=lambda sink: capturing(sink),
    capture_needs="nova.objects is not usable to capture the fault",
)


def find_fault_sink(
    module: Any, path: str, *, given: tuple[Any, str] | None = None
) -> tuple[Callable[..., Any] | None, str, str]:
    """``(sink, origin, note)`` for a target module: ``given`` (the function named by
    ``--actionsec-sink`` and its dotted path), else its own sink, else nova's.

    ``sink`` is None (and ``note`` says why) when neither is usable. Raises
    ``TargetError`` when the sink is not callable or has the wrong signature.
    """
    return find_sink(FAULT_SINK, module, path, given=given)
