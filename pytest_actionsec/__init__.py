"""pytest-actionsec: security regression property tests for Nova's instance-action packers.

The core (:mod:`~pytest_actionsec.targets`, :mod:`~pytest_actionsec.strategies`,
:mod:`~pytest_actionsec.oracle`, :mod:`~pytest_actionsec.engine`) knows nothing
of pytest; :mod:`pytest_actionsec.plugin` is a thin layer over it. Importing
this package is cheap: submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_LAZY = {
    "Target": "targets",
    "TargetError": "targets",
    "resolve_target": "targets",
    "Canary": "canaries",
    "new_canary": "canaries",
    "find_canaries": "canaries",
    "planted_canaries": "canaries",
    "Invariant": "registry",
    "InvariantError": "registry",
    "Finding": "registry",
    "invariant": "registry",
    "Group": "engine",
    "GroupResult": "engine",
    "run_group": "engine",
    "INVARIANTS": "oracle",
    "FAMILIES": "oracle",
    "Observation": "oracle",
    "Violation": "oracle",
    "judge": "oracle",
    "Property": "engine",
    "PropertyResult": "engine",
    "builtin_properties": "engine",
    "observe": "engine",
    "run_property": "engine",
    "SkewedClock": "clock",
    "check_record": "checks",
    "Replay": "replay",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_actionsec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pytest_actionsec.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
