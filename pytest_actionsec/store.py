"""Stored records: pack, write through Nova's database API, read back (layer ``store``).

A :class:`Store` is a real database migrated with Nova's own alembic
migrations: an in-process sqlite by default, or a fresh, uniquely named
database on a MariaDB/MySQL or PostgreSQL server, dropped again by
:meth:`Store.close`. The ``store`` stage
(:func:`pytest_actionsec.execution.stages.store_stage`) writes each packed record
through it and judges the row as the database gives it back::

    with Store.open() as store:
        result = run_property(Property("type", "pack_action_event_finish", "store"),
                              target, store=store)

Nova's DB API is configured process-wide (``nova.conf.CONF`` and the
enginefacade of ``nova.db.main.api``), so only one :class:`Store` can be open
per process; opening a second raises :class:`StoreError` (close the first;
with pytest-xdist every worker is its own process). Nova is imported lazily,
with import-time warnings silenced, so ``-W error`` works.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import hashlib
import os
import re
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_actionsec.constants import DEFAULT_IO_TIMEOUT, FIXED_TIME
from pytest_actionsec.credentials import (
    PASSWORD_ENV,
    mask_url,
    remember_secret,
    url_password,
    with_env_password,
    without_password,
)
from pytest_actionsec.execution.watchdog import real_monotonic as _monotonic
from pytest_actionsec.measure import one_line
from pytest_actionsec.nova import conf as nova_conf
from pytest_actionsec.nova import migration as nova_migration
from pytest_actionsec.nova import modules as nova_modules
from pytest_actionsec.oracle import COLUMNS
from pytest_actionsec.targets import FAULT_SINK, FUNCTIONS, TABLE_OF

__all__ = [
    "DEFAULT_URL",
    "ISOLATIONS",
    "PASSWORD_ENV",
    "STORE_TABLES",
    "Store",
    "StoreError",
    "StoreRefused",
    "StoreUnavailable",
    "classify_store_error",
    "connection_fault",
    "mask_url",
    "probe",
    "remember_secret",
    "unavailable",
    "url_password",
    "with_env_password",
    "without_password",
]

#: How examples are kept apart: one transaction rolled back per example, or
#: every row deleted after it.
ISOLATIONS: tuple[str, ...] = ("rollback", "delete")

#: Tables an example may write (children first, the order rows are deleted in).
STORE_TABLES: tuple[str, ...] = (
    "instance_actions_events",
    "instance_actions",
    "instance_faults",
    "instances",
)

_BACKENDS = ("sqlite", "mysql", "postgresql")
_OWNER = {
    "instance_actions": "InstanceAction",
    "instance_actions_events": "InstanceActionEvent",
    "instance_faults": "InstanceFault",
}
_ADMIN = "actionsec-admin"  # user and project of the admin context used for DB work
_CONNECT_TIMEOUT = 5
_MESSAGE_LIMIT = 300

# Lower-case fragments of database error messages, by the invariant they break.
_BOUNDS_MARKERS = (
    "too long",  # MySQL "Data too long", PostgreSQL "value too long"
    "incorrect string value",  # MySQL utf8 (3-byte) refusing a 4-byte character
    "nul (0x00)",  # psycopg2: PostgreSQL text cannot hold NUL
    "invalid byte sequence",
    "character with byte sequence",
    "untranslatable character",
    "string or blob too big",
    "out of range",
)
_TYPE_MARKERS = (
    "is not supported",  # sqlite3: "type 'traceback' is not supported"
    "can't adapt",  # psycopg2
    "datatype mismatch",
    "operator does not exist",
    "invalid input syntax",
    "incorrect integer value",
    "incorrect datetime value",
    "only accepts",  # SQLAlchemy's sqlite DateTime bind processor
)

#: The default store: nova's database in an in-process sqlite.
DEFAULT_URL = "sqlite://"

_LOCK = threading.Lock()
_ACTIVE: Store | None = None


class StoreError(Exception):
    """A store cannot be opened or used; the message is one line naming the problem."""


class StoreUnavailable(BaseException):
    """The database could not be reached while a record was stored: the connection was
    lost, refused or timed out (after one retry). A fault of the environment, never a
    finding of the code under test: a BaseException, so Hypothesis neither shrinks nor
    retries it, and the run's items fail with its one line."""


def unavailable(error: BaseException, *, retried: bool = False) -> StoreUnavailable:
    """The :class:`StoreUnavailable` for a connection fault ``error``: one line, masked."""
    again = ", retried once" if retried else ""
    return StoreUnavailable(
        f"actionsec: the database connection failed, not the code under test (an "
        f"environment fault{again}; no finding, no baseline entry): "
        f"{mask_url(_db_message(error))}"
    )


class StoreRefused(Exception):
    """The database refused a record; ``verdict`` is ``(invariant, message)``."""

    def __init__(self, verdict: tuple[str, str]) -> None:
        super().__init__(verdict[1])
        self.verdict = verdict


class _Rollback(Exception):
    """Raised inside the example's transaction to roll it back, carrying the result."""

    def __init__(self, result: Any) -> None:
        super().__init__("rollback")
        self.result = result


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    return one_line(text, limit)


