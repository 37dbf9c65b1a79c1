"""``--actionsec-database``: directories, a real Redis, none, several, read only.

The Redis tests use the real server on loopback (``ACTIONSEC_TEST_REDIS``, default
``redis://127.0.0.1:6379/0``) under a key prefix of their own, removed afterwards; they
are skipped with the reason when no server answers. ``tests.zoo.m_leak_cause`` leaks
an exception's cause, a shape no probe has: one example misses it, so a run of one
example that fails shows a failure saved by another process was replayed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_actionsec.config import ConfigError, read_config
from pytest_actionsec.databases import (
    DatabaseError,
    check_database,
    describe,
    open_database,
    without_password,
)

ROOT = Path(__file__).resolve().parents[1]
MUTANT = "tests.zoo.m_leak_cause"
REDIS_URL = os.environ.get("ACTIONSEC_TEST_REDIS", "redis://127.0.0.1:6379/0")
#: a port nothing listens on (the discard port, never served on these machines)
DEAD = "redis://127.0.0.1:9/0"
SECRET = "pw-Zq81xK"
#: where the Hypothesis profile's database lives in a run of :func:`_run` (Hypothesis
#: keeps other caches beside it, in the storage directory)
PROFILE_DB = Path("storage", "examples")


def _redis() -> object:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.skip(f"no usable Redis at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are removed after."""
    client: object = _redis()
    prefix = f"actionsec-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix.encode() + b"*"))  # type: ignore[attr-defined]
        if keys:
            client.delete(*keys)  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]


def _keys(prefix: str) -> int:
    client: object = _redis()
    try:
        return len(list(client.scan_iter(match=prefix.encode() + b"*")))  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]


def _url(prefix: str) -> str:
    return f"{REDIS_URL}?prefix={prefix}"


# ---------------------------------------------------------------------------
# The form.


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "must be none or comma-separated directories and redis:// URLs, got ''"),
        ("a,,b", "must be none or comma-separated directories and redis:// URLs, got 'a,,b'"),
        ("readonly:", "has a part that names no database: 'readonly:'"),
        ("a,none", "has a part that names no database: 'none'"),
        ("http://x/0", "names an unknown kind of database 'http://'"),
        ("redis://h:port/0", "has a Redis URL with a bad port: 'redis://h:port/0'"),
        ("redis:///0", "has a Redis URL without a host"),
        ("redis://h:1/zero", "has a Redis URL whose database is not a number"),
        ("redis://h:1/0?db=2", "has a Redis URL with an unknown parameter 'db'"),
        (f"redis://:{SECRET}@h:port/0", "has a Redis URL with a bad port: 'redis://:***@h:port/0'"),
    ],
)
def test_a_bad_form_is_named_without_its_password(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_database(spec)
    text = str(info.value)
    assert message in text
    assert SECRET not in text and "\n" not in text


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (None, "hypothesis profile's"),
        ("none", "none"),
        ("NONE", "none"),
        ("dir", "dir"),
        (f"readonly:redis://:{SECRET}@h:1/2,dir", "readonly:redis://:***@h:1/2,dir"),
        (f"redis://user:{SECRET}@h:1/2?prefix=p:", "redis://user:***@h:1/2?prefix=p:"),
    ],
)
def test_the_header_form_masks_passwords(spec: str | None, shown: str) -> None:
    assert describe(spec) == shown


def test_a_replay_names_no_password() -> None:
    spec = f"readonly:redis://user:{SECRET}@h:1/2,redis://:{SECRET}@h:1/3,dir"
    assert without_password(spec) == "readonly:redis://user@h:1/2,redis://h:1/3,dir"


def test_the_option_is_read_from_the_command_line_ini_and_environment() -> None:
    assert read_config().database is None  # the default: the Hypothesis profile's
    assert read_config(cli={"actionsec_database": "none"}).database == "none"
    assert read_config(ini={"actionsec_database": "d1,d2"}).origins["database"] == (
        "ini actionsec_database"
    )
    assert read_config(env={"ACTIONSEC_DATABASE": "d"}).database == "d"
    with pytest.raises(ConfigError, match=r"^ini option actionsec_database has a Redis URL"):
        read_config(ini={"actionsec_database": "redis://h:x/0"})
    flags = read_config(cli={"actionsec_database": f"redis://:{SECRET}@h:1/0"}).replay_flags()
    assert flags == ["--actionsec-database=redis://h:1/0"]


# ---------------------------------------------------------------------------
# Opening.


