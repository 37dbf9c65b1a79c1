"""bounds: lengths and encodings the database columns can hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytest_actionsec.invariants.type import store_verdict
from pytest_actionsec.measure import (
    expected_kind,
    message_candidates,
    plain,
    short,
    type_ok,
    utf8_len,
)
from pytest_actionsec.registry import Finding, invariant

if TYPE_CHECKING:
    from pytest_actionsec.oracle import Observation

_FINISH = ("pack_action_event_finish",)


def _texts(obs: Observation) -> Iterator[tuple[str, str, str]]:
    """(field, text, kind) of every stored text whose field holds text."""
    table = obs.facts.table
    for name, text in obs.text_fields():
        kind = expected_kind(obs, table, name)
        if kind is not None and type_ok(text, kind):
            yield name, text, kind


def _valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@invariant(
    "bounds.details",
    statement="details is non-empty text of at most 255 UTF-8 bytes and a clean prefix of "
    "the full message (the trusted format_message() text, the given text, or the class name).",
    source="nova.utils.safe_truncate; bugs 1217167, 1389102, 1425657",
    helpers=_FINISH,
    _builtin=True,
)
def bounds_details(obs: Observation) -> Iterator[Finding]:
    """Measure details against 255 bytes and the messages it may be a prefix of."""
    args = obs.arguments
    exc_val, exc_tb = args.get("exc_val"), args.get("exc_tb")
    details = plain(obs.record.get("details"))
    message = plain(exc_val)
    if exc_tb is None or type(details) is not str or not details:
        return
    if exc_val is None or (type(message) is str and not message):
        return
    candidates = message_candidates(exc_val, obs)
    size = utf8_len(details)
    if size > 255:
        yield Finding("details", f"details has {size} UTF-8 bytes (max 255)")
    elif not any(c.startswith(details) for c in candidates):
        shown = sorted(candidates, key=len)[:2]
        yield Finding(
            "details",
            f"details {short(details, 80)} is not a clean prefix of "
            f"{' or '.join(short(c, 60) for c in shown)}",
        )


@invariant(
    "bounds.column",
    statement="String columns hold at most their length in characters (255; instance_uuid "
    "36) and Text columns at most 65535 UTF-8 bytes.",
    source="nova/db/main/models.py; PostgreSQL refuses, MySQL truncates",
    _builtin=True,
)
def bounds_column(obs: Observation) -> Iterator[Finding]:
    """Compare each stored text's length with its column's."""
    columns = obs.columns
    for name, text, kind in _texts(obs):
        limit = columns.get(name, (None, None))[1]
        if limit is None or not _valid_utf8(text):
            continue
        size = utf8_len(text) if kind == "text" else len(text)
        if size > limit:
            unit = "UTF-8 bytes" if kind == "text" else "characters"
            yield Finding(name, f"{size} {unit}, column holds {limit}")


@invariant(
    "bounds.utf8",
    statement="Stored text is valid UTF-8 (no lone surrogates).",
    source="nova/db/main/models.py (utf8 tables)",
    _builtin=True,
)
def bounds_utf8(obs: Observation) -> Iterator[Finding]:
    """Encode every stored text as UTF-8."""
    for name, text, _kind in _texts(obs):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            yield Finding(name, f"not valid UTF-8: {exc.reason} at {exc.start}")


@invariant(
    "bounds.store",
    statement="The database accepts every packed record without a length or encoding error.",
    source="MySQL utf8 (3-byte) charset and strict mode; PostgreSQL varchar(255)",
    _builtin=True,
)
def bounds_store(obs: Observation) -> Iterator[Finding]:
    """The store layer's verdict: the database refused a value by its length or encoding."""
    yield from store_verdict(obs, "bounds.store")