def _db_message(error: BaseException) -> str:
    """The database driver's own message for ``error`` (one line), wrappers peeled off."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "inner_exception", None)  # oslo.db DBError
        if isinstance(inner, BaseException):
            current = inner
            continue
        orig = getattr(current, "orig", None)  # SQLAlchemy DBAPIError / StatementError
        if isinstance(orig, BaseException):
            current = orig
            continue
        break
    assert current is not None
    args: tuple[Any, ...] = tuple(getattr(current, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return _one_line(f"{args[0]} {args[1]}")  # PyMySQL: (errno, message)
    text = _one_line(str(current))
    if current is not error and type(current).__module__ in ("builtins", "exceptions"):
        text = f"{type(current).__name__}: {text}"
    if not text:
        text = type(current).__name__
    return _ANY_NAME.sub(MASKED_DATABASE, text)  # the random name is no finding's business


#: The name of a database a run creates on a server: ``actionsec_`` + the host's tag, the
#: creating process's id and start time (clock ticks since boot), a random part. A later
#: run on the same host drops one whose process is gone (an interrupted run's); names of
#: other hosts, and every other name, are never touched.
_OWN_NAME = re.compile(r"^actionsec_([0-9a-f]{8})_([0-9]+)_([0-9]+)_[0-9a-f]{6}$")
#: Any database name of the plugin's, as masked in messages (evidence, errors).
_ANY_NAME = re.compile(r"\bactionsec_[0-9a-z_]+")
MASKED_DATABASE = "actionsec_<database>"


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _started(pid: int) -> int | None:
    """Process ``pid``'s start time in clock ticks since boot (``/proc``), None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def database_name() -> str:
    """A fresh database name of this process (see :data:`_OWN_NAME`)."""
    pid = os.getpid()
    return f"actionsec_{_host_tag()}_{pid}_{_started(pid) or 0}_{secrets.token_hex(3)}"


def orphaned(name: str) -> bool:
    """True for a database this host's runs created whose process is gone (an
    interrupted run's): its name is of :data:`_OWN_NAME`, its host this one, and no
    process of that id started at that time runs here."""
    match = _OWN_NAME.match(name)
    if match is None or match.group(1) != _host_tag():
        return False
    pid, ticks = int(match.group(2)), int(match.group(3))
    return _started(pid) != ticks


#: MySQL/MariaDB client errors of a connection that is gone or cannot be made:
#: 2002/2003 cannot connect, 2006 server has gone away, 2013 lost during query, 2055
#: lost at reading, 1927 connection was killed, 4031 disconnected for inactivity.
_MYSQL_CONNECTION_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1927, 4031})
#: What PostgreSQL's drivers say of a connection that is gone or cannot be made.
_PG_CONNECTION_MARKERS = (
    "server closed the connection",
    "terminating connection",
    "could not connect",
    "connection to server",
    "connection already closed",
    "connection is closed",
    "no connection to the server",
    "ssl connection has been closed",
    "could not receive data from server",
    "could not send data to server",
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps (oslo.db's inner exception, SQLAlchemy's ``orig``,
    causes and contexts), each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in ("inner_exception", "orig", "__cause__", "__context__"):
            nested = getattr(current, name, None)
            if isinstance(nested, BaseException):
                todo.append(nested)


def connection_fault(error: BaseException) -> bool:
    """True when ``error`` says the database connection was lost, refused or cut (the
    environment's fault), not that the database refused the record."""
    for current in _chain(error):
        kind = type(current).__name__
        module = type(current).__module__
        if kind in ("DBConnectionError", "DisconnectionError"):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        args = tuple(getattr(current, "args", ()))
        if module.startswith("pymysql") and args and isinstance(args[0], int):
            if args[0] in _MYSQL_CONNECTION_CODES:
                return True
        if module.startswith("pymysql") and kind == "InterfaceError":
            return True  # PyMySQL: a closed connection used again
        if module.startswith(("psycopg2", "psycopg")) and kind in (
            "OperationalError",
            "InterfaceError",
        ):
            # no SQLSTATE: libpq's own failure (connect, socket, a wait's deadline);
            # class 08 (connection exception), 57P0x (the server shutting down)
            code = getattr(current, "pgcode", None) or getattr(current, "sqlstate", None)
            if code is None or str(code).startswith(("08", "57P0")):
                return True
            text = str(current).lower()
            if any(marker in text for marker in _PG_CONNECTION_MARKERS):
                return True
    return False


def classify_store_error(error: BaseException) -> tuple[str, str]:
    """``(invariant, message)`` for an error raised while storing or reading back a record.

    Length and encoding refusals (data too long, incorrect string value, NUL) are
    ``bounds.store``; everything else (unsupported or unadaptable types, type
    mismatches, coercion failures) is ``type.store``. The message is the
    database's own, on one line.
    """
    message = _db_message(error)
    lowered = message.lower()
    if any(m in lowered for m in _TYPE_MARKERS):
        return "type.store", message
    if any(m in lowered for m in _BOUNDS_MARKERS):
        return "bounds.store", message
    return "type.store", message


_DB_EXTRA = "pip install 'pytest-actionsec[db]'"
#: What installs each synchronous DB-API driver SQLAlchemy names for our backends.
_DRIVER_INSTALL = {
    "pymysql": f"{_DB_EXTRA} (or pip install PyMySQL)",
    "psycopg2": f"{_DB_EXTRA} (or pip install psycopg2-binary)",
    "mysqldb": "pip install mysqlclient",
    "psycopg": "pip install 'psycopg[binary]'",
    "pg8000": "pip install pg8000",
    "mysqlconnector": "pip install mysql-connector-python",
    "mariadbconnector": "pip install mariadb",
}
#: A URL without ``+driver`` uses SQLAlchemy's default driver when it is installed,
#: else the driver of the ``db`` extra (SQLAlchemy 2.1 defaults ``postgresql://``
#: to psycopg 3 and ``mysql://`` to MySQLdb, which the extra does not install).
_EXTRA_DRIVER = {"postgresql": "psycopg2", "mysql": "pymysql"}
_ASYNC_DRIVERS = ("asyncpg", "aiomysql", "asyncmy", "aiosqlite", "psycopg_async")


def _import_driver(parsed: Any) -> None:
    parsed.get_dialect().import_dbapi()


def _parse_url(url: str) -> Any:
    """The SQLAlchemy URL of ``url`` with a driver that imports; :class:`StoreError` if none."""
    import sqlalchemy as sa

    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"bad database URL {url!r}: expected e.g. 'sqlite://'")
    try:
        parsed = sa.engine.make_url(url.strip())
    except Exception as exc:
        raise StoreError(
            f"bad database URL {mask_url(url)!r}: {mask_url(_one_line(str(exc)))}"
        ) from None
    remember_secret(parsed.password)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in _BACKENDS:
        raise StoreError(
            f"bad database URL {shown!r}: unknown backend {backend!r}, not one of "
            f"{', '.join(_BACKENDS)}"
        )
    explicit = "+" in parsed.drivername
    try:
        driver = parsed.get_driver_name()
    except Exception:  # pragma: no cover - SQLAlchemy always names one
        driver = ""
    if driver in _ASYNC_DRIVERS:
        raise StoreError(
            f"database URL {shown!r}: driver {driver!r} is not usable: asyncio drivers "
            f"cannot serve nova's DB API; use e.g. {backend}+{_EXTRA_DRIVER.get(backend, '')}"
        )
    try:
        _import_driver(parsed)
    except ImportError as exc:
        fallback = _EXTRA_DRIVER.get(backend)
        if not explicit and fallback is not None and fallback != driver:
            candidate = parsed.set(drivername=f"{backend}+{fallback}")
            try:
                _import_driver(candidate)
            except ImportError:
                pass
            else:
                return candidate
        install = _DRIVER_INSTALL.get(driver, _DB_EXTRA)
        if not explicit and fallback is not None:
            install = _DB_EXTRA
        raise StoreError(
            f"database URL {shown!r}: driver {driver!r} is not usable: missing driver "
            f"({type(exc).__name__}: {_one_line(str(exc))}); install it: {install}"
        ) from None
    except Exception as exc:  # NoSuchModuleError: a driver SQLAlchemy does not know
        raise StoreError(
            f"database URL {shown!r}: driver {driver!r} is not usable: SQLAlchemy has no "
            f"{backend} driver of that name ({type(exc).__name__})"
        ) from None
    return parsed


