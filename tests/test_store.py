"""The store layer on real databases: nova's migrations, nova's DB API, no mocks.

sqlite (in-process) always; MariaDB/MySQL and PostgreSQL when a server answers
(defaults below, or ``ACTIONSEC_TEST_MYSQL`` / ``ACTIONSEC_TEST_POSTGRESQL``);
otherwise those tests are skipped with the reason. Only one Store can be open
per process, so the tests share one slot that is reopened when a test needs
another database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Property, PropertyResult, run_property, store_executor
from pytest_actionsec.oracle import Observation, judge
from pytest_actionsec.store import ISOLATIONS, Store, StoreError
from pytest_actionsec.strategies import Call, ContextSpec, ExcSpec, TbSpec
from pytest_actionsec.targets import Target, resolve_target

pytest.importorskip("nova")

MYSQL_URL = os.environ.get("ACTIONSEC_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
POSTGRESQL_URL = os.environ.get(
    "ACTIONSEC_TEST_POSTGRESQL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
UUID = "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"
SERVER_TIME = dt.datetime(2026, 11, 22, 12, 0, 0, 250000)
START = "pack_action_start"
EVENT_START = "pack_action_event_start"
FINISH = "pack_action_event_finish"
SEED = 20261122


class _Slot:
    """The process's one open Store, reopened when a test asks for another."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.key: tuple[str | None, str] | None = None

    def get(self, url: str | None = None, isolation: str = "rollback") -> Store:
        if self.store is not None and not self.store.closed and self.key == (url, isolation):
            return self.store
        self.release()
        self.store = Store.open(url, isolation=isolation)
        self.key = (url, isolation)
        return self.store

    def release(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


@pytest.fixture(scope="module")
def slot() -> Iterator[_Slot]:
    holder = _Slot()
    yield holder
    holder.release()


@pytest.fixture(scope="module")
def target() -> Target:
    return resolve_target()


@pytest.fixture
def sqlite_store(slot: _Slot) -> Store:
    return slot.get()


@pytest.fixture
def clock() -> Iterator[SkewedClock]:
    with SkewedClock() as frozen:
        yield frozen


def _server_store(slot: _Slot, url: str) -> Store:
    slot.release()
    try:
        return Store.open(url)
    except StoreError as exc:
        pytest.skip(f"no usable server: {exc}")


_MISSING: Any = object()  # an attribute the context lacks


def _context(**attrs: Any) -> ContextSpec:
    values: dict[str, Any] = {
        "user_id": "u-1",
        "project_id": "p-1",
        "request_id": "req-1",
        "auth_token": None,
        "remote_address": None,
        "service_catalog": [],
        "timestamp": SERVER_TIME,
    }
    values.update(attrs)
    missing = tuple(k for k, v in values.items() if v is _MISSING)
    return ContextSpec(tuple((k, v) for k, v in values.items() if v is not _MISSING), missing)


def _call(
    function: str,
    *,
    layer: str = "packer",
    hostile: tuple[str, ...] = (),
    positional: bool = False,
    context: ContextSpec | None = None,
    **arguments: Any,
) -> Call:
    names = {START: "action_name", EVENT_START: "event_name", FINISH: "event_name"}
    args: list[tuple[str, Any]] = [("instance_uuid", arguments.pop("instance_uuid", UUID))]
    if function in names:
        args.append((names[function], arguments.pop("name", "compute_x")))
    args.extend(arguments.items())
    return Call(
        function=function,
        layer=layer,
        context=context or _context(),
        arguments=tuple(args),
        server_time=SERVER_TIME,
        hostile=hostile,
        positional=positional,
    )


def _tb_call(**kw: Any) -> Call:
    return _call(
        FINISH,
        exc_val=None,
        exc_tb=TbSpec(secrets=(("password", "hunter2-frame-local"),)),
        hostile=("exc_tb is a traceback object",),
        **kw,
    )


def _invariants(obs: Observation) -> set[str]:
    return {v.invariant for v in judge(obs)}


def _run(
    target: Target,
    executor: Any,
    family: str,
    function: str,
    *,
    mode: str = "contract",
    examples: int = 25,
    clock: SkewedClock | None = None,
    call: Call | None = None,
) -> PropertyResult:
    return run_property(
        Property(family, function, "store"),
        target,
        mode=mode,
        max_examples=examples,
        seed=SEED,
        clock=clock,
        database=None,
        executor=executor,
        strategy=st.just(call) if call is not None else None,
    )


def _store_evidence(result: PropertyResult, invariant: str) -> str:
    found = [v.evidence for v in result.violations if v.invariant == invariant]
    assert found, [v.to_dict() for v in result.violations]
    return found[0]


# ---------------------------------------------------------------------------
# Opening and closing.


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "bad database URL 'not a url'"),
        (
            "mongodb://127.0.0.1/x",
            "unknown backend 'mongodb', not one of sqlite, mysql, postgresql",
        ),
        ("mysql+nosuchdriver://root@127.0.0.1/", "driver 'nosuchdriver' is not usable"),
        ("", "bad database URL ''"),
    ],
)
def test_bad_url_is_one_line_store_error(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open(url)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_server_that_does_not_answer(slot: _Slot) -> None:
    slot.release()
    with pytest.raises(StoreError) as raised:
        Store.open("mysql+pymysql://root:secret-pw@127.0.0.1:1/")
    message = str(raised.value)
    assert message.startswith("cannot connect to mysql+pymysql://root:***@127.0.0.1:1/")
    assert "secret-pw" not in message and "\n" not in message
    with pytest.raises(StoreError, match="isolation must be one of"):
        Store.open(isolation="savepoint")
    slot.get().close()  # the failed open left the process slot free


def test_sqlite_schema_is_nova_migrated_and_shared(sqlite_store: Store) -> None:
    from nova.db import migration

    assert sqlite_store.backend == "sqlite" and sqlite_store.isolation == "rollback"
    # oslo.db serves 'sqlite://' from a StaticPool: every connection is the one
    # the migrations ran on, so a fresh connection sees the schema.
    assert sqlite_store.info["pool"] == "StaticPool"
    assert sqlite_store.row_counts() == {
        "instance_actions_events": 0,
        "instance_actions": 0,
        "instance_faults": 0,
        "instances": 0,
    }
    assert migration.db_version(database="main") is not None
    assert 0 < sqlite_store.setup_seconds < 120


def _schema(store: Store) -> list[tuple[Any, ...]]:
    """Every object of the store's sqlite database (its DDL) and alembic's version rows."""
    raw = store._engine().raw_connection()
    try:
        conn = raw.driver_connection
        objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        raw.close()
    return sorted(objects, key=repr) + [("alembic", *row) for row in version]


def test_the_schema_cache_replays_what_novas_migrations_made(
    slot: _Slot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process opening a sqlite store migrates with alembic once per key and saves the
    result; the next one replays it: the same tables, indexes and shadow tables, DDL for
    DDL, and alembic's version (nova's own db_version reads it). A damaged entry, or the
    cache turned off, migrates as before."""
    from nova.db import migration

    from pytest_actionsec import schema_cache

    slot.release()
    monkeypatch.setenv(schema_cache.ENV, "0")
    with Store.open() as plain:
        assert plain.info["schema"] == "nova's migrations"
        expected = _schema(plain)
    assert len([row for row in expected if row[0] == "table"]) > 100  # shadow tables too
    monkeypatch.setenv(schema_cache.ENV, str(tmp_path / "cache"))
    with Store.open() as first:
        assert first.info["schema"] == "nova's migrations"  # nothing saved yet: alembic
        assert _schema(first) == expected
    (entry,) = (tmp_path / "cache").glob("nova-main-*.sql")
    with Store.open() as replayed:
        assert replayed.info["schema"] == "nova's migrations, replayed from the schema cache"
        assert _schema(replayed) == expected
        assert migration.db_version(database="main") is not None
        assert replayed.row_counts()["instance_actions"] == 0
    entry.write_text("CREATE TABLE instances (id INTEGER);\nTHIS IS NOT SQL;\n")
    with Store.open() as damaged:
        assert damaged.info["schema"] == "nova's migrations"
        assert _schema(damaged) == expected
    assert "THIS IS NOT SQL" not in entry.read_text()  # saved anew


def test_one_store_per_process(slot: _Slot) -> None:
    first = slot.get()
    with pytest.raises(StoreError, match="already open in this process"):
        Store.open()
    slot.release()
    assert first.closed
    with pytest.raises(StoreError, match="is closed"):
        first.row_counts()
    again = slot.get()  # nova's enginefacade was reset: a new store configures it afresh
    assert again.row_counts()["instance_actions"] == 0


# ---------------------------------------------------------------------------
# sqlite: verdicts on nova.


@pytest.mark.parametrize(
    ("family", "function"),
    [("leak", START), ("null", "pack_action_finish"), ("time", EVENT_START), ("bounds", FINISH)],
)
def test_sqlite_contract_properties_hold(
    target: Target, sqlite_store: Store, clock: SkewedClock, family: str, function: str
) -> None:
    executor = store_executor(target, sqlite_store, clock=clock)
    result = _run(target, executor, family, function, clock=clock)
    assert result.status == "passed", [v.to_dict() for v in result.violations]
    assert result.examples >= 20


def test_sqlite_falsy_exception_stores_no_details(
    target: Target, sqlite_store: Store, clock: SkewedClock
) -> None:
    """NOVA_FACTS: an exception whose __bool__ is False gives 'Error' with no details."""
    falsy = ExcSpec(
        base="builtins.RuntimeError",
        name="Boom",
        args=("disk full",),
        methods=(("__bool__", "false"),),
    )
    call = _call(FINISH, exc_val=falsy, exc_tb="Traceback (most recent call last): ...")
    executor = store_executor(target, sqlite_store, clock=clock)
    result = _run(target, executor, "integrity", FINISH, clock=clock, call=call)
    assert result.status == "failed"
    assert "no details are stored" in _store_evidence(result, "integrity.details")
    obs = executor(call)
    assert obs.store_error is None
    assert obs.record["result"] == "Error" and obs.record["details"] is None


def test_sqlite_refuses_the_traceback_object(
    target: Target, sqlite_store: Store, clock: SkewedClock
) -> None:
    """A live traceback reaching the packer is refused by the database itself."""
    direct = store_executor(target, sqlite_store, clock=clock, event_finish_via="packer")
    result = _run(target, direct, "type", FINISH, mode="hostile", clock=clock, call=_tb_call())
    evidence = _store_evidence(result, "type.store")
    assert evidence.startswith("the database refused traceback: Error binding parameter")
    assert evidence.endswith("type 'traceback' is not supported")
    assert [v.field for v in result.violations if v.invariant == "type.store"] == ["traceback"]
    # nova's own path with exc_val/exc_tb passed positionally: serialize_args
    # converts keywords only, so the object reaches the DB the same way.
    through = store_executor(target, sqlite_store, clock=clock)
    positional = _tb_call(layer="boundary", positional=True)
    obs = through(positional)
    assert obs.error is None and obs.store_error is not None
    assert obs.store_error[0] == "type.store"
    assert obs.store_error[1].endswith("type 'traceback' is not supported")
    # As keywords (what nova's EventReporter does) the boundary formats the
    # traceback: stored as text, and the frame's locals are not in it.
    obs = through(_tb_call(layer="boundary"))
    assert obs.store_error is None
    assert isinstance(obs.record["traceback"], str) and "hunter2" not in obs.record["traceback"]
    assert obs.record["result"] == "Error"
    assert sqlite_store.row_counts()["instance_actions_events"] == 0


def test_sqlite_unreadable_row_and_packer_crash(target: Target, sqlite_store: Store) -> None:
    direct = store_executor(target, sqlite_store, event_finish_via="packer")
    # sqlite keeps bytes as a BLOB; nova's object refuses to read it back.
    obs = direct(_call(FINISH, exc_val=None, exc_tb=b"Traceback", hostile=("exc_tb is bytes",)))
    assert obs.store_error is not None and obs.store_error[0] == "type.store"
    assert "InstanceActionEvent object cannot read back" in obs.store_error[1]
    assert obs.record["traceback"] == b"Traceback"  # the row as stored
    # A packer exception is a crash (the observation's error), not a store error.
    obs = direct(_call(START, context=_context(request_id=_MISSING), hostile=("no request_id",)))
    assert isinstance(obs.error, AttributeError) and obs.store_error is None
    assert "crash.hostile" in _invariants(obs)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_examples_are_isolated(target: Target, slot: _Slot, isolation: str) -> None:
    store = slot.get(isolation=isolation)
    executor = store_executor(target, store)
    call = _call(FINISH, exc_val="Quota exceeded", exc_tb="Traceback ...")
    for _ in range(3):  # the same instance uuid each time: instances.uuid is unique
        obs = executor(call)
        assert obs.error is None and obs.store_error is None, obs.store_error
        assert obs.record["details"] == "Quota exceeded"
        assert store.row_counts() == dict.fromkeys(store.row_counts(), 0)
    # Control: a row left behind by an earlier example would be seen.
    import sqlalchemy as sa
    from nova.db.main import api

    with api.get_engine().begin() as conn:
        conn.execute(sa.text("INSERT INTO instances (uuid, deleted) VALUES (:u, 0)"), {"u": UUID})
    try:
        obs = executor(call)
        assert obs.store_error is not None and "UNIQUE" in obs.store_error[1].upper()
    finally:
        store.clear()
    assert store.row_counts()["instances"] == 0


# ---------------------------------------------------------------------------
# Servers.


def test_mysql_store(target: Target, slot: _Slot, clock: SkewedClock) -> None:
    store = _server_store(slot, MYSQL_URL)
    name = store.database
    try:
        # What nova's migrations create, and the session oslo.db opens.
        assert store.info["schema"] == "nova's migrations"  # never the sqlite cache
        assert store.info["table_collation"].startswith(("utf8mb3_", "utf8_"))
        assert store.info["connection_charset"] in ("utf8", "utf8mb3")
        assert "STRICT_ALL_TABLES" in store.info["sql_mode"]
        executor = store_executor(target, store, clock=clock)
        assert _run(target, executor, "leak", START, clock=clock).status == "passed"
        # Contract names, hosts and ids keep to what nova's sources make (no 4-byte
        # characters): the 3-byte utf8 tables store them all.
        result = _run(target, executor, "bounds", EVENT_START, clock=clock)
        assert result.status == "passed", [v.to_dict() for v in result.violations]
        # A 4-byte character (hostile in a name) is refused by the 3-byte utf8 table.
        hostile = ("event_name is no nova identifier ([A-Za-z0-9_-], 1-255 chars)",)
        obs = executor(_call(EVENT_START, name="compute_\U0001d11e", host="cmp-1", hostile=hostile))
        assert obs.store_error is not None
        assert obs.store_error[0] == "bounds.store"
        assert obs.store_error[1].startswith("1366 Incorrect string value: '\\xF0\\x9D\\x84\\x9E'")
        assert "`instance_actions_events`.`event`" in obs.store_error[1]
        # A traceback object is not refused: PyMySQL stores its repr as text.
        direct = store_executor(target, store, clock=clock, event_finish_via="packer")
        result = _run(target, direct, "type", FINISH, mode="hostile", clock=clock, call=_tb_call())
        evidence = _store_evidence(result, "type.store")
        assert evidence.startswith(
            "the database stored traceback (a traceback) as the text '<traceback object at 0x"
        )
        # DATETIME without fractional seconds: the server clock's microseconds are lost,
        # and the oracle compares at the column's precision (no time finding).
        obs = executor(_call(EVENT_START, host="cmp-1"))
        assert obs.store_error is None
        assert obs.record["start_time"] == SERVER_TIME.replace(microsecond=0)
        assert SERVER_TIME.microsecond and obs.time_resolution == dt.timedelta(seconds=1)
        assert "time.server-clock" not in _invariants(obs)
        assert store.server_database_exists()
    finally:
        store.close()
    assert name is not None and not store.server_database_exists()


_ID_FIELDS = ("request_id", "user_id", "project_id", "action", "event", "host", "instance_uuid")


def test_mysql_contract_ids_are_stored(target: Target, slot: _Slot, clock: SkewedClock) -> None:
    """Contract mode on MariaDB: no bounds.store on an id, name or host (nova makes
    none a utf8mb3 table refuses); hostile 4-byte ids are still refused."""
    store = _server_store(slot, MYSQL_URL)
    try:
        executor = store_executor(target, store, clock=clock)
        refused = []
        for function in (START, "pack_action_finish", EVENT_START, FINISH):
            result = _run(target, executor, "bounds", function, clock=clock, examples=40)
            refused += [
                (v.function, v.field)
                for v in result.violations
                if v.invariant == "bounds.store" and v.field in _ID_FIELDS
            ]
        assert refused == []
        # Hostile: a 4-byte request id is out of contract, and still refused.
        astral = _context(request_id="req-\U00010000")
        obs = executor(_call(START, context=astral, hostile=("context.request_id outside",)))
        assert obs.store_error is not None and obs.store_error[0] == "bounds.store"
        assert "`instance_actions`.`request_id`" in obs.store_error[1]
        result = _run(target, executor, "bounds", START, mode="hostile", clock=clock, examples=60)
        fields = {v.field for v in result.violations if v.invariant == "bounds.store"}
        assert fields & {"request_id", "user_id", "project_id", "action"}, fields
    finally:
        store.close()


def test_postgresql_store(target: Target, slot: _Slot, clock: SkewedClock) -> None:
    store = _server_store(slot, POSTGRESQL_URL)
    name = store.database
    try:
        assert store.info["server_encoding"] == "UTF8"
        executor = store_executor(target, store, clock=clock)
        assert _run(target, executor, "leak", START, clock=clock).status == "passed"
        assert _run(target, executor, "time", EVENT_START, clock=clock).status == "passed"
        # An over-long host (hostile) is refused by varchar(255).
        long_host = _call(EVENT_START, host="h" * 300, hostile=("host has 300 characters",))
        result = _run(target, executor, "bounds", EVENT_START, clock=clock, call=long_host)
        evidence = _store_evidence(result, "bounds.store")
        assert evidence.endswith("value too long for type character varying(255)")
        # psycopg2 cannot adapt a traceback object.
        direct = store_executor(target, store, clock=clock, event_finish_via="packer")
        result = _run(target, direct, "type", FINISH, mode="hostile", clock=clock, call=_tb_call())
        assert _store_evidence(result, "type.store").endswith("can't adapt type 'traceback'")
        assert store.server_database_exists()
    finally:
        store.close()
    assert name is not None and not store.server_database_exists()


# ---------------------------------------------------------------------------
# The store layer packs under the per-call limit; the database round trip is not
# the helper's (reshape hazards).


def test_store_layer_stops_a_helper_that_never_returns(sqlite_store: Store) -> None:
    """0.1.0 ran the store layer without the time limit: this run hung for ever."""
    from pytest_actionsec.engine import Group, run_group

    hangs = resolve_target("tests.robust_targets.hangs")
    result = run_group(
        Group("pack_action_finish", "store"),
        hangs,
        families=("crash", "leak"),
        store=sqlite_store,
        timeout=0.2,
        max_examples=5,
        seed=SEED,
        database=None,
    )
    assert result.examples == 1
    assert [(v.invariant, v.layer) for v in result.violations] == [("crash.timeout", "store")]
    assert result.for_family("leak").status == "failed"  # nothing was judged


def test_database_round_trip_is_neither_the_helpers_time_nor_its_globals(
    sqlite_store: Store, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow round trip that touches os.environ is no crash.timeout or purity.globals."""
    from pytest_actionsec.engine import Group, run_group

    real = sqlite_store.roundtrip
    calls: list[str] = []

    def slow_roundtrip(function: str, record: Any, **kw: Any) -> Any:
        time.sleep(0.3)
        os.environ["ACTIONSEC_TEST_DB_SIDE_EFFECT"] = function
        calls.append(function)
        return real(function, record, **kw)

    monkeypatch.setattr(sqlite_store, "roundtrip", slow_roundtrip)
    try:
        result = run_group(
            Group(START, "store"),
            target,
            families=("crash", "purity"),
            store=sqlite_store,
            timeout=0.2,
            max_examples=3,
            seed=SEED,
            database=None,
        )
    finally:
        os.environ.pop("ACTIONSEC_TEST_DB_SIDE_EFFECT", None)
    assert calls, "the round trip ran"
    assert result.status == "passed", [v.to_dict() for v in result.violations]


# ---------------------------------------------------------------------------
# The instance-fault sink: instance_faults, and the api layer's rendering.

FAULT = {
    "instance_uuid": UUID,
    "code": 500,
    "message": "ValueError",
    "details": 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: db',
    "host": "cmp-1",
}


@pytest.mark.parametrize("backend", ["sqlite", "mysql", "postgresql"])
def test_fault_is_written_and_read_back(slot: _Slot, backend: str) -> None:
    """nova's db.instance_fault_create, read back from instance_faults, on each backend."""
    from pytest_actionsec.targets import FAULT_SINK

    url = {"sqlite": None, "mysql": MYSQL_URL, "postgresql": POSTGRESQL_URL}[backend]
    store = slot.get() if url is None else _server_store(slot, url)
    try:
        row, verdict = store.roundtrip(FAULT_SINK, FAULT)
        assert verdict is None
        assert {k: row[k] for k in FAULT} == FAULT
        with pytest.raises(Exception):  # noqa: B017 - the driver's own error class
            store.roundtrip(FAULT_SINK, {**FAULT, "code": object()})
    finally:
        if url is not None:
            store.close()


def test_api_layer_renders_the_stored_fault_for_both_roles(
    target: Target, sqlite_store: Store, clock: SkewedClock
) -> None:
    from pytest_actionsec.exposure import MICROVERSIONS
    from pytest_actionsec.personas import PERSONA_NAMES
    from pytest_actionsec.probes import probes
    from pytest_actionsec.targets import FAULT_SINK

    plain = next(c for c in probes(target, FAULT_SINK) if "OSError" in repr(c.arguments))
    obs = store_executor(target, sqlite_store, clock=clock, render=True)(plain)
    assert obs.layer == "api" and obs.render_error is None and obs.views is not None
    assert set(obs.views) == {f"{p}@{mv}" for p in PERSONA_NAMES for mv in MICROVERSIONS}
    member, admin = (
        obs.views[f"project_member@{MICROVERSIONS[-1]}"],
        obs.views[f"project_admin@{MICROVERSIONS[-1]}"],
    )
    # another project's users do not find the server (nova's project_only lookup)
    assert obs.views[f"other_project_reader@{MICROVERSIONS[-1]}"] is None
    # nova 34: the fault's message for everyone, its code-500 details for admins only
    assert member["message"] == obs.record["message"] == "OSError"
    assert "details" not in member and admin["details"] == obs.record["details"]
    leaks = [v for v in judge(obs) if v.invariant == "leak.field"]
    assert {(v.field, v.severity, v.layer) for v in leaks} == {("details", "admin", "api")}
    assert {v.audience for v in leaks} == {("admin", "project_admin")}


def test_api_layer_reports_a_row_nova_cannot_render(
    target: Target, sqlite_store: Store, clock: SkewedClock
) -> None:
    """bytes stored by sqlite in a text column: nova's objects refuse them when rendering."""
    call = _call(EVENT_START, hostile=("host is bytes",), host=b"cmp-1")
    obs = store_executor(target, sqlite_store, clock=clock, render=True)(call)
    assert obs.render_error is not None and "bytes" in obs.render_error
    crash = [v for v in judge(obs) if v.invariant == "crash.api"]
    assert len(crash) == 1 and "nova's API cannot render the stored row" in crash[0].evidence


def test_a_refused_row_yields_its_refusal_and_nothing_judged_on_it(
    target: Target, sqlite_store: Store, clock: SkewedClock
) -> None:
    """No row exists when the database refused it: the store layer reports the refusal
    (type.store), not again what the packed record shows (the packer layer's findings)."""
    from pytest_actionsec.execution.stages import STORE_INVARIANTS, judge_stored
    from pytest_actionsec.oracle import FAMILIES

    direct = store_executor(target, sqlite_store, clock=clock, event_finish_via="packer")
    obs = direct(_tb_call())
    assert obs.store_error is not None and obs.packed is None  # refused, never stored
    packer_view = {v.invariant for v in judge(obs, tuple(FAMILIES))}
    assert packer_view - STORE_INVARIANTS  # the packed record has findings of its own
    stored = judge_stored(obs, tuple(FAMILIES))
    assert stored and {v.invariant for v in stored} <= STORE_INVARIANTS


def test_the_default_store_is_probed_without_sqlalchemy() -> None:
    """The start-up probe of the default store (nova's in-process sqlite) needs only
    Python's sqlite3: an xdist controller no longer imports SQLAlchemy before it starts
    its workers. A server URL is still parsed (and its driver found) by SQLAlchemy."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "from pytest_actionsec.store import DEFAULT_URL, probe\n"
        "print(probe(None), probe(None) == DEFAULT_URL, 'sqlalchemy' in sys.modules)\n"
        "try:\n"
        "    probe('nosuch://x')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, 'sqlalchemy' in sys.modules)\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["sqlite:// True False", "StoreError True"]


# -- databases interrupted runs leave behind (issue 33) ----------------------------------


def _admin(url: str) -> Any:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        parsed = parsed.set(database="postgres")
    return sa.create_engine(parsed, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


def _server(url: str) -> tuple[Any, str]:
    """An admin engine on the server of ``url`` and its backend, or the test skipped."""
    try:
        engine = _admin(url)
        backend = engine.url.get_backend_name()
        _names(engine, backend)
    except Exception as exc:
        pytest.skip(f"no usable server at {url}: {exc}")
    return engine, backend


def _names(engine: Any, backend: str) -> set[str]:
    sql = (
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
        if backend == "mysql"
        else "SELECT datname FROM pg_database"
    )
    with engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql(sql)}


@pytest.mark.parametrize("url", [MYSQL_URL, POSTGRESQL_URL], ids=["mariadb", "postgresql"])
def test_the_next_run_drops_only_what_an_interrupted_run_left(url: str, slot: _Slot) -> None:
    """A database named for a process of this host that is gone is dropped when the next
    store opens; one of a live process, one of another host and a user's are kept."""
    slot.release()  # one Store per process
    import subprocess

    from pytest_actionsec import store as store_module

    engine, backend = _server(url)
    gone = subprocess.Popen(["sleep", "30"])
    ticks = store_module._started(gone.pid)
    gone.kill()
    gone.wait()
    assert ticks is not None and store_module._started(gone.pid) != ticks
    tag = store_module._host_tag()
    orphan = f"actionsec_{tag}_{gone.pid}_{ticks}_abc123"
    alive = f"actionsec_{tag}_{os.getpid()}_{store_module._started(os.getpid())}_abc123"
    elsewhere = f"actionsec_{'0' * 8 if tag != '0' * 8 else '1' * 8}_{gone.pid}_{ticks}_abc123"
    users = "actionsec_user_data"
    made = [orphan, alive, elsewhere, users]
    quote = "`{}`" if backend == "mysql" else '"{}"'
    with engine.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote.format(name)}")
            conn.exec_driver_sql(f"CREATE DATABASE {quote.format(name)}")
    try:
        assert store_module.orphaned(orphan) and not store_module.orphaned(alive)
        assert not store_module.orphaned(elsewhere) and not store_module.orphaned(users)
        with Store.open(url) as store:
            assert store.info.get("orphans dropped") == "1"
            names = _names(engine, backend)
            assert orphan not in names
            assert {alive, elsewhere, users} <= names
            assert store.database is not None and store_module._OWN_NAME.match(store.database)
        assert store.database not in _names(engine, backend)
    finally:
        with engine.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote.format(name)}")
        engine.dispose()


