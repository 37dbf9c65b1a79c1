"""History stores: what writes and reads a server's action history.

A history store has the shape of the part of ``nova.db.main.api`` that nova's services
use for instance actions (``action_start``, ``action_finish``, ``action_event_start``,
``action_event_finish``, ``actions_get``, ``action_get_by_request_id``,
``action_events_get``), on the tables nova's own migrations created in a
:class:`~pytest_actionsec.store.Store`:

* :class:`NovaHistory` is nova 34's database API itself;
* :class:`ParanoidHistory` is this project's own correct store: it finds an event by
  the id its start returned, never attaches an event to another request's action and
  keeps each server's ``updated_at`` monotone under a lock on the server's row;
* :data:`MUTANTS` are deliberately broken paranoid stores (a lost update, a
  cross-request attach, a clock regression, a list of every server's actions), each
  caught by the history invariant it breaks.

``event_finish`` takes the id ``event_start`` returned; nova's API has no place for
it (it finds the event by the action and the event's name), which is what the
``history.recorded-once`` invariant judges.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pytest_actionsec.errors import HistoryError

__all__ = [
    "MUTANTS",
    "STORES",
    "ClockRegressionHistory",
    "CrossRequestHistory",
    "HistoryStore",
    "HistoryStoreError",
    "LeakyListHistory",
    "LostUpdateHistory",
    "NovaHistory",
    "ParanoidHistory",
    "history_store",
]

Row = dict[str, Any]
T = TypeVar("T")

#: Attempts of one paranoid write when the database reports a deadlock or a
#: serialisation failure (nova's ``wrap_db_retry(max_retries=5)`` makes six).
RETRIES = 6


class HistoryStoreError(HistoryError):
    """A history store cannot do what was asked (an unknown name, no such action)."""


def _now() -> _dt.datetime:
    """The caller's clock (frozen and moved by the machine), naive UTC."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _retryable(exc: BaseException) -> bool:
    """A deadlock or a serialisation failure, which a retry of the transaction cures."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        text = str(current).lower()
        if name in ("DBDeadlock", "SerializationFailure", "DeadlockDetected"):
            return True
        if "deadlock" in text or "could not serialize" in text or "1213" in text[:8]:
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


class HistoryStore:
    """The interface the machine drives; see the module's docstring for each method."""

    #: short name (``nova``, ``paranoid``, a mutant's)
    name = "abstract"
    #: the history invariant a mutant breaks (empty for a correct store or nova)
    breaks = ""

    def __init__(self, store: Any) -> None:
        self.store = store
        #: deadlocks and serialisation failures retried (paranoid stores count theirs)
        self.retried = 0

    def action_start(self, ctx: Any, values: dict[str, Any]) -> None:
        """Record the start of a request's action (``nova.db.main.api.action_start``)."""
        raise NotImplementedError

    def action_finish(self, ctx: Any, values: dict[str, Any]) -> None:
        """Record the end of a request's action (``action_finish``)."""
        raise NotImplementedError

    def event_start(self, ctx: Any, values: dict[str, Any]) -> int:
        """Record the start of an event; return its row's id (``action_event_start``)."""
        raise NotImplementedError

    def event_finish(self, ctx: Any, values: dict[str, Any], event_id: int) -> None:
        """Record the end of the event ``event_start`` returned ``event_id`` for
        (``action_event_finish``)."""
        raise NotImplementedError

    def actions_get(
        self,
        ctx: Any,
        instance_uuid: str,
        limit: int | None = None,
        marker: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """A server's actions, newest first (``actions_get``: changes-since, limit, marker)."""
        raise NotImplementedError

    def action_get_by_request_id(self, ctx: Any, instance_uuid: str, request_id: str) -> Any:
        """The server's action of ``request_id``, or None."""
        raise NotImplementedError

    def action_events_get(self, ctx: Any, action_id: int) -> list[Any]:
        """The events of an action, newest first."""
        raise NotImplementedError


class NovaHistory(HistoryStore):
    """Nova 34's own database API (``nova.db.main.api``), called as nova's objects call it."""

    name = "nova"

    @property
    def _db(self) -> Any:
        return self.store._nova.db

    def action_start(self, ctx: Any, values: dict[str, Any]) -> None:
        """``nova.db.main.api.action_start``."""
        self._db.action_start(ctx, values)

    def action_finish(self, ctx: Any, values: dict[str, Any]) -> None:
        """``nova.db.main.api.action_finish``."""
        self._db.action_finish(ctx, values)

    def event_start(self, ctx: Any, values: dict[str, Any]) -> int:
        """``nova.db.main.api.action_event_start``; the new row's id."""
        return int(self._db.action_event_start(ctx, values)["id"])

    def event_finish(self, ctx: Any, values: dict[str, Any], event_id: int) -> None:
        """``nova.db.main.api.action_event_finish`` (which cannot be given ``event_id``)."""
        self._db.action_event_finish(ctx, values)

    def actions_get(
        self,
        ctx: Any,
        instance_uuid: str,
        limit: int | None = None,
        marker: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """``nova.db.main.api.actions_get``."""
        return list(self._db.actions_get(ctx, instance_uuid, limit, marker, filters))

    def action_get_by_request_id(self, ctx: Any, instance_uuid: str, request_id: str) -> Any:
        """``nova.db.main.api.action_get_by_request_id``."""
        return self._db.action_get_by_request_id(ctx, instance_uuid, request_id)

    def action_events_get(self, ctx: Any, action_id: int) -> list[Any]:
        """``nova.db.main.api.action_events_get``."""
        return list(self._db.action_events_get(ctx, action_id))


class ParanoidHistory(HistoryStore):
    """This project's correct history store, on nova's tables (SQLAlchemy core).

    Every write is one transaction that first locks the server's ``instances`` row
    (``SELECT ... FOR UPDATE``; sqlite runs one writer at a time anyway), so writes of
    one server are serialised; an action's ``updated_at`` is the newest of the time
    given and every ``updated_at`` of the server's actions (one monotone clock per
    server: a ``changes-since`` poller that asks from the newest time it saw misses
    nothing); an event is finished by its id; a request without an action (a periodic
    task's) gets an action of its own. Deadlocks and serialisation failures are
    retried (:data:`RETRIES` attempts).
    """

    name = "paranoid"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        tables = store._tables
        self._instances = tables["instances"]
        self._actions = tables["instance_actions"]
        self._events = tables["instance_actions_events"]

    # -- plumbing -----------------------------------------------------------------

    def _transaction(self, work: Callable[[Any], T]) -> T:
        for attempt in range(RETRIES):
            try:
                with self.store._engine().begin() as conn:
                    return work(conn)
            except Exception as exc:
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
                self.retried += 1
                time.sleep(0.01 * (attempt + 1))  # a back-off only; no result depends on it
        raise AssertionError("unreachable")  # pragma: no cover

    def _lock_server(self, conn: Any, instance_uuid: str) -> None:
        import sqlalchemy as sa

        t = self._instances
        conn.execute(sa.select(t.c.id).where(t.c.uuid == instance_uuid).with_for_update()).all()

    def _action_of(self, conn: Any, instance_uuid: str, request_id: str) -> Row | None:
        import sqlalchemy as sa

        a = self._actions
        row = (
            conn.execute(
                sa.select(a)
                .where(a.c.instance_uuid == instance_uuid, a.c.request_id == request_id)
                .order_by(a.c.created_at.desc(), a.c.id.desc())
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    def _stamp(self, conn: Any, instance_uuid: str, when: _dt.datetime | None) -> _dt.datetime:
        """The ``updated_at`` of a change now: never before any of the server's."""
        import sqlalchemy as sa

        a = self._actions
        newest = conn.execute(
            sa.select(sa.func.max(a.c.updated_at)).where(a.c.instance_uuid == instance_uuid)
        ).scalar()
        stamp = when if when is not None else _now()
        if newest is not None and newest > stamp:
            stamp = newest
        return stamp

    def _touch(self, conn: Any, action: Row, when: _dt.datetime | None, **more: Any) -> None:
        import sqlalchemy as sa

        a = self._actions
        stamp = self._stamp(conn, action["instance_uuid"], when)
        conn.execute(sa.update(a).where(a.c.id == action["id"]).values(updated_at=stamp, **more))

    # -- writes ---------------------------------------------------------------------

    def action_start(self, ctx: Any, values: dict[str, Any]) -> None:
        """Insert the action; its ``updated_at`` never before the server's newest."""
        import sqlalchemy as sa

        def work(conn: Any) -> None:
            uuid = values["instance_uuid"]
            self._lock_server(conn, uuid)
            row = dict(values)
            row["updated_at"] = self._stamp(conn, uuid, values.get("updated_at"))
            row.setdefault("created_at", _now())
            row.setdefault("deleted", 0)
            conn.execute(sa.insert(self._actions).values(**row))

        self._transaction(work)

    def action_finish(self, ctx: Any, values: dict[str, Any]) -> None:
        """Set the action's ``finish_time``; refuse a request without an action."""

        def work(conn: Any) -> None:
            uuid = values["instance_uuid"]
            self._lock_server(conn, uuid)
            action = self._action_of(conn, uuid, values["request_id"])
            if action is None:
                raise HistoryStoreError(f"no action of request {values['request_id']}")
            self._touch(conn, action, values.get("updated_at"), finish_time=values["finish_time"])

        self._transaction(work)

    def _own_action(self, conn: Any, ctx: Any, values: Mapping[str, Any]) -> Row:
        """The action of the event's own request; a request without one (a periodic
        task's) gets one, a project's request without one is refused."""
        uuid, request_id = values["instance_uuid"], values["request_id"]
        action = self._action_of(conn, uuid, request_id)
        if action is not None:
            return action
        if getattr(ctx, "project_id", None):
            raise HistoryStoreError(f"no action of request {request_id} on server {uuid}")
        import sqlalchemy as sa

        when = values.get("start_time") or _now()
        conn.execute(
            sa.insert(self._actions).values(
                instance_uuid=uuid,
                request_id=request_id,
                action=values.get("event"),
                user_id=getattr(ctx, "user_id", None),
                project_id=None,
                start_time=when,
                created_at=_now(),
                updated_at=self._stamp(conn, uuid, when),
                deleted=0,
            )
        )
        found = self._action_of(conn, uuid, request_id)
        assert found is not None
        return found

    def event_start(self, ctx: Any, values: dict[str, Any]) -> int:
        """Insert the event into its own request's action; its id."""
        import sqlalchemy as sa

        def work(conn: Any) -> int:
            self._lock_server(conn, values["instance_uuid"])
            action = self._own_action(conn, ctx, values)
            row = {k: v for k, v in values.items() if k not in ("instance_uuid", "request_id")}
            row.update(action_id=action["id"], created_at=_now(), deleted=0)
            result = conn.execute(sa.insert(self._events).values(**row))
            self._touch(conn, action, values.get("start_time"))
            return int(result.inserted_primary_key[0])

        return self._transaction(work)

    def _finish_target(
        self, conn: Any, action: Row, values: Mapping[str, Any], event_id: int
    ) -> Any:
        """The event row to finish: the one of ``event_id``, in the request's action."""
        import sqlalchemy as sa

        e = self._events
        return (
            conn.execute(sa.select(e.c.id).where(e.c.id == event_id, e.c.action_id == action["id"]))
            .scalars()
            .first()
        )

    def _attach_action(self, conn: Any, ctx: Any, values: Mapping[str, Any]) -> Row:
        return self._own_action(conn, ctx, values)

    def event_finish(self, ctx: Any, values: dict[str, Any], event_id: int) -> None:
        """Finish the event of ``event_id`` (in its own request's action), once."""
        import sqlalchemy as sa

        def work(conn: Any) -> None:
            self._lock_server(conn, values["instance_uuid"])
            action = self._attach_action(conn, ctx, values)
            target = self._finish_target(conn, action, values, event_id)
            if target is None:
                raise HistoryStoreError(f"no event {event_id} in action {action['id']}")
            row = {
                k: v
                for k, v in values.items()
                if k in ("finish_time", "result", "traceback", "details")
            }
            e = self._events
            conn.execute(sa.update(e).where(e.c.id == target).values(updated_at=_now(), **row))
            more = {"message": "Error"} if str(values.get("result", "")).lower() == "error" else {}
            self._touch(conn, action, values.get("finish_time"), **more)

        self._transaction(work)

    # -- reads ------------------------------------------------------------------------

    def actions_get(
        self,
        ctx: Any,
        instance_uuid: str,
        limit: int | None = None,
        marker: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """The server's actions newest first, ``changes-since``/``-before`` inclusive."""
        import sqlalchemy as sa

        if limit == 0:
            return []
        a = self._actions
        query = sa.select(a).where(a.c.instance_uuid == instance_uuid, a.c.deleted == 0)
        for key, op in (("changes-since", "ge"), ("changes-before", "le")):
            when = (filters or {}).get(key)
            if when:
                naive = when
                if when.utcoffset() is not None:
                    naive = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
                column = a.c.updated_at
                query = query.where(column >= naive if op == "ge" else column <= naive)
        query = query.order_by(a.c.created_at.desc(), a.c.id.desc())
        with self.store._engine().connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        if marker is not None:
            ids = [r["request_id"] for r in rows]
            if marker not in ids:
                raise HistoryStoreError(f"marker {marker} not found")
            rows = rows[ids.index(marker) + 1 :]
        return rows[:limit] if limit is not None else rows

    def action_get_by_request_id(self, ctx: Any, instance_uuid: str, request_id: str) -> Any:
        """The server's action of ``request_id``, or None."""
        with self.store._engine().connect() as conn:
            return self._action_of(conn, instance_uuid, request_id)

    def action_events_get(self, ctx: Any, action_id: int) -> list[Any]:
        """The events of the action, newest first."""
        import sqlalchemy as sa

        e = self._events
        query = (
            sa.select(e)
            .where(e.c.action_id == action_id, e.c.deleted == 0)
            .order_by(e.c.created_at.desc(), e.c.id.desc())
        )
        with self.store._engine().connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


class LostUpdateHistory(ParanoidHistory):
    """Mutant: finishes the first event of the action with the event's name, as nova
    does, so a retried step's second finish overwrites the first (``recorded-once``)."""

    name = "lost-update"
    breaks = "history.recorded-once"

    def _finish_target(
        self, conn: Any, action: Row, values: Mapping[str, Any], event_id: int
    ) -> Any:
        import sqlalchemy as sa

        e = self._events
        return (
            conn.execute(
                sa.select(e.c.id)
                .where(e.c.action_id == action["id"], e.c.event == values["event"])
                .order_by(e.c.id)
            )
            .scalars()
            .first()
        )


class CrossRequestHistory(ParanoidHistory):
    """Mutant: attaches every event to the server's newest action, whatever its request
    (``own-request``)."""

    name = "cross-request"
    breaks = "history.own-request"

    def _newest(self, conn: Any, values: Mapping[str, Any]) -> Row | None:
        import sqlalchemy as sa

        a = self._actions
        row = (
            conn.execute(
                sa.select(a)
                .where(a.c.instance_uuid == values["instance_uuid"])
                .order_by(a.c.created_at.desc(), a.c.id.desc())
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    def _own_action(self, conn: Any, ctx: Any, values: Mapping[str, Any]) -> Row:
        return self._newest(conn, values) or super()._own_action(conn, ctx, values)

    def _finish_target(
        self, conn: Any, action: Row, values: Mapping[str, Any], event_id: int
    ) -> Any:
        import sqlalchemy as sa

        e = self._events
        return conn.execute(sa.select(e.c.id).where(e.c.id == event_id)).scalars().first()


class ClockRegressionHistory(ParanoidHistory):
    """Mutant: an action's ``updated_at`` is the caller's time as given, as nova sets it,
    so a host whose clock is behind moves it backwards (``monotone``)."""

    name = "clock-regression"
    breaks = "history.monotone"

    def _stamp(self, conn: Any, instance_uuid: str, when: _dt.datetime | None) -> _dt.datetime:
        return when if when is not None else _now()


class LeakyListHistory(ParanoidHistory):
    """Mutant: lists the actions of every server, not only the one asked for
    (``project-isolation``)."""

    name = "leaky-list"
    breaks = "history.project-isolation"

    def actions_get(
        self,
        ctx: Any,
        instance_uuid: str,
        limit: int | None = None,
        marker: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Every server's actions (the instance filter forgotten)."""
        import sqlalchemy as sa

        a = self._actions
        with self.store._engine().connect() as conn:
            query = sa.select(a).order_by(a.c.created_at.desc(), a.c.id.desc())
            return [dict(r) for r in conn.execute(query).mappings()]


#: Every mutant, by name.
MUTANTS: dict[str, type[ParanoidHistory]] = {
    m.name: m
    for m in (LostUpdateHistory, CrossRequestHistory, ClockRegressionHistory, LeakyListHistory)
}

#: Every history store, by name.
STORES: dict[str, type[HistoryStore]] = {
    "nova": NovaHistory,
    "paranoid": ParanoidHistory,
    **MUTANTS,
}


def history_store(name: str, store: Any) -> HistoryStore:
    """The history store called ``name`` (see :data:`STORES`) on ``store``."""
    cls = STORES.get(name)
    if cls is None:
        raise HistoryStoreError(
            f"unknown history store {name!r}, not one of {', '.join(sorted(STORES))}"
        )
    return cls(store)
