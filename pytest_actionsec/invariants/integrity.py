"""integrity: records say what happened, with the values they were given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.invariants.null import source_of
from pytest_actionsec.measure import MISSING, field_name, plain, same, short
from pytest_actionsec.registry import Finding, invariant
from pytest_actionsec.targets import FAULT_SINK

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation

_FINISH = ("pack_action_event_finish",)
_SINK = (FAULT_SINK,)


@invariant(
    "integrity.result",
    statement="result is exactly 'Success' or 'Error', and 'Error' exactly when a "
    "traceback is stored.",
    source="nova pack_action_event_finish contract",
    helpers=_FINISH,
    _builtin=True,
)
def integrity_result(obs: Observation) -> Iterator[Finding]:
    """result against the stored traceback and the given exc_tb."""
    record = obs.record
    exc_tb = obs.arguments.get("exc_tb")
    # stored values are compared only as exact str: their own __eq__ is never called
    result = plain(record.get("result", MISSING))
    tb_stored = record.get("traceback") is not None
    if type(result) is not str or result not in ("Success", "Error"):
        yield Finding("result", f"result is {short(result)}")
    elif (result == "Error") != tb_stored:
        yield Finding(
            "result",
            f"result {result!r} but traceback {'stored' if tb_stored else 'not stored'}",
        )
    if exc_tb is None:
        if type(result) is str and result == "Error":
            yield Finding("result", "no exc_tb given, yet result is 'Error'")
    elif type(result) is str and result == "Success":
        yield Finding("result", f"exc_tb given ({short(exc_tb)}), yet 'Success'")


@invariant(
    "integrity.ids",
    statement="Ids and names (request_id, user_id, project_id, instance_uuid, action, "
    "event, host) are copied from their sources unchanged.",
    source="nova pack helpers contract",
    _builtin=True,
)
def integrity_ids(obs: Observation) -> Iterator[Finding]:
    """Each copied field holds its source's value, of the same type."""
    record = obs.record
    for name, where in obs.facts.copies.items():
        source = source_of(obs, where)
        if source is MISSING or source is None or name not in record:
            continue
        stored = record[name]
        if not same(stored, source):
            yield Finding(
                name, f"stored {short(stored)}, source {where[0]}.{where[1]} is {short(source)}"
            )


@invariant(
    "integrity.details",
    statement="details is present when an error carries an exception or a message.",
    source="API microversion 2.84 (InstanceActionEvent 1.4)",
    helpers=_FINISH,
    _builtin=True,
)
def integrity_details(obs: Observation) -> Iterator[Finding]:
    """An error with an exception or a non-empty message stores details (a versioned
    fact: only where the event has a details column, InstanceActionEvent 1.4)."""
    exc_val, exc_tb = obs.arguments.get("exc_val"), obs.arguments.get("exc_tb")
    if exc_tb is None or "details" not in obs.facts.holds:
        return
    details = plain(obs.record.get("details"))
    message = plain(exc_val)
    carries = isinstance(exc_val, BaseException) or (type(message) is str and message)
    if carries and (details is None or (type(details) is str and not details)):
        yield Finding(
            "details", f"error carries {type(exc_val).__name__} but no details are stored"
        )


@invariant(
    "integrity.columns",
    statement="A record has every key its helper packs and no key that is not a column "
    "of its table (or a lookup key).",
    source="nova/db/main/models.py",
    _builtin=True,
)
def integrity_columns(obs: Observation) -> Iterator[Finding]:
    """The record's keys against the helper's required keys and the table's columns."""
    facts = obs.facts
    names = [field_name(k) for k in obs.record]
    missing = sorted(facts.required - set(names))
    extra = sorted(k for k in names if k not in obs.columns)
    for name in missing:
        yield Finding(name, f"record lacks {name} (it has {', '.join(sorted(names))})")
    for name in extra:
        yield Finding(name, f"record has {name}, not a column of {facts.table}")


def expected_fault_code(fault: object) -> object:
    """The code nova's ``exception_to_dict`` owes a fault: ``fault.kwargs['code']`` when
    the fault has a dict ``kwargs`` holding one, else 500; MISSING when ``kwargs`` is not
    a dict (then nova cannot record the fault at all: a ``crash`` finding)."""
    try:
        kwargs = getattr(fault, "kwargs", MISSING)
    except Exception:
        return MISSING
    if kwargs is MISSING:
        return 500
    if not isinstance(kwargs, dict):
        return MISSING
    return kwargs.get("code", 500)


@invariant(
    "integrity.code",
    statement="A fault's code is its exception's own (kwargs['code'] of a Nova exception) "
    "or 500: a tenant reads a fault's details whenever it is not 500.",
    source="nova.compute.utils.exception_to_dict; servers view _get_fault",
    helpers=_SINK,
    _builtin=True,
)
def integrity_code(obs: Observation) -> Iterator[Finding]:
    """The stored code against the code the fault carries."""
    expected = expected_fault_code(obs.arguments.get("fault"))
    if expected is MISSING or "code" not in obs.record:
        return
    stored = obs.record["code"]
    if not same(stored, expected):
        yield Finding("code", f"stored {short(stored)}, the fault's code is {short(expected)}")