def test_default_none_and_directories(tmp_path: Path) -> None:
    from hypothesis.database import (
        DirectoryBasedExampleDatabase,
        MultiplexedDatabase,
        ReadOnlyDatabase,
    )

    assert open_database(None).database == "default"
    assert open_database("none").database is None
    one = open_database("found", base=tmp_path).database
    assert isinstance(one, DirectoryBasedExampleDatabase)
    assert (tmp_path / "found").is_dir()  # created for writing
    two = open_database("found,readonly:found", base=tmp_path).database
    assert isinstance(two, MultiplexedDatabase)
    one.save(b"k", b"v")
    assert list(two.fetch(b"k")) == [b"v"]  # each part replays (duplicates dropped)
    ro = open_database("readonly:found", base=tmp_path).database
    assert isinstance(ro, ReadOnlyDatabase)
    ro.save(b"k", b"w")
    ro.delete(b"k", b"v")
    assert list(one.fetch(b"k")) == [b"v"]  # nothing written through it


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("file", "the example database file: {tmp}/file is not a directory"),
        ("readonly:missing", "the example database readonly:missing: no directory {tmp}/missing"),
        ("file/sub", "the example database file/sub: cannot create {tmp}/file/sub: "),
        (DEAD, f"the example database {DEAD} cannot be used: ConnectionError: "),
        (
            f"redis://:{SECRET}@127.0.0.1:9/0",
            "the example database redis://:***@127.0.0.1:9/0 cannot be used: ConnectionError: ",
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line(
    tmp_path: Path, spec: str, message: str
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseError) as info:
        open_database(spec, base=tmp_path)
    text = str(info.value)
    assert text.startswith(message.format(tmp=tmp_path)), text
    assert "\n" not in text and SECRET not in text


def test_an_out_of_range_redis_database_is_one_line() -> None:
    _redis()
    url = REDIS_URL.rsplit("/", 1)[0] + "/100000"
    with pytest.raises(DatabaseError, match=r"cannot be used: ResponseError: .*out of range"):
        open_database(url)


def test_a_redis_database_saves_replays_and_reads_only(redis_prefix: str) -> None:
    from hypothesis.extra.redis import RedisExampleDatabase

    opened = open_database(_url(redis_prefix))
    try:
        db = opened.database
        assert isinstance(db, RedisExampleDatabase)
        db.save(b"key", b"value")
        assert _keys(redis_prefix) == 1  # under the prefix given
        ro = open_database("readonly:" + _url(redis_prefix))
        try:
            assert list(ro.database.fetch(b"key")) == [b"value"]  # type: ignore[union-attr]
            ro.database.save(b"other", b"x")  # type: ignore[union-attr]
            assert _keys(redis_prefix) == 1
        finally:
            ro.close()
    finally:
        opened.close()


# ---------------------------------------------------------------------------
# pytest --actionsec with it, in processes of their own.


def _run(
    tmp_path: Path, *args: str, ci: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    full.pop("CI", None)  # the default profile: a database unless the option says
    if ci:
        full["CI"] = "true"  # Hypothesis loads its ci profile: no database of its own
    full["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / PROFILE_DB.parent)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


def _suite(examples: int, seed: int, database: str | None) -> list[str]:
    chosen = [] if database is None else [f"--actionsec-database={database}"]
    return [
        "--actionsec",
        f"--actionsec-target={MUTANT}",
        "--actionsec-layers=packer",
        f"--actionsec-examples={examples}",
        f"--actionsec-seed={seed}",
        *chosen,
        "-k",
        "leak and pack_action_event_finish",
    ]


def test_a_failure_one_process_finds_another_replays_first(
    tmp_path: Path, redis_prefix: str
) -> None:
    url = _url(redis_prefix)
    fresh = _url(redis_prefix + "fresh:")
    # a second process of one example, another seed, misses it on its own
    alone = _run(tmp_path, *_suite(1, 2, fresh))
    assert alone.returncode == 0, alone.stdout[-2000:]
    finder = _run(tmp_path, *_suite(50, 1, url))
    assert finder.returncode == 1, finder.stdout[-2000:]
    assert "leak.field" in finder.stdout
    assert _keys(redis_prefix) > 0
    # the same second process with the shared database replays the failure first
    second = _run(tmp_path, *_suite(1, 2, url))
    assert second.returncode == 1, second.stdout[-2000:]
    assert "leak.field" in second.stdout
    # a developer's read-only view: replayed too, and nothing written
    before = _keys(redis_prefix)
    reader = _run(tmp_path, *_suite(1, 3, "readonly:" + url))
    assert reader.returncode == 1, reader.stdout[-2000:]
    assert _keys(redis_prefix) == before
    assert not (tmp_path / PROFILE_DB).exists()  # the profile's database was not used


def test_none_saves_nothing_and_several_are_all_written(tmp_path: Path, redis_prefix: str) -> None:
    url = _url(redis_prefix)
    off = _run(tmp_path, *_suite(50, 1, "none"))
    assert off.returncode == 1, off.stdout[-2000:]
    assert not (tmp_path / PROFILE_DB).exists()
    again = _run(tmp_path, *_suite(1, 2, "none"))
    assert again.returncode == 0, again.stdout[-2000:]  # nothing was saved to replay
    both = _run(tmp_path, *_suite(50, 1, f"local,{url}"))
    assert both.returncode == 1, both.stdout[-2000:]
    assert _keys(redis_prefix) > 0 and any((tmp_path / "local").iterdir())
    # each part alone replays it
    for part in ("readonly:local", "readonly:" + url):
        replayed = _run(tmp_path, *_suite(1, 2, part))
        assert replayed.returncode == 1, (part, replayed.stdout[-2000:])


def test_xdist_workers_here_and_through_tx_share_it_under_the_ci_profile(
    tmp_path: Path, redis_prefix: str
) -> None:
    pytest.importorskip("xdist")
    url = _url(redis_prefix)
    under_ci = _run(tmp_path, *_suite(50, 1, None), ci=True)
    assert under_ci.returncode == 1, under_ci.stdout[-2000:]
    assert not (tmp_path / PROFILE_DB).exists()  # the ci profile has no database
    # -n 2: each worker opens the database itself
    found = _run(tmp_path, *_suite(50, 1, url), "-n", "2", ci=True)
    assert found.returncode == 1, found.stdout[-2000:]
    assert _keys(redis_prefix) > 0
    # workers started through --tx (popen here, ssh=host on other machines)
    spread = ["--dist", "loadgroup", "--tx", f"2*popen//python={sys.executable}"]
    replayed = _run(tmp_path, *_suite(1, 2, url), *spread, ci=True)
    assert replayed.returncode == 1, replayed.stdout[-2000:]
    assert "leak.field" in replayed.stdout
    alone = _run(tmp_path, *_suite(1, 2, _url(redis_prefix + "other:")), *spread, ci=True)
    assert alone.returncode == 0, alone.stdout[-2000:]


def test_the_default_is_still_the_hypothesis_profiles(tmp_path: Path) -> None:
    found = _run(tmp_path, *_suite(50, 1, None))
    assert found.returncode == 1, found.stdout[-2000:]
    assert any((tmp_path / PROFILE_DB).iterdir())
    assert "database=hypothesis profile's (default)" in found.stdout
    assert _run(tmp_path, *_suite(1, 2, None)).returncode == 1  # replayed from there


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            [f"--actionsec-database=redis://:{SECRET}@127.0.0.1:9/0"],
            "ERROR: --actionsec-database: the example database redis://:***@127.0.0.1:9/0 "
            "cannot be used: ConnectionError: *",
        ),
        (
            ["--actionsec-database=ftp://h/0"],
            "*error: argument --actionsec-database: names an unknown kind of database*",
        ),
        (["-o", "actionsec_database=readonly:nowhere"], "ERROR: ini actionsec_database: *"),
    ],
)
def test_a_bad_database_is_a_one_line_usage_error(
    tmp_path: Path, args: list[str], line: str
) -> None:
    import fnmatch

    result = _run(tmp_path, "--actionsec", f"--actionsec-target={MUTANT}", *args)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [x for x in result.stderr.splitlines() if x.strip()]
    assert any(fnmatch.fnmatch(x, line) for x in errors), errors
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_the_fuzz_module_shares_a_redis_database_with_the_suite(
    tmp_path: Path, redis_prefix: str
) -> None:
    url = _url(redis_prefix)
    fuzz = _run(
        tmp_path,
        "--pyargs",
        "pytest_actionsec.fuzz",
        "-k",
        "event_finish_contract",
        ACTIONSEC_TARGET=MUTANT,
        ACTIONSEC_DATABASE=url,
    )
    assert fuzz.returncode == 1, fuzz.stdout[-2000:]
    assert _keys(redis_prefix) > 0
    replayed = _run(tmp_path, *_suite(1, 2, url))
    assert replayed.returncode == 1, replayed.stdout[-2000:]
    bad = _run(
        tmp_path,
        "--pyargs",
        "pytest_actionsec.fuzz",
        ACTIONSEC_TARGET=MUTANT,
        ACTIONSEC_DATABASE=DEAD,
    )
    assert bad.returncode != 0
    assert f"ACTIONSEC_DATABASE: the example database {DEAD} cannot be used" in bad.stdout
