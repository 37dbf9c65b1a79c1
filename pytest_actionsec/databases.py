"""Hypothesis example databases named by text: ``--actionsec-database=URL``.

A specification is ``none`` (no database: nothing saved, nothing replayed) or one or
more comma-separated parts, each

- a directory path (Hypothesis's ``DirectoryBasedExampleDatabase``; relative to the
  directory pytest was started in),
- ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS; Hypothesis's own
  ``RedisExampleDatabase``; ``?prefix=TEXT`` sets its key prefix, by default
  Hypothesis's ``hypothesis-example:``; needs the ``redis`` package, the
  ``pytest-actionsec[redis]`` extra),
- either of them after ``readonly:`` (``ReadOnlyDatabase``: replayed, never written:
  a developer reading what CI found).

Several parts are one ``MultiplexedDatabase``: every part is written, each one's saved
examples are replayed. :func:`check_database` checks the form only (no import, no
connection: the option table uses it); :func:`open_database` opens every part, so a
Redis server that cannot be reached is a :class:`~pytest_actionsec.errors.DatabaseError`
of one line before the run, never a traceback in the middle of it. A password in a URL
is never shown: :func:`describe` masks it, and the error messages use that form.

Core module: it imports neither pytest nor nova; Hypothesis (and ``redis``) only when
a database is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from pytest_actionsec.credentials import mask_url, remember_secret
from pytest_actionsec.errors import DatabaseError

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase

__all__ = [
    "NONE",
    "READONLY",
    "DatabaseError",
    "OpenedDatabase",
    "Part",
    "check_database",
    "describe",
    "open_database",
    "parse_parts",
    "without_password",
]

#: The specification of no database at all.
NONE = "none"
#: The prefix of a part that is only read.
READONLY = "readonly:"
_REDIS_SCHEMES = ("redis", "rediss")
#: Seconds to wait for a Redis server to accept the connection (then: a usage error).
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Part:
    """One comma-separated part: a directory or a Redis URL, read only or not."""

    #: ``"directory"`` or ``"redis"``
    kind: str
    #: the path or URL as given (the URL with its password)
    location: str
    readonly: bool = False

    def shown(self) -> str:
        """The part as the header and errors show it (a URL's password masked)."""
        where = _masked_url(self.location) if self.kind == "redis" else self.location
        return (READONLY if self.readonly else "") + where


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def without_password(spec: str) -> str:
    """``spec`` with no password in any of its URLs (for a replay line)."""
    out = []
    for part in parse_parts(spec):
        location = part.location
        if part.kind == "redis":
            parsed = urlsplit(location)
            if parsed.password is not None:
                host = parsed.netloc.rsplit("@", 1)[1]
                user = f"{parsed.username}@" if parsed.username else ""
                location = urlunsplit(parsed._replace(netloc=user + host))
        out.append((READONLY if part.readonly else "") + location)
    return ",".join(out) or NONE


def parse_parts(spec: str) -> tuple[Part, ...]:
    """The parts of ``spec`` (empty for ``none``); raises ValueError("must be ...")
    on a form that is not a database (no file is touched, nothing is imported)."""
    text = str(spec).strip()
    if text.lower() == NONE:
        return ()
    raw = [piece.strip() for piece in text.split(",")]
    if not text or any(not piece for piece in raw):
        raise ValueError(
            f"must be none or comma-separated directories and redis:// URLs, got {_shown(text)!r}"
        )
    parts = []
    for piece in raw:
        readonly = piece.lower().startswith(READONLY)
        body = piece[len(READONLY) :].strip() if readonly else piece
        if not body or body.lower() == NONE:
            raise ValueError(f"has a part that names no database: {_shown(piece)!r}")
        scheme = body.split("://", 1)[0].lower() if "://" in body else ""
        if scheme in _REDIS_SCHEMES:
            _check_redis_url(body)
            parts.append(Part("redis", body, readonly))
        elif scheme:
            raise ValueError(
                f"names an unknown kind of database {scheme + '://'!r} (directories and "
                f"redis:// URLs are known): {_shown(piece)!r}"
            )
        else:
            parts.append(Part("directory", body, readonly))
    return tuple(parts)


def _shown(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    pieces = []
    for piece in text.split(","):
        head, sep, body = piece.partition(READONLY) if READONLY in piece else ("", "", piece)
        pieces.append(head + sep + (_masked_url(body.strip()) if "://" in body else body))
    return ",".join(pieces)


def _check_redis_url(url: str) -> None:
    parsed = urlsplit(url)
    remember_secret(parsed.password)
    shown = _masked_url(url)
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"has a Redis URL with a bad port: {shown!r}") from None
    if not parsed.hostname:
        raise ValueError(f"has a Redis URL without a host (redis://host:port/db): {shown!r}")
    path = parsed.path.strip("/")
    if path and not (path.isdigit() and path.isascii()):
        raise ValueError(f"has a Redis URL whose database is not a number: {shown!r}")
    del port
    query = parse_qs(parsed.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"prefix"})
    if unknown:
        raise ValueError(f"has a Redis URL with an unknown parameter {unknown[0]!r}: {shown!r}")


