"""leak: no planted secret reaches a stored field or a log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from pytest_actionsec.canaries import Canary, find_canaries, render_text
from pytest_actionsec.measure import field_name, plain, short
from pytest_actionsec.notifications import AUDIENCE as NOTIFICATION_AUDIENCE
from pytest_actionsec.notifications import NOTIFICATION_TABLE
from pytest_actionsec.personas import level_of
from pytest_actionsec.registry import Finding, invariant
from pytest_actionsec.targets import FAULT_SINK, NOVA_TABLES

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation

_CVE = "CVE-2019-14433 / OSSA-2019-003 (commit 298b337a16)"


@invariant(
    "leak.field",
    statement="No planted secret (untrusted exception text, unused kwargs of trusted "
    "exceptions, frame locals, the context's secret attributes) appears in any stored "
    "field, the traceback included, in any encoding; an id appears only in its own field.",
    source=_CVE,
    _builtin=True,
)
def leak_field(obs: Observation) -> Iterator[Finding]:
    """Search every stored field's text (keys that are columns of the record's table)
    for every canary of the input; a hit's audience is the personas that read that
    field through Nova's API (:func:`readers`), and at the ``api`` layer only those of
    them shown the canary in the rendered row; its severity is their coarse level."""
    if not obs.canaries:
        return
    columns = obs.columns
    # h-notify: every key of a notification goes on the wire, a known field or not
    wire = obs.facts.table == NOTIFICATION_TABLE
    for name, value in obs.record.items():
        where = field_name(name)
        if columns and where not in columns and not wire:
            # a key that is no column of the table is never written, so no one reads it
            # (integrity.columns reports the key itself)
            continue
        hits = find_canaries(render_text(value), obs.canaries, where=where)
        if not hits:
            continue
        if wire:  # h-notify: what goes on the bus is read by the services consuming it
            for hit in hits:
                yield Finding(
                    where,
                    hit.describe(),
                    kind=NOTIFICATION_AUDIENCE,
                    severity=NOTIFICATION_AUDIENCE,
                )
            continue
        field_readers = readers(obs, where)
        if field_readers is None:  # nova's API code is not importable: no audience
            for hit in hits:
                yield Finding(where, hit.describe())
            continue
        for hit in hits:
            seen = field_readers
            if obs.views and seen:
                seen = _seen_by(obs.views, _shows_canary(hit.canary), seen)
            level = level_of(seen)
            yield Finding(where, hit.describe(), kind=level, severity=level, audience=seen)


def _seen_by(
    views: Mapping[str, object], shows: Callable[[str], bool], field_readers: tuple[str, ...]
) -> tuple[str, ...]:
    """At the ``api`` layer: those of ``field_readers`` (the field's readers) whose
    rendering of the stored row (``views``, by ``persona@microversion``) ``shows`` what
    was found; none when no rendering does (nova's API transformed or dropped it)."""
    out = []
    for persona in field_readers:
        texts = [render_text(view) for key, view in views.items() if key.startswith(persona + "@")]
        if any(shows(text) for text in texts):
            out.append(persona)
    return tuple(out)


def _shows_canary(canary: Canary) -> Callable[[str], bool]:
    return lambda text: bool(find_canaries(text, [canary], where="api view"))


def readers(obs: Observation, field: str) -> tuple[str, ...] | None:
    """The personas that read ``field`` of this record through Nova's API under the
    policies in use (narrowest first); None when Nova's API code is not importable or
    the record is not nova's (another project's API decides who reads it)."""
    if obs.facts.table not in TABLES:
        return None
    try:
        from pytest_actionsec.exposure import readers as nova_readers

        record = obs.record if isinstance(obs.record, Mapping) else None
        return nova_readers(obs.function, field, record)
    except Exception:
        return None


#: nova's own tables (whose readers nova's API code decides)
TABLES = NOVA_TABLES


def audience(obs: Observation, field: str) -> str:
    """``tenant``, ``bus``, ``admin`` or ``stored``: who reads ``field`` of this record through
    Nova's API under the policies in use; ``""`` when Nova's API code is not importable or
    the record is not nova's; ``bus`` for a notification (read by the bus's consumers)."""
    if obs.facts.table == NOTIFICATION_TABLE:
        return NOTIFICATION_AUDIENCE
    found = readers(obs, field)
    return "" if found is None else level_of(found)


@invariant(
    "leak.log",
    statement="No planted secret appears in a log record emitted while packing.",
    source="security reviews (seeds 000, 002, 003): logging of sensitive data",
    outcomes=("record", "error"),
    _builtin=True,
)
def leak_log(obs: Observation) -> Iterator[Finding]:
    """Search every log line the call emitted for the secret canaries."""
    secrets = [c for c in obs.canaries if c.secret]
    if not secrets:
        return
    for i, line in enumerate(obs.logs):
        for hit in find_canaries(line, secrets, where="log"):
            yield Finding(None, f"{hit.describe()} (record {i}: {short(line)})")


#: A frame line of Python's traceback text (``traceback.format_tb``, ``format_exception``,
#: ``StackSummary.format``): the file and line of a frame.
FRAME_LINE = re.compile(r'File "[^"\n]*", line \d+')


@invariant(
    "leak.fault-frames",
    statement="A fault's details hold traceback frames only when its code is 500: at any "
    "other code nova's API shows details to the project's members, who would read the "
    "compute host's file paths and source lines.",
    source="nova.compute.utils._get_fault_details (details only when error_code == 500); "
    "servers view _get_fault",
    helpers=(FAULT_SINK,),
    _builtin=True,
)
def leak_fault_frames(obs: Observation) -> Iterator[Finding]:
    """A stored int code other than 500 with frame lines (:data:`FRAME_LINE`) in the
    stored details; the audience is who reads those details at that code (at the ``api``
    layer, those of them whose rendered row shows the frames)."""
    record = obs.record
    code = record.get("code")
    if type(code) is not int or code == 500:  # the API's own test: `code != 500`
        return
    details = plain(record.get("details"))
    if type(details) is not str:
        return
    frame = FRAME_LINE.search(details)
    if frame is None:
        return
    seen = readers(obs, "details")
    evidence = f"code {code}, yet details hold traceback frames ({short(frame.group(0))})"
    if seen is None:
        yield Finding("details", evidence)
        return
    if obs.views and seen:
        seen = _seen_by(obs.views, lambda text: FRAME_LINE.search(text) is not None, seen)
    level = level_of(seen)
    yield Finding("details", evidence, kind=level, severity=level, audience=seen)
