"""The schema cache reads only this user's own, unshared folder and entries."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pytest_actionsec import schema_cache


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(schema_cache.ENV, str(path))
    return path


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    conn.execute("INSERT INTO alembic_version VALUES ('13863f4e1612')")
    conn.commit()
    return conn


def test_a_saved_entry_replays_to_the_same_database(folder: Path) -> None:
    schema_cache.save("k", _db())
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    script = schema_cache.load("k")
    assert script is not None
    again = sqlite3.connect(":memory:")
    again.executescript(script)
    assert again.execute("SELECT version_num FROM alembic_version").fetchall() == [
        ("13863f4e1612",)
    ]
    assert list(folder.iterdir()) == [folder / "nova-main-k.sql"]  # no temporary left


def test_a_folder_or_entry_others_can_write_or_link_is_not_read(folder: Path) -> None:
    schema_cache.save("k", _db())
    entry = folder / "nova-main-k.sql"
    folder.chmod(0o777)
    assert schema_cache.load("k") is None
    schema_cache.save("j", _db())  # nor written into
    assert not (folder / "nova-main-j.sql").exists()
    folder.chmod(0o700)
    entry.chmod(0o666)
    assert schema_cache.load("k") is None
    entry.chmod(0o600)
    assert schema_cache.load("k") is not None
    elsewhere = folder.parent / "planted.sql"
    elsewhere.write_text("ATTACH DATABASE 'x' AS x;\n")
    entry.unlink()
    os.symlink(elsewhere, entry)
    assert schema_cache.load("k") is None


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(schema_cache.ENV, "0")
    assert schema_cache.cache_dir() is None
    assert schema_cache.load("k") is None
    schema_cache.save("k", _db())  # nothing, no error


def test_the_key_follows_the_migration_scripts(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    script = tmp_path / "versions" / "a_initial.py"
    script.write_text("revision = 'a'\n")
    first = schema_cache.key(tmp_path)
    assert schema_cache.key(tmp_path) == first
    script.write_text("revision = 'b'\n")
    assert schema_cache.key(tmp_path) != first