def connect_cause(error: BaseException, url: Any) -> str:
    """What kind of failure connecting to ``url`` raised: one short phrase, then the message."""
    message = mask_url(_db_message(error))
    lowered = message.lower()
    port = url.port or (3306 if url.get_backend_name() == "mysql" else 5432)
    where = f"{url.host or 'localhost'}:{port}"
    if lowered.startswith(("1044 ", "1142 ")) or "permission denied" in lowered:
        cause = "permission denied"  # MySQL: access denied to a database; PostgreSQL
    elif (
        lowered.startswith("1045 ")
        or "authentication failed" in lowered
        or "no password supplied" in lowered
        or ("role" in lowered and "does not exist" in lowered)
        or "no pg_hba.conf entry" in lowered
    ):
        cause = "authentication failed"
    elif (
        lowered.startswith("1049 ")
        or "unknown database" in lowered
        or ("database" in lowered and "does not exist" in lowered)
    ):
        cause = f"unknown database {url.database!r}"
    elif (
        "name or service not known" in lowered
        or "could not translate host name" in lowered
        or "nodename nor servname" in lowered
        or "getaddrinfo" in lowered
        or "unknown mysql server host" in lowered
    ):
        cause = f"unknown host {url.host!r}"
    elif "refused" in lowered or "can't connect" in lowered or "could not connect" in lowered:
        cause = f"connection refused: no server at {where}"
    elif "timed out" in lowered or "timeout" in lowered:
        cause = f"connection timed out: no answer from {where}"
    else:
        cause = "cannot connect"
    return f"{cause} ({message})"


def probe(url: str | None, *, io_timeout: float | None = DEFAULT_IO_TIMEOUT) -> str:
    """Check that a store can be opened on ``url``, without nova; returns the masked URL used.

    Parses the URL (picking the driver as :meth:`Store.open` does), and on a
    server connects and creates and drops a database as :meth:`Store.open` will.
    Raises :class:`StoreError` (one line, password masked) naming the cause. The
    default store (``url`` None: nova's in-process sqlite) needs only Python's
    ``sqlite3``: checked without importing SQLAlchemy, which an xdist controller
    would otherwise import before it starts its workers.
    """
    if url is None:
        try:
            import sqlite3  # noqa: F401  (the default store's driver)
        except ImportError:
            pass  # the full check below names the cause
        else:
            return DEFAULT_URL
    parsed = _parse_url(DEFAULT_URL if url is None else url)
    if parsed.get_backend_name() != "sqlite":
        _ServerDatabase(parsed, io_timeout).drop()
    return str(parsed.render_as_string(hide_password=True))


