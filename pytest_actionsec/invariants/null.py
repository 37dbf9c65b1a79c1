"""null: None stays None."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.measure import MISSING, short
from pytest_actionsec.registry import Finding, invariant

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation


def source_of(obs: Observation, where: tuple[str, str]) -> object:
    """The value a copied field comes from (a context attribute or an argument; an
    argument's dotted name reads its attributes: ``instance.uuid``)."""
    kind, name = where
    if kind == "context":
        return obs.sources.get(name, MISSING)
    first, *attrs = name.split(".")
    value = obs.arguments.get(first, MISSING)
    for attr in attrs:
        if value is MISSING or value is None:
            return MISSING
        try:
            # only what the object holds: an unset attribute must not be lazy-loaded
            set_ = getattr(value, "obj_attr_is_set", None)
            if set_ is not None and not set_(attr):
                return MISSING
            value = getattr(value, attr)
        except Exception:
            return MISSING
    return value


@invariant(
    "null.preserved",
    statement="A None source is stored as None, never as 'None', '' or a default; no "
    "traceback or details are stored for a call without one.",
    source="nullable fields (review seed 004); periodic tasks write project_id=None (bug 1817542)",
    _builtin=True,
)
def null_preserved(obs: Observation) -> Iterator[Finding]:
    """Copied fields of a None source, and an event finish without a traceback."""
    record = obs.record
    for name, where in obs.facts.copies.items():
        source = source_of(obs, where)
        if source is None and name in record and record[name] is not None:
            yield Finding(
                name, f"source {where[0]}.{where[1]} is None, stored {short(record[name])}"
            )
    if obs.function == "pack_action_event_finish" and obs.arguments.get("exc_tb") is None:
        for name in ("traceback", "details"):
            if record.get(name) is not None:
                yield Finding(name, f"no exc_tb given, yet {name} = {short(record.get(name))}")
