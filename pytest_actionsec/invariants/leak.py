"""leak: no planted secret reaches a stored field or a log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from pytest_actionsec.canaries import Canary, find_canaries, render_text
from pytest_actionsec.measure import field_name, short
from pytest_actionsec.notifications import AUDIENCE as NOTIFICATION_AUDIENCE
from pytest_actionsec.notifications import NOTIFICATION_TABLE
from pytest_actionsec.registry import Finding, invariant
from pytest_actionsec.targets import TABLE_OF

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
    for every canary of the input; a hit's severity
    is who reads that field through Nova's API (:func:`audience`), and at the ``api``
    layer no more than who was shown the canary in the rendered row."""
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
        severity = audience(obs, where)
        for hit in hits:
            seen = severity
            if obs.views and severity in ("tenant", "admin"):
                seen = _seen_by(obs.views, hit.canary, severity)
            yield Finding(where, hit.describe(), kind=seen, severity=seen)


def _seen_by(views: Mapping[str, object], canary: Canary, ceiling: str) -> str:
    """At the ``api`` layer: the widest audience, at most ``ceiling`` (the field's), whose
    rendering of the stored row (``views``, by ``role@microversion``) shows the canary;
    ``stored`` when no rendering does (nova's API transformed or dropped it)."""
    for role, label in (("member", "tenant"), ("admin", "admin")):
        if label == "tenant" and ceiling != "tenant":
            continue
        texts = [render_text(view) for key, view in views.items() if key.startswith(role + "@")]
        if any(find_canaries(text, [canary], where="api view") for text in texts):
            return label
    return "stored"


#: nova's own tables (whose readers nova's API code decides)
TABLES = frozenset(TABLE_OF.values())


def audience(obs: Observation, field: str) -> str:
    """``tenant``, ``admin`` or ``stored``: who reads ``field`` of this record through
    Nova's API at its default policies; ``""`` when Nova's API code is not importable or
    the record is not nova's (another project's API decides who reads it). A
    notification's every field is read by the bus's consumers: ``bus`` (h-notify)."""
    if obs.facts.table == NOTIFICATION_TABLE:
        return NOTIFICATION_AUDIENCE
    if obs.facts.table not in TABLES:
        return ""
    try:
        from pytest_actionsec.exposure import audience as nova_audience

        record = obs.record if isinstance(obs.record, Mapping) else None
        return nova_audience(obs.function, field, record)
    except Exception:
        return ""


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