#: The drivers whose statements and connects take a deadline from their URL, and the
#: parameters that carry it (PyMySQL and mysqlclient: socket timeouts; libpq: the
#: connect; psycopg2's statements wait in :func:`_pg_wait`).
_DEADLINE_PARAMS = {
    "pymysql": ("connect_timeout", "read_timeout", "write_timeout"),
    "mysqldb": ("connect_timeout", "read_timeout", "write_timeout"),
    "psycopg2": ("connect_timeout",),
    "psycopg": ("connect_timeout",),
}


def deadline_args(url: Any, seconds: float | None) -> dict[str, Any]:
    """The connect arguments that give ``url``'s driver a deadline of ``seconds`` on
    each connect and (where the driver has one) each read and write; a connect
    never waits longer than :data:`_CONNECT_TIMEOUT`."""
    names = _DEADLINE_PARAMS.get(url.get_driver_name(), ())
    args: dict[str, Any] = {}
    for name in names:
        if name == "connect_timeout":
            limit = min(seconds, _CONNECT_TIMEOUT) if seconds else _CONNECT_TIMEOUT
            args[name] = max(2, int(limit))  # whole seconds; libpq takes 2 at least
        elif seconds:
            args[name] = max(1, round(seconds))
    return args


class _PgDeadline:
    """psycopg2's wait callback while a server store is open: every wait of a connect or
    statement ends within ``seconds`` (a frozen server answers nothing, and libpq would
    wait for ever), as a lost connection (:func:`connection_fault`)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, conn: Any) -> None:
        import select

        import psycopg2  # type: ignore[import-untyped]
        from psycopg2 import extensions

        seconds = self.seconds
        if conn.status == extensions.STATUS_SETUP:  # a connect: as long as libpq's
            seconds = min(seconds, _CONNECT_TIMEOUT)
        deadline = _monotonic() + seconds
        while True:
            state = conn.poll()
            if state == extensions.POLL_OK:
                return
            left = deadline - _monotonic()
            if left <= 0:
                raise psycopg2.OperationalError(
                    "server closed the connection unexpectedly: no answer in "
                    f"{seconds:g} s (--actionsec-io-timeout)"
                )
            if state == extensions.POLL_READ:
                select.select([conn.fileno()], [], [], left)
            elif state == extensions.POLL_WRITE:
                select.select([], [conn.fileno()], [], left)
            else:
                raise psycopg2.OperationalError(f"bad state from poll: {state}")


@contextlib.contextmanager
def _pg_deadline(url: Any, seconds: float | None) -> Iterator[None]:
    """Install :class:`_PgDeadline` for a psycopg2 URL while the block runs."""
    if not seconds or url.get_driver_name() != "psycopg2":
        yield
        return
    from psycopg2 import extensions

    before = extensions.get_wait_callback()
    extensions.set_wait_callback(_PgDeadline(seconds))
    try:
        yield
    finally:
        extensions.set_wait_callback(before)


class _ServerDatabase:
    """A uniquely named database created on a server, and dropped again."""

    def __init__(self, url: Any, io_timeout: float | None = DEFAULT_IO_TIMEOUT) -> None:
        import sqlalchemy as sa

        self.backend: str = url.get_backend_name()
        # Random, not from the run's seed: two runs of one seed (xdist workers, two CI
        # jobs on one server, a replay) must never share a database, and the name
        # reaches no drawn input and no report. It names this process, so a later run
        # drops it if this one is killed before it can (drop_orphans).
        self.name = database_name()
        #: databases of interrupted runs of this host dropped before this one was made
        self.orphans_dropped: list[str] = []
        shown = url.render_as_string(hide_password=True)
        if self.backend == "mysql":
            admin_url = url._replace(database=None)  # URL.set() ignores None
            # Nova's migrations create every table with mysql_charset='utf8'
            # (3 bytes a character); the database default matches them.
            self._create = (
                f"CREATE DATABASE `{self.name}` CHARACTER SET utf8 COLLATE utf8_general_ci"
            )
            self._drop = [f"DROP DATABASE IF EXISTS `{self.name}`"]
        else:
            admin_url = url if url.database else url.set(database="postgres")
            self._create = f"CREATE DATABASE \"{self.name}\" ENCODING 'UTF8' TEMPLATE template0"
            self._drop = [
                f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',  # PostgreSQL 13+
                f'DROP DATABASE IF EXISTS "{self.name}"',
            ]
        self.url = url.set(database=self.name)
        connect_args = deadline_args(url, io_timeout)
        self._admin = sa.create_engine(
            admin_url,
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args=connect_args,
        )
        self._untimed = contextlib.ExitStack()
        self._untimed.callback(self._admin.dispose)
        self._untimed.enter_context(_pg_deadline(url, io_timeout))
        try:
            conn = self._admin.connect()
        except Exception as exc:
            self._untimed.close()
            raise StoreError(f"cannot connect to {shown}: {connect_cause(exc, url)}") from None
        try:
            with conn:
                self.orphans_dropped = self._drop_orphans(conn)
                conn.exec_driver_sql(self._create)
        except Exception as exc:
            self._untimed.close()
            raise StoreError(
                f"cannot create database {self.name} on {shown}: {connect_cause(exc, url)}"
            ) from None

    def _drop_orphans(self, conn: Any) -> list[str]:
        """Drop the databases this host's interrupted runs left (:func:`orphaned`); a
        failure to list or drop one is left for a later run (never this run's error)."""
        if self.backend == "mysql":
            listing = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
            quote = "`{}`"
        else:
            listing = "SELECT datname FROM pg_database"
            quote = '"{}"'
        try:
            names = [row[0] for row in conn.exec_driver_sql(listing)]
        except Exception:
            return []
        dropped = []
        for name in names:
            if not isinstance(name, str) or not orphaned(name):
                continue
            try:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote.format(name)}")
            except Exception:
                continue
            dropped.append(name)
        return dropped

    def exists(self) -> bool:
        """True while the database is on the server."""
        if self.backend == "mysql":
            sql = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(n)s"
        else:
            sql = "SELECT 1 FROM pg_database WHERE datname = %(n)s"
        with self._admin.connect() as conn:
            return conn.exec_driver_sql(sql, {"n": self.name}).first() is not None

    def drop(self) -> None:
        """Drop the database (idempotent)."""
        last: Exception | None = None
        try:
            for statement in self._drop:
                try:
                    with self._admin.connect() as conn:
                        conn.exec_driver_sql(statement)
                    return
                except Exception as exc:
                    last = exc
            if last is not None:
                raise StoreError(f"cannot drop database {self.name}: {mask_url(_db_message(last))}")
        finally:
            self._untimed.close()  # the engine, and the deadline's wait callback


