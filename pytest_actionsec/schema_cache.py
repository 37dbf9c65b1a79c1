"""The schema nova's migrations make in an in-process sqlite database, kept between runs.

Migrating nova's main database (alembic, every table and its shadow table) takes 0.2
to 0.4 s; each process that opens a sqlite store did it again (every xdist worker, every
CI shard). The first process runs nova's own migrations (:func:`key` names what they
depend on) and saves the database's SQL (``sqlite3``'s ``iterdump``: the DDL sqlite
holds, verbatim, and alembic's version row); later ones with the same key replay it.
A server database (MariaDB, PostgreSQL) is always migrated with alembic: its charset,
collation and SQL mode are part of what a store checks.

The key covers nova's version and the bytes of its migration scripts, and the versions
of alembic, SQLAlchemy, oslo.db and sqlite: any change migrates anew. The folder is
``$ACTIONSEC_SCHEMA_CACHE`` or ``<tmp>/pytest-actionsec-<uid>``; ``ACTIONSEC_SCHEMA_CACHE=0``
turns the cache off. Only a folder and entries of this user's own that no one else can
write are read (replayed SQL could write any file the user may). A cache that cannot be
read or written is ignored (the run migrates as before); entries are written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import sqlite3
import stat
import tempfile
from pathlib import Path

__all__ = ["ENV", "cache_dir", "key", "load", "save"]

#: Environment variable: the cache folder, or ``0``/``off``/``none`` for no cache.
ENV = "ACTIONSEC_SCHEMA_CACHE"
_OFF = ("0", "off", "none", "no", "false")
#: Distributions whose versions the migrated schema depends on.
_DISTRIBUTIONS = ("nova", "alembic", "SQLAlchemy", "oslo.db")


def cache_dir() -> Path | None:
    """The cache folder (None when turned off, or where there are no user ids)."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _OFF or not hasattr(os, "getuid"):
        return None
    if value:
        return Path(value)
    return Path(tempfile.gettempdir()) / f"pytest-actionsec-{os.getuid()}"


def _ours(path: Path, *, folder: bool) -> bool:
    """True when ``path`` is this user's own folder (or file), not a link, and no one
    else can write to it: SQL replayed from another user's file could ``ATTACH`` (and
    so write) any file this user may write."""
    try:
        st = path.lstat()
    except OSError:
        return False
    kind = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    return kind and st.st_uid == os.getuid() and not st.st_mode & 0o022


def key(migrations: Path) -> str:
    """A digest of what nova's sqlite schema depends on: the files under
    ``migrations`` (nova's ``nova/db/main/migrations``) and the versions above."""
    digest = hashlib.sha256()
    for name in _DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version}\n".encode())
    digest.update(f"sqlite={sqlite3.sqlite_version}\n".encode())
    for path in sorted(migrations.rglob("*.py")):
        digest.update(path.relative_to(migrations).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def _path(name: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"nova-main-{name}.sql"


def load(name: str) -> str | None:
    """The SQL saved under key ``name``, or None."""
    path = _path(name)
    if path is None or not _ours(path.parent, folder=True) or not _ours(path, folder=False):
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def save(name: str, connection: sqlite3.Connection) -> None:
    """Save the schema and rows ``connection`` holds under key ``name`` (atomic; a
    folder that cannot be written is ignored)."""
    path = _path(name)
    if path is None:
        return
    script = "\n".join(connection.iterdump()) + "\n"
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _ours(path.parent, folder=True):
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".schema-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(script)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
