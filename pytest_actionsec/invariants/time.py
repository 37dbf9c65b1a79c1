"""time: naive UTC times from the right clock."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.constants import LOCAL_OFFSET
from pytest_actionsec.measure import MISSING, field_name, same, short, utc_naive
from pytest_actionsec.registry import Finding, invariant

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation


@invariant(
    "time.naive-utc",
    statement="Stored times are naive datetimes (UTC by Nova's convention), never aware "
    "ones whose offset the database would drop.",
    source="bugs 1719561, 1796009, 1254764",
    _builtin=True,
)
def time_naive_utc(obs: Observation) -> Iterator[Finding]:
    """Every datetime of the record is naive."""
    for name, value in obs.record.items():
        if isinstance(value, _dt.datetime) and value.utcoffset() is not None:
            yield Finding(
                field_name(name),
                f"stored an aware datetime {value.isoformat()} (offset {value.utcoffset()})",
            )


@invariant(
    "time.request-clock",
    statement="An action's start_time is the request context's timestamp.",
    source="nova pack_action_start contract",
    _builtin=True,
)
def time_request_clock(obs: Observation) -> Iterator[Finding]:
    """The request-clock field equals context.timestamp (in UTC)."""
    name = obs.facts.request_clock
    if name is None:
        return
    start = obs.record.get(name, MISSING)
    ts = obs.sources.get("timestamp", MISSING)
    if isinstance(start, _dt.datetime) and isinstance(ts, _dt.datetime):
        res = obs.time_resolution
        if utc_naive(start, res) != utc_naive(ts, res):
            yield Finding(
                name, f"{name} {start.isoformat()} but context.timestamp is {ts.isoformat()}"
            )


@invariant(
    "time.server-clock",
    statement="finish_time and an event's start_time come from the server clock at the "
    "call, not from the request's clock.",
    source="nova pack_action_finish/pack_action_event_* contract; review seed 003",
    _builtin=True,
)
def time_server_clock(obs: Observation) -> Iterator[Finding]:
    """The server-clock field lies within the server clock's reading during the call."""
    name = obs.facts.server_clock
    if name is None or obs.server_window is None:
        return
    value = obs.record.get(name, MISSING)
    lo, hi = obs.server_window
    res = obs.time_resolution
    if isinstance(value, _dt.datetime) and not (
        utc_naive(lo, res) <= utc_naive(value, res) <= utc_naive(hi, res)
    ):
        ts = obs.sources.get("timestamp")
        hint = ""
        if isinstance(ts, _dt.datetime) and utc_naive(ts) == utc_naive(value):
            hint = " (it is the request's timestamp)"
        elif value.tzinfo is None and lo <= value - LOCAL_OFFSET <= hi:
            hint = (
                f" (it is the server clock in the server's local time, UTC+{_hours(LOCAL_OFFSET)}:"
                " a naive local time, such as datetime.now(), where nova stores UTC)"
            )
        when = lo.isoformat() if lo == hi else f"{lo.isoformat()}..{hi.isoformat()}"
        yield Finding(name, f"{name} {value.isoformat()} but the server clock read {when}{hint}")


@invariant(
    "time.mirror",
    statement="updated_at equals the time it mirrors (start_time, or finish_time).",
    source="bug 1719561",
    _builtin=True,
)
def time_mirror(obs: Observation) -> Iterator[Finding]:
    """updated_at is the same value as the field it mirrors."""
    mirrored = obs.facts.mirror
    record = obs.record
    if mirrored is None or "updated_at" not in record or mirrored not in record:
        return
    a, b = record["updated_at"], record[mirrored]
    if not same(a, b):
        yield Finding("updated_at", f"updated_at {short(a)} differs from {mirrored} {short(b)}")


def _hours(offset: _dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