@dataclass(repr=False)
class Store:
    """A database migrated with Nova's own migrations; open with :meth:`Store.open`.

    ``isolation`` is ``"rollback"`` (each example runs in one transaction that
    is rolled back) or ``"delete"`` (each Nova call commits; the example's rows
    are deleted afterwards). ``setup_seconds`` is the time :meth:`open` took
    (nova import, database creation, migrations); ``info`` describes what the
    migrations created (server version, charset/collation, SQL mode).
    """

    url: str
    backend: str
    isolation: str
    setup_seconds: float
    database: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    _nova: Any = field(default=None, repr=False)
    _server: _ServerDatabase | None = field(default=None, repr=False)
    _reset: Callable[[], None] | None = field(default=None, repr=False)
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)
    _overrides: tuple[str, ...] = field(default=(), repr=False)
    _blamed: dict[Any, tuple[str, str] | None] = field(default_factory=dict, repr=False)
    closed: bool = False
    #: connections lost and made again (each round trip retries once)
    reconnects: int = 0
    #: seconds each connect and statement on a server may wait (None: no deadline)
    io_timeout: float | None = None

    def __repr__(self) -> str:
        """One line: the (masked) URL and whether it is open (a failure report shows it)."""
        return f"<Store {self.url} ({'closed' if self.closed else 'open'})>"

    # -- life cycle -----------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        isolation: str = "rollback",
        io_timeout: float | None = DEFAULT_IO_TIMEOUT,
    ) -> Store:
        """Create and migrate a database (default: in-process sqlite).

        With a MySQL/MariaDB or PostgreSQL URL a fresh ``actionsec_<hex>``
        database is created on that server and dropped by :meth:`close`. Raises
        :class:`StoreError` (one line) for a bad URL, a server that does not
        answer, or when another Store is open in this process. ``io_timeout``
        bounds each connect and statement on a server (None or 0: only the connect):
        a server that does not answer in time is a lost connection.
        """
        global _ACTIVE
        if isolation not in ISOLATIONS:
            raise StoreError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        started = time.perf_counter()
        parsed = _parse_url(DEFAULT_URL if url is None else url)
        backend = parsed.get_backend_name()
        with _LOCK:
            if _ACTIVE is not None:
                raise StoreError(
                    f"a Store is already open in this process ({_ACTIVE.url}): nova's DB "
                    "API is configured process-wide, close that Store first"
                )
            store = cls(
                url=parsed.render_as_string(hide_password=True),
                backend=backend,
                isolation=isolation,
                setup_seconds=0.0,
            )
            _ACTIVE = store
        try:
            connection = parsed
            if backend != "sqlite":  # before importing nova: a dead server fails fast
                store._server = _ServerDatabase(parsed, io_timeout)
                store.database = store._server.name
                # nova's engine takes the deadlines from its URL's query
                connection = store._server.url.update_query_dict(
                    {k: str(v) for k, v in deadline_args(parsed, io_timeout).items()}
                )
                store.io_timeout = io_timeout
            store._nova = nova_modules()
            store._configure(connection.render_as_string(hide_password=False))
            store._migrate()
        except BaseException:
            store.close()
            raise
        if store._server is not None and store._server.orphans_dropped:
            store.info["orphans dropped"] = str(len(store._server.orphans_dropped))
        store.setup_seconds = time.perf_counter() - started
        atexit.register(store.close)
        return store

    def _configure(self, connection: str) -> None:
        nova = self._nova
        conf = nova_conf()
        overrides = {
            "connection": connection,
            # oslo.db turns 'sqlite://' (SingletonThreadPool) into a StaticPool:
            # one DBAPI connection shared by every engine.connect() and session
            # of the enginefacade, so the schema db_sync creates is the one
            # every later session sees (the reader engine is the writer engine
            # when no slave_connection is set). Recycling that connection would
            # open a new, empty in-memory database, and a frozen clock that
            # jumps years ahead (SkewedClock) makes the pool think it is stale:
            # never recycle. Harmless for server databases too.
            "connection_recycle_time": -1,
            "max_retries": 1,  # a failed first connect is reported, not retried 10 x 10 s
            "retry_interval": 1,
        }
        for name, value in overrides.items():
            conf.set_override(name, value, group="database")
        self._overrides = tuple(overrides)
        # configure() may be called only once on an enginefacade: give nova's
        # global context manager a fresh factory (reset on close), so Stores can
        # follow each other in one process.
        manager = nova.db.context_manager
        self._reset = manager.patch_factory(nova.enginefacade.transaction_context())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nova.db.configure(conf)

    def _migrate(self) -> None:
        import sqlalchemy as sa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cached = self._schema_key() if self.url == DEFAULT_URL else None
            schema = "nova's migrations"
            if cached is not None and self._replay_schema(cached):
                schema = "nova's migrations, replayed from the schema cache"
            else:
                try:
                    nova_migration().db_sync(database="main")
                except Exception as exc:
                    raise StoreError(
                        f"cannot migrate {self.url}: {mask_url(_db_message(exc))}"
                    ) from None
                if cached is not None:
                    self._save_schema(cached)
            engine = self._engine()
            _without_thread_yield(engine)
            if self._server is not None and self.io_timeout:
                _waits_are_not_the_call(engine, self.io_timeout)
            meta = sa.MetaData()
            meta.reflect(engine, only=list(STORE_TABLES))
        self._tables = {name: meta.tables[name] for name in STORE_TABLES}
        self.info = self._describe(engine)
        self.info["schema"] = schema

    def _schema_key(self) -> str | None:
        """The schema cache's key for nova's in-process sqlite database (None when the
        cache is off or nova's migrations cannot be found)."""
        import importlib.util

        from pytest_actionsec import schema_cache

        if schema_cache.cache_dir() is None:
            return None
        spec = importlib.util.find_spec("nova.db.main")
        if spec is None or spec.origin is None:
            return None
        migrations = Path(spec.origin).parent / "migrations"
        return schema_cache.key(migrations) if migrations.is_dir() else None

    def _replay_schema(self, key: str) -> bool:
        """Create nova's tables from the schema cache; False when it has no entry (or
        the entry does not replay: the database is then left empty for alembic)."""
        from pytest_actionsec import schema_cache

        script = schema_cache.load(key)
        if script is None:
            return False
        raw = self._engine().raw_connection()
        try:
            raw.driver_connection.executescript(script)
            return True
        except Exception:  # a damaged entry: migrate as without one
            with contextlib.suppress(Exception):
                _drop_everything(raw.driver_connection)
            return False
        finally:
            raw.close()

    def _save_schema(self, key: str) -> None:
        from pytest_actionsec import schema_cache

        raw = self._engine().raw_connection()
        try:
            schema_cache.save(key, raw.driver_connection)
        finally:
            raw.close()

    def _describe(self, engine: Any) -> dict[str, str]:
        info = {"backend": self.backend, "database": self.database or "(in-process)"}
        queries: dict[str, str] = {}
        if self.backend == "mysql":
            queries = {
                "server_version": "SELECT VERSION()",
                "sql_mode": "SELECT @@SESSION.sql_mode",
                "connection_charset": "SELECT @@SESSION.character_set_client",
                "table_collation": (
                    "SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE "
                    "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'instance_actions_events'"
                ),
            }
        elif self.backend == "postgresql":
            queries = {
                "server_version": "SHOW server_version",
                "server_encoding": "SHOW server_encoding",
                "client_encoding": "SHOW client_encoding",
            }
        else:
            queries = {"server_version": "SELECT sqlite_version()"}
        with engine.connect() as conn:
            for key, sql in queries.items():
                with contextlib.suppress(Exception):
                    info[key] = str(conn.exec_driver_sql(sql).scalar())
        info["pool"] = type(engine.pool).__name__
        return info

    def close(self) -> None:
        """Dispose of the engines, drop the server database, free the process slot.

        Idempotent; every step runs even when an earlier one fails.
        """
        global _ACTIVE
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        try:
            nova = self._nova
            if nova is not None and self._reset is not None:
                with contextlib.suppress(Exception):
                    nova.db.context_manager.dispose_pool()
                self._reset()
                self._reset = None
            if nova is not None:
                for name in self._overrides:
                    with contextlib.suppress(Exception):
                        nova.conf.clear_override(name, group="database")
            if self._server is not None:
                self._server.drop()
        finally:
            with _LOCK:
                if _ACTIVE is self:
                    _ACTIVE = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers used by the executor and the tests ----------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(f"the store {self.url} is closed")

    def _engine(self) -> Any:
        return self._nova.db.get_engine()

    def server_database_exists(self) -> bool:
        """True while this store's server database exists (False for sqlite)."""
        return self._server is not None and self._server.exists()

    def row_counts(self) -> dict[str, int]:
        """Committed rows in each of :data:`STORE_TABLES` (all 0 between examples)."""
        import sqlalchemy as sa

        self._check_open()
        with self._engine().connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for name, t in self._tables.items()
            }

    def admin_context(self) -> Any:
        """A fresh admin ``RequestContext`` for database work (never the drawn context)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._nova.context.RequestContext(
                user_id=_ADMIN, project_id=_ADMIN, is_admin=True, overwrite=False
            )

    def _isolated(self, work: Callable[[Any, Any], Any]) -> Any:
        """Run ``work(context, session)`` so that none of its rows outlive it."""
        ctx = self.admin_context()
        if self.isolation == "rollback":
            # Nova's DB API functions called with this context join the outer
            # writer transaction (enginefacade nesting); raising rolls it back.
            try:
                with self._nova.db.context_manager.writer.using(ctx) as session:
                    raise _Rollback(work(ctx, session))
            except _Rollback as done:
                return done.result
        try:
            return work(ctx, None)
        finally:
            self.clear()

    def clear(self) -> None:
        """Delete every row of :data:`STORE_TABLES` (committed)."""
        self._check_open()
        with self._engine().begin() as conn:
            for name in STORE_TABLES:
                conn.execute(self._tables[name].delete())

    def roundtrip(
        self, function: str, record: Mapping[str, Any], *, when: _dt.datetime | None = None
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """Write ``record`` (packed by ``function``) through Nova's DB API and read it back.

        Parent rows (instance, action, event start) are written first with clean
        values and the record's keys; ``when`` is their start time. Returns the
        row as read from the table (events get their action's ``instance_uuid``
        and ``request_id``) and a ``type.store`` verdict when the row was stored
        but not as given (a driver turned a non-text value into text) or Nova's
        objects cannot read it back. Raises :class:`StoreRefused` when the
        database refuses the record; no row outlives the call.
        """
        self._check_open()
        if function not in FUNCTIONS:
            raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
        clean = when or FIXED_TIME

        def work(ctx: Any, session: Any) -> tuple[dict[str, Any], tuple[str, str] | None]:
            self._parents(ctx, function, record, clean)
            row_id = self._write(ctx, function, dict(record))
            if session is not None:
                session.flush()
            row = self._read(session, function, row_id)
            verdict = _coerced(function, record, row) or self._read_objects(ctx, function, row)
            return row, verdict

        result: tuple[dict[str, Any], tuple[str, str] | None]
        for attempt in (1, 2):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = self._isolated(work)
            except Exception as exc:
                if not connection_fault(exc):
                    raise StoreRefused(classify_store_error(exc)) from exc
                if attempt == 2:
                    raise unavailable(exc, retried=True) from None
                self.reconnects += 1
                with contextlib.suppress(Exception):
                    self._engine().dispose()  # new connections for the retry
            else:
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def blame(
        self, function: str, record: Mapping[str, Any], *, when: _dt.datetime | None = None
    ) -> list[tuple[str, str, str]]:
        """``(invariant, field, message)`` for each field the database refuses on its own.

        Each field of ``record`` is written alone among clean values of the other
        columns (a uuid, ``req-`` id, short text, ``when``), so that two defects of
        one record (a UUID object in ``instance_uuid`` and a traceback object in
        ``traceback``) are two findings. Empty when no single field is refused (the
        refusal needs several fields together).
        """
        clean = clean_record(function, record, when or FIXED_TIME)
        out: list[tuple[str, str, str]] = []
        for key, value in record.items():
            name = str(key)
            if value is None or name not in clean or clean[name] is value:
                continue
            # shrinking retries near-identical records: the verdict on one value of
            # one field is remembered (objects by their type, scalars by value)
            memo = (function, name, _value_key(value))
            if memo in self._blamed:
                verdict = self._blamed[memo]
            else:
                trial = dict(clean)
                trial[name] = value
                try:
                    self.roundtrip(function, trial, when=when)
                    verdict = None
                except StoreRefused as refused:
                    verdict = refused.verdict
                if len(self._blamed) >= 4096:
                    self._blamed.clear()
                self._blamed[memo] = verdict
            if verdict is not None:
                out.append((verdict[0], name, verdict[1]))
        return out

    def _parents(self, ctx: Any, function: str, record: Mapping[str, Any], when: Any) -> None:
        api = self._nova.db
        uuid = record.get("instance_uuid")
        request_id = record.get("request_id")
        if uuid is not None:
            # instance_actions.instance_uuid is a foreign key to instances.uuid
            # (enforced by MySQL and PostgreSQL): give it a minimal instance row,
            # written with nova's model in nova's writer session.
            # A core INSERT on nova's own table object (its column defaults apply):
            # the ORM model's save cost about half of a whole round trip.
            with api.context_manager.writer.using(ctx) as session:
                session.execute(
                    self._tables["instances"]
                    .insert()
                    .values(uuid=uuid, user_id=_ADMIN, project_id=_ADMIN, deleted=0)
                )
        if function in ("pack_action_start", FAULT_SINK):
            return
        api.action_start(
            ctx,
            {
                "request_id": request_id,
                "instance_uuid": uuid,
                "user_id": _ADMIN,
                "project_id": _ADMIN,
                "action": "actionsec-parent",
                "start_time": when,
                "updated_at": when,
            },
        )
        if function == "pack_action_event_finish":
            api.action_event_start(
                ctx,
                {
                    "event": record.get("event"),
                    "instance_uuid": uuid,
                    "request_id": request_id,
                    "start_time": when,
                    "host": None,
                },
            )

    def _write(self, ctx: Any, function: str, values: dict[str, Any]) -> int:
        api = self._nova.db
        writer = {
            "pack_action_start": api.action_start,
            "pack_action_finish": api.action_finish,
            "pack_action_event_start": api.action_event_start,
            "pack_action_event_finish": api.action_event_finish,
            # what InstanceFault.create() calls
            FAULT_SINK: api.instance_fault_create,
        }[function]
        row = writer(ctx, values)
        return int(row["id"])

    def _read(self, session: Any, function: str, row_id: int) -> dict[str, Any]:
        import sqlalchemy as sa

        table = self._tables[TABLE_OF[function]]
        actions = self._tables["instance_actions"]

        def fetch(conn: Any) -> tuple[Any, Any]:
            row = conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().one()
            parent = None
            if table is self._tables["instance_actions_events"]:
                parent = (
                    conn.execute(sa.select(actions).where(actions.c.id == row["action_id"]))
                    .mappings()
                    .one()
                )
            return row, parent

        if session is not None:
            row, parent = fetch(session)
        else:
            with self._engine().connect() as conn:
                row, parent = fetch(conn)
        record = dict(row)
        if parent is not None:
            record["instance_uuid"] = parent["instance_uuid"]
            record["request_id"] = parent["request_id"]
        return record

    def _read_objects(
        self, ctx: Any, function: str, row: Mapping[str, Any]
    ) -> tuple[str, str] | None:
        """Read the row back as Nova's objects do; a coercion failure is a verdict."""
        objects = self._nova.objects
        try:
            if TABLE_OF[function] == "instance_actions":
                objects.InstanceActionList.get_by_instance_uuid(ctx, row["instance_uuid"])
            elif TABLE_OF[function] == "instance_faults":
                objects.InstanceFaultList.get_by_instance_uuids(ctx, [row["instance_uuid"]])
            else:
                objects.InstanceActionEventList.get_by_action(ctx, row["action_id"])
        except (ValueError, TypeError) as exc:
            owner = _OWNER[TABLE_OF[function]]
            return "type.store", _one_line(
                f"the database returned a row that nova's {owner} object cannot read "
                f"back: {type(exc).__name__}: {exc}"
            )
        return None