def test_database_names_are_masked_in_what_the_database_says() -> None:
    from pytest_actionsec.store import MASKED_DATABASE, _db_message

    error = RuntimeError(
        "(1406, \"Data too long for column 'details' at row 1\") in "
        "actionsec_1a2b3c4d_12_34_abcdef.instance_actions_events"
    )
    assert _db_message(error).endswith(f"in {MASKED_DATABASE}.instance_actions_events")


# -- a lost connection is the environment's fault, never a finding (issue 33) ------------


def _cut(engine: Any, backend: str, database: str, *, for_good: bool = False) -> int:
    """Kill every connection to ``database`` from an admin connection (MariaDB ``KILL``,
    PostgreSQL ``pg_terminate_backend``); ``for_good`` (PostgreSQL): no new ones either."""
    with engine.connect() as conn:
        if backend == "mysql":
            ids = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %(d)s",
                    {"d": database},
                )
            ]
            for connection_id in ids:
                conn.exec_driver_sql(f"KILL {int(connection_id)}")
            return len(ids)
        if for_good:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        rows = conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(d)s",
            {"d": database},
        )
        return len(list(rows))


@pytest.mark.parametrize("url", [MYSQL_URL, POSTGRESQL_URL], ids=["mariadb", "postgresql"])
def test_a_killed_connection_is_made_again_and_the_record_judged(
    url: str, target: Target, slot: _Slot
) -> None:
    slot.release()  # one Store per process
    engine, backend = _server(url)
    ctx = target.make_context(user_id="u", project_id="p", request_id="req-1")
    record = target.helpers[START](ctx, UUID, "reboot")
    try:
        with Store.open(url) as store:
            store.roundtrip(START, record)  # the pool holds a connection now
            assert store.database is not None
            assert _cut(engine, backend, store.database) >= 1
            # oslo.db's checkout ping, else the store's one retry, connects again: no
            # StoreRefused, so no finding
            row, verdict = store.roundtrip(START, record)
            assert verdict is None and row["action"] == "reboot"
            assert store.reconnects <= 1
    finally:
        engine.dispose()


