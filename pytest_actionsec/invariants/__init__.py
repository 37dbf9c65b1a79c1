"""The built-in invariants, one module per family, registered on import.

Each invariant is one function decorated with
:func:`~pytest_actionsec.registry.invariant`. :data:`BUILTIN_FAMILIES` is the
order of :data:`~pytest_actionsec.oracle.FAMILIES` (a family module that imports
another's helpers must not register before it: they are imported in this order).
The invariants register into :data:`~pytest_actionsec.registry.REGISTRY`; importing
:mod:`pytest_actionsec.oracle` imports this package.
"""

from __future__ import annotations

# In BUILTIN_FAMILIES' order: the order they register in is the report's.
# isort: off
import pytest_actionsec.invariants.leak
import pytest_actionsec.invariants.type
import pytest_actionsec.invariants.null
import pytest_actionsec.invariants.bounds
import pytest_actionsec.invariants.time
import pytest_actionsec.invariants.integrity
import pytest_actionsec.invariants.purity
import pytest_actionsec.invariants.crash  # noqa: F401

# isort: on

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