def _without_thread_yield(engine: Any) -> None:
    """Drop oslo.db's ``time.sleep(0)`` at every connection check-in from ``engine``.

    It lets eventlet's green threads run between queries (nova's services monkey-patch
    with eventlet; this process does not): on a busy machine each sleep(0) gave the CPU
    away, about 0.9 ms per example and 7% of the default suite. What nova writes and
    reads is unchanged.
    """
    import sqlalchemy as sa

    from pytest_actionsec.nova import thread_yield_hook

    hook = thread_yield_hook()
    if hook is not None and sa.event.contains(engine, "checkin", hook):
        sa.event.remove(engine, "checkin", hook)


def _waits_are_not_the_call(engine: Any, io_timeout: float) -> None:
    """Statements and connects of ``engine`` made inside a call of the code under test
    (nova's fault sink writes a fault) wait on the server under its own deadline,
    not the call's: the watchdog (:mod:`~pytest_actionsec.execution.watchdog`) must
    never blame a helper for a slow or frozen database."""
    import sqlalchemy as sa

    from pytest_actionsec.execution import watchdog

    def pause(*_: Any, **__: Any) -> None:
        watchdog.pause(io_timeout)

    def resume(*_: Any, **__: Any) -> None:
        watchdog.resume()

    sa.event.listen(engine, "do_connect", pause)
    sa.event.listen(engine, "engine_connect", resume)
    sa.event.listen(engine, "before_cursor_execute", pause)
    sa.event.listen(engine, "after_cursor_execute", resume)
    sa.event.listen(engine, "handle_error", resume)


