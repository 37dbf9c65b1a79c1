"""purity: a helper changes neither its inputs nor process-global state.

The engine snapshots the inputs and the global state around each call and fills
``Observation.impurities`` and ``Observation.globals_changed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.registry import OUTCOMES, Finding, invariant

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation


@invariant(
    "purity.inputs",
    statement="A helper changes none of its inputs (context, exception, traceback).",
    source="review seed 004: data integrity",
    outcomes=OUTCOMES,
    _builtin=True,
)
def purity_inputs(obs: Observation) -> Iterator[Finding]:
    """What the engine saw change in the inputs."""
    if obs.impurities:
        yield Finding(None, "; ".join(obs.impurities))


@invariant(
    "purity.globals",
    statement="A helper leaves process-global state as it found it: os.environ, the working "
    "directory, sys.path, the root logger's level and handlers, logging.disable, "
    "freezegun's frozen clocks and the bindings of datetime.datetime/date, the time "
    "functions and oslo_utils.timeutils.utcnow (the plugin restores them after each call).",
    source="robustness of the plugin: state changed by one call leaks into every later test",
    outcomes=OUTCOMES,
    _builtin=True,
)
def purity_globals(obs: Observation) -> Iterator[Finding]:
    """What the engine saw change (and restored) in process-global state."""
    if obs.globals_changed:
        kinds = ",".join(sorted({c.split(":")[0].split(" ")[0] for c in obs.globals_changed}))
        yield Finding(None, "; ".join(obs.globals_changed) + " (restored)", kinds)