def check_database(spec: str) -> str:
    """``spec`` if its form is a database specification (the option table's parser);
    raises ValueError naming what is wrong."""
    parse_parts(spec)
    return str(spec).strip()


def describe(spec: str | None) -> str:
    """``spec`` as the header shows it: every URL's password masked; None is the
    default (the Hypothesis profile's database)."""
    if spec is None:
        return "hypothesis profile's"
    parts = parse_parts(spec)
    return ",".join(part.shown() for part in parts) or NONE


@dataclass
class OpenedDatabase:
    """What :func:`open_database` opened: the database a search uses, and the Redis
    clients to close at the end of the session."""

    #: a Hypothesis example database, ``"default"`` (the profile's) or None (none)
    database: ExampleDatabase | Literal["default"] | None
    #: the parts as the header shows them (passwords masked)
    shown: str
    clients: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Close every Redis connection (the database is not used afterwards)."""
        while self.clients:
            self.clients.pop().close()


def open_database(
    spec: str | None, *, base: str | os.PathLike[str] | None = None
) -> OpenedDatabase:
    """The Hypothesis example database ``spec`` names, every part opened and checked.

    None (no setting) gives ``"default"``: the active Hypothesis profile's database, as
    before the option existed. ``none`` gives None. ``base`` is the directory relative
    paths are taken from (default: the working directory). Raises
    :class:`~pytest_actionsec.errors.DatabaseError` (one line) when a part cannot be
    used: a path that is not a directory, a Redis server that does not answer, a
    missing ``redis`` package.
    """
    if spec is None:
        return OpenedDatabase("default", describe(None))
    try:
        parts = parse_parts(spec)
    except ValueError as exc:
        raise DatabaseError(f"the example database {exc}") from None
    opened = OpenedDatabase(None, describe(spec))
    if not parts:
        return opened
    dbs: list[ExampleDatabase] = []
    root = Path(base) if base is not None else Path.cwd()
    try:
        for part in parts:
            dbs.append(_open_part(part, root, opened.clients))
    except BaseException:
        opened.close()
        raise
    if len(dbs) == 1:
        opened.database = dbs[0]
    else:
        from hypothesis.database import MultiplexedDatabase

        opened.database = MultiplexedDatabase(*dbs)
    return opened


def _open_part(part: Part, base: Path, clients: list[Any]) -> ExampleDatabase:
    from hypothesis.database import ReadOnlyDatabase

    if part.kind == "redis":
        db = _open_redis(part, clients)
    else:
        db = _open_directory(part, base)
    return ReadOnlyDatabase(db) if part.readonly else db


def _open_directory(part: Part, base: Path) -> ExampleDatabase:
    from hypothesis.database import DirectoryBasedExampleDatabase

    path = Path(part.location).expanduser()
    path = path if path.is_absolute() else base / path
    where = f"the example database {part.shown()}"
    if path.exists() and not path.is_dir():
        raise DatabaseError(f"{where}: {path} is not a directory")
    if part.readonly:
        if not path.is_dir():
            raise DatabaseError(f"{where}: no directory {path}")
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise DatabaseError(f"{where}: cannot create {path}: {why}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise DatabaseError(f"{where}: {path} is not writable")
    return DirectoryBasedExampleDatabase(str(path))


def _open_redis(part: Part, clients: list[Any]) -> ExampleDatabase:
    where = f"the example database {part.shown()}"
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        raise DatabaseError(
            f"{where} needs the redis package: pip install 'pytest-actionsec[redis]'"
        ) from None
    parsed = urlsplit(part.location)
    query = parse_qs(parsed.query, keep_blank_values=True)
    prefix = query.pop("prefix", [None])[-1]
    url = urlunsplit(parsed._replace(query=urlencode(query, doseq=True)))
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=60.0
        )
        clients.append(client)
        client.ping()
    except Exception as exc:
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise DatabaseError(mask_url(f"{where} cannot be used: {why}")) from None
    if prefix is None:
        return RedisExampleDatabase(client)
    return RedisExampleDatabase(client, key_prefix=prefix.encode())