def _value_key(value: Any) -> Any:
    """What a database's verdict on one value depends on: scalars by value, else the type."""
    if isinstance(value, (str, bytes, int, float, bool, _dt.datetime)):
        return (type(value), value)
    return (type(value), None)


_CLEAN_TEXT = {
    "instance_uuid": "00000000-0000-4000-8000-0000000000a5",
    "request_id": "req-00000000-0000-4000-8000-0000000000a5",
    "result": "Error",
}


def clean_record(function: str, record: Mapping[str, Any], when: _dt.datetime) -> dict[str, Any]:
    """``record``'s keys with values every database accepts (unknown keys keep theirs)."""
    columns = COLUMNS[TABLE_OF[function]]
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = str(key)
        kind = columns.get(name, (None, None))[0]
        if kind in ("str", "text"):
            out[name] = _CLEAN_TEXT.get(name, "actionsec")
        elif kind == "datetime":
            out[name] = when
        elif kind == "int":
            out[name] = 0
        else:
            out[name] = value
    return out


def coerced_fields(
    function: str,
    packed: Mapping[str, Any],
    row: Mapping[str, Any],
    *,
    columns: Mapping[str, tuple[str, int | None]] | None = None,
) -> list[tuple[str, str, str]]:
    """``(invariant, field, message)`` for each non-text value that came back as text.

    sqlite turns ints into text, PyMySQL stores ``str(obj)`` of any object (a
    traceback becomes ``'<traceback object at 0x...>'``), psycopg2 turns lists
    into array literals and bytes into ``\\x..`` hex: no error, but not what
    was given. ``columns``: the record's (default: nova's table's).
    """
    if columns is None:
        columns = COLUMNS[TABLE_OF[function]]
    out: list[tuple[str, str, str]] = []
    for name, value in packed.items():
        kind = columns.get(str(name), (None, None))[0]
        if kind not in ("str", "text") or value is None or isinstance(value, str):
            continue
        stored = row.get(str(name), value)
        if isinstance(stored, str):
            shown = stored if len(stored) <= 60 else stored[:57] + "..."
            out.append(
                (
                    "type.store",
                    str(name),
                    f"the database stored {name} (a {type(value).__name__}) as the text "
                    f"{shown!r} without an error",
                )
            )
    return out


def _coerced(
    function: str, packed: Mapping[str, Any], row: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The first of :func:`coerced_fields`, as a record-level verdict."""
    found = coerced_fields(function, packed, row)
    return (found[0][0], found[0][2]) if found else None


def _drop_everything(connection: Any) -> None:
    """Drop every table, index, view and trigger of a sqlite ``connection``."""
    rows = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for kind, name in rows:
        if kind in ("table", "view", "trigger"):
            connection.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    connection.commit()
