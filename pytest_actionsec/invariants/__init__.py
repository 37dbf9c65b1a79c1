"""The built-in invariants, one module per family, registered on import.

Each invariant is one function decorated with
:func:`~pytest_actionsec.registry.invariant`. :data:`BUILTIN_FAMILIES` is the
order of :data:`~pytest_actionsec.oracle.FAMILIES` (a family module that imports
another's helpers must not register before it: they are loaded in this order).
"""

from __future__ import annotations

import importlib

__all__ = ["BUILTIN_FAMILIES"]

#: The built-in families, in report order; one module of this package each.
BUILTIN_FAMILIES: tuple[str, ...] = (
    "leak",
    "type",
    "null",
    "bounds",
    "time",
    "integrity",
    "purity",
    "crash",
)

for _family in BUILTIN_FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")