def test_a_database_that_stays_unreachable_is_one_environment_line(
    target: Target, slot: _Slot
) -> None:
    slot.release()  # one Store per process
    from pytest_actionsec.store import StoreUnavailable

    engine, _ = _server(POSTGRESQL_URL)
    ctx = target.make_context(user_id="u", project_id="p", request_id="req-1")
    record = target.helpers[START](ctx, UUID, "reboot")
    try:
        with Store.open(POSTGRESQL_URL) as store:
            store.roundtrip(START, record)
            assert store.database is not None
            _cut(engine, "postgresql", store.database, for_good=True)
            with pytest.raises(StoreUnavailable) as lost:
                store.roundtrip(START, record)
            line = str(lost.value)
            assert "\n" not in line and "environment fault" in line, line
            assert store.reconnects == 1
            assert not isinstance(lost.value, Exception)  # Hypothesis never shrinks it
    finally:
        engine.dispose()


_CUT_BEFORE_THE_STORE = '''
import pytest
import sqlalchemy as sa

_done = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Before the first store item: the run's database takes no connection any more."""
    if _done or not item.nodeid.endswith("-store]"):
        return
    from pytest_actionsec import store

    active = store._ACTIVE
    _done.append(active.database)
    engine = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{active.database}" ALLOW_CONNECTIONS false')
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(d)s",
            {"d": active.database},
        )
    engine.dispose()
'''


