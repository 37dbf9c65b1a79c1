"""A store stage of our own for :mod:`tests.targets.copied_helpers` (a project whose records
are not nova's): its records written to a real sqlite database (the standard library's
``sqlite3``) with that project's own tables and read back, as its database code would.

Plugged in with ``--actionsec-store-stage=tests.targets.copied_store.open_store`` or a
``pytest_actionsec.store_stages`` entry point. Keys that are no column are dropped, as the
project's ``model.update(values)`` drops them; a value sqlite cannot bind is refused.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

from pytest_actionsec.store import StoreRefused

_ACTIONS = (
    "id", "action", "container_uuid", "request_id", "user_id", "project_id",
    "start_time", "finish_time", "message", "uuid", "created_at", "updated_at",
)  # fmt: skip
_EVENTS = (
    "id", "event", "action_id", "start_time", "finish_time", "result", "traceback",
    "created_at", "updated_at",
)  # fmt: skip
_TABLE = {
    "pack_action_start": ("container_actions", _ACTIONS),
    "pack_action_finish": ("container_actions", _ACTIONS),
    "pack_action_event_start": ("container_actions_events", _EVENTS),
    "pack_action_event_finish": ("container_actions_events", _EVENTS),
}


class CopiedStore:
    """The project's two tables in an in-memory sqlite database."""

    backend = "sqlite"
    url = "sqlite:// (tests.targets.copied_store)"

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
        for table, columns in (
            ("container_actions", _ACTIONS),
            ("container_actions_events", _EVENTS),
        ):
            kinds = {"id": "INTEGER PRIMARY KEY", "action_id": "INTEGER"}
            decl = ", ".join(
                f"{c} {kinds.get(c, 'TIMESTAMP' if c.endswith(('_time', '_at')) else 'TEXT')}"
                for c in columns
            )
            self._db.execute(f"CREATE TABLE {table} ({decl})")

    def roundtrip(
        self, function: str, record: Any, *, when: datetime.datetime | None = None
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """Write ``record`` as the project's database code would, read the row back."""
        table, columns = _TABLE[function]
        values = {k: v for k, v in record.items() if k in columns and k != "id"}
        if table == "container_actions_events":
            values["action_id"] = 1
        names = ", ".join(values) or "id"
        marks = ", ".join("?" for _ in values) or "NULL"
        try:
            with self._db:
                cursor = self._db.execute(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values())
                )
                row_id = cursor.lastrowid
                read = self._db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
                row = dict(zip([d[0] for d in read.description], read.fetchone(), strict=True))
                self._db.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise StoreRefused(("type.store", f"sqlite refused the row: {exc}")) from exc
        for key in ("container_uuid", "request_id"):  # the lookup keys of an event
            if key in record and key not in row:
                row[key] = record[key]
        return row, None

    def blame(self, function: str, record: Any, *, when: Any = None) -> list[tuple[str, str, str]]:
        """Each field sqlite refuses on its own."""
        out = []
        for key, value in record.items():
            try:
                self.roundtrip(function, {key: value}, when=when)
            except StoreRefused as refused:
                out.append((refused.verdict[0], str(key), refused.verdict[1]))
        return out

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def open_store(target: Any) -> CopiedStore:
    """The store stage's factory: one store per process."""
    return CopiedStore()