def test_a_lost_database_fails_the_run_in_one_line_and_no_baseline_entry(
    pytester: pytest.Pytester,
) -> None:
    engine, _ = _server(POSTGRESQL_URL)
    admin_url = engine.url.set(database="postgres").render_as_string(hide_password=False)
    engine.dispose()
    pytester.makeconftest(f"URL = {admin_url!r}\n" + _CUT_BEFORE_THE_STORE)
    result = pytester.runpytest_subprocess(
        *("-p", "no:cacheprovider", "--actionsec", "--actionsec-layers=store"),
        *(f"--actionsec-store={POSTGRESQL_URL}", "--actionsec-examples=5", "--actionsec-seed=3"),
        *("--actionsec-baseline=b.json", "--actionsec-update-baseline", "-k", "pack_action_start"),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    result.assert_outcomes(failed=8)
    out = result.stdout.str()
    lines = [line for line in result.stdout.lines if line.startswith("actionsec: the database")]
    assert len(lines) == 8 and all("environment fault" in line for line in lines), lines
    assert "During handling" not in out and "Traceback" not in out + result.stderr.str()
    baseline = json.loads((pytester.path / "b.json").read_text(encoding="utf-8"))
    assert baseline["accepted"] == []  # the outage is nobody's accepted finding


_SERVER_GONE_AT_THE_END = '''
import pytest
import sqlalchemy as sa


def pytest_sessionfinish(session):
    """After the run, before the plugin drops its database: the server takes no more
    connections to the admin database (as when it is gone)."""
    engine = sa.create_engine(OTHER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{ADMIN}" ALLOW_CONNECTIONS false')
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(d)s",
            {"d": ADMIN},
        )
    engine.dispose()
'''


def test_a_database_that_cannot_be_dropped_at_the_end_is_one_line(
    pytester: pytest.Pytester,
) -> None:
    """The server is unreachable when the run ends: one warning line, no traceback; the
    database is left for the next run on this host to drop."""
    import secrets

    engine, _ = _server(POSTGRESQL_URL)
    admin = f"gate_admin_{secrets.token_hex(4)}"
    other = engine.url.set(database="postgres")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{admin}"')
    before = _names(engine, "postgresql")
    try:
        pytester.makeconftest(
            f"ADMIN = {admin!r}\nOTHER = {other.render_as_string(hide_password=False)!r}\n"
            + _SERVER_GONE_AT_THE_END
        )
        url = engine.url.set(database=admin).render_as_string(hide_password=False)
        result = pytester.runpytest_subprocess(
            *("-p", "no:cacheprovider", "--actionsec", "--actionsec-layers=store"),
            *(f"--actionsec-store={url}", "--actionsec-examples=3", "--actionsec-seed=3"),
            *("-k", "crash and pack_action_start"),
        )
        result.assert_outcomes(passed=1)
        err = result.stderr.str()
        warned = [line for line in result.stderr.lines if line.startswith("actionsec: warning:")]
        assert len(warned) == 1 and "cannot drop database" in warned[0], err
        assert "the next run on this host drops it" in warned[0]
        assert "Traceback" not in err + result.stdout.str(), err
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{admin}" ALLOW_CONNECTIONS true')
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{admin}"')
            for name in _names(engine, "postgresql") - before:
                if name.startswith("actionsec_"):  # the run's own, left behind
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()
